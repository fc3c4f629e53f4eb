/*
 * agent_config.c - the agent's configuration file and flags (agent_config.h).
 * The spec structs' strings (proc_spec.label/arg, file_spec.path,
 * digest_spec.path) are owned by the struct agent_file_config that holds
 * them, though their types say const.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/agent_config.h"
#include "agent/scrape.h"
#include "telltale.h"

void agent_config_init(struct agent_file_config *c)
{
    memset(c, 0, sizeof(*c));
    c->host = -1;
    c->self_metrics = -1;
}

static void free_const(const char *p)
{
    free((void *)(uintptr_t)p);
}

static void free_lists(struct agent_file_config *c, int scrapes, int procs, int files, int digests)
{
    for (size_t i = 0; scrapes && i < c->nscrapes; i++)
        free(c->scrapes[i]);
    for (size_t i = 0; procs && i < c->nprocs; i++) {
        free_const(c->procs[i].label);
        free_const(c->procs[i].arg);
    }
    for (size_t i = 0; files && i < c->nfiles; i++)
        free_const(c->files[i].path);
    for (size_t i = 0; digests && i < c->ndigests; i++) {
        free_const(c->digests[i].path);
        free_const(c->digests[i].name);
    }
    if (scrapes)
        c->nscrapes = 0;
    if (procs)
        c->nprocs = 0;
    if (files)
        c->nfiles = 0;
    if (digests)
        c->ndigests = 0;
}

void agent_config_release(struct agent_file_config *c)
{
    free(c->server);
    free(c->node);
    free(c->role);
    free(c->release);
    free(c->state);
    free(c->log_level);
    free_lists(c, 1, 1, 1, 1);
    for (size_t i = 0; i < c->nspools; i++)
        free(c->spools[i]);
    agent_config_init(c);
}

int agent_config_parse_duration(const char *s, int64_t *ms)
{
    int64_t total = 0;
    if (*s == '\0')
        return -1;
    while (*s != '\0') {
        if (!isdigit((unsigned char)*s))
            return -1;
        errno = 0;
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || v > 1000000000ull)
            return -1;
        int64_t unit;
        if (strncmp(end, "ms", 2) == 0) {
            unit = 1, end += 2;
        } else if (*end == 's') {
            unit = 1000, end++;
        } else if (*end == 'm') {
            unit = 60000, end++;
        } else if (*end == 'h') {
            unit = 3600000, end++;
        } else if (*end == 'd') {
            unit = 86400000, end++;
        } else {
            return -1;
        }
        total += (int64_t)v * unit;
        s = end;
    }
    *ms = total;
    return 0;
}

/* ---- scrape specs ------------------------------------------------------------ */

static int prom_label_name(const char *n)
{
    if (!(isalpha((unsigned char)*n) || *n == '_'))
        return 0;
    for (n++; *n; n++)
        if (!(isalnum((unsigned char)*n) || *n == '_'))
            return 0;
    return 1;
}

/* fmt_ms writes ms as the shortest exact "1m30s"-like duration. */
static void fmt_ms(char *out, size_t n, int64_t ms)
{
    if (ms % 1000 != 0)
        snprintf(out, n, "%lldms", (long long)ms);
    else if (ms % 60000 != 0 || ms < 60000)
        snprintf(out, n, "%llds", (long long)(ms / 1000));
    else
        snprintf(out, n, "%lldm", (long long)(ms / 60000));
}

void agent_scrape_spec_release(struct agent_scrape_spec *s)
{
    free(s->buf);
    memset(s, 0, sizeof(*s));
}

/* scrape_spec_split fills s from its copy s->buf; returns 0 or TT_EINVAL
 * with the problem (without the spec) in err. */
