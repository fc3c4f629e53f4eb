/*
 * ev_indexer.c - tails the record log into the events store (see
 * ev_indexer.h). One thread; the stop flag and the counters are shared
 * under a mutex with a condition variable for the stop and for waiters.
 */
#include "server/ev_indexer.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/clock.h"
#include "core/compress.h"

#define BATCHES_PER_COMMIT 64

struct ev_indexer {
    struct ev_indexer_config cfg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int stop;
    struct reclog_cursor done; /* committed up to */
    struct ev_indexer_stats stats;
};

static void deadline_in(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static int cursor_before(const struct reclog_cursor *a, const struct reclog_cursor *b)
{
    return a->seg < b->seg || (a->seg == b->seg && a->off < b->off);
}

/* one_round indexes up to BATCHES_PER_COMMIT batches and commits them.
 * Returns 1 when it may have more to do, 0 when caught up. */
static int one_round(struct ev_indexer *ix, struct wbuf *buf, struct wbuf *scratch)
{
    struct reclog_cursor cur;
    char err[512];
    int n = 0, r = 0, more = 0;
    uint64_t batches = 0, events = 0, bad = 0;
    evstore_cursor(ix->cfg.st, &cur.seg, &cur.off);
    struct reclog_cursor start = cur;
    while (n < BATCHES_PER_COMMIT) {
        r = reclog_read(ix->cfg.rl, &cur, buf, err, sizeof err);
        if (r == 0)
            break;
        if (r == TT_ECORRUPT) {
            bad++;
            log_warn(ix->cfg.log, "events indexer: damaged record log stretch skipped", "err", err);
            continue;
        }
        if (r < 0) {
            log_error(ix->cfg.log, "events indexer: reading the record log failed", "err", err);
            break;
        }
        n++;
        batches++;
        struct batch_hdr h;
        const uint8_t *body;
        size_t body_len;
        int e = batch_parse_header(buf->data, buf->len, &h, err, sizeof err);
        if (e == 0)
            e = batch_open(buf->data, &h, scratch, &body, &body_len, err, sizeof err);
        if (e == 0)
            e = evstore_add_batch(ix->cfg.st, &h, body, body_len, err, sizeof err);
        if (e < 0) {
            bad++;
            char where[64];
            snprintf(where, sizeof where, "%08" PRIu32 ".log:%" PRIu64, cur.seg, cur.off);
            log_warn(ix->cfg.log, "events indexer: batch skipped", "before", where, "err", err);
            continue;
        }
        events += (uint64_t)e;
    }
    more = n == BATCHES_PER_COMMIT;
    int failed = 0;
    if (cursor_before(&start, &cur) || cur.seg != start.seg) {
        if (evstore_commit(ix->cfg.st, cur.seg, cur.off, err, sizeof err) != 0) {
            log_error(ix->cfg.log, "events indexer: commit failed", "err", err);
            failed = 1;
            more = 0;
        } else {
            evstore_retention(ix->cfg.st, clock_realtime_ns());
        }
    }
    pthread_mutex_lock(&ix->mu);
    ix->stats.batches += batches;
    ix->stats.bad += bad;
    if (failed) {
        ix->stats.errors++;
    } else {
        ix->stats.events += events;
        if (cursor_before(&start, &cur) || cur.seg != start.seg)
            ix->stats.commits++;
        ix->done = cur;
    }
    pthread_cond_broadcast(&ix->cond);
    pthread_mutex_unlock(&ix->mu);
    return more;
}

static void *run(void *arg)
{
    struct ev_indexer *ix = arg;
    struct wbuf buf, scratch;
    wbuf_init(&buf, 0);
    wbuf_init(&scratch, 0);
    for (;;) {
        int more = one_round(ix, &buf, &scratch);
        pthread_mutex_lock(&ix->mu);
        if (!more && !ix->stop) {
            struct timespec ts;
            deadline_in(&ts, ix->cfg.poll_ms);
            pthread_cond_timedwait(&ix->cond, &ix->mu, &ts);
        }
        int stop = ix->stop;
        pthread_mutex_unlock(&ix->mu);
        if (stop)
            break;
    }
    wbuf_release(&buf);
    wbuf_release(&scratch);
    return NULL;
}

int ev_indexer_start(struct ev_indexer **out, const struct ev_indexer_config *cfg)
{
    struct ev_indexer *ix = calloc(1, sizeof *ix);
    pthread_condattr_t ca;
    *out = NULL;
    if (ix == NULL)
        return TT_ENOMEM;
    ix->cfg = *cfg;
    if (ix->cfg.poll_ms == 0)
        ix->cfg.poll_ms = 150;
    evstore_cursor(cfg->st, &ix->done.seg, &ix->done.off);
    pthread_mutex_init(&ix->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ix->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&ix->thread, NULL, run, ix) != 0) {
        pthread_cond_destroy(&ix->cond);
        pthread_mutex_destroy(&ix->mu);
        free(ix);
        return TT_ESYS;
    }
    *out = ix;
    return 0;
}

void ev_indexer_stop(struct ev_indexer *ix)
{
    if (ix == NULL)
        return;
    pthread_mutex_lock(&ix->mu);
    ix->stop = 1;
    pthread_cond_broadcast(&ix->cond);
    pthread_mutex_unlock(&ix->mu);
    pthread_join(ix->thread, NULL);
    pthread_cond_destroy(&ix->cond);
    pthread_mutex_destroy(&ix->mu);
    free(ix);
}

int ev_indexer_wait(struct ev_indexer *ix, unsigned timeout_ms)
{
    struct reclog_cursor target;
    struct timespec ts;
    int rc = 0;
    reclog_durable(ix->cfg.rl, &target);
    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&ix->mu);
    pthread_cond_broadcast(&ix->cond); /* wake the thread: no need to wait a poll */
    while (cursor_before(&ix->done, &target)) {
        if (pthread_cond_timedwait(&ix->cond, &ix->mu, &ts) == ETIMEDOUT) {
            rc = cursor_before(&ix->done, &target) ? TT_ESTATE : 0;
            break;
        }
    }
    pthread_mutex_unlock(&ix->mu);
    return rc;
}

void ev_indexer_get_stats(struct ev_indexer *ix, struct ev_indexer_stats *s)
{
    pthread_mutex_lock(&ix->mu);
    *s = ix->stats;
    pthread_mutex_unlock(&ix->mu);
}
