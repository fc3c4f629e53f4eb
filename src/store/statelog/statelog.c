/*
 * statelog.c - the state log over an events store (see statelog.h).
 */
#include "store/statelog/statelog.h"

#include <string.h>

int statelog_open(struct evstore **out, const struct evstore_config *cfg, char *err, size_t errlen)
{
    struct evstore_config c = *cfg;
    c.records = REC_STATE;
    return evstore_open(out, &c, err, errlen);
}

int statelog_change_of(const struct evseg_event *e, struct statelog_change *c)
{
    struct rec_list it = e->attrs;
    struct rec_str k;
    int got = 0;
    memset(c, 0, sizeof *c);
    c->id = e->id;
    c->time_ns = e->time_ns;
    c->hlc = e->hlc;
    c->node = e->node;
    c->process = e->process;
    c->log = e->component;
    c->var = e->name;
    for (int i = 0; i < 2; i++) {
        struct rec_value v;
        if (rec_kv_next(&it, &k, &v) != 1)
            return TT_ECORRUPT;
        if (k.len == 5 && memcmp(k.p, "value", 5) == 0) {
            c->value = v;
            got |= 1;
        } else if (k.len == 4 && memcmp(k.p, "prev", 4) == 0) {
            c->prev = v;
            got |= 2;
        }
    }
    return got == 3 ? 0 : TT_ECORRUPT;
}

void statelog_query_init(struct evstore_query *q, const char *node, const char *log,
                         const char *var)
{
    evstore_query_init(q);
    q->node = node;
    q->component = log;
    q->name = var;
}
