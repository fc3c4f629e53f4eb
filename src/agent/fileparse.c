/*
 * fileparse.c - parse checks for the file sanity collector: JSON through
 * jansson (duplicate keys rejected), YAML through libyaml's event parser,
 * INI and key=value by hand, and the invisible-character scanner. See
 * fileparse.h for the accepted syntax.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "agent/fileparse.h"

static const char *const type_names[] = { "auto", "text", "json", "yaml", "ini", "kv" };

const char *fileparse_type_name(enum fileparse_type t)
{
    return (size_t)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "?";
}

int fileparse_type_parse(const char *s, enum fileparse_type *out)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strcmp(s, type_names[i]) == 0) {
            *out = (enum fileparse_type)i;
            return 0;
        }
    }
    return -1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    if (k > n)
        return 0;
    for (size_t i = 0; i < k; i++) {
        char c = s[n - k + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != suffix[i])
            return 0;
    }
    return 1;
}

enum fileparse_type fileparse_type_for_path(const char *path)
{
    if (ends_with(path, ".json"))
        return FILEPARSE_JSON;
    if (ends_with(path, ".yaml") || ends_with(path, ".yml"))
        return FILEPARSE_YAML;
    if (ends_with(path, ".ini") || ends_with(path, ".cfg"))
        return FILEPARSE_INI;
    if (ends_with(path, ".env") || ends_with(path, ".properties") || ends_with(path, ".conf"))
        return FILEPARSE_KV;
    return FILEPARSE_TEXT;
}

static void set_err(struct fileparse_error *e, uint32_t line, uint32_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_err(struct fileparse_error *e, uint32_t line, uint32_t col, const char *fmt, ...)
{
    va_list ap;
    e->line = line;
    e->col = col;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

/* col_of: the 1-based character column of p[pos] on a line starting at p[start]. */
static uint32_t col_of(const uint8_t *p, size_t start, size_t pos)
{
    uint32_t col = 1;
    for (size_t i = start; i < pos; i++)
        if ((p[i] & 0xC0) != 0x80)
            col++;
    return col;
}

static int is_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* A line of the input: bytes [s, e) without the newline (and without a CR
 * before it). */
struct line {
    size_t start, end;
    uint32_t no;
};

static int next_line(const uint8_t *p, size_t n, size_t *pos, struct line *l)
{
    if (*pos >= n)
        return 0;
    l->start = *pos;
    const uint8_t *nl = memchr(p + *pos, '\n', n - *pos);
    size_t e = nl != NULL ? (size_t)(nl - p) : n;
    *pos = nl != NULL ? e + 1 : n;
    if (e > l->start && p[e - 1] == '\r')
        e--;
    l->end = e;
    l->no++;
    return 1;
}

/* ---- INI ------------------------------------------------------------------ */

/* Keys seen in the current section, for duplicate detection: open
 * addressing over (hash, offset, length, line); cleared per section. */
struct keyset {
    struct keyslot {
        uint64_t h;
        size_t off;
        uint32_t len, line;
    } * slots;
    size_t cap, n;
};

static uint64_t key_hash(const uint8_t *k, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = k[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c - 'A' + 'a');
        h = (h ^ c) * 1099511628211ull;
    }
    return h | 1; /* 0 marks an empty slot */
}

static int key_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (uint8_t)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (uint8_t)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return 1;
}

/* keyset_add returns 0 (new), the line of the earlier key (a duplicate), or
 * -1 (no memory). */
static long keyset_add(struct keyset *ks, const uint8_t *p, size_t off, size_t len, uint32_t line)
{
    if ((ks->n + 1) * 2 > ks->cap) {
        size_t nc = ks->cap ? ks->cap * 2 : 64;
        struct keyslot *ns = calloc(nc, sizeof(*ns));
        if (ns == NULL)
            return -1;
        for (size_t i = 0; i < ks->cap; i++) {
            if (ks->slots[i].h == 0)
                continue;
            size_t j = ks->slots[i].h & (nc - 1);
            while (ns[j].h != 0)
                j = (j + 1) & (nc - 1);
            ns[j] = ks->slots[i];
        }
        free(ks->slots);
        ks->slots = ns;
        ks->cap = nc;
    }
    uint64_t h = key_hash(p + off, len);
    size_t j = h & (ks->cap - 1);
    while (ks->slots[j].h != 0) {
        const struct keyslot *s = &ks->slots[j];
        if (s->h == h && s->len == len && key_eq(p + s->off, p + off, len))
            return (long)s->line;
        j = (j + 1) & (ks->cap - 1);
    }
    ks->slots[j] = (struct keyslot){ h, off, (uint32_t)len, line };
    ks->n++;
    return 0;
}