static int scrape_spec_split(struct agent_scrape_spec *s, char *err, size_t errlen)
{
    char *p = s->buf, *word, *eq;
    char *first = strsep(&p, " \t");
    const char *scheme = strstr(first, "://");
    s->job = "scrape";
    s->url = first;
    eq = strchr(first, '=');
    if (eq != NULL && (scheme == NULL || eq < scheme)) {
        if (eq == first || eq - first > 127) {
            snprintf(err, errlen, "the job name before '=' must have 1 to 127 bytes");
            return TT_EINVAL;
        }
        *eq = '\0';
        s->job = first;
        s->url = eq + 1;
    }
    if (strncmp(s->url, "http://", 7) != 0 && strncmp(s->url, "https://", 8) != 0) {
        snprintf(err, errlen,
                 "expected '[JOB=]URL [interval=D] [timeout=D] [LABEL=VALUE]...' "
                 "with an http:// or https:// URL");
        return TT_EINVAL;
    }
    while ((word = strsep(&p, " \t")) != NULL) {
        if (*word == '\0')
            continue; /* several blanks */
        eq = strchr(word, '=');
        if (eq == NULL || eq == word) {
            snprintf(err, errlen, "'%.100s': expected interval=D, timeout=D or LABEL=VALUE", word);
            return TT_EINVAL;
        }
        *eq = '\0';
        const char *val = eq + 1;
        if (strcmp(word, "interval") == 0 || strcmp(word, "timeout") == 0) {
            int64_t *dst = word[0] == 'i' ? &s->interval_ms : &s->timeout_ms, ms;
            if (*dst != 0) {
                snprintf(err, errlen, "%s given twice", word);
                return TT_EINVAL;
            }
            if (agent_config_parse_duration(val, &ms) != 0 || ms <= 0) {
                snprintf(err, errlen, "bad %s '%.100s' (like 15s, 500ms, 1m)", word, val);
                return TT_EINVAL;
            }
            *dst = ms;
            continue;
        }
        if (!prom_label_name(word)) {
            snprintf(err, errlen,
                     "bad label name '%.100s' (letters, digits and _, not first a digit)", word);
            return TT_EINVAL;
        }
        if (strncmp(word, "__", 2) == 0 || strcmp(word, "job") == 0 ||
            strcmp(word, "instance") == 0) {
            snprintf(err, errlen,
                     "label '%.100s' is reserved (the job is set with JOB=URL, the instance is "
                     "the URL's host:port, names starting with __ are Prometheus's)",
                     word);
            return TT_EINVAL;
        }
        if (*val == '\0') {
            snprintf(err, errlen, "label '%.100s' has an empty value", word);
            return TT_EINVAL;
        }
        for (size_t i = 0; i < s->nlabels; i++) {
            if (strcmp(s->labels[i].name, word) == 0) {
                snprintf(err, errlen, "label '%.100s' given twice", word);
                return TT_EINVAL;
            }
        }
        if (s->nlabels == AGENT_SCRAPE_MAX_LABELS) {
            snprintf(err, errlen, "more than %d labels", AGENT_SCRAPE_MAX_LABELS);
            return TT_EINVAL;
        }
        s->labels[s->nlabels++] = (struct agent_label){ word, val };
    }
    return 0;
}

int agent_scrape_spec_parse(struct agent_scrape_spec *s, const char *spec, int64_t collection_ms,
                            char *err, size_t errlen)
{
    char msg[400] = "", a[32], b[32];
    int rc;

    memset(s, 0, sizeof(*s));
    s->buf = strdup(spec);
    if (s->buf == NULL)
        return TT_ENOMEM;
    rc = scrape_spec_split(s, msg, sizeof msg);
    int own_interval = s->interval_ms != 0;
    if (rc == 0 && collection_ms > 0) {
        if (s->interval_ms == 0)
            s->interval_ms = collection_ms;
        else if (s->interval_ms < collection_ms) {
            fmt_ms(a, sizeof a, s->interval_ms);
            fmt_ms(b, sizeof b, collection_ms);
            snprintf(msg, sizeof msg,
                     "interval %s is shorter than the agent's collection interval %s (targets "
                     "are scraped in collection rounds: lower the agent's interval)",
                     a, b);
            rc = TT_EINVAL;
        }
        if (rc == 0 && s->timeout_ms == 0)
            s->timeout_ms = s->interval_ms < SCRAPE_DEFAULT_TIMEOUT_MS ? s->interval_ms
                                                                       : SCRAPE_DEFAULT_TIMEOUT_MS;
    }
    if (rc == 0 && s->timeout_ms > 0 && s->interval_ms > 0 && s->timeout_ms > s->interval_ms) {
        fmt_ms(a, sizeof a, s->timeout_ms);
        fmt_ms(b, sizeof b, s->interval_ms);
        snprintf(msg, sizeof msg, "timeout %s is longer than the target's interval %s%s", a, b,
                 !own_interval
                     ? " (the agent's collection interval: give the target its own interval=)"
                     : "");
        rc = TT_EINVAL;
    }
    if (rc < 0) {
        snprintf(err, errlen, "scrape '%.200s': %s", spec, msg);
        agent_scrape_spec_release(s);
    }
    return rc;
}

