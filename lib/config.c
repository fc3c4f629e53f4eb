/*
 * config.c - libtelltale's configuration: defaults, TELLTALE_* settings parsed
 * from text, validation, and the span name filter.
 *
 * Value syntax (one parser per kind, shared by every key of that kind):
 *  - size: a whole number of bytes, optionally followed (after optional spaces)
 *    by a unit, case-insensitive: B; K, KB, KiB = 1024; M, MB, MiB = 1024^2;
 *    G, GB, GiB = 1024^3; T, TB, TiB = 1024^4. "KB" and friends are binary on
 *    purpose: a buffer size written "64kb" means 64 KiB to everyone who writes
 *    it. No fractions ("1.5GiB": use 1536MiB), no sign, overflow is TT_ERANGE.
 *  - duration: a whole number, optional spaces, a unit: ns, us, ms, s, m, h
 *    (lowercase). A bare number is milliseconds for every duration key.
 *    Millisecond fields reject values that are not whole milliseconds.
 *  - ratio: a decimal "0.25" or a fraction "1/100", within [0, 1].
 *  - rate: a non-negative decimal, at most 1e9 (0 = no limit).
 *  - bool: 1/0, true/false, yes/no, on/off (case-insensitive).
 *  - name: 1 to TT_NAME_MAX-1 bytes of UTF-8 without control characters.
 *  - path: an absolute path of at most SPOOL_DIR_MAX bytes without control
 *    characters (room is left for the segment file names); trailing '/' dropped.
 *  - list: comma-separated name patterns, each optionally surrounded by spaces
 *    or tabs (dropped), none empty, '*' only as a pattern's last character
 *    (prefix match); stored as "a*,b" in at most TT_LIST_MAX-1 bytes. An
 *    empty or blank value is the empty list.
 *
 * Invariants: tt_config_set parses into a temporary and writes cfg only once
 * the whole value is valid, so a failure leaves cfg as it was; every string
 * field stays NUL-terminated; nothing here allocates.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "telltale.h"
#include "lib/config.h"

#define KiB            (UINT64_C(1) << 10)
#define MiB            (UINT64_C(1) << 20)
#define GiB            (UINT64_C(1) << 30)
#define TiB            (UINT64_C(1) << 40)
#define PiB            (UINT64_C(1) << 50)
#define NS_PER_MS      UINT64_C(1000000)
#define NS_PER_S       UINT64_C(1000000000)
#define HOUR_MS        UINT64_C(3600000)
#define RATE_MAX       1e9
#define SPOOL_DIR_MAX  (TT_PATH_MAX - 64) /* leaves room for "/<segment name>" */
#define ENV_PREFIX     "TELLTALE_"
#define ENV_PREFIX_LEN (sizeof ENV_PREFIX - 1)
#define KEY_MAX        64
#define STR_MAX        (TT_PATH_MAX > TT_LIST_MAX ? TT_PATH_MAX : TT_LIST_MAX)

enum kind { K_NAME, K_PATH, K_SIZE, K_DURATION, K_RATIO, K_RATE, K_BOOL, K_LIST };

struct setting {
    const char *name;
    enum kind kind;
    size_t off, size;  /* the field in tt_config */
    uint64_t min, max; /* sizes in bytes, durations in the field's unit */
    int ns;            /* durations: 1 if the field is in ns, 0 for ms */
};

#define FIELD(f) offsetof(tt_config, f), sizeof(((tt_config *)0)->f)

