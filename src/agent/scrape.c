/*
 * scrape.c - one Prometheus scrape target (see scrape.h for what is emitted).
 *
 * A run: GET the URL with libcurl into a bounded buffer (gzip decoded by
 * libcurl), check the whole body with a first promtext pass (nothing is
 * emitted from a body with a bad line), then parse it again and emit each
 * sample with the target labels merged in. The series of a scrape are kept
 * in a set keyed by their sorted label set (name, then label names and
 * values, NUL-separated); two sets alternate between runs so the previous
 * scrape's series can be checked for staleness. The sets' keys live in one
 * growing buffer each, so a steady target allocates nothing per sample.
 */
#include "agent/scrape.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/clock.h"
#include "core/promtext.h"
#include "telltale.h"
#include "core/errmsg.h"

#define ACCEPT_HEADER   "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1"
#define EXPORTED_PREFIX "exported_"
#define NSYNTH          5

/* ---- series sets ------------------------------------------------------------ */

struct sset_ent {
    uint64_t hash; /* 0: empty slot */
    size_t off, len;
    uint32_t nlabels;
    int tracked; /* no explicit timestamp: subject to staleness */
};

struct sset {
    struct sset_ent *tab;
    size_t cap, n;
    char *keys;
    size_t klen, kcap;
};

static uint64_t key_hash(const char *p, size_t n)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * UINT64_C(1099511628211);
    return h ? h : 1;
}

static void sset_reset(struct sset *s)
{
    if (s->n)
        memset(s->tab, 0, s->cap * sizeof *s->tab);
    s->n = 0;
    s->klen = 0;
}

static void sset_release(struct sset *s)
{
    free(s->tab);
    free(s->keys);
    memset(s, 0, sizeof *s);
}

static struct sset_ent *sset_find(const struct sset *s, const char *k, size_t n, uint64_t h)
{
    if (s->n == 0)
        return NULL;
    for (size_t j = h & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
        struct sset_ent *e = &s->tab[j];
        if (e->hash == 0)
            return NULL;
        if (e->hash == h && e->len == n && memcmp(s->keys + e->off, k, n) == 0)
            return e;
    }
}

/* sset_add adds a key known not to be in s. */
static int sset_add(struct sset *s, const char *k, size_t n, uint64_t h, uint32_t nlabels,
                    int tracked)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        struct sset_ent *t = calloc(nc, sizeof *t);
        if (!t)
            return TT_ENOMEM;
        for (size_t i = 0; i < s->cap; i++) {
            if (s->tab[i].hash == 0)
                continue;
            size_t j = s->tab[i].hash & (nc - 1);
            while (t[j].hash != 0)
                j = (j + 1) & (nc - 1);
            t[j] = s->tab[i];
        }
        free(s->tab);
        s->tab = t;
        s->cap = nc;
    }
    if (s->klen + n > s->kcap) {
        size_t nc = s->kcap ? s->kcap : 16384;
        while (nc < s->klen + n)
            nc *= 2;
        char *nk = realloc(s->keys, nc);
        if (!nk)
            return TT_ENOMEM;
        s->keys = nk;
        s->kcap = nc;
    }
    size_t j = h & (s->cap - 1);
    while (s->tab[j].hash != 0)
        j = (j + 1) & (s->cap - 1);
    memcpy(s->keys + s->klen, k, n);
    s->tab[j] = (struct sset_ent){ h, s->klen, n, nlabels, tracked };
    s->klen += n;
    s->n++;
    return 0;
}

/* ---- the target ------------------------------------------------------------- */

struct scrape_target {
    char *url;
    char *user_agent;
    struct agent_label *tl; /* target labels, sorted by name, no empty values */
    size_t ntl;
    size_t tl_name_max; /* longest target label name */
    int64_t timeout_ms;
    size_t body_limit;
    int ignore_ts;

    CURL *curl;
    struct curl_slist *headers;
    char curl_err[CURL_ERROR_SIZE];
    char *body;
    size_t body_len, body_cap;
    int body_toobig;

