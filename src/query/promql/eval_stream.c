/*
 * eval_stream.c - the threads that compute streamed range functions
 * (engine_int.h, struct stream_pool) while the main thread fetches.
 *
 * The main thread hands over one series at a time: a copy of its samples
 * as points (ev_stream_copy), the query's plan and the row (v, has) to
 * fill. Jobs sit in a small ring
 * of slots, filled in order at head and taken in order at tail; a slot is
 * FREE, FILLING (the main thread copies into it), READY or BUSY (a thread
 * computes it). Workers take READY slots; when the slot at head is not FREE
 * the main thread computes the row itself rather than wait, and when the
 * selector is done (stream_pool_wait) it takes READY slots too, so both
 * cores stay busy whichever side is slower.
 *
 * Invariants: a row is computed by exactly one thread, from its series
 * alone (ev_stream_compute), so results do not depend on which thread or
 * when; everything a worker reads or writes is handed over under the mutex
 * (the job's copy, its v and has) and only read by the main thread after
 * stream_pool_wait has seen the job FREE. No globals.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "query/promql/engine_int.h"
#include "telltale.h"

#define POOL_SLOTS       8
#define POOL_MAX_WORKERS 16

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_BUSY };

struct job {
    int state;
    struct stream_plan pl;
    struct promql_labels labels;
    struct stream_scratch sc; /* the series' points (ev_stream_copy) */
    double *v;
    uint8_t *has;
};

struct worker {
    struct stream_pool *p;
    pthread_t th;
};

struct stream_pool {
    pthread_mutex_t mu;
    pthread_cond_t ready; /* a slot became READY, or stop */
    pthread_cond_t done;  /* a slot became FREE */
    struct job slot[POOL_SLOTS];
    size_t head, tail; /* next slot to fill, next slot to take (counters) */
    size_t busy;       /* slots FILLING, READY or BUSY */
    int stop;
    int err; /* first failure of a job since the last wait */
    unsigned nworkers;
    struct worker w[POOL_MAX_WORKERS];
};

/* take_locked: the READY slot at tail (now BUSY), or NULL. */
static struct job *take_locked(struct stream_pool *p)
{
    struct job *j = &p->slot[p->tail % POOL_SLOTS];
    if (p->tail == p->head || j->state != SLOT_READY)
        return NULL;
    j->state = SLOT_BUSY;
    p->tail++;
    return j;
}

/* run computes j outside the lock, then frees its slot. */
static void run(struct stream_pool *p, struct job *j)
{
    struct sel_series ss;
    ev_stream_clean(&j->sc, &ss);
    int rc = ev_stream_compute_clean(&j->pl, &ss, &j->labels, j->v, j->has);
    pthread_mutex_lock(&p->mu);
    if (rc != 0 && p->err == 0)
        p->err = rc;
    j->state = SLOT_FREE;
    p->busy--;
    pthread_cond_broadcast(&p->done);
    pthread_mutex_unlock(&p->mu);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct stream_pool *p = w->p;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct job *j = take_locked(p);
        if (j == NULL) {
            if (p->stop)
                break;
            pthread_cond_wait(&p->ready, &p->mu);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        run(p, j);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int stream_pool_new(struct stream_pool **out, unsigned nworkers)
{
    *out = NULL;
    if (nworkers == 0)
        return TT_EINVAL;
    if (nworkers > POOL_MAX_WORKERS)
        nworkers = POOL_MAX_WORKERS;
    struct stream_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return TT_ENOMEM;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return TT_ESYS;
    }
    if (pthread_cond_init(&p->ready, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return TT_ESYS;
    }
    if (pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->ready);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return TT_ESYS;
    }
    for (unsigned i = 0; i < nworkers; i++) {
        p->w[i].p = p;
        if (pthread_create(&p->w[i].th, NULL, worker_main, &p->w[i]) != 0) {
            stream_pool_free(p);
            return TT_ESYS;
        }
        p->nworkers++;
    }
    *out = p;
    return 0;
}

int stream_pool_submit(struct stream_pool *p, const struct stream_plan *pl,
                       const struct promql_labels *labels, const int64_t *ts, const double *vs,
                       size_t n, double *v, uint8_t *has)
{
    pthread_mutex_lock(&p->mu);
    struct job *j = &p->slot[p->head % POOL_SLOTS];
    if (j->state != SLOT_FREE) {
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    j->state = SLOT_FILLING;
    p->head++;
    p->busy++;
    pthread_mutex_unlock(&p->mu);
    /* The slot is this thread's until it is READY. The samples go over
     * as points, the form the worker computes from. */
    int rc = 1;
    if (ev_stream_copy(&j->sc, ts, vs, n) != 0) {
        /* Nothing to compute: an empty series gives a row with no value. */
        rc = TT_ENOMEM;
        j->sc.np = 0;
    }
    j->pl = *pl;
    j->labels = *labels;
    j->v = v;
    j->has = has;
    pthread_mutex_lock(&p->mu);
    j->state = SLOT_READY;
    pthread_cond_signal(&p->ready);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int stream_pool_wait(struct stream_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0) {
        struct job *j = take_locked(p);
        if (j == NULL) {
            pthread_cond_wait(&p->done, &p->mu);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        run(p, j);
        pthread_mutex_lock(&p->mu);
    }
    int rc = p->err;
    p->err = 0;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void stream_pool_free(struct stream_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->ready);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nworkers; i++)
        pthread_join(p->w[i].th, NULL);
    /* Stopped workers leave READY jobs behind only when nobody waited. */
    for (size_t i = 0; i < POOL_SLOTS; i++)
        stream_scratch_release(&p->slot[i].sc);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->ready);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