static const struct setting settings[] = {
    { "SERVICE", K_NAME, FIELD(service), 0, 0, 0 },
    { "NODE", K_NAME, FIELD(node), 0, 0, 0 },
    { "SPOOL_DIR", K_PATH, FIELD(spool_dir), 0, 0, 0 },
    { "SPOOL_MAX", K_SIZE, FIELD(spool_max_bytes), 4 * KiB, PiB, 0 },
    { "SEGMENT_SIZE", K_SIZE, FIELD(segment_bytes), 4 * KiB, GiB, 0 },
    { "FLUSH_INTERVAL", K_DURATION, FIELD(flush_interval_ms), 1, HOUR_MS, 0 },
    { "THREAD_BUFFER", K_SIZE, FIELD(thread_buffer_bytes), 4 * KiB, GiB, 0 },
    { "SAMPLE_RATIO", K_RATIO, FIELD(sample_ratio), 0, 0, 0 },
    { "SAMPLE_PARENT_BASED", K_BOOL, FIELD(sample_parent_based), 0, 0, 0 },
    { "SAMPLE_RATE_LIMIT", K_RATE, FIELD(sample_max_traces_per_s), 0, 0, 0 },
    { "MIN_SPAN_DURATION", K_DURATION, FIELD(min_span_duration_ns), 0, HOUR_MS *NS_PER_MS, 1 },
    { "SPAN_ALLOW", K_LIST, FIELD(span_allow), 0, 0, 0 },
    { "SPAN_DENY", K_LIST, FIELD(span_deny), 0, 0, 0 },
    { "HLC_MAX_OFFSET", K_DURATION, FIELD(hlc_max_offset_ms), 1, HOUR_MS, 0 },
    { "FSYNC", K_BOOL, FIELD(fsync_segments), 0, 0, 0 },
    { "ENABLED", K_BOOL, FIELD(enabled), 0, 0, 0 },
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

/* A parsed value, before it is written into the config. */
union parsed {
    uint64_t u;
    double d;
    int b;
    char s[STR_MAX];
};

/* Where error messages go and what they start with: "<prefix>: "<value>": ". */
struct perr {
    char *buf;
    size_t len;
    const char *prefix;
    const char *value; /* NULL: no quoted value in the message */
};

/* quote writes s as a C-like quoted string, escaping quotes, backslashes and
 * bytes outside printable ASCII, and cutting it after 64 bytes with "...". */
static void quote(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen < 8) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 64 || o + 8 >= outlen) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

static int fail(const struct perr *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(const struct perr *e, int code, const char *fmt, ...)
{
    if (!e->buf || e->len == 0)
        return code;
    char msg[256], q[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (e->value) {
        quote(e->value, strlen(e->value), q, sizeof q);
        snprintf(e->buf, e->len, "%s: %s: %s", e->prefix, q, msg);
    } else {
        snprintf(e->buf, e->len, "%s: %s", e->prefix, msg);
    }
    return code;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ASCII case-insensitive equality of a (n bytes) and the C string b. */
static int ieq(const char *a, size_t n, const char *b)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i] == '\0' || lower(a[i]) != lower(b[i]))
            return 0;
    }
    return b[n] == '\0';
}

/* utf8_len returns the length of the well-formed UTF-8 sequence at s (n bytes
 * available): 1 to 4, or 0 if malformed (overlong, surrogate, > U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* check_text finds the first control character or malformed UTF-8 in s (n
 * bytes): returns 0 if there is none, else fills *pos and *what. */
static int check_text(const char *s, size_t n, size_t *pos, const char **what)
{
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)s + i;
        if (is_ctl(*u)) {
            *pos = i;
            *what = "control character";
            return -1;
        }
        size_t l = utf8_len(u, n - i);
        if (l == 0) {
            *pos = i;
            *what = "invalid UTF-8";
            return -1;
        }
        i += l;
    }
    return 0;
}

/* ---- value parsers -------------------------------------------------------- */

/* parse_uint reads decimal digits at *p. Returns 0, -1 (no digit) or -2
 * (overflow); advances *p past the digits. */
static int parse_uint(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    int overflow = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = 1;
        else
            v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return overflow ? -2 : 0;
}

/* parse_decimal reads "12", "0.25", ".5" or "3." (no sign, no exponent). The
 * first 19 significant digits are kept, which is beyond double precision.
 * Returns 0 or -1 (no digit); advances *p. */