    struct sset sets[2];
    int cur; /* sets[cur] is the scrape being emitted, sets[cur ^ 1] the last one */
    int health;
    char why[512];

    /* Per-sample scratch, grown to the largest sample. */
    char *strs;
    size_t strs_cap;
    struct agent_label *lb; /* the label builder */
    size_t nlb, lb_cap;
    struct agent_label *conf; /* exported labels displaced by target labels */
    char *key;
    size_t key_cap;

    /* The emitting pass. */
    const struct agent_emit *emit;
    int64_t now_ms;
    int emit_rc;
    uint64_t scraped, series_added, dups, nul_values;
    char *fam; /* the family whose metadata was emitted last */
    size_t fam_len, fam_cap;
    int fam_valid;
};

int scrape_is_stale_nan(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b == SCRAPE_STALE_NAN_BITS;
}

static double stale_nan(void)
{
    uint64_t b = SCRAPE_STALE_NAN_BITS;
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static int valid_label_name(const char *s)
{
    if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void sort_labels(struct agent_label *l, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct agent_label x = l[i];
        size_t j = i;
        while (j > 0 && strcmp(l[j - 1].name, x.name) > 0) {
            l[j] = l[j - 1];
            j--;
        }
        l[j] = x;
    }
}

/* default_instance sets *out to host:port of url (port by scheme when the
 * URL has none), as Prometheus's __address__ of a static target. */
static int default_instance(const char *url, char **out, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = 0;
    *out = NULL;
    if (!u)
        return TT_ENOMEM;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc != CURLUE_OK) {
        tt_set_err(err, errlen, "scrape: bad URL \"%s\": %s", url, curl_url_strerror(uc));
        rc = TT_EINVAL;
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        tt_set_err(err, errlen, "scrape: URL \"%s\": the scheme must be http or https", url);
        rc = TT_EINVAL;
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == 0 ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        tt_set_err(err, errlen, "scrape: URL \"%s\" has no host", url);
        rc = TT_EINVAL;
        goto out;
    }
    size_t n = strlen(host) + strlen(port) + 2;
    *out = malloc(n);
    if (!*out) {
        rc = TT_ENOMEM;
        goto out;
    }
    snprintf(*out, n, "%s:%s", host, port);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

void scrape_target_free(struct scrape_target *t)
{
    if (!t)
        return;
    if (t->curl) {
        curl_easy_cleanup(t->curl);
        curl_global_cleanup();
    }
    curl_slist_free_all(t->headers);
    for (size_t i = 0; i < t->ntl; i++) {
        free((char *)t->tl[i].name);
        free((char *)t->tl[i].value);
    }
    free(t->tl);
    free(t->url);
    free(t->user_agent);
    free(t->body);
    sset_release(&t->sets[0]);
    sset_release(&t->sets[1]);
    free(t->strs);
    free(t->lb);
    free(t->conf);
    free(t->key);
    free(t->fam);
    free(t);
}

static int add_tl(struct scrape_target *t, const char *name, const char *value)
{
    if (value[0] == 0)
        return 0; /* an empty label is no label */
    char *n = dup_str(name), *v = dup_str(value);
    if (!n || !v) {
        free(n);
        free(v);
        return TT_ENOMEM;
    }
    t->tl[t->ntl].name = n;
    t->tl[t->ntl].value = v;
    t->ntl++;
    if (strlen(n) > t->tl_name_max)
        t->tl_name_max = strlen(n);
    return 0;
}

static size_t write_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct scrape_target *t = ctx;
    size_t n = size * nmemb;
    if (n > t->body_limit - t->body_len) {
        t->body_toobig = 1;
        return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
    if (t->body_len + n > t->body_cap) {
        size_t nc = t->body_cap ? t->body_cap : 65536;
        while (nc < t->body_len + n)
            nc *= 2;
        char *nb = realloc(t->body, nc);
        if (!nb)
            return 0;
        t->body = nb;
        t->body_cap = nc;
    }
    memcpy(t->body + t->body_len, data, n);
    t->body_len += n;
    return n;
}

int scrape_target_new(struct scrape_target **out, const struct scrape_config *cfg, char *err,
                      size_t errlen)
{
    struct scrape_target *t = NULL;
    char *inst = NULL;
    int rc = 0;
    if (!out)
        return TT_EINVAL;
    *out = NULL;
    if (!cfg || !cfg->url || !cfg->url[0]) {
        tt_set_err(err, errlen, "scrape: no URL");
        return TT_EINVAL;
    }
    if (!cfg->job || !cfg->job[0]) {
        tt_set_err(err, errlen, "scrape: %s: the job name is empty", cfg->url);
        return TT_EINVAL;
    }
    if (cfg->timeout_ms < 0) {
        tt_set_err(err, errlen, "scrape: %s: negative timeout", cfg->url);
        return TT_EINVAL;
    }
    for (size_t i = 0; i < cfg->nlabels; i++) {
        const char *n = cfg->labels[i].name;
        if (!valid_label_name(n) || !cfg->labels[i].value) {
            tt_set_err(err, errlen, "scrape: %s: bad label name \"%s\"", cfg->url,
                       n ? n : "(null)");
            return TT_EINVAL;
        }
        if (strncmp(n, "__", 2) == 0 || strcmp(n, "job") == 0 || strcmp(n, "instance") == 0) {
            tt_set_err(err, errlen,
                       "scrape: %s: label \"%s\" is reserved (job and instance have their own "
                       "settings)",
                       cfg->url, n);
            return TT_EINVAL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->labels[j].name, n) == 0) {
                tt_set_err(err, errlen, "scrape: %s: label \"%s\" given twice", cfg->url, n);
                return TT_EINVAL;
            }
    }
    if (cfg->instance && cfg->instance[0]) {
        if (!(inst = dup_str(cfg->instance)))
            return TT_ENOMEM;
        /* The URL is still checked. */
        char *ignored = NULL;
        rc = default_instance(cfg->url, &ignored, err, errlen);
        free(ignored);
    } else {
        rc = default_instance(cfg->url, &inst, err, errlen);
    }
    if (rc != 0)
        goto out;
    t = calloc(1, sizeof *t);
    if (!t || !(t->tl = calloc(cfg->nlabels + 2, sizeof *t->tl)) || !(t->url = dup_str(cfg->url)) ||
        !(t->user_agent = dup_str(cfg->user_agent ? cfg->user_agent : "telltale-agent"))) {
        rc = TT_ENOMEM;
        goto out;
    }
    t->health = -1;
    t->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : SCRAPE_DEFAULT_TIMEOUT_MS;
    t->body_limit = cfg->body_limit_bytes ? cfg->body_limit_bytes : SCRAPE_DEFAULT_BODY_LIMIT;
    t->ignore_ts = cfg->ignore_timestamps != 0;
    if ((rc = add_tl(t, "job", cfg->job)) != 0 || (rc = add_tl(t, "instance", inst)) != 0)
        goto out;
    for (size_t i = 0; i < cfg->nlabels; i++)
        if ((rc = add_tl(t, cfg->labels[i].name, cfg->labels[i].value)) != 0)
            goto out;
    sort_labels(t->tl, t->ntl);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        tt_set_err(err, errlen, "scrape: libcurl initialisation failed");
        rc = TT_ENOMEM;
        goto out;
    }
    if (!(t->curl = curl_easy_init())) {
        curl_global_cleanup();
        rc = TT_ENOMEM;
        goto out;
    }
    char timeout_hdr[80];
    snprintf(timeout_hdr, sizeof timeout_hdr, "X-Prometheus-Scrape-Timeout-Seconds: %g",
             (double)t->timeout_ms / 1000.0);
    struct curl_slist *h1 = curl_slist_append(NULL, ACCEPT_HEADER);
    struct curl_slist *h2 = h1 ? curl_slist_append(h1, timeout_hdr) : NULL;
    if (!h2) {
        curl_slist_free_all(h1);
        rc = TT_ENOMEM;
        goto out;
    }
    t->headers = h2;
    CURL *c = t->curl;
    curl_easy_setopt(c, CURLOPT_URL, t->url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, t->user_agent);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L); /* Prometheus's follow_redirects default */
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->curl_err);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->body_limit);
out:
    free(inst);
    if (rc != 0) {
        scrape_target_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int scrape_target_health(const struct scrape_target *t, const char **why)
{
    if (why)
        *why = t ? t->why : "";
    return t ? t->health : -1;
}

/* ---- fetching --------------------------------------------------------------- */

static void fail(struct scrape_target *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct scrape_target *t, const char *fmt, ...)
{
    int n = snprintf(t->why, sizeof t->why, "scrape %s: ", t->url);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof t->why)
        vsnprintf(t->why + n, sizeof t->why - (size_t)n, fmt, ap);
    va_end(ap);
    t->health = 0;
}

