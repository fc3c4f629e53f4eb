/*
 * agent.h - `telltale agent`: collection rounds turned into core batches,
 * kept in the on-disk backlog and shipped to the server by a shipper thread
 * over one link connection (docs/design/agent.md, agent-link.md).
 *
 * State directory: STATE/origin ("<origin hex> <next seq>\n", replaced
 * atomically), STATE/backlog/ (backlog.h) and one STATE/spool-<hash> per
 * --spool directory (spool_reader.h).
 *
 * Invariants:
 *  - Every batch is self-contained: the series records (batch-local refs
 *    1..n, labels with __name__) come before the one samples record that
 *    uses them, so the server needs no state to read it. A round bigger
 *    than the server's max_batch_bytes is cut into several such batches
 *    with contiguous seqs.
 *  - Sequence numbers are never reused: the next seq is persisted (fsync,
 *    rename) before the batch that uses it is appended to the backlog, so a
 *    crash leaves a gap at worst, never two batches with the same seqs.
 *  - A batch leaves the backlog only after the server ACKed a durable_end
 *    past its last record.
 *
 * Threads: the caller's thread runs agent_collect; the shipper thread
 * started by agent_start (shipper.c) sends; the backlog and the spool
 * readers are shared under a mutex, the HLC is lock-free.
 */
#ifndef TT_AGENT_AGENT_H
#define TT_AGENT_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include "agent/collector.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/record.h"

#define AGENT_DEFAULT_INTERVAL_MS 10000
#define AGENT_MAX_SCRAPES         64
#define AGENT_MAX_SPOOLS          16

/* ---- the batcher: one collection round into one core batch ------------------ */

/* Samples of one round, with one series record per sample's series. Series
 * are deduplicated within the round by their label set. */
struct agent_batcher {
    struct wbuf series;         /* encoded series records */
    struct rec_sample *samples; /* owned */
    size_t nsamples, capsamples;
    uint64_t nseries; /* batch-local refs handed out: 1..nseries */
    /* label-set key -> ref, open addressing, for deduplication */
    struct batcher_slot *slots;
    size_t nslots;
    struct wbuf keys;   /* the keys' bytes */
    struct wbuf events; /* encoded event records, in the order added */
    uint32_t nevents;
    tt_hlc ev_hlc_min, ev_hlc_max; /* over the events, for the batch header */
    int err;                       /* sticky TT_ENOMEM / TT_ETOOBIG */
};

/* agent_batcher_init makes an empty batcher (no allocation). */
void agent_batcher_init(struct agent_batcher *b);
/* agent_batcher_release frees b's memory. */
void agent_batcher_release(struct agent_batcher *b);
/* agent_batcher_reset empties b for the next round, keeping its memory. */
void agent_batcher_reset(struct agent_batcher *b);

/* agent_batcher_add adds one sample of series name{labels} (strings borrowed
 * for the call) at t_ms. Returns 0, TT_EINVAL (empty name, NULL label name
 * or value), TT_ENOMEM/TT_ETOOBIG (sticky: the round is lost). */
int agent_batcher_add(struct agent_batcher *b, const char *name, const struct agent_label *labels,
                      size_t nlabels, int64_t t_ms, double v);

/* agent_batcher_add_event adds one event record (strings borrowed for the
 * call; ev->t_ms is its time) stamped with hlc. Returns 0, TT_EINVAL (no
 * name, or an attribute with a NULL name or value), TT_ETOOBIG (over
 * REC_MAX_LEN; not sticky), TT_ENOMEM (sticky). */
int agent_batcher_add_event(struct agent_batcher *b, const struct agent_event *ev, tt_hlc hlc);

/* agent_batcher_count: records the batch would hold (series + 1 samples
 * record + events), 0 when nothing was added. */
uint32_t agent_batcher_count(const struct agent_batcher *b);

/* agent_batcher_finish appends one whole core batch of b's records to out
 * (zstd-compressed when that is smaller): origin "node\0agent", origin_id,
 * first_seq, hlc stamped on the series and samples records (events keep
 * their own), events after the samples. Returns 0, TT_ENOMEM, TT_ETOOBIG,
 * TT_EINVAL (nothing added, or node too long), or out's sticky error. b is
 * unchanged. */
int agent_batcher_finish(const struct agent_batcher *b, const char *node, uint64_t origin_id,
                         uint64_t first_seq, tt_hlc hlc, int64_t time_ns, struct wbuf *out);