static int parse_decimal(const char **p, double *out)
{
    const char *s = *p;
    uint64_t mant = 0;
    int sig = 0, exp10 = 0, digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        if (sig < 19) {
            mant = mant * 10 + (uint64_t)(*s - '0');
            sig += mant != 0;
        } else {
            exp10++;
        }
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
            if (sig < 19) {
                mant = mant * 10 + (uint64_t)(*s - '0');
                sig += mant != 0;
                exp10--;
            }
        }
    }
    if (digits == 0)
        return -1;
    double v = (double)mant, scale = 1;
    for (int i = 0; i < (exp10 < 0 ? -exp10 : exp10); i++)
        scale *= 10;
    *out = exp10 < 0 ? v / scale : v * scale;
    *p = s;
    return 0;
}

static void fmt_size(uint64_t v, char *out, size_t n)
{
    static const struct {
        uint64_t mult;
        const char *unit;
    } units[] = { { PiB, "PiB" }, { TiB, "TiB" }, { GiB, "GiB" }, { MiB, "MiB" }, { KiB, "KiB" } };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (v != 0 && v % units[i].mult == 0) {
            snprintf(out, n, "%llu%s", (unsigned long long)(v / units[i].mult), units[i].unit);
            return;
        }
    }
    snprintf(out, n, "%llu", (unsigned long long)v);
}

static const struct {
    const char *unit;
    uint64_t ns;
} dur_units[] = {
    { "h", 3600 * NS_PER_S }, { "m", 60 * NS_PER_S }, { "s", NS_PER_S },
    { "ms", NS_PER_MS },      { "us", 1000 },         { "ns", 1 },
};

static void fmt_duration(uint64_t ns, char *out, size_t n)
{
    for (size_t i = 0; i < sizeof dur_units / sizeof dur_units[0]; i++) {
        if (ns != 0 && ns % dur_units[i].ns == 0) {
            snprintf(out, n, "%llu%s", (unsigned long long)(ns / dur_units[i].ns),
                     dur_units[i].unit);
            return;
        }
    }
    snprintf(out, n, "0");
}

/* unit_start skips spaces between a number and its unit, but only when a unit
 * follows (so a trailing space is reported as a bad unit). */
static const char *unit_start(const char *p)
{
    const char *u = p;
    while (*u == ' ')
        u++;
    return *u ? u : p;
}

static int parse_size(const struct perr *e, const struct setting *st, const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {
        { "", 1 },      { "b", 1 },    { "k", KiB },   { "kb", KiB },  { "kib", KiB },
        { "m", MiB },   { "mb", MiB }, { "mib", MiB }, { "g", GiB },   { "gb", GiB },
        { "gib", GiB }, { "t", TiB },  { "tb", TiB },  { "tib", TiB },
    };
    const char *p = s;
    uint64_t n;
    int rc = parse_uint(&p, &n);
    if (rc == -1)
        return fail(e, TT_ESYNTAX, "expected a size such as 1048576, 256KiB or 8MiB");
    if (rc == -2)
        return fail(e, TT_ERANGE, "number too large");
    if (*p == '.')
        return fail(e, TT_ESYNTAX, "fractional sizes are not supported (use a smaller unit)");
    const char *u = unit_start(p);
    uint64_t mult = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ieq(u, strlen(u), units[i].unit)) {
            mult = units[i].mult;
            break;
        }
    }
    if (mult == 0) {
        char q[96];
        quote(u, strlen(u), q, sizeof q);
        return fail(e, TT_ESYNTAX, "unknown size unit %s (use KiB, MiB, GiB)", q);
    }
    if (n > UINT64_MAX / mult)
        return fail(e, TT_ERANGE, "number too large");
    n *= mult;
    if (n < st->min || n > st->max) {
        char lo[32], hi[32];
        fmt_size(st->min, lo, sizeof lo);
        fmt_size(st->max, hi, sizeof hi);
        return fail(e, TT_ERANGE, "out of range (%s to %s)", lo, hi);
    }
    *out = n;
    return 0;
}

