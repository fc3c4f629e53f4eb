/*
 * metrics_self.c - the server's own metrics registry and text exposition
 * (see metrics_self.h).
 *
 * Invariants: families and children are only ever appended, never removed
 * before metrics_registry_free, so readers walk the children list without
 * the lock (next pointers are published with release stores after the child
 * is complete) and only creation takes the mutex. Values are doubles kept as
 * their bits in 64-bit atomics; histogram buckets are per-bucket counts (not
 * cumulative) and are summed when rendered.
 */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "telltale.h"
#include "core/clock.h"
#include "server/metrics_self.h"

const double metrics_default_buckets[METRICS_DEFAULT_NBUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};

struct metric {
    struct metric *_Atomic next;
    struct metric_family *fam;
    char **values;            /* fam->nlabels copies */
    _Atomic uint64_t bits;    /* counter/gauge value, histogram sum (double bits) */
    _Atomic uint64_t *counts; /* histogram: nbuckets + 1 per-bucket counts */
};

struct metric_family {
    struct metric_family *next;
    struct metrics_registry *reg;
    enum metric_type type;
    char *name;
    char *help;
    char **labels;
    size_t nlabels;
    double *buckets;
    size_t nbuckets;
    struct metric *_Atomic first;
    struct metric *last; /* under reg->mu */
};

struct collector {
    struct collector *next;
    metrics_collect_fn fn;
    void *ctx;
};

struct metrics_registry {
    pthread_mutex_t mu;
    struct metric_family *families, *families_last;
    struct collector *collectors, *collectors_last;
};

int metrics_registry_new(struct metrics_registry **out)
{
    struct metrics_registry *reg = calloc(1, sizeof(*reg));

    *out = NULL;
    if (reg == NULL)
        return TT_ENOMEM;
    pthread_mutex_init(&reg->mu, NULL);
    *out = reg;
    return 0;
}

static void free_strv(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void free_child(struct metric *m, size_t nlabels)
{
    free_strv(m->values, nlabels);
    free(m->counts);
    free(m);
}

static void free_family(struct metric_family *f)
{
    struct metric *m = atomic_load(&f->first), *next;

    for (; m != NULL; m = next) {
        next = atomic_load(&m->next);
        free_child(m, f->nlabels);
    }
    free(f->name);
    free(f->help);
    free_strv(f->labels, f->nlabels);
    free(f->buckets);
    free(f);
}

void metrics_registry_free(struct metrics_registry *reg)
{
    struct metric_family *f, *fn;
    struct collector *c, *cn;

    if (reg == NULL)
        return;
    for (f = reg->families; f != NULL; f = fn) {
        fn = f->next;
        free_family(f);
    }
    for (c = reg->collectors; c != NULL; c = cn) {
        cn = c->next;
        free(c);
    }
    pthread_mutex_destroy(&reg->mu);
    free(reg);
}

static int valid_name(const char *s, int colon_ok)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        int alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

static char **dup_strv(const char *const *v, size_t n)
{
    char **out = calloc(n > 0 ? n : 1, sizeof(char *));

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = strdup(v[i] != NULL ? v[i] : "");
        if (out[i] == NULL) {
            free_strv(out, n);
            return NULL;
        }
    }
    return out;
}

static int check_desc(const struct metric_desc *d)
{
    if ((unsigned)d->type > METRIC_HISTOGRAM || !valid_name(d->name, 1) ||
        d->nlabels > METRICS_MAX_LABELS || (d->nlabels > 0 && d->label_names == NULL))
        return TT_EINVAL;
    for (size_t i = 0; i < d->nlabels; i++) {
        if (!valid_name(d->label_names[i], 0) || strncmp(d->label_names[i], "__", 2) == 0)
            return TT_EINVAL;
        if (d->type == METRIC_HISTOGRAM && strcmp(d->label_names[i], "le") == 0)
            return TT_EINVAL;
        for (size_t k = 0; k < i; k++)
            if (strcmp(d->label_names[i], d->label_names[k]) == 0)
                return TT_EINVAL;
    }
    if (d->type == METRIC_HISTOGRAM && d->buckets != NULL) {
        if (d->nbuckets == 0 || d->nbuckets > METRICS_MAX_BUCKETS)
            return TT_EINVAL;
        for (size_t i = 0; i < d->nbuckets; i++)
            if (!isfinite(d->buckets[i]) || (i > 0 && d->buckets[i] <= d->buckets[i - 1]))
                return TT_EINVAL;
    }
    return 0;
}

