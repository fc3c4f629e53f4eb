/*
 * agent_listener.h - the server's agent port (docs/design/agent.md, "Server
 * side"; the link protocol is docs/design/agent-link.md): a listener thread
 * accepting `telltale agent` connections, one thread per connection.
 *
 * Per connection: HELLO first (anything else: BYE, close, logged), WELCOME
 * (the server HLC and the durable_end held for the agent's origin), then per
 * BATCH: a batch whose records all lie below its origin's durable_end is a
 * duplicate and only ACKed again; otherwise a batch holding any record type
 * other than series (16) and samples (17) is appended whole to the record
 * log (DATA/records/NNNNNNNN.log segments, reclog.h) and fdatasync'd, then
 * its samples go to the TSDB head in one commit (series refs are
 * batch-local) whose WAL append also carries the origin's new durable_end
 * (an origin record, wal.h), and the batch is ACKed.
 *
 * Invariants: an ACK is sent only after the record log was fdatasync'd and
 * the head commit returned 0 (the WAL holds the samples and the durable_end
 * per its sync policy: durable, with the default group commit). The samples
 * and the durable_end are durable together, so a restart never tells an
 * agent a durable_end its samples do not back. A crash after the record-log
 * append and before the WAL commit leaves a batch the WAL does not cover:
 * agent_listener_start finds it in the record log and applies its samples
 * with its durable_end, so it is neither lost nor logged twice. Batches of
 * different origins are applied at once (their WAL appends share
 * fdatasyncs); batches of one origin one at a time.
 *
 * Connections are isolated from each other: each is read with poll()
 * deadlines (HELLO in time, a frame begun is completed within
 * frame_timeout_s, some whole frame at least every idle_timeout_s while the
 * server PINGs every ping_interval_s), holds at most one frame of
 * max_batch_bytes plus one read, and writes with a send timeout outside any
 * shared lock, so an agent that trickles, stalls or stops reading its ACKs
 * costs only its own thread until it is closed with a logged reason. A BATCH
 * announced over max_batch_bytes is answered NACK TOO_BIG and skipped (its
 * header CRC vouches for its length), the connection goes on. PONGs give each
 * node's round trip and clock offset (min-RTT of the last few), and the HLC
 * of every HELLO, PING, PONG and BATCH is merged into the listener's HLC,
 * which stamps WELCOME, ACK, PING and PONG.
 */
#ifndef TT_SERVER_AGENT_LISTENER_H
#define TT_SERVER_AGENT_LISTENER_H

#include <stddef.h>
#include <stdint.h>
#include "core/log.h"
#include "telltale.h"

#define AGENT_LISTENER_DEFAULT_ADDR      "127.0.0.1:7071"
#define AGENT_LISTENER_DEFAULT_MAX_CONNS 256
#define AGENT_LISTENER_DEFAULT_MAX_BATCH (16u << 20)
#define AGENT_LISTENER_MIN_MAX_BATCH     (4u << 10)

struct server;
struct server_store;
struct agent_listener;
struct reclog;

struct agent_listener_config {
    const char *addr;         /* "host:port" (IPv4 or a name), port 0 picks one */
    unsigned max_conns;       /* 0: AGENT_LISTENER_DEFAULT_MAX_CONNS */
    unsigned hello_timeout_s; /* a silent peer is closed after this; 0: 10 s */
    /* Per-connection limits (0: the default in brackets). */
    uint32_t max_batch_bytes; /* largest batch taken, in WELCOME [16 MiB]; bigger: NACK TOO_BIG */
    unsigned ping_interval_s; /* the server PINGs each agent this often [10] */
    unsigned idle_timeout_s;  /* no whole frame for this long: BYE IDLE, close [60] */
    unsigned frame_timeout_s; /* a frame begun but not completed in this: close [60] */
    unsigned send_timeout_s;  /* an answer the agent does not read in this: close [30] */
    const char *data_dir;
    struct server_store *store;    /* borrowed; the head is taken when a batch comes */
    struct log *log;               /* borrowed, may be NULL */
    uint64_t reclog_segment_bytes; /* record log segment size; 0: 64 MiB */
};

/* agent_listener_new registers GET /api/tt/nodes on srv (call before
 * server_start) and returns the listener in *out (not listening yet).
 * Returns 0, TT_ENOMEM, or server_add_route's error (message in err). */
int agent_listener_new(struct agent_listener **out, const struct agent_listener_config *cfg,
                       struct server *srv, char *err, size_t errlen);

/* agent_listener_start (call once the store is open) rebuilds the origin
 * map: the head WAL's origin records, an old DATA/agents.state if present
 * (written into the WAL, then removed: the upgrade), and the record log's
 * batches (torn tails cut and logged; batches the WAL does not cover have
 * their samples applied). Then it binds, listens and starts the accept
 * thread. Returns 0, TT_EINVAL (bad address), TT_EEXIST (address in use),
 * TT_ESYS; TT_EIO/TT_ECORRUPT/TT_ENOMEM from the recovery (state file or
 * record log unreadable, WAL commit failed); message in err. */
int agent_listener_start(struct agent_listener *l, char *err, size_t errlen);

/* agent_listener_reclog: the record log (NULL before agent_listener_start
 * opened it), owned by l and valid until agent_listener_free: what the
 * span and event stores index, with reclog_read (reclog.h). */
struct reclog *agent_listener_reclog(struct agent_listener *l);

/* agent_listener_ingest_local puts records that arrived some other way than
 * an agent connection (the OTLP and Zipkin endpoints, otlp.h) in as an
 * agent batch of origin ("node\0service", origin_len bytes) and origin_id:
 * body holds count encoded records (rec_put_*; spans, events, state,
 * metrics; no TSDB WAL types). Under the origin's claim, so that concurrent
 * calls for one origin go one at a time, the batch gets seqs from the
 * origin's durable_end on (*first_seq, may be NULL), and is applied as an
 * agent's: appended to the record log and, with its metric samples and the
 * new durable_end, to the WAL; durable when this returns 0. Returns 0;
 * TT_EINVAL (bad origin, no records, a body that is not count records);
 * TT_ESTATE (the store is not open yet); TT_ECORRUPT/TT_EUNSUPPORTED (a
 * record apply refuses); TT_EIO/TT_ENOMEM (the store); message in err.
 * A failed call still uses up its seqs (the next call starts after them).
 * Thread-safe; body is borrowed for the call. */
int agent_listener_ingest_local(struct agent_listener *l, const char *origin, size_t origin_len,
                                uint64_t origin_id, const uint8_t *body, size_t body_len,
                                uint32_t count, uint64_t *first_seq, char *err, size_t errlen);

/* agent_listener_hlc_now: a fresh HLC from the listener's clock, to stamp
 * records that server-side ingest makes. Thread-safe. */
tt_hlc agent_listener_hlc_now(struct agent_listener *l);

/* agent_listener_port: the bound port (after start). */
uint16_t agent_listener_port(const struct agent_listener *l);

/* agent_listener_stop closes the listening socket and every connection and
 * waits for their threads. Safe to call twice. */
void agent_listener_stop(struct agent_listener *l);

/* agent_listener_free stops l if needed and frees it (NULL is fine). */
void agent_listener_free(struct agent_listener *l);

#endif