static int parse_duration(const struct perr *e, const struct setting *st, const char *s,
                          uint64_t *out)
{
    const char *p = s;
    uint64_t n;
    int rc = parse_uint(&p, &n);
    if (rc == -1)
        return fail(e, TT_ESYNTAX, "expected a duration such as 250ms, 1s or 2m");
    if (rc == -2)
        return fail(e, TT_ERANGE, "number too large");
    if (*p == '.')
        return fail(e, TT_ESYNTAX, "fractional durations are not supported (use a smaller unit)");
    const char *u = unit_start(p);
    uint64_t mult = 0;
    if (*u == '\0') {
        mult = NS_PER_MS; /* a bare number is milliseconds */
    } else {
        for (size_t i = 0; i < sizeof dur_units / sizeof dur_units[0]; i++) {
            if (strcmp(u, dur_units[i].unit) == 0) {
                mult = dur_units[i].ns;
                break;
            }
        }
    }
    if (mult == 0) {
        char q[96];
        quote(u, strlen(u), q, sizeof q);
        return fail(e, TT_ESYNTAX, "unknown duration unit %s (use ns, us, ms, s, m, h)", q);
    }
    if (n > UINT64_MAX / mult)
        return fail(e, TT_ERANGE, "duration too long");
    uint64_t ns = n * mult, v = ns;
    if (!st->ns) {
        if (ns % NS_PER_MS != 0)
            return fail(e, TT_ERANGE, "not a whole number of milliseconds");
        v = ns / NS_PER_MS;
    }
    if (v < st->min || v > st->max) {
        char lo[32], hi[32];
        uint64_t scale = st->ns ? 1 : NS_PER_MS;
        fmt_duration(st->min * scale, lo, sizeof lo);
        fmt_duration(st->max * scale, hi, sizeof hi);
        return fail(e, TT_ERANGE, "out of range (%s to %s)", lo, hi);
    }
    *out = v;
    return 0;
}

static int parse_ratio(const struct perr *e, const char *s, double *out)
{
    const char *p = s;
    double v;
    uint64_t num, den;
    const char *q = s;
    if (parse_uint(&q, &num) == 0 && *q == '/') {
        q++;
        int rc = parse_uint(&q, &den);
        if (rc == -1 || *q != '\0')
            return fail(e, TT_ESYNTAX, "expected a ratio such as 0.25 or 1/100");
        if (den == 0)
            return fail(e, TT_ERANGE, "division by zero");
        if (rc == -2 || num > den)
            return fail(e, TT_ERANGE, "out of range (0 to 1)");
        *out = (double)num / (double)den;
        return 0;
    }
    if (parse_decimal(&p, &v) != 0 || *p != '\0')
        return fail(e, TT_ESYNTAX, "expected a ratio such as 0.25 or 1/100");
    if (!(v >= 0 && v <= 1))
        return fail(e, TT_ERANGE, "out of range (0 to 1)");
    *out = v;
    return 0;
}

static int parse_rate(const struct perr *e, const char *s, double *out)
{
    const char *p = s;
    double v;
    if (parse_decimal(&p, &v) != 0 || *p != '\0')
        return fail(e, TT_ESYNTAX, "expected a number of traces per second such as 100 or 0.5");
    if (!(v >= 0 && v <= RATE_MAX))
        return fail(e, TT_ERANGE, "out of range (0 to 1000000000; 0 = no limit)");
    *out = v;
    return 0;
}