int metrics_register(struct metrics_registry *reg, const struct metric_desc *desc,
                     struct metric_family **out)
{
    struct metric_family *f = NULL, *it;
    const double *buckets = desc->buckets;
    size_t nbuckets = desc->nbuckets;
    int rc;

    *out = NULL;
    rc = check_desc(desc);
    if (rc < 0)
        return rc;
    if (buckets == NULL) {
        buckets = metrics_default_buckets;
        nbuckets = METRICS_DEFAULT_NBUCKETS;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return TT_ENOMEM;
    f->reg = reg;
    f->type = desc->type;
    f->nlabels = desc->nlabels;
    f->name = strdup(desc->name);
    f->help = strdup(desc->help != NULL ? desc->help : "");
    f->labels = dup_strv(desc->label_names, desc->nlabels);
    if (desc->type == METRIC_HISTOGRAM) {
        f->nbuckets = nbuckets;
        f->buckets = malloc(nbuckets * sizeof(double));
        if (f->buckets != NULL)
            memcpy(f->buckets, buckets, nbuckets * sizeof(double));
    }
    if (f->name == NULL || f->help == NULL || f->labels == NULL ||
        (desc->type == METRIC_HISTOGRAM && f->buckets == NULL)) {
        free_family(f);
        return TT_ENOMEM;
    }
    pthread_mutex_lock(&reg->mu);
    for (it = reg->families; it != NULL; it = it->next) {
        if (strcmp(it->name, f->name) == 0) {
            pthread_mutex_unlock(&reg->mu);
            free_family(f);
            return TT_EEXIST;
        }
    }
    if (reg->families_last != NULL)
        reg->families_last->next = f;
    else
        reg->families = f;
    reg->families_last = f;
    pthread_mutex_unlock(&reg->mu);
    *out = f;
    return 0;
}

static int same_values(const struct metric *m, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m->values[i], values[i] != NULL ? values[i] : "") != 0)
            return 0;
    return 1;
}

static struct metric *find_child(struct metric_family *f, const char *const *values)
{
    struct metric *m = atomic_load_explicit(&f->first, memory_order_acquire);

    for (; m != NULL; m = atomic_load_explicit(&m->next, memory_order_acquire))
        if (same_values(m, values, f->nlabels))
            return m;
    return NULL;
}

struct metric *metrics_child(struct metric_family *f, const char *const *label_values)
{
    struct metric *m;

    if (f == NULL || (f->nlabels > 0 && label_values == NULL))
        return NULL;
    m = find_child(f, label_values);
    if (m != NULL)
        return m;
    pthread_mutex_lock(&f->reg->mu);
    m = find_child(f, label_values); /* another thread may have won */
    if (m != NULL)
        goto out;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        goto out;
    m->fam = f;
    m->values = dup_strv(label_values, f->nlabels);
    if (f->type == METRIC_HISTOGRAM)
        m->counts = calloc(f->nbuckets + 1, sizeof(*m->counts));
    if (m->values == NULL || (f->type == METRIC_HISTOGRAM && m->counts == NULL)) {
        free_child(m, f->nlabels);
        m = NULL;
        goto out;
    }
    if (f->last != NULL)
        atomic_store_explicit(&f->last->next, m, memory_order_release);
    else
        atomic_store_explicit(&f->first, m, memory_order_release);
    f->last = m;
out:
    pthread_mutex_unlock(&f->reg->mu);
    return m;
}

static void add_bits(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed), upd;

    do {
        upd = f64_bits(f64_from_bits(old) + delta);
    } while (!atomic_compare_exchange_weak_explicit(bits, &old, upd, memory_order_relaxed,
                                                    memory_order_relaxed));
}

void metric_inc(struct metric *m)
{
    metric_add(m, 1);
}

void metric_add(struct metric *m, double delta)
{
    if (m == NULL || m->fam->type == METRIC_HISTOGRAM)
        return;
    if (m->fam->type == METRIC_COUNTER && !(delta >= 0))
        return;
    add_bits(&m->bits, delta);
}

void metric_set(struct metric *m, double v)
{
    if (m == NULL || m->fam->type != METRIC_GAUGE)
        return;
    atomic_store_explicit(&m->bits, f64_bits(v), memory_order_relaxed);
}

void metric_observe(struct metric *m, double v)
{
    const struct metric_family *f;
    size_t lo = 0, hi;

    if (m == NULL || m->fam->type != METRIC_HISTOGRAM)
        return;
    f = m->fam;
    /* The first bucket whose upper bound is >= v (Prometheus's le); NaN
     * lands in +Inf. */
    hi = f->nbuckets;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= f->buckets[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&m->counts[lo], 1, memory_order_relaxed);
    add_bits(&m->bits, v);
}