/* fetch reads the body into t->body; returns 0, or 1 after fail(). */
static int fetch(struct scrape_target *t)
{
    t->body_len = 0;
    t->body_toobig = 0;
    t->curl_err[0] = 0;
    CURLcode cc = curl_easy_perform(t->curl);
    if (t->body_toobig || cc == CURLE_FILESIZE_EXCEEDED) {
        fail(t, "body size limit of %zu bytes exceeded", t->body_limit);
        return 1;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        fail(t, "timeout after %" PRId64 " ms (%s)", t->timeout_ms, t->curl_err);
        return 1;
    }
    if (cc != CURLE_OK) {
        fail(t, "%s", t->curl_err[0] ? t->curl_err : curl_easy_strerror(cc));
        return 1;
    }
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        fail(t, "server returned HTTP status %ld", status);
        return 1;
    }
    return 0;
}

/* ---- emitting --------------------------------------------------------------- */

static void warn(struct scrape_target *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void warn(struct scrape_target *t, const char *fmt, ...)
{
    if (!t->emit->warn)
        return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    t->emit->warn(t->emit->ctx, msg);
}

static int grow_mem(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np)
        return TT_ENOMEM;
    *p = np;
    *cap = nc;
    return 0;
}

static const char *lb_get(const struct scrape_target *t, const char *name)
{
    for (size_t i = 0; i < t->nlb; i++)
        if (strcmp(t->lb[i].name, name) == 0)
            return t->lb[i].value;
    return "";
}