static int parse_bool(const struct perr *e, const char *s, int *out)
{
    static const char *const yes[] = { "1", "true", "yes", "on" };
    static const char *const no[] = { "0", "false", "no", "off" };
    size_t n = strlen(s);
    for (size_t i = 0; i < 4; i++) {
        if (ieq(s, n, yes[i])) {
            *out = 1;
            return 0;
        }
        if (ieq(s, n, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return fail(e, TT_ESYNTAX, "expected a boolean (1/0, true/false, yes/no, on/off)");
}

static int parse_name(const struct perr *e, const char *s, char *out)
{
    size_t n = strlen(s), pos;
    const char *what;
    if (n == 0)
        return fail(e, TT_ESYNTAX, "must not be empty");
    if (n > TT_NAME_MAX - 1)
        return fail(e, TT_ERANGE, "longer than %d bytes", TT_NAME_MAX - 1);
    if (check_text(s, n, &pos, &what) != 0)
        return fail(e, TT_ESYNTAX, "%s at position %zu", what, pos);
    memcpy(out, s, n + 1);
    return 0;
}

static int parse_path(const struct perr *e, const char *s, char *out)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (is_ctl((unsigned char)s[i]))
            return fail(e, TT_ESYNTAX, "control character at position %zu", i);
    }
    if (n == 0 || s[0] != '/')
        return fail(e, TT_ESYNTAX, "must be an absolute path");
    while (n > 1 && s[n - 1] == '/')
        n--;
    if (n > SPOOL_DIR_MAX)
        return fail(e, TT_ERANGE, "longer than %d bytes", SPOOL_DIR_MAX);
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* parse_list validates a pattern list and writes its canonical form (no
 * spaces around patterns) into out (TT_LIST_MAX bytes), or only validates
 * when out is NULL. */
static int parse_list(const struct perr *e, const char *s, char *out)
{
    size_t n = strlen(s), o = 0, pos = 0;
    size_t b = 0;
    while (b < n && is_ows(s[b]))
        b++;
    if (b == n) {
        if (out)
            out[0] = '\0';
        return 0;
    }
    for (;;) {
        const char *comma = memchr(s + pos, ',', n - pos);
        size_t end = comma ? (size_t)(comma - s) : n, pb = pos, pe = end, bad;
        const char *what;
        while (pb < pe && is_ows(s[pb]))
            pb++;
        while (pe > pb && is_ows(s[pe - 1]))
            pe--;
        if (pb == pe)
            return fail(e, TT_ESYNTAX, "empty pattern at position %zu", pb);
        if (check_text(s + pb, pe - pb, &bad, &what) != 0)
            return fail(e, TT_ESYNTAX, "%s at position %zu", what, pb + bad);
        const char *star = memchr(s + pb, '*', pe - pb);
        if (star && star != s + pe - 1)
            return fail(e, TT_ESYNTAX, "'*' only allowed at the end of a pattern (position %zu)",
                        (size_t)(star - s));
        size_t need = (o ? 1 : 0) + (pe - pb);
        if (o + need > TT_LIST_MAX - 1)
            return fail(e, TT_ERANGE, "longer than %d bytes", TT_LIST_MAX - 1);
        if (out) {
            if (o)
                out[o] = ',';
            memcpy(out + o + (o ? 1 : 0), s + pb, pe - pb);
        }
        o += need;
        if (!comma)
            break;
        pos = end + 1;
    }
    if (out)
        out[o] = '\0';
    return 0;
}

/* ---- settings ------------------------------------------------------------- */

static const struct setting *find_setting(const char *key, size_t n)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (ieq(key, n, settings[i].name))
            return &settings[i];
    }
    return NULL;
}

/* parse_value parses s for setting st into v without touching any config. */
static int parse_value(const struct perr *e, const struct setting *st, const char *s,
                       union parsed *v)
{
    switch (st->kind) {
    case K_NAME:
        return parse_name(e, s, v->s);
    case K_PATH:
        return parse_path(e, s, v->s);
    case K_SIZE:
        return parse_size(e, st, s, &v->u);
    case K_DURATION:
        return parse_duration(e, st, s, &v->u);
    case K_RATIO:
        return parse_ratio(e, s, &v->d);
    case K_RATE:
        return parse_rate(e, s, &v->d);
    case K_BOOL:
        return parse_bool(e, s, &v->b);
    case K_LIST:
        return parse_list(e, s, v->s);
    }
    return TT_EINVAL;
}

/* store writes a parsed value into its field of cfg (the only write). */
static void store(tt_config *cfg, const struct setting *st, const union parsed *v)
{
    char *f = (char *)cfg + st->off;
    switch (st->kind) {
    case K_NAME:
    case K_PATH:
    case K_LIST:
        memcpy(f, v->s, strlen(v->s) + 1);
        break;
    case K_SIZE:
    case K_DURATION:
        if (st->size == sizeof(uint32_t)) {
            uint32_t u32 = (uint32_t)v->u; /* within st->max, checked */
            memcpy(f, &u32, sizeof u32);
        } else {
            memcpy(f, &v->u, sizeof v->u);
        }
        break;
    case K_RATIO:
    case K_RATE:
        memcpy(f, &v->d, sizeof v->d);
        break;
    case K_BOOL:
        memcpy(f, &v->b, sizeof v->b);
        break;
    }
}

