/*
 * fuzz_promtext.c - fuzz target for the Prometheus text parser. The input is
 * parsed three ways: whole, in chunks whose sizes come from the input's first
 * bytes, and in skip mode with small limits. Whole and chunked parses must
 * give the same callbacks (compared by a running hash of everything the
 * callbacks see) and the same result; every sample must satisfy the
 * documented contract (names in the right alphabet, valid UTF-8 label
 * values, no duplicate label names, limits respected); skip mode must never
 * fail on syntax and must deliver at least the samples stop mode did before
 * its first error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "core/promtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

struct seen {
    uint64_t hash, samples, meta, errors;
    size_t max_labels, max_name, max_value;
};

static void mix(struct seen *s, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        s->hash = (s->hash ^ b[i]) * 0x100000001b3ull;
    s->hash = (s->hash ^ n) * 0x100000001b3ull;
}

static int name_ok(const char *s, size_t n, int metric)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (i > 0 && c >= '0' && c <= '9') || (metric && c == ':');
        if (!ok)
            return 0;
    }
    return 1;
}

static int utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i], cp;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i - 1 < k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        static const uint32_t min[4] = { 0, 0x80, 0x800, 0x10000 };
        if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static int on_sample(void *ctx, const struct promtext_sample *s)
{
    struct seen *z = ctx;
    CHECK(name_ok(s->name, s->name_len, 1));
    CHECK(s->name_len <= z->max_name);
    CHECK(s->nlabels <= z->max_labels);
    for (size_t i = 0; i < s->nlabels; i++) {
        const struct promtext_label *l = &s->labels[i];
        CHECK(name_ok(l->name, l->name_len, 0));
        CHECK(l->name_len <= z->max_name);
        CHECK(l->value_len <= z->max_value);
        CHECK(utf8_ok((const uint8_t *)l->value, l->value_len));
        CHECK(!(l->name_len == 8 && memcmp(l->name, "__name__", 8) == 0));
        for (size_t j = 0; j < i; j++)
            CHECK(!(s->labels[j].name_len == l->name_len &&
                    memcmp(s->labels[j].name, l->name, l->name_len) == 0));
        mix(z, l->name, l->name_len);
        mix(z, l->value, l->value_len);
    }
    if (s->family) {
        CHECK(s->family->name_len <= s->name_len);
        CHECK(memcmp(s->family->name, s->name, s->family->name_len) == 0);
        mix(z, s->family->help, s->family->help_len);
    }
    mix(z, s->name, s->name_len);
    mix(z, &s->value, sizeof s->value);
    mix(z, &s->timestamp_ms, sizeof s->timestamp_ms);
    mix(z, &s->line, sizeof s->line);
    z->samples++;
    return 0;
}

static int on_meta(void *ctx, const struct promtext_family *f)
{
    struct seen *z = ctx;
    CHECK(name_ok(f->name, f->name_len, 1));
    CHECK(f->has_help || f->help_len == 0);
    mix(z, f->name, f->name_len);
    mix(z, f->help, f->help_len);
    mix(z, &f->type, sizeof f->type);
    z->meta++;
    return 0;
}

static int on_error(void *ctx, const struct promtext_error *e)
{
    struct seen *z = ctx;
    CHECK(e->code == TT_ESYNTAX || e->code == TT_ETOOBIG);
    CHECK(e->line >= 1 && e->column >= 1);
    CHECK(strlen(e->msg) < sizeof e->msg && strncmp(e->msg, "line ", 5) == 0);
    mix(z, e->msg, strlen(e->msg));
    z->errors++;
    return 0;
}

static int run(const uint8_t *data, size_t size, const struct promtext_opts *o, const uint8_t *cuts,
               size_t ncuts, struct seen *z, struct promtext_stats *st)
{
    struct promtext p;
    struct promtext_callbacks cb = { on_sample, on_meta, on_meta, on_error, z };
    memset(z, 0, sizeof *z);
    z->max_labels = o->max_labels ? o->max_labels : PROMTEXT_DEFAULT_MAX_LABELS;
    z->max_name = o->max_name_bytes ? o->max_name_bytes : PROMTEXT_DEFAULT_MAX_NAME;
    z->max_value = o->max_value_bytes ? o->max_value_bytes : PROMTEXT_DEFAULT_MAX_VALUE;
    CHECK(promtext_init(&p, o, &cb) == 0);
    int rc = 0;
    size_t off = 0, k = 0;
    while (off < size && rc == 0) {
        size_t n = ncuts ? (size_t)cuts[k++ % ncuts] + 1 : size;
        if (n > size - off)
            n = size - off;
        rc = promtext_feed(&p, data + off, n);
        off += n;
    }
    if (rc == 0)
        rc = promtext_finish(&p);
    CHECK(p.stats.samples == z->samples);
    CHECK(p.stats.bad_lines == z->errors);
    CHECK(rc == 0 || p.err.line > 0);
    *st = p.stats;
    promtext_release(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct promtext_opts def = { 0 };
    struct seen a, b, c;
    struct promtext_stats sa, sb, sc;
    int ra = run(data, size, &def, NULL, 0, &a, &sa);
    /* Chunk sizes from the first 4 bytes (the whole input is still parsed). */
    size_t ncuts = size < 4 ? size : 4;
    int rb = run(data, size, &def, data, ncuts, &b, &sb);
    CHECK(ra == rb);
    CHECK(a.hash == b.hash && a.samples == b.samples && a.meta == b.meta);
    CHECK(ra == 0 || ra == TT_ESYNTAX || ra == TT_ETOOBIG);
    struct promtext_opts small = { .max_line_bytes = 64,
                                   .max_labels = 3,
                                   .max_name_bytes = 8,
                                   .max_value_bytes = 8,
                                   .flags = PROMTEXT_SKIP_BAD_LINES };
    int rc = run(data, size, &small, data, ncuts, &c, &sc);
    CHECK(rc == 0);
    struct promtext_opts skip = { .flags = PROMTEXT_SKIP_BAD_LINES };
    rc = run(data, size, &skip, NULL, 0, &c, &sc);
    CHECK(rc == 0);
    CHECK(sc.samples >= sa.samples);
    CHECK(sc.lines >= sa.lines);
    CHECK((sc.bad_lines == 0) == (ra == 0));
    return 0;
}
