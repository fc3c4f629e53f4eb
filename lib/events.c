/*
 * events.c - events (notifications of a state change) and state variables on
 * the hot path: each is one ring entry with its HLC; the flusher encodes them
 * and resolves a state change's previous value in HLC order.
 *
 * Events take a thread-local HLC stamp (no shared write). State changes tick
 * the process's shared HLC, because consistent cuts need every change of the
 * node totally ordered, across threads too.
 */
#include <string.h>
#include "lib/entry.h"
#include "lib/tt_int.h"
#include "core/clock.h"

#define ENTRY_MAX (1u << 20) /* one event or state change is at most 1 MiB */

void tt_event(tt_severity sev, const char *name, const char *message, const tt_kv *kvs, size_t nkv)
{
    struct tt_thread *t = tt_thread_get();
    if (__builtin_expect(t == NULL, 0))
        return;
    struct tt_ctx *ctx = tt__ctx;
    if (!kvs)
        nkv = 0;
    size_t nl = name ? strlen(name) : 0, ml = message ? strlen(message) : 0;
    size_t body = entry_str_size(nl) + entry_str_size(ml) + entry_kvs_size(kvs, nkv);
    if (body > ENTRY_MAX || sev < TT_SEV_DEBUG || sev > TT_SEV_CRITICAL) {
        TT_CSTAT_ADD(ctx, bad_input, 1);
        return;
    }
    struct e_event *e = ring_reserve(&t->ring, (uint32_t)(sizeof *e + body));
    if (__builtin_expect(e == NULL, 0)) {
        TT_TSTAT_INC(t, records_dropped_full);
        return;
    }
    int64_t now = clock_realtime_ns();
    e->h.tag = E_EVENT;
    e->h.a = (uint8_t)sev;
    e->hlc = tt_stamp_local(ctx, t, now);
    e->time_ns = now;
    uint8_t *p = entry_put_str(e->body, name, nl);
    p = entry_put_str(p, message, ml);
    entry_put_kvs(p, kvs, nkv);
    ring_commit(&t->ring, e);
    TT_TSTAT_INC(t, records_buffered);
}

void tt_state_set(const char *log, const char *var, tt_value value)
{
    struct tt_thread *t = tt_thread_get();
    if (__builtin_expect(t == NULL, 0))
        return;
    struct tt_ctx *ctx = tt__ctx;
    size_t ll = log ? strlen(log) : 0, vl = var ? strlen(var) : 0;
    size_t body = entry_str_size(ll) + entry_str_size(vl) + entry_value_size(&value);
    if (body > ENTRY_MAX || ll == 0 || vl == 0 || ll + vl > 1000) {
        TT_CSTAT_ADD(ctx, bad_input, 1);
        return;
    }
    struct e_state *e = ring_reserve(&t->ring, (uint32_t)(sizeof *e + body));
    if (__builtin_expect(e == NULL, 0)) {
        TT_TSTAT_INC(t, records_dropped_full);
        return;
    }
    int64_t now = clock_realtime_ns();
    e->h.tag = E_STATE;
    e->hlc = tt_stamp_global(ctx, t, now);
    e->time_ns = now;
    uint8_t *p = entry_put_str(e->body, log, ll);
    p = entry_put_str(p, var, vl);
    entry_put_value(p, &value);
    ring_commit(&t->ring, e);
    TT_TSTAT_INC(t, records_buffered);
}

void tt_state_set_int(const char *log, const char *var, int64_t value)
{
    tt_value v = { .type = TT_VAL_INT, .u.i = value };
    tt_state_set(log, var, v);
}

void tt_state_set_double(const char *log, const char *var, double value)
{
    tt_value v = { .type = TT_VAL_DOUBLE, .u.d = value };
    tt_state_set(log, var, v);
}

void tt_state_set_str(const char *log, const char *var, const char *value)
{
    tt_value v = { .type = TT_VAL_STR, .u.s = value ? value : "" };
    tt_state_set(log, var, v);
}