/* set_one applies key (n bytes) = value; env says to name the key
 * TELLTALE_<KEY> in messages. */
static int set_one(tt_config *cfg, const char *key, size_t n, const char *value, int env,
                   char *errbuf, size_t errlen)
{
    const struct setting *st = find_setting(key, n);
    char prefix[KEY_MAX + 16];
    if (!st) {
        struct perr e = { errbuf, errlen, prefix, NULL };
        char q[KEY_MAX * 4 + 16];
        if (env) {
            snprintf(prefix, sizeof prefix, ENV_PREFIX "%.*s", (int)(n > KEY_MAX ? KEY_MAX : n),
                     key);
            return fail(&e, TT_ENOTFOUND, "unknown setting");
        }
        quote(key, n, q, sizeof q);
        e.prefix = "config";
        return fail(&e, TT_ENOTFOUND, "unknown setting %s", q);
    }
    snprintf(prefix, sizeof prefix, "%s%s", env ? ENV_PREFIX : "", st->name);
    struct perr e = { errbuf, errlen, prefix, value };
    union parsed v;
    memset(&v, 0, sizeof v);
    int rc = parse_value(&e, st, value, &v);
    if (rc == 0)
        store(cfg, st, &v);
    return rc;
}

int tt_config_set(tt_config *cfg, const char *key, const char *value, char *errbuf, size_t errlen)
{
    if (!cfg || !key || !value) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "tt_config_set: NULL argument");
        return TT_EINVAL;
    }
    return set_one(cfg, key, strlen(key), value, 0, errbuf, errlen);
}

int tt_config_from_env(tt_config *cfg, char *errbuf, size_t errlen)
{
    if (!cfg) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "tt_config_from_env: NULL argument");
        return TT_EINVAL;
    }
    for (char **env = environ; env && *env; env++) {
        const char *var = *env;
        if (strncmp(var, ENV_PREFIX, ENV_PREFIX_LEN) != 0)
            continue;
        const char *eq = strchr(var, '=');
        if (!eq)
            continue;
        const char *key = var + ENV_PREFIX_LEN;
        int rc = set_one(cfg, key, (size_t)(eq - key), eq + 1, 1, errbuf, errlen);
        /* Names the library does not know belong to the agent, server or CLI,
         * which share the prefix: skipped, so they never stop an application. */
        if (rc == TT_ENOTFOUND) {
            if (errbuf && errlen)
                errbuf[0] = 0;
            continue;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- defaults -------------------------------------------------------------- */

/* copy_name copies s into out (TT_NAME_MAX bytes) as a valid name: control
 * characters and malformed UTF-8 become '_', and it is cut at a character
 * boundary; fallback when the result would be empty. */
static void copy_name(char *out, const char *s, const char *fallback)
{
    size_t o = 0, n = s ? strlen(s) : 0;
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)s + i;
        size_t l = utf8_len(u, n - i);
        if (l == 0 || is_ctl(*u)) {
            if (o + 1 > TT_NAME_MAX - 1)
                break;
            out[o++] = '_';
            i++;
            continue;
        }
        if (o + l > TT_NAME_MAX - 1)
            break;
        memcpy(out + o, u, l);
        o += l;
        i += l;
    }
    if (o == 0) {
        size_t fl = strlen(fallback);
        memcpy(out, fallback, fl);
        o = fl;
    }
    out[o] = '\0';
}

static void default_spool_dir(char *out)
{
    uid_t uid = geteuid();
    if (uid == 0) {
        snprintf(out, TT_PATH_MAX, "/var/spool/telltale");
        return;
    }
    const char *tmp = secure_getenv("TMPDIR");
    size_t n = tmp ? strlen(tmp) : 0;
    int ok = n > 0 && tmp[0] == '/';
    for (size_t i = 0; ok && i < n; i++)
        ok = !is_ctl((unsigned char)tmp[i]);
    while (ok && n > 1 && tmp[n - 1] == '/')
        n--;
    if (!ok || n + 40 > SPOOL_DIR_MAX) {
        tmp = "/tmp";
        n = 4;
    }
    if (n == 1) /* TMPDIR=/ */
        n = 0;
    snprintf(out, TT_PATH_MAX, "%.*s/telltale-spool-%u", (int)n, tmp, (unsigned)uid);
}