static void keyset_clear(struct keyset *ks)
{
    if (ks->slots != NULL)
        memset(ks->slots, 0, ks->cap * sizeof(*ks->slots));
    ks->n = 0;
}

int fileparse_ini(const uint8_t *p, size_t n, struct fileparse_error *e)
{
    struct line l = { 0, 0, 0 };
    size_t pos = 0;
    int have_key = 0, rc = 1;
    struct keyset ks = { NULL, 0, 0 };

    while (next_line(p, n, &pos, &l)) {
        size_t i = l.start;
        while (i < l.end && is_blank(p[i]))
            i++;
        if (i == l.end || p[i] == ';' || p[i] == '#')
            continue;
        if (i > l.start && have_key)
            continue; /* an indented line continues the value above */
        if (p[i] == '[') {
            const uint8_t *close = memchr(p + i, ']', l.end - i);
            if (close == NULL) {
                set_err(e, l.no, col_of(p, l.start, i), "section header without ']'");
                rc = 0;
                goto out;
            }
            size_t c = (size_t)(close - p);
            if (c == i + 1) {
                set_err(e, l.no, col_of(p, l.start, i), "empty section name");
                rc = 0;
                goto out;
            }
            size_t j = c + 1;
            while (j < l.end && is_blank(p[j]))
                j++;
            if (j < l.end && p[j] != ';' && p[j] != '#') {
                set_err(e, l.no, col_of(p, l.start, j), "text after the section header");
                rc = 0;
                goto out;
            }
            keyset_clear(&ks);
            have_key = 0;
            continue;
        }
        size_t k = i;
        while (k < l.end && p[k] != '=' && p[k] != ':')
            k++;
        if (k == l.end) {
            set_err(e, l.no, col_of(p, l.start, i), "expected 'key = value' or '[section]'");
            rc = 0;
            goto out;
        }
        size_t ke = k;
        while (ke > i && is_blank(p[ke - 1]))
            ke--;
        if (ke == i) {
            set_err(e, l.no, col_of(p, l.start, k), "empty key before '%c'", p[k]);
            rc = 0;
            goto out;
        }
        long dup = keyset_add(&ks, p, i, ke - i, l.no);
        if (dup < 0) {
            set_err(e, l.no, 0, "out of memory");
            rc = -1;
            goto out;
        }
        if (dup > 0) {
            set_err(e, l.no, col_of(p, l.start, i), "key '%.*s' repeated (first on line %ld)",
                    (int)(ke - i > 64 ? 64 : ke - i), (const char *)p + i, dup);
            rc = 0;
            goto out;
        }
        have_key = 1;
    }
out:
    free(ks.slots);
    return rc;
}

/* ---- key=value -------------------------------------------------------------- */

static int kv_key_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

int fileparse_kv(const uint8_t *p, size_t n, struct fileparse_error *e)
{
    struct line l = { 0, 0, 0 };
    size_t pos = 0;

    while (next_line(p, n, &pos, &l)) {
        size_t i = l.start;
        while (i < l.end && is_blank(p[i]))
            i++;
        if (i == l.end || p[i] == '#')
            continue;
        if (l.end - i > 7 && memcmp(p + i, "export", 6) == 0 && is_blank(p[i + 6])) {
            i += 7;
            while (i < l.end && is_blank(p[i]))
                i++;
        }
        size_t k = i;
        while (k < l.end && kv_key_char(p[k]))
            k++;
        size_t ke = k;
        while (k < l.end && is_blank(p[k]))
            k++;
        if (k == l.end || p[k] != '=') {
            if (ke == i)
                set_err(e, l.no, col_of(p, l.start, i), "expected KEY=VALUE");
            else if (k == l.end)
                set_err(e, l.no, col_of(p, l.start, k), "expected '=' after the key");
            else
                set_err(e, l.no, col_of(p, l.start, k), "character not allowed in a key");
            return 0;
        }
        if (ke == i) {
            set_err(e, l.no, col_of(p, l.start, k), "empty key before '='");
            return 0;
        }
        size_t v = k + 1;
        while (v < l.end && is_blank(p[v]))
            v++;
        if (v < l.end && (p[v] == '"' || p[v] == '\'')) {
            uint8_t q = p[v];
            size_t j = v + 1;
            while (j < l.end && p[j] != q) {
                if (q == '"' && p[j] == '\\' && j + 1 < l.end)
                    j++;
                j++;
            }
            if (j >= l.end) {
                set_err(e, l.no, col_of(p, l.start, v), "unterminated %s quote",
                        q == '"' ? "double" : "single");
                return 0;
            }
            j++;
            while (j < l.end && is_blank(p[j]))
                j++;
            if (j < l.end && p[j] != '#') {
                set_err(e, l.no, col_of(p, l.start, j), "text after the closing quote");
                return 0;
            }
        }
    }
    return 1;
}