double metric_value(const struct metric *m)
{
    if (m == NULL)
        return 0;
    return f64_from_bits(atomic_load_explicit(&m->bits, memory_order_relaxed));
}

double metric_hist_sum(const struct metric *m)
{
    return metric_value(m);
}

uint64_t metric_hist_count(const struct metric *m)
{
    uint64_t n = 0;

    if (m == NULL || m->counts == NULL)
        return 0;
    for (size_t i = 0; i <= m->fam->nbuckets; i++)
        n += atomic_load_explicit(&m->counts[i], memory_order_relaxed);
    return n;
}

int metrics_add_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *ctx)
{
    struct collector *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return TT_ENOMEM;
    c->fn = fn;
    c->ctx = ctx;
    pthread_mutex_lock(&reg->mu);
    if (reg->collectors_last != NULL)
        reg->collectors_last->next = c;
    else
        reg->collectors = c;
    reg->collectors_last = c;
    pthread_mutex_unlock(&reg->mu);
    return 0;
}

size_t metrics_format_value(double v, char *out, size_t outlen)
{
    char tmp[40];
    int n;

    if (isnan(v))
        n = snprintf(tmp, sizeof(tmp), "NaN");
    else if (isinf(v))
        n = snprintf(tmp, sizeof(tmp), "%s", v < 0 ? "-Inf" : "+Inf");
    else if (v == (double)(int64_t)v && fabs(v) < 1e15)
        n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    else {
        n = snprintf(tmp, sizeof(tmp), "%.15g", v);
        if (strtod(tmp, NULL) != v)
            n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    }
    if (outlen == 0)
        return 0;
    if ((size_t)n >= outlen)
        n = (int)outlen - 1;
    memcpy(out, tmp, (size_t)n);
    out[n] = '\0';
    return (size_t)n;
}

static void put_str(struct wbuf *out, const char *s)
{
    wbuf_put(out, s, strlen(s));
}

/* put_escaped writes s with the text format's escapes: in label values \\,
 * \" and \n; in help text only \\ and \n (quote is false). */
static void put_escaped(struct wbuf *out, const char *s, int quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            wbuf_put(out, "\\\\", 2);
        else if (*s == '\n')
            wbuf_put(out, "\\n", 2);
        else if (quote && *s == '"')
            wbuf_put(out, "\\\"", 2);
        else
            wbuf_put_u8(out, (uint8_t)*s);
    }
}