static int set_str(char **dst, const char *v)
{
    char *n = strdup(v);
    if (n == NULL)
        return TT_ENOMEM;
    free(*dst);
    *dst = n;
    return 0;
}

/* split_word copies the first space-separated word of v into w (cap n) and
 * returns the rest (leading blanks skipped), or NULL when the word is too long. */
static const char *split_word(const char *v, char *w, size_t n)
{
    size_t k = strcspn(v, " \t");
    if (k >= n)
        return NULL;
    memcpy(w, v, k);
    w[k] = '\0';
    v += k;
    while (*v == ' ' || *v == '\t')
        v++;
    return v;
}

static int add_process(struct agent_file_config *c, const char *v, char *err, size_t errlen)
{
    char label[256];
    const char *rest = split_word(v, label, sizeof label);
    struct proc_spec s = { NULL, PROC_BY_NAME, NULL };
    const char *arg = label;
    if (rest == NULL || label[0] == '\0') {
        snprintf(err, errlen, "expected 'NAME [name=COMM|pidfile=/PATH|cgroup=/PATH]'");
        return TT_EINVAL;
    }
    if (*rest != '\0') {
        if (strncmp(rest, "name=", 5) == 0) {
            arg = rest + 5;
        } else if (strncmp(rest, "pidfile=", 8) == 0) {
            s.match = PROC_BY_PIDFILE, arg = rest + 8;
        } else if (strncmp(rest, "cgroup=", 7) == 0) {
            s.match = PROC_BY_CGROUP, arg = rest + 7;
        } else {
            snprintf(err, errlen, "process '%s': expected name=, pidfile= or cgroup=, not '%.100s'",
                     label, rest);
            return TT_EINVAL;
        }
        if (arg[0] == '\0' || strpbrk(arg, " \t") != NULL ||
            (s.match != PROC_BY_NAME && arg[0] != '/')) {
            snprintf(err, errlen, "process '%s': bad %s '%.200s'", label,
                     s.match == PROC_BY_NAME ? "name" : "absolute path", arg);
            return TT_EINVAL;
        }
    }
    for (size_t i = 0; i < c->nprocs; i++) {
        if (strcmp(c->procs[i].label, label) == 0) {
            snprintf(err, errlen, "process '%s' configured twice", label);
            return TT_EINVAL;
        }
    }
    if (c->nprocs == AGENT_MAX_WATCH)
        return TT_ETOOBIG;
    s.label = strdup(label);
    s.arg = strdup(arg);
    if (s.label == NULL || s.arg == NULL) {
        free_const(s.label);
        free_const(s.arg);
        return TT_ENOMEM;
    }
    c->procs[c->nprocs++] = s;
    return 0;
}

static int add_file(struct agent_file_config *c, const char *v, char *err, size_t errlen)
{
    char path[4096];
    const char *rest = split_word(v, path, sizeof path);
    enum fileparse_type t = FILEPARSE_AUTO;
    if (rest == NULL || path[0] != '/') {
        snprintf(err, errlen, "expected '/PATH [json|yaml|ini|kv|text|auto]'");
        return TT_EINVAL;
    }
    if (*rest != '\0' && fileparse_type_parse(rest, &t) != 0) {
        snprintf(err, errlen, "file %.300s: unknown type '%.50s' (json, yaml, ini, kv, text, auto)",
                 path, rest);
        return TT_EINVAL;
    }
    if (c->nfiles == AGENT_MAX_WATCH)
        return TT_ETOOBIG;
    char *p = strdup(path);
    if (p == NULL)
        return TT_ENOMEM;
    c->files[c->nfiles++] = (struct file_spec){ p, t };
    return 0;
}