/* lb_set sets name=value in the builder (an empty value deletes); the
 * builder has room for one more label. */
static void lb_set(struct scrape_target *t, const char *name, const char *value)
{
    for (size_t i = 0; i < t->nlb; i++)
        if (strcmp(t->lb[i].name, name) == 0) {
            if (value[0])
                t->lb[i].value = value;
            else
                t->lb[i] = t->lb[--t->nlb];
            return;
        }
    if (value[0])
        t->lb[t->nlb++] = (struct agent_label){ name, value };
}

static enum agent_metric_type agent_type(enum promtext_type pt)
{
    switch (pt) {
    case PROMTEXT_COUNTER:
        return AGENT_COUNTER;
    case PROMTEXT_GAUGE:
        return AGENT_GAUGE;
    case PROMTEXT_HISTOGRAM:
        return AGENT_HISTOGRAM;
    case PROMTEXT_SUMMARY:
        return AGENT_SUMMARY;
    case PROMTEXT_UNTYPED:
        break;
    }
    return AGENT_UNTYPED;
}

static int emit_meta(struct scrape_target *t, const struct promtext_family *f)
{
    if (!t->emit->meta)
        return 0;
    if (t->fam_valid && t->fam_len == f->name_len && memcmp(t->fam, f->name, f->name_len) == 0)
        return 0;
    /* name and help NUL-terminated in one buffer */
    size_t need = f->name_len + 1 + f->help_len + 1;
    if (grow_mem((void **)&t->fam, &t->fam_cap, need, 1))
        return TT_ENOMEM;
    memcpy(t->fam, f->name, f->name_len);
    t->fam[f->name_len] = 0;
    char *help = t->fam + f->name_len + 1;
    memcpy(help, f->help, f->help_len);
    help[f->help_len] = 0;
    t->fam_len = f->name_len;
    t->fam_valid = 1;
    return t->emit->meta(t->emit->ctx, t->fam, agent_type(f->type), f->has_help ? help : NULL);
}