/* One batch of a round cut in several (agent_batcher_split): samples
 * [lo, hi) of the round with the series they use (refs renumbered 1..k in
 * first-use order), and the round's events if events is 1. */
struct agent_batch_part {
    size_t lo, hi;
    int events;
    uint32_t count; /* records of the part */
};

/* agent_batcher_finish_part is agent_batcher_finish for one part p; *count
 * (may be NULL) gets its record count. Returns as agent_batcher_finish
 * (TT_EINVAL also for a part out of range or empty). */
int agent_batcher_finish_part(const struct agent_batcher *b, const struct agent_batch_part *p,
                              const char *node, uint64_t origin_id, uint64_t first_seq, tt_hlc hlc,
                              int64_t time_ns, struct wbuf *out, uint32_t *count);

/* agent_batcher_split cuts b's round into parts whose batches (encoded with
 * hlc and time_ns, as agent_batcher_finish_part will) are each at most
 * max_bytes: the whole round when it fits, else halves of the samples, again
 * until they fit, the events with the last part. Every part is
 * self-contained (its series records repeated); given seqs one after the
 * other, the parts' seq ranges are contiguous. *parts is malloc'd (the
 * caller frees it), *nparts >= 1. Returns 0, TT_EINVAL (nothing added),
 * TT_ETOOBIG (one sample with its series, or the events, over max_bytes),
 * TT_ENOMEM, or b's sticky error. */
int agent_batcher_split(const struct agent_batcher *b, const char *node, tt_hlc hlc,
                        int64_t time_ns, size_t max_bytes, struct agent_batch_part **parts,
                        size_t *nparts);

/* ---- the agent ----------------------------------------------------------- */

struct agent_watch_config;

struct agent_config {
    const char *server; /* "HOST:PORT" of the server's agent port */
    const char *node, *role, *release;
    const char *state_dir;
    /* "[JOB=]URL [interval=D] [timeout=D] [LABEL=VALUE]..." (agent_config.h) */
    const char *scrape_urls[AGENT_MAX_SCRAPES];
    size_t nscrapes;
    /* The period the caller runs agent_collect at (0: AGENT_DEFAULT_INTERVAL_MS):
     * the default scrape interval, and the shortest one a target may have. */
    int64_t interval_ms;
    const char *spool_dirs[AGENT_MAX_SPOOLS]; /* libtelltale spools to ship */
    size_t nspools;
    uint64_t backlog_limit_bytes;   /* 0: the backlog's default */
    uint64_t backlog_segment_bytes; /* 0: the backlog's default */
    int host;                       /* 1: run the host collectors (host.h) every round */
    int self_metrics;               /* 1: add the agent's own metrics to every round */
    uint32_t io_timeout_ms;         /* no WELCOME, ACK or PONG for this long: reconnect (0: 15 s) */
    uint32_t ping_idle_ms;          /* a PING after this long without sending (0: 10 s) */
    /* processes, files, code digests (watch.h); borrowed for agent_new, may be NULL */
    const struct agent_watch_config *watch;
    struct log *log; /* borrowed, may be NULL */
};

struct agent;

/* agent_new reads or creates STATE/origin, opens the backlog and makes the
 * scrape targets. Returns 0 with *out (agent_free), TT_EINVAL (bad config,
 * described in err), TT_EIO (state unusable), TT_ENOMEM. */
int agent_new(struct agent **out, const struct agent_config *cfg, char *err, size_t errlen);

/* agent_start starts the shipper thread. Returns 0 or TT_ESYS. */
int agent_start(struct agent *a);

/* agent_collect runs one round at now_ms (host collectors if cfg.host, the
 * scrape targets that are due: those without their own interval every
 * round, the others on the first round and then on the first round of each
 * interval-long slot, slots aligned to multiples of the interval since the
 * epoch, a round counted at now_ms + half cfg.interval_ms), builds its
 * batch and appends it to the backlog. Returns 0, or TT_EIO/TT_ENOMEM when
 * the round could not be stored (message in err; the round is lost and
 * logged, the seqs it reserved stay unused). */
int agent_collect(struct agent *a, int64_t now_ms, char *err, size_t errlen);

/* agent_origin_id: the agent's stable origin id. */
uint64_t agent_origin_id(const struct agent *a);

/* agent_stop stops the shipper (sends BYE if connected) and waits for it. */
void agent_stop(struct agent *a);

/* agent_free stops a if needed, closes the backlog (syncing it) and frees
 * everything (NULL is fine). */
void agent_free(struct agent *a);

#endif