static int add_digest(struct agent_file_config *c, const char *v, char *err, size_t errlen)
{
    char path[4096], word[4096], name[4096] = "";
    const char *rest = split_word(v, path, sizeof path);
    struct digest_spec d = { NULL, 0, NULL };
    if (rest == NULL || path[0] != '/')
        goto bad;
    while (*rest != '\0') {
        rest = split_word(rest, word, sizeof word);
        if (rest == NULL)
            goto bad;
        if (strcmp(word, "libs") == 0)
            d.libs = 1;
        else if (strncmp(word, "as=/", 4) == 0 && name[0] == '\0')
            memcpy(name, word + 3, strlen(word + 3) + 1);
        else
            goto bad;
    }
    if (c->ndigests == AGENT_MAX_WATCH)
        return TT_ETOOBIG;
    d.path = strdup(path);
    if (name[0] != '\0')
        d.name = strdup(name);
    if (d.path == NULL || (name[0] != '\0' && d.name == NULL)) {
        free_const(d.path);
        free_const(d.name);
        return TT_ENOMEM;
    }
    c->digests[c->ndigests++] = d;
    return 0;
bad:
    snprintf(err, errlen, "expected '/PATH [libs] [as=/NAME]'");
    return TT_EINVAL;
}

int agent_config_set(struct agent_file_config *c, const char *key, const char *v, char *err,
                     size_t errlen)
{
    if (strcmp(key, "server") == 0)
        return set_str(&c->server, v);
    if (strcmp(key, "node") == 0)
        return set_str(&c->node, v);
    if (strcmp(key, "role") == 0)
        return set_str(&c->role, v);
    if (strcmp(key, "release") == 0)
        return set_str(&c->release, v);
    if (strcmp(key, "state") == 0)
        return set_str(&c->state, v);
    if (strcmp(key, "log_level") == 0)
        return set_str(&c->log_level, v);
    if (strcmp(key, "interval") == 0 || strcmp(key, "digest_interval") == 0) {
        int64_t ms;
        if (agent_config_parse_duration(v, &ms) != 0 || ms < 100) {
            snprintf(err, errlen, "bad duration '%.100s' (like 10s, 500ms, 1h; at least 100ms)", v);
            return TT_EINVAL;
        }
        *(strcmp(key, "interval") == 0 ? &c->interval_ms : &c->digest_resend_ms) = ms;
        return 0;
    }
    if (strcmp(key, "host") == 0 || strcmp(key, "self_metrics") == 0) {
        int *flag = strcmp(key, "host") == 0 ? &c->host : &c->self_metrics;
        if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
            *flag = 1;
        else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
            *flag = 0;
        else {
            snprintf(err, errlen, "bad value '%.100s' (yes or no)", v);
            return TT_EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "scrape") == 0) {
        if (c->nscrapes == AGENT_MAX_SCRAPES) {
            snprintf(err, errlen, "at most %d scrape targets", AGENT_MAX_SCRAPES);
            return TT_ETOOBIG;
        }
        struct agent_scrape_spec spec;
        int rc = agent_scrape_spec_parse(&spec, v, 0, err, errlen);
        if (rc < 0)
            return rc;
        agent_scrape_spec_release(&spec);
        c->scrapes[c->nscrapes] = strdup(v);
        if (c->scrapes[c->nscrapes] == NULL)
            return TT_ENOMEM;
        c->nscrapes++;
        return 0;
    }
    if (strcmp(key, "spool") == 0) {
        if (c->nspools == AGENT_MAX_SPOOLS) {
            snprintf(err, errlen, "at most %d spool directories", AGENT_MAX_SPOOLS);
            return TT_ETOOBIG;
        }
        if (v[0] == '\0') {
            snprintf(err, errlen, "empty spool directory");
            return TT_EINVAL;
        }
        c->spools[c->nspools] = strdup(v);
        if (c->spools[c->nspools] == NULL)
            return TT_ENOMEM;
        c->nspools++;
        return 0;
    }
    int rc;
    if (strcmp(key, "process") == 0)
        rc = add_process(c, v, err, errlen);
    else if (strcmp(key, "file") == 0)
        rc = add_file(c, v, err, errlen);
    else if (strcmp(key, "digest") == 0)
        rc = add_digest(c, v, err, errlen);
    else
        return TT_ENOTFOUND;
    if (rc == TT_ETOOBIG)
        snprintf(err, errlen, "at most %d %s entries", AGENT_MAX_WATCH, key);
    return rc;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

int agent_config_read(struct agent_file_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char line[8192], msg[512];
    int lineno = 0, rc = 0;
    if (f == NULL) {
        snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
        return TT_EIO;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(err, errlen, "%.300s:%d: line longer than %zu bytes", path, lineno,
                     sizeof line - 2);
            rc = TT_EINVAL;
            break;
        }
        char *s = trim(line), *eq;
        if (*s == '\0' || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%.300s:%d: expected key = value", path, lineno);
            rc = TT_EINVAL;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        if (*val == '\0') {
            snprintf(err, errlen, "%.300s:%d: empty value for '%.100s'", path, lineno, key);
            rc = TT_EINVAL;
            break;
        }
        msg[0] = '\0';
        rc = agent_config_set(c, key, val, msg, sizeof msg);
        if (rc == TT_ENOTFOUND)
            snprintf(err, errlen, "%.300s:%d: unknown setting '%.100s'", path, lineno, key);
        else if (rc < 0)
            snprintf(err, errlen, "%.300s:%d: %s: %s", path, lineno, key,
                     msg[0] ? msg : tt_strerror(rc));
        if (rc < 0)
            break;
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%.300s: read error", path);
        rc = TT_EIO;
    }
    fclose(f);
    return rc;
}

static void move_str(char **dst, char **src)
{
    if (*src != NULL) {
        free(*dst);
        *dst = *src;
        *src = NULL;
    }
}

void agent_config_merge(struct agent_file_config *b, struct agent_file_config *o)
{
    move_str(&b->server, &o->server);
    move_str(&b->node, &o->node);
    move_str(&b->role, &o->role);
    move_str(&b->release, &o->release);
    move_str(&b->state, &o->state);
    move_str(&b->log_level, &o->log_level);
    if (o->interval_ms)
        b->interval_ms = o->interval_ms;
    if (o->digest_resend_ms)
        b->digest_resend_ms = o->digest_resend_ms;
    if (o->host >= 0)
        b->host = o->host;
    if (o->self_metrics >= 0)
        b->self_metrics = o->self_metrics;
    if (o->nspools) {
        for (size_t i = 0; i < b->nspools; i++)
            free(b->spools[i]);
        memcpy(b->spools, o->spools, o->nspools * sizeof(*o->spools));
        b->nspools = o->nspools;
        o->nspools = 0;
    }
    if (o->nscrapes) {
        free_lists(b, 1, 0, 0, 0);
        memcpy(b->scrapes, o->scrapes, o->nscrapes * sizeof(*o->scrapes));
        b->nscrapes = o->nscrapes;
        o->nscrapes = 0;
    }
    if (o->nprocs) {
        free_lists(b, 0, 1, 0, 0);
        memcpy(b->procs, o->procs, o->nprocs * sizeof(*o->procs));
        b->nprocs = o->nprocs;
        o->nprocs = 0;
    }
    if (o->nfiles) {
        free_lists(b, 0, 0, 1, 0);
        memcpy(b->files, o->files, o->nfiles * sizeof(*o->files));
        b->nfiles = o->nfiles;
        o->nfiles = 0;
    }
    if (o->ndigests) {
        free_lists(b, 0, 0, 0, 1);
        memcpy(b->digests, o->digests, o->ndigests * sizeof(*o->digests));
        b->ndigests = o->ndigests;
        o->ndigests = 0;
    }
    agent_config_release(o);
}

void agent_config_apply(const struct agent_file_config *c, struct agent_config *ac,
                        struct agent_watch_config *wc)
{
    if (c->server)
        ac->server = c->server;
    if (c->node)
        ac->node = c->node;
    if (c->role)
        ac->role = c->role;
    if (c->release)
        ac->release = c->release;
    if (c->state)
        ac->state_dir = c->state;
    if (c->interval_ms)
        ac->interval_ms = c->interval_ms;
    if (c->host >= 0)
        ac->host = c->host;
    if (c->self_metrics >= 0)
        ac->self_metrics = c->self_metrics;
    for (size_t i = 0; i < c->nspools; i++)
        ac->spool_dirs[i] = c->spools[i];
    if (c->nspools)
        ac->nspools = c->nspools;
    for (size_t i = 0; i < c->nscrapes; i++)
        ac->scrape_urls[i] = c->scrapes[i];
    if (c->nscrapes)
        ac->nscrapes = c->nscrapes;
    wc->procs = c->procs;
    wc->nprocs = c->nprocs;
    wc->files = c->files;
    wc->nfiles = c->nfiles;
    wc->digests = c->digests;
    wc->ndigests = c->ndigests;
    if (c->digest_resend_ms)
        wc->digest_resend_ms = c->digest_resend_ms;
}