/* build_key writes the sorted label set of the builder (name first) as the
 * set key into t->key; returns its length or 0 on ENOMEM. */
static size_t build_key(struct scrape_target *t, const char *name)
{
    size_t need = strlen(name) + 1;
    for (size_t i = 0; i < t->nlb; i++)
        need += strlen(t->lb[i].name) + strlen(t->lb[i].value) + 2;
    if (grow_mem((void **)&t->key, &t->key_cap, need, 1))
        return 0;
    char *p = t->key;
    size_t n = strlen(name) + 1;
    memcpy(p, name, n);
    p += n;
    for (size_t i = 0; i < t->nlb; i++) {
        n = strlen(t->lb[i].name) + 1;
        memcpy(p, t->lb[i].name, n);
        p += n;
        n = strlen(t->lb[i].value) + 1;
        memcpy(p, t->lb[i].value, n);
        p += n;
    }
    return need;
}

static int on_sample(void *ctx, const struct promtext_sample *s)
{
    struct scrape_target *t = ctx;
    t->scraped++;
    for (size_t i = 0; i < s->nlabels; i++)
        if (memchr(s->labels[i].value, 0, s->labels[i].value_len)) {
            t->nul_values++;
            return 0;
        }
    /* Room for every string of the sample and for the renamed exported
     * labels ("exported_" repeated at most once per label). */
    size_t nall = s->nlabels + t->ntl;
    size_t need = s->name_len + 1;
    for (size_t i = 0; i < s->nlabels; i++)
        need += s->labels[i].name_len + s->labels[i].value_len + 2;
    need += t->ntl * (t->tl_name_max + 1 + (nall + 1) * (sizeof EXPORTED_PREFIX - 1));
    if (grow_mem((void **)&t->strs, &t->strs_cap, need, 1) ||
        grow_mem((void **)&t->lb, &t->lb_cap, nall + 1, sizeof *t->lb) ||
        (t->conf == NULL && !(t->conf = calloc(t->ntl, sizeof *t->conf))))
        return TT_ENOMEM;
    char *p = t->strs;
    const char *name = p;
    memcpy(p, s->name, s->name_len);
    p[s->name_len] = 0;
    p += s->name_len + 1;
    t->nlb = 0;
    for (size_t i = 0; i < s->nlabels; i++) {
        const struct promtext_label *l = &s->labels[i];
        char *ln = p;
        memcpy(p, l->name, l->name_len);
        p[l->name_len] = 0;
        p += l->name_len + 1;
        char *lv = p;
        memcpy(p, l->value, l->value_len);
        p[l->value_len] = 0;
        p += l->value_len + 1;
        if (lv[0])
            t->lb[t->nlb++] = (struct agent_label){ ln, lv };
    }
    /* honor_labels: false (Prometheus's mutateSampleLabels): target labels
     * win; exported values they displace are kept under exported_<name>,
     * shortest names first, adding the prefix until the name is free. */
    size_t nconf = 0;
    for (size_t i = 0; i < t->ntl; i++) {
        const char *old = lb_get(t, t->tl[i].name);
        if (old[0])
            t->conf[nconf++] = (struct agent_label){ t->tl[i].name, old };
        lb_set(t, t->tl[i].name, t->tl[i].value);
    }
    for (size_t i = 1; i < nconf; i++) { /* stable sort by name length */
        struct agent_label x = t->conf[i];
        size_t j = i;
        while (j > 0 && strlen(t->conf[j - 1].name) > strlen(x.name)) {
            t->conf[j] = t->conf[j - 1];
            j--;
        }
        t->conf[j] = x;
    }
    for (size_t i = 0; i < nconf; i++) {
        size_t base = strlen(t->conf[i].name);
        char *nn = p;
        size_t len = 0;
        memcpy(nn, t->conf[i].name, base + 1);
        len = base;
        do {
            memmove(nn + sizeof EXPORTED_PREFIX - 1, nn, len + 1);
            memcpy(nn, EXPORTED_PREFIX, sizeof EXPORTED_PREFIX - 1);
            len += sizeof EXPORTED_PREFIX - 1;
        } while (lb_get(t, nn)[0]);
        p += len + 1;
        lb_set(t, nn, t->conf[i].value);
    }
    sort_labels(t->lb, t->nlb);

    size_t klen = build_key(t, name);
    if (klen == 0)
        return TT_ENOMEM;
    uint64_t h = key_hash(t->key, klen);
    struct sset *cur = &t->sets[t->cur], *prev = &t->sets[t->cur ^ 1];
    if (sset_find(cur, t->key, klen, h)) {
        t->dups++; /* Prometheus refuses the second sample of a series */
        return 0;
    }
    int tracked = !(s->has_timestamp && !t->ignore_ts);
    int rc = sset_add(cur, t->key, klen, h, (uint32_t)t->nlb, tracked);
    if (rc != 0)
        return rc;
    if (!sset_find(prev, t->key, klen, h))
        t->series_added++;
    if (s->family && (rc = emit_meta(t, s->family)) != 0)
        return t->emit_rc = rc;
    int64_t ts = tracked ? t->now_ms : s->timestamp_ms;
    rc = t->emit->sample(t->emit->ctx, name, t->lb, t->nlb, ts, s->value);
    if (rc != 0)
        t->emit_rc = rc;
    return rc;
}

