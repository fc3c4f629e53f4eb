/*
 * agent_int.h - what agent.c (configuration, collection rounds) and
 * shipper.c (the link to the server) share: the agent's struct. Private to
 * src/agent; agent.h is the interface.
 *
 * Threads: the caller's thread runs the rounds (agent_collect), the shipper
 * thread the link. The backlog (and the spool readers) are used under mu;
 * the HLC is lock-free (core/hlc.h); the counters below are atomics.
 */
#ifndef TT_AGENT_AGENT_INT_H
#define TT_AGENT_AGENT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "agent/agent.h"
#include "core/hlc.h"

struct backlog;
struct scrape_target;
struct spool_reader;

/* Rounds are cut into batches of at most this many bytes, or the server's
 * WELCOME max_batch_bytes when smaller. */
#define AGENT_MAX_BATCH_BYTES (16u << 20)

/* Record seqs reserved in STATE/origin at a time (one fsync'd rewrite per
 * this many records, about every thousand rounds of a busy host). */
#define SEQ_RESERVE_BLOCK (1u << 20)

struct agent {
    struct agent_config cfg;
    char *server, *node, *role, *release, *state_dir;
    struct scrape_target *scrapes[AGENT_MAX_SCRAPES];
    size_t nscrapes;

    /* The scrape schedule (agent_collect in agent.h). */
    int64_t collect_ms;                         /* cfg.interval_ms or its default */
    int64_t scrape_every_ms[AGENT_MAX_SCRAPES]; /* the target's interval */
    int64_t scrape_slot[AGENT_MAX_SCRAPES];     /* slot of its last scrape, INT64_MIN: none */

    struct agent_watch *watch; /* processes, files, digests */
    uint64_t origin_id, next_seq;
    uint64_t seq_reserved; /* STATE/origin holds this: seqs below it are ours to use */
    struct hlc hlc;
    struct agent_batcher batcher;
    struct wbuf out;

    pthread_mutex_t mu; /* the backlog and the spool readers */
    struct backlog *backlog;
    struct spool_reader *spools[AGENT_MAX_SPOOLS];
    size_t nspools;

    pthread_t shipper;
    int started;
    atomic_int stop;
    int wake_fd; /* eventfd: a batch was appended, or stop */
    uint64_t rng;

    /* Set by the shipper, read by the rounds. */
    _Atomic uint32_t max_batch_bytes; /* <= AGENT_MAX_BATCH_BYTES */
    atomic_int link_up;               /* 1 from WELCOME to the connection's end */
    _Atomic uint64_t inflight, sent_batches, acked_records, reconnects, pings, pongs;
    /* The round's own measurements, for the self metrics. */
    double last_host_s, last_scrape_s, last_spool_s, last_watch_s;
};

/* agent_wake wakes the shipper (a batch was appended, or stop). */
void agent_wake(struct agent *a);

/* agent_shipper_main is the shipper thread's body (arg: the struct agent):
 * connect, HELLO/WELCOME, ship the backlog and the spools, reconnect with
 * backoff, until a->stop. */
void *agent_shipper_main(void *arg);

#endif