/* ---- JSON and YAML ------------------------------------------------------------ */

static int check_json(const uint8_t *p, size_t n, struct fileparse_error *e)
{
    json_error_t je;
    json_t *v = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (v != NULL) {
        json_decref(v);
        return 1;
    }
    if (json_error_code(&je) == json_error_out_of_memory) {
        set_err(e, 0, 0, "out of memory");
        return -1;
    }
    set_err(e, je.line > 0 ? (uint32_t)je.line : 0, je.column > 0 ? (uint32_t)je.column : 0, "%s",
            je.text);
    return 0;
}

static int check_yaml(const uint8_t *p, size_t n, struct fileparse_error *e)
{
    yaml_parser_t ps;
    yaml_event_t ev;
    int rc = 1;

    if (!yaml_parser_initialize(&ps)) {
        set_err(e, 0, 0, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&ps, p, n);
    for (;;) {
        if (!yaml_parser_parse(&ps, &ev)) {
            if (ps.error == YAML_MEMORY_ERROR) {
                set_err(e, 0, 0, "out of memory");
                rc = -1;
            } else {
                const char *problem = ps.problem ? ps.problem : "syntax error";
                set_err(e, (uint32_t)ps.problem_mark.line + 1, (uint32_t)ps.problem_mark.column + 1,
                        "%s%s%s", problem, ps.context ? " " : "", ps.context ? ps.context : "");
                rc = 0;
            }
            break;
        }
        int end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (end)
            break;
    }
    yaml_parser_delete(&ps);
    return rc;
}

int fileparse_check(enum fileparse_type t, const uint8_t *p, size_t n, struct fileparse_error *e)
{
    memset(e, 0, sizeof(*e));
    switch (t) {
    case FILEPARSE_JSON:
        return check_json(p, n, e);
    case FILEPARSE_YAML:
        return check_yaml(p, n, e);
    case FILEPARSE_INI:
        return fileparse_ini(p, n, e);
    case FILEPARSE_KV:
        return fileparse_kv(p, n, e);
    case FILEPARSE_TEXT:
    case FILEPARSE_AUTO:
        break;
    }
    return 1;
}

/* ---- invisible characters --------------------------------------------------- */

/* utf8_next decodes the character at p[0..n) (n >= 1): returns its length
 * and sets *cp, or returns 0 for an invalid sequence (overlong, surrogate,
 * beyond U+10FFFF, truncated). */
static size_t utf8_next(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint8_t c = p[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

static const char *invisible(uint32_t cp, size_t off)
{
    if (cp == 0)
        return "NUL";
    if (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r')
        return "control character";
    if (cp == 0x7F)
        return "DEL";
    if (cp >= 0x80 && cp <= 0x9F)
        return "C1 control character";
    if (cp == 0xFEFF)
        return off == 0 ? NULL : "byte order mark";
    if (cp >= 0x200B && cp <= 0x200F)
        return "zero-width or direction mark";
    if (cp == 0x2060)
        return "word joiner";
    if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
        return "bidirectional override";
    return NULL;
}

size_t fileparse_scan_controls(const uint8_t *p, size_t n, struct fileparse_finding *out,
                               size_t max)
{
    size_t total = 0;
    uint32_t line = 1, col = 1;
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t len = utf8_next(p + i, n - i, &cp);
        const char *what;
        if (len == 0) {
            cp = p[i];
            len = 1;
            what = "invalid UTF-8";
        } else {
            what = invisible(cp, i);
        }
        if (what != NULL) {
            if (total < max)
                out[total] = (struct fileparse_finding){ line, col, cp, what };
            total++;
        }
        if (cp == '\n' && len == 1) {
            line++;
            col = 1;
        } else {
            col++;
        }
        i += len;
    }
    return total;
}