/* emit_stale writes staleness markers for the tracked series of the last
 * scrape that the current one does not track. */
static int emit_stale(struct scrape_target *t)
{
    const struct sset *cur = &t->sets[t->cur], *prev = &t->sets[t->cur ^ 1];
    for (size_t i = 0; i < prev->cap; i++) {
        const struct sset_ent *e = &prev->tab[i];
        if (e->hash == 0 || !e->tracked)
            continue;
        const char *k = prev->keys + e->off;
        const struct sset_ent *c = sset_find(cur, k, e->len, e->hash);
        if (c && c->tracked)
            continue;
        if (grow_mem((void **)&t->lb, &t->lb_cap, e->nlabels + 1, sizeof *t->lb))
            return TT_ENOMEM;
        const char *name = k;
        const char *q = k + strlen(k) + 1;
        for (uint32_t j = 0; j < e->nlabels; j++) {
            t->lb[j].name = q;
            q += strlen(q) + 1;
            t->lb[j].value = q;
            q += strlen(q) + 1;
        }
        int rc = t->emit->sample(t->emit->ctx, name, t->lb, e->nlabels, t->now_ms, stale_nan());
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const struct {
    const char *name, *help;
} synth[NSYNTH] = {
    { "up", "Health of the scrape target. 1 means the target is healthy, 0 if the scrape failed." },
    { "scrape_duration_seconds", "Duration of the scrape in seconds." },
    { "scrape_samples_scraped", "Number of samples the target exposed." },
    { "scrape_samples_post_metric_relabeling",
      "Number of samples remaining after metric relabeling was applied." },
    { "scrape_series_added", "Number of series in the last scrape." },
};

static int emit_synth(struct scrape_target *t, const double v[NSYNTH])
{
    for (int i = 0; i < NSYNTH; i++) {
        int rc = 0;
        if (t->emit->meta && !scrape_is_stale_nan(v[i]))
            rc = t->emit->meta(t->emit->ctx, synth[i].name, AGENT_GAUGE, synth[i].help);
        if (rc == 0)
            rc = t->emit->sample(t->emit->ctx, synth[i].name, t->tl, t->ntl, t->now_ms, v[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int scrape_target_run(struct scrape_target *t, const struct agent_emit *emit, int64_t now_ms)
{
    if (!t || !emit || !emit->sample)
        return TT_EINVAL;
    int64_t start_ns = clock_monotonic_ns();
    struct promtext p;
    int p_ok = 0, rc = 0;
    t->emit = emit;
    t->now_ms = now_ms;
    t->emit_rc = 0;
    t->scraped = t->series_added = t->dups = t->nul_values = 0;
    t->fam_valid = 0;
    t->why[0] = 0;
    t->health = 1;
    t->cur ^= 1; /* the last complete scrape becomes prev */
    sset_reset(&t->sets[t->cur]);

    if (fetch(t) == 0) {
        /* Check the whole body first: a bad line fails the scrape and
         * nothing of it is emitted, as in Prometheus. */
        struct promtext_stats st;
        struct promtext_error perr;
        memset(&perr, 0, sizeof perr);
        int prc = promtext_parse(t->body, t->body_len, NULL, NULL, &st, &perr);
        if (prc == TT_ENOMEM) {
            rc = prc;
            goto out;
        }
        if (prc != 0) {
            fail(t, "%s", perr.msg);
            t->scraped = st.samples;
        }
    }
    if (t->health == 1) {
        struct promtext_callbacks cb = { 0 };
        cb.on_sample = on_sample;
        cb.ctx = t;
        if ((rc = promtext_init(&p, NULL, &cb)) != 0)
            goto out;
        p_ok = 1;
        rc = promtext_feed(&p, t->body, t->body_len);
        if (rc == 0)
            rc = promtext_finish(&p);
        if (rc != 0)
            goto out; /* an emitter error or ENOMEM: the parse itself passed */
        if (t->dups)
            warn(t, "scrape %s: %" PRIu64 " samples of series already seen in this scrape dropped",
                 t->url, t->dups);
        if (t->nul_values)
            warn(t, "scrape %s: %" PRIu64 " samples with a NUL byte in a label value dropped",
                 t->url, t->nul_values);
    } else {
        warn(t, "%s", t->why);
    }
    if ((rc = emit_stale(t)) != 0)
        goto out;
    double dur = (double)(clock_monotonic_ns() - start_ns) / 1e9;
    uint64_t post = t->health == 1 ? t->scraped - t->dups - t->nul_values : t->scraped;
    double v[NSYNTH] = { t->health == 1 ? 1.0 : 0.0, dur, (double)t->scraped, (double)post,
                         (double)t->series_added };
    rc = emit_synth(t, v);
out:
    if (p_ok)
        promtext_release(&p);
    if (rc != 0) {
        /* Keep comparing with the last scrape emitted completely. */
        t->cur ^= 1;
        if (t->emit_rc == 0 && rc == TT_ENOMEM && t->why[0] == 0)
            snprintf(t->why, sizeof t->why, "scrape %s: out of memory", t->url);
    }
    t->emit = NULL;
    return rc;
}

int scrape_target_stop(struct scrape_target *t, const struct agent_emit *emit, int64_t now_ms)
{
    if (!t || !emit || !emit->sample)
        return TT_EINVAL;
    if (t->health == -1)
        return 0;
    t->emit = emit;
    t->now_ms = now_ms;
    t->cur ^= 1;
    sset_reset(&t->sets[t->cur]);
    int rc = emit_stale(t);
    if (rc == 0) {
        double v[NSYNTH];
        for (int i = 0; i < NSYNTH; i++)
            v[i] = stale_nan();
        rc = emit_synth(t, v);
    }
    if (rc == 0) {
        sset_reset(&t->sets[t->cur ^ 1]);
        t->health = -1;
        t->why[0] = 0;
    } else {
        t->cur ^= 1;
    }
    t->emit = NULL;
    return rc;
}