void tt_config_default(tt_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    copy_name(cfg->service, program_invocation_short_name, "unknown_service");
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';
    copy_name(cfg->node, host, "localhost");
    default_spool_dir(cfg->spool_dir);
    cfg->spool_max_bytes = 256 * MiB;
    cfg->segment_bytes = 8 * MiB;
    cfg->flush_interval_ms = 1000;
    cfg->thread_buffer_bytes = (uint32_t)MiB;
    cfg->sample_ratio = 1.0;
    cfg->sample_parent_based = 1;
    cfg->sample_max_traces_per_s = 0;
    cfg->min_span_duration_ns = 0;
    cfg->span_allow[0] = '\0';
    cfg->span_deny[0] = '\0';
    cfg->hlc_max_offset_ms = 500;
    cfg->fsync_segments = 0;
    cfg->enabled = 1;
}

/* ---- validation ------------------------------------------------------------ */

int config_validate(const tt_config *cfg, char *errbuf, size_t errlen)
{
    if (!cfg)
        return TT_EINVAL;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *st = &settings[i];
        const char *f = (const char *)cfg + st->off;
        struct perr e = { errbuf, errlen, st->name, NULL };
        union parsed v;
        uint64_t u = 0;
        double d;
        int rc = 0;
        switch (st->kind) {
        case K_NAME:
        case K_PATH:
        case K_LIST:
            if (!memchr(f, '\0', st->size))
                return fail(&e, TT_ERANGE, "not NUL-terminated");
            e.value = f;
            if (st->kind == K_NAME)
                rc = parse_name(&e, f, v.s);
            else if (st->kind == K_PATH)
                rc = parse_path(&e, f, v.s);
            else
                rc = parse_list(&e, f, NULL);
            break;
        case K_SIZE:
        case K_DURATION:
            if (st->size == sizeof(uint32_t)) {
                uint32_t u32;
                memcpy(&u32, f, sizeof u32);
                u = u32;
            } else {
                memcpy(&u, f, sizeof u);
            }
            if (u < st->min || u > st->max)
                rc = fail(&e, TT_ERANGE, "%llu out of range (%llu to %llu)", (unsigned long long)u,
                          (unsigned long long)st->min, (unsigned long long)st->max);
            break;
        case K_RATIO:
        case K_RATE:
            memcpy(&d, f, sizeof d);
            if (!(d >= 0 && d <= (st->kind == K_RATIO ? 1.0 : RATE_MAX)))
                rc = fail(&e, TT_ERANGE, "%g out of range", d);
            break;
        case K_BOOL:
            break; /* any int is a truth value */
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- name filter ------------------------------------------------------------- */

/* list_match says whether name (n bytes) matches a pattern of list, and
 * sets *any when the list holds at least one pattern. Spaces and tabs around
 * patterns are ignored, as tt_config_set would drop them. */
static int list_match(const char *list, const char *name, size_t n, int *any)
{
    const char *p = list;
    *any = 0;
    for (;;) {
        while (is_ows(*p))
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *t = end;
        while (t > p && is_ows(t[-1]))
            t--;
        size_t plen = (size_t)(t - p);
        if (plen > 0) {
            *any = 1;
            if (p[plen - 1] == '*') {
                if (n >= plen - 1 && memcmp(p, name, plen - 1) == 0)
                    return 1;
            } else if (plen == n && memcmp(p, name, n) == 0) {
                return 1;
            }
        }
        if (!*end)
            return 0;
        p = end + 1;
    }
}

int tt_name_allowed(const char *allow, const char *deny, const char *name)
{
    if (!name)
        name = "";
    size_t n = strlen(name);
    int any;
    if (allow && allow[0] && !list_match(allow, name, n, &any) && any)
        return 0;
    if (deny && deny[0] && list_match(deny, name, n, &any))
        return 0;
    return 1;
}
