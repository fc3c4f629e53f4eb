/*
 * emit_capture.h - a struct agent_emit for collector tests that keeps what
 * a collection emitted: samples as "name{l1=v1,l2=v2} value" lines (labels
 * in the order given), events with their attributes as "k=v" lines, and
 * warnings. Header-only; cap_reset between rounds, cap_free at the end.
 */
#ifndef TT_TEST_EMIT_CAPTURE_H
#define TT_TEST_EMIT_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/collector.h"

#define CAP_MAX 512

struct cap_event {
    char name[64], component[32], message[512];
    unsigned severity;
    char attrs[1024]; /* "k=v\n" lines */
};

struct cap {
    char *samples[CAP_MAX];
    size_t nsamples;
    struct cap_event events[64];
    size_t nevents;
    char warns[16][512];
    size_t nwarns;
};

static inline int cap_sample(void *ctx, const char *name, const struct agent_label *l, size_t n,
                             int64_t t_ms, double v)
{
    struct cap *c = ctx;
    char line[2048];
    size_t k = (size_t)snprintf(line, sizeof line, "%s{", name);
    (void)t_ms;
    for (size_t i = 0; i < n && k < sizeof line; i++)
        k += (size_t)snprintf(line + k, sizeof line - k, "%s%s=%s", i ? "," : "", l[i].name,
                              l[i].value);
    if (k < sizeof line)
        snprintf(line + k, sizeof line - k, "} %.17g", v);
    if (c->nsamples < CAP_MAX)
        c->samples[c->nsamples++] = strdup(line);
    return 0;
}

static inline int cap_event(void *ctx, const struct agent_event *ev)
{
    struct cap *c = ctx;
    if (c->nevents == 64)
        return 0;
    struct cap_event *e = &c->events[c->nevents++];
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof e->name, "%s", ev->name);
    snprintf(e->component, sizeof e->component, "%s", ev->component);
    snprintf(e->message, sizeof e->message, "%s", ev->message ? ev->message : "");
    e->severity = ev->severity;
    size_t k = 0;
    for (size_t i = 0; i < ev->nattrs && k < sizeof e->attrs; i++)
        k += (size_t)snprintf(e->attrs + k, sizeof e->attrs - k, "%s=%s\n", ev->attrs[i].name,
                              ev->attrs[i].value);
    return 0;
}

static inline void cap_warn(void *ctx, const char *msg)
{
    struct cap *c = ctx;
    if (c->nwarns < 16)
        snprintf(c->warns[c->nwarns++], sizeof c->warns[0], "%s", msg);
}

static inline struct agent_emit cap_emit(struct cap *c)
{
    struct agent_emit e = { c, cap_sample, NULL, cap_warn, cap_event };
    return e;
}

static inline void cap_reset(struct cap *c)
{
    for (size_t i = 0; i < c->nsamples; i++)
        free(c->samples[i]);
    memset(c, 0, sizeof(*c));
}

static inline void cap_free(struct cap *c)
{
    cap_reset(c);
}

/* cap_value: the value of the sample whose line starts with prefix
 * ("name{labels}"), or -12345 when there is none. */
static inline double cap_value(const struct cap *c, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < c->nsamples; i++)
        if (strncmp(c->samples[i], prefix, n) == 0 && c->samples[i][n] == ' ')
            return strtod(c->samples[i] + n + 1, NULL);
    return -12345;
}

/* cap_find_event: the first event called name, or NULL. */
static inline const struct cap_event *cap_find_event(const struct cap *c, const char *name)
{
    for (size_t i = 0; i < c->nevents; i++)
        if (strcmp(c->events[i].name, name) == 0)
            return &c->events[i];
    return NULL;
}

/* cap_attr_has: whether event e has the attribute line "k=v". */
static inline int cap_attr_has(const struct cap_event *e, const char *kv)
{
    char line[4300];
    size_t n = strlen(kv);
    if (n + 2 > sizeof line)
        return 0;
    memcpy(line, kv, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    return strncmp(e->attrs, line, n + 1) == 0 || strstr(e->attrs, line) != NULL;
}

#endif