static const char *type_name(enum metric_type t)
{
    switch (t) {
    case METRIC_COUNTER:
        return "counter";
    case METRIC_GAUGE:
        return "gauge";
    case METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

void metrics_write_header(struct wbuf *out, const char *name, const char *help,
                          enum metric_type type)
{
    put_str(out, "# HELP ");
    put_str(out, name);
    wbuf_put_u8(out, ' ');
    put_escaped(out, help != NULL ? help : "", 0);
    put_str(out, "\n# TYPE ");
    put_str(out, name);
    wbuf_put_u8(out, ' ');
    put_str(out, type_name(type));
    wbuf_put_u8(out, '\n');
}

/* write_line writes name{labels[,extra]} value; extra_name may be NULL. */
static void write_line(struct wbuf *out, const char *name, const char *suffix,
                       const char *const *names, const char *const *values, size_t n,
                       const char *extra_name, const char *extra_value, double v)
{
    char num[40];
    size_t len;

    put_str(out, name);
    if (suffix != NULL)
        put_str(out, suffix);
    if (n > 0 || extra_name != NULL) {
        wbuf_put_u8(out, '{');
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                wbuf_put_u8(out, ',');
            put_str(out, names[i]);
            wbuf_put(out, "=\"", 2);
            put_escaped(out, values[i] != NULL ? values[i] : "", 1);
            wbuf_put_u8(out, '"');
        }
        if (extra_name != NULL) {
            if (n > 0)
                wbuf_put_u8(out, ',');
            put_str(out, extra_name);
            wbuf_put(out, "=\"", 2);
            put_escaped(out, extra_value, 1);
            wbuf_put_u8(out, '"');
        }
        wbuf_put_u8(out, '}');
    }
    wbuf_put_u8(out, ' ');
    len = metrics_format_value(v, num, sizeof(num));
    wbuf_put(out, num, len);
    wbuf_put_u8(out, '\n');
}

void metrics_write_sample(struct wbuf *out, const char *name, const char *const *label_names,
                          const char *const *label_values, size_t nlabels, double v)
{
    write_line(out, name, NULL, label_names, label_values, nlabels, NULL, NULL, v);
}

static void render_family(struct wbuf *out, const struct metric_family *f)
{
    const char *const *names = (const char *const *)f->labels;
    struct metric *m = atomic_load_explicit(&f->first, memory_order_acquire);

    metrics_write_header(out, f->name, f->help, f->type);
    for (; m != NULL; m = atomic_load_explicit(&m->next, memory_order_acquire)) {
        const char *const *values = (const char *const *)m->values;
        if (f->type != METRIC_HISTOGRAM) {
            write_line(out, f->name, NULL, names, values, f->nlabels, NULL, NULL, metric_value(m));
            continue;
        }
        uint64_t cum = 0;
        char le[40];
        for (size_t i = 0; i <= f->nbuckets; i++) {
            cum += atomic_load_explicit(&m->counts[i], memory_order_relaxed);
            if (i < f->nbuckets)
                metrics_format_value(f->buckets[i], le, sizeof(le));
            else
                memcpy(le, "+Inf", 5);
            write_line(out, f->name, "_bucket", names, values, f->nlabels, "le", le, (double)cum);
        }
        write_line(out, f->name, "_sum", names, values, f->nlabels, NULL, NULL, metric_value(m));
        write_line(out, f->name, "_count", names, values, f->nlabels, NULL, NULL, (double)cum);
    }
}

int metrics_render(struct metrics_registry *reg, struct wbuf *out)
{
    pthread_mutex_lock(&reg->mu);
    for (const struct metric_family *f = reg->families; f != NULL; f = f->next)
        render_family(out, f);
    for (const struct collector *c = reg->collectors; c != NULL; c = c->next)
        c->fn(c->ctx, out);
    pthread_mutex_unlock(&reg->mu);
    return out->err;
}

/* --- process metrics from /proc ------------------------------------------ */

/* read_small reads a /proc file whole into buf (NUL-terminated); returns its
 * length or -1. */
static long read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return -1;
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long)n;
}

static double boot_time_s(void)
{
    char buf[8192];
    const char *p;

    if (read_small("/proc/stat", buf, sizeof(buf)) < 0)
        return 0;
    p = strstr(buf, "\nbtime ");
    return p != NULL ? strtod(p + 7, NULL) : 0;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own fd */
}

static void gauge(struct wbuf *out, const char *name, const char *help, enum metric_type type,
                  double v)
{
    metrics_write_header(out, name, help, type);
    metrics_write_sample(out, name, NULL, NULL, 0, v);
}

static void collect_process(void *ctx, struct wbuf *out)
{
    char buf[1024];
    const char *p;
    double fields[24] = { 0 };
    double ticks = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
    double start_s = 0, now_s = (double)clock_realtime_ns() / 1e9;
    struct rlimit rl;
    int fds;

    (void)ctx;
    /* Fields after "(comm)": index 0 is field 3 (state) of proc(5). */
    if (read_small("/proc/self/stat", buf, sizeof(buf)) > 0 && (p = strrchr(buf, ')')) != NULL) {
        p += 2;
        for (int i = 0; i < 24 && p != NULL && *p != '\0'; i++) {
            fields[i] = strtod(p, NULL); /* the state letter reads as 0 */
            p = strchr(p, ' ');
            if (p != NULL)
                p++;
        }
        gauge(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
              METRIC_COUNTER, (fields[11] + fields[12]) / ticks);
        gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", METRIC_GAUGE,
              fields[21] * page);
        gauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", METRIC_GAUGE,
              fields[20]);
        start_s = boot_time_s() + fields[19] / ticks;
        gauge(out, "process_start_time_seconds",
              "Start time of the process since unix epoch in seconds.", METRIC_GAUGE, start_s);
    }
    fds = count_fds();
    if (fds >= 0)
        gauge(out, "process_open_fds", "Number of open file descriptors.", METRIC_GAUGE, fds);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        gauge(out, "process_max_fds", "Maximum number of open file descriptors.", METRIC_GAUGE,
              rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
    if (start_s > 0)
        gauge(out, "telltale_uptime_seconds", "Seconds since the server process started.",
              METRIC_GAUGE, now_s - start_s);
}

int metrics_add_process_collector(struct metrics_registry *reg)
{
    return metrics_add_collector(reg, collect_process, NULL);
}
