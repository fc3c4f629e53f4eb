/*
 * test_agent_listener.c - the server's agent port over a real loopback
 * socket, with a server and a head on a temporary directory: HELLO ->
 * WELCOME; a batch of series + samples -> ACK with durable_end and the
 * samples in the head; the same batch again -> ACK, nothing stored twice;
 * a batch with an event -> the record log holds it; a batch whose samples
 * name an undeclared series -> NACK bad batch, the connection goes on; a
 * frame other than HELLO first -> BYE; durable_end survives a restart
 * (DATA/agents.state). Limits: a batch over max_batch_bytes -> NACK TOO_BIG
 * and the stream resynchronised; PING -> PONG, the server PINGs and merges
 * HLCs; a slow sender and an idle peer are closed (BYE IDLE) in time.
 */
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include <time.h>
#include "core/batch.h"
#include "core/crc32c.h"
#include "core/hlc.h"
#include "core/link.h"
#include "core/record.h"
#include "server/agent_listener.h"
#include "server/reclog.h"
#include "server/server.h"
#include "server/store.h"
#include "store/tsdb/head.h"

static struct {
    char dir[64];
    struct server *srv;
    struct server_store st;
    struct agent_listener *al;
    uint16_t aport;
    struct agent_listener_config lim; /* limits for the next start() (0: defaults) */
} fx;

static int start(void)
{
    struct server_config cfg;
    char err[256];
    server_config_defaults(&cfg);
    cfg.data_dir = fx.dir;
    cfg.http_addr = "127.0.0.1:0";
    memset(&fx.st, 0, sizeof fx.st);
    if (server_new(&cfg, &fx.srv) != 0 || server_store_init(&fx.st, fx.srv) != 0)
        return -1;
    struct agent_listener_config ac = { .addr = "127.0.0.1:0",
                                        .hello_timeout_s = 1,
                                        .max_batch_bytes = fx.lim.max_batch_bytes,
                                        .ping_interval_s = fx.lim.ping_interval_s,
                                        .idle_timeout_s = fx.lim.idle_timeout_s,
                                        .frame_timeout_s = fx.lim.frame_timeout_s,
                                        .send_timeout_s = fx.lim.send_timeout_s,
                                        .data_dir = fx.dir,
                                        .store = &fx.st,
                                        .log = NULL };
    if (agent_listener_new(&fx.al, &ac, fx.srv, err, sizeof err) != 0 ||
        server_start(fx.srv, err, sizeof err) != 0 ||
        server_store_open(&fx.st, fx.dir, NULL, NULL, err, sizeof err) != 0 ||
        agent_listener_start(fx.al, err, sizeof err) != 0) {
        fprintf(stderr, "start: %s\n", err);
        return -1;
    }
    fx.aport = agent_listener_port(fx.al);
    return 0;
}

static void stop(void)
{
    agent_listener_free(fx.al);
    fx.al = NULL;
    server_stop(fx.srv);
    server_store_close(&fx.st);
    server_free(fx.srv);
    fx.srv = NULL;
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    if (tmpdir_make(fx.dir, sizeof fx.dir, "al") != 0)
        return -1;
    return start();
}

static int teardown(void **state)
{
    (void)state;
    stop();
    rm_rf(fx.dir);
    return 0;
}

/* ---- a tiny client ------------------------------------------------------------- */

struct client {
    int fd;
    struct link_reader rd;
    struct link_frame f;
};

static void client_open(struct client *c)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(fx.aport) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    link_reader_init(&c->rd, 0);
}

static void client_close(struct client *c)
{
    close(c->fd);
    link_reader_release(&c->rd);
}

static void client_send(struct client *c, struct wbuf *w)
{
    assert_int_equal(w->err, 0);
    assert_int_equal(send(c->fd, w->data, w->len, MSG_NOSIGNAL), (ssize_t)w->len);
    wbuf_reset(w);
}

/* client_next waits for the next frame; returns its type, or 0 at EOF. */
static int client_next(struct client *c)
{
    char err[256];
    for (;;) {
        int rc = link_reader_next(&c->rd, &c->f, err, sizeof err);
        assert_true(rc >= 0);
        if (rc == 1)
            return c->f.type;
        uint8_t buf[4096];
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n <= 0)
            return 0;
        assert_int_equal(link_reader_feed(&c->rd, buf, (size_t)n), 0);
    }
}

static void hello(struct client *c, uint64_t origin, uint64_t *durable_end)
{
    struct wbuf w;
    struct link_hello h = { .version = LINK_VERSION,
                            .node = { "n1", 2 },
                            .role = { "db", 2 },
                            .release = { "7", 1 },
                            .agent_version = { "t", 1 },
                            .origin_id = origin,
                            .hlc = 1,
                            .physical_ms = 1 };
    struct link_welcome wl;
    char err[256];
    wbuf_init(&w, 0);
    assert_int_equal(link_put_hello(&w, &h), 0);
    client_send(c, &w);
    wbuf_release(&w);
    assert_int_equal(client_next(c), LINK_WELCOME);
    assert_int_equal(link_decode_welcome(&c->f, &wl, err, sizeof err), 0);
    assert_int_equal(wl.n_origins, 1);
    struct link_origin o = link_welcome_origin(&wl, 0);
    assert_int_equal(o.origin_id, origin);
    *durable_end = o.durable_end;
}

/* make_batch: series "m{i=k}" ref k+1 for k < nser (skipped when
 * undeclared), nsamp samples of ref (k % nser)+1 at t0+k, plus an event
 * when event is set. */
static void make_batch(struct wbuf *out, uint64_t origin, uint64_t first_seq, int nser, int nsamp,
                       int64_t t0, int event, int undeclared)
{
    struct wbuf raw;
    uint32_t count = 0;
    wbuf_init(&raw, 0);
    for (int k = 0; k < nser; k++) {
        char v[16];
        int n = snprintf(v, sizeof v, "%d", k);
        struct rec_label l[2] = { { { "__name__", 8 }, { "m", 1 } },
                                  { { "i", 1 }, { v, (uint32_t)n } } };
        if (undeclared && k == 0)
            continue;
        assert_int_equal(rec_put_series(&raw, 5, 0, (uint64_t)k + 1, l, 2), 0);
        count++;
    }
    struct rec_sample *s = calloc((size_t)nsamp, sizeof(*s));
    assert_non_null(s);
    for (int k = 0; k < nsamp; k++)
        s[k] = (struct rec_sample){ (uint64_t)(k % nser) + 1, t0 + k, k * 0.5 };
    assert_int_equal(rec_put_samples(&raw, 5, 0, s, (size_t)nsamp, REC_SAMPLES_XOR), 0);
    count++;
    free(s);
    if (event) {
        struct rec_event e = { .severity = 3,
                               .component = { "agent", 5 },
                               .name = { "restart", 7 },
                               .message = { "pid changed", 11 } };
        assert_int_equal(rec_put_event(&raw, 5, 0, &e), 0);
        count++;
    }
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.count = count;
    h.origin_id = origin;
    h.first_seq = first_seq;
    h.hlc_min = h.hlc_max = 5;
    h.origin = "n1";
    h.origin_len = 2;
    assert_int_equal(batch_encode(out, &h, raw.data, raw.len), 0);
    wbuf_release(&raw);
}

static void send_batch(struct client *c, uint64_t seq, const struct wbuf *batch)
{
    struct wbuf w;
    wbuf_init(&w, 0);
    assert_int_equal(link_put_batch(&w, seq, batch->data, batch->len), 0);
    client_send(c, &w);
    wbuf_release(&w);
}

static struct link_ack expect_ack(struct client *c, uint64_t seq)
{
    struct link_ack a;
    char err[256];
    assert_int_equal(client_next(c), LINK_ACK);
    assert_int_equal(link_decode_ack(&c->f, &a, err, sizeof err), 0);
    assert_int_equal(a.seq, seq);
    return a;
}

static uint64_t head_samples(void)
{
    struct head_stats st;
    head_stats(server_store_head(&fx.st), &st);
    return st.samples_appended;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_ingest_and_duplicates(void **state)
{
    (void)state;
    struct client c;
    struct wbuf b1, b2;
    uint64_t end;
    wbuf_init(&b1, 0);
    wbuf_init(&b2, 0);
    client_open(&c);
    hello(&c, 42, &end);
    assert_int_equal(end, 0);

    make_batch(&b1, 42, 0, 3, 6, 1000, 0, 0); /* 3 series + 1 samples: seqs 0..3 */
    send_batch(&c, 1, &b1);
    struct link_ack a = expect_ack(&c, 1);
    assert_int_equal(a.origin_id, 42);
    assert_int_equal(a.durable_end, 4);
    assert_int_equal(head_samples(), 6);

    /* the same batch again: acknowledged, not stored twice */
    send_batch(&c, 2, &b1);
    a = expect_ack(&c, 2);
    assert_int_equal(a.durable_end, 4);
    assert_int_equal(head_samples(), 6);

    /* the next batch, with an event: samples in the head, batch in the log */
    make_batch(&b2, 42, 4, 2, 4, 2000, 1, 0); /* 2 + 1 + 1 records: seqs 4..7 */
    send_batch(&c, 3, &b2);
    a = expect_ack(&c, 3);
    assert_int_equal(a.durable_end, 8);
    assert_int_equal(head_samples(), 10);
    char path[128];
    struct stat sb;
    snprintf(path, sizeof path, "%s/records/00000001.log", fx.dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((size_t)sb.st_size, b2.len);
    client_close(&c);

    /* a restart keeps durable_end: WELCOME tells, a replay is dropped */
    stop();
    assert_int_equal(start(), 0);
    client_open(&c);
    hello(&c, 42, &end);
    assert_int_equal(end, 8);
    send_batch(&c, 1, &b2);
    a = expect_ack(&c, 1);
    assert_int_equal(a.durable_end, 8);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((size_t)sb.st_size, b2.len); /* not logged twice */
    client_close(&c);
    wbuf_release(&b1);
    wbuf_release(&b2);
}

static void test_bad_batch(void **state)
{
    (void)state;
    struct client c;
    struct wbuf b;
    uint64_t end;
    char err[256];
    wbuf_init(&b, 0);
    client_open(&c);
    hello(&c, 7, &end);
    make_batch(&b, 7, 0, 2, 4, 1000, 0, 1); /* samples of an undeclared series */
    send_batch(&c, 1, &b);
    assert_int_equal(client_next(&c), LINK_NACK);
    struct link_nack n;
    assert_int_equal(link_decode_nack(&c.f, &n, err, sizeof err), 0);
    assert_int_equal(n.seq, 1);
    assert_int_equal(n.reason, LINK_NACK_BAD_BATCH);
    assert_int_equal(n.retry, 0);
    assert_int_equal(head_samples(), 0);
    /* the frame was whole, so the stream is in step: the connection goes on */
    wbuf_reset(&b);
    make_batch(&b, 7, 0, 1, 1, 1000, 0, 0);
    send_batch(&c, 2, &b);
    assert_int_equal(expect_ack(&c, 2).durable_end, 2);
    assert_int_equal(head_samples(), 1);
    client_close(&c);

    /* the server still serves others */
    client_open(&c);
    hello(&c, 8, &end);
    wbuf_reset(&b);
    make_batch(&b, 8, 0, 1, 1, 1000, 0, 0);
    send_batch(&c, 1, &b);
    assert_int_equal(expect_ack(&c, 1).durable_end, 2);
    client_close(&c);
    wbuf_release(&b);
}

static void test_protocol_errors(void **state)
{
    (void)state;
    struct client c;
    struct wbuf w;
    char err[256];
    struct link_bye bye;
    wbuf_init(&w, 0);

    /* a PING before HELLO */
    client_open(&c);
    struct link_ping p = { 1, 1 };
    assert_int_equal(link_put_ping(&w, &p), 0);
    client_send(&c, &w);
    assert_int_equal(client_next(&c), LINK_BYE);
    assert_int_equal(link_decode_bye(&c.f, &bye, err, sizeof err), 0);
    assert_int_equal(bye.code, LINK_BYE_PROTOCOL);
    assert_int_equal(client_next(&c), 0);
    client_close(&c);

    /* a BATCH header before HELLO: refused from the header alone, the
     * bytes it announces are neither awaited nor buffered */
    client_open(&c);
    struct wbuf big;
    wbuf_init(&big, 0);
    make_batch(&big, 3, 0, 1, 100000, 1000, 0, 0);
    assert_true(big.len > 100000);
    assert_int_equal(link_put_batch(&w, 1, big.data, big.len), 0);
    assert_int_equal(send(c.fd, w.data, LINK_HEADER_LEN, MSG_NOSIGNAL), LINK_HEADER_LEN);
    wbuf_reset(&w);
    wbuf_release(&big);
    assert_int_equal(client_next(&c), LINK_BYE);
    assert_int_equal(link_decode_bye(&c.f, &bye, err, sizeof err), 0);
    assert_int_equal(bye.code, LINK_BYE_PROTOCOL);
    assert_non_null(memmem(bye.reason.p, bye.reason.len, "expected HELLO first, got BATCH", 31));
    assert_int_equal(client_next(&c), 0);
    client_close(&c);

    /* garbage bytes */
    client_open(&c);
    assert_int_equal(send(c.fd, "GET / HTTP/1.1\r\n\r\n", 18, MSG_NOSIGNAL), 18);
    assert_int_equal(client_next(&c), LINK_BYE);
    assert_int_equal(client_next(&c), 0);
    client_close(&c);

    /* a peer that says nothing is closed after the HELLO timeout */
    client_open(&c);
    assert_int_equal(client_next(&c), LINK_BYE);
    assert_int_equal(link_decode_bye(&c.f, &bye, err, sizeof err), 0);
    assert_int_equal(bye.code, LINK_BYE_IDLE);
    assert_int_equal(client_next(&c), 0);
    client_close(&c);
    wbuf_release(&w);
}

/* write_file replaces path with len bytes of data (appending when append). */
static void write_file(const char *path, const void *data, size_t len, int append)
{
    FILE *f = fopen(path, append ? "ab" : "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* A crash after the record-log append and before the WAL commit: the batch
 * is in the record log (with a torn batch behind it), the WAL knows nothing.
 * The next start applies its samples and takes its durable_end; the torn
 * tail is cut; the batch sent again is a duplicate; a later restart gets
 * the durable_end from the WAL, and a new batch goes on in the log. */
static void test_recover_record_log(void **state)
{
    (void)state;
    struct client c;
    struct wbuf b, b2;
    uint64_t end;
    char dir[128], path[160];
    wbuf_init(&b, 0);
    wbuf_init(&b2, 0);
    stop();
    make_batch(&b, 77, 0, 3, 6, 5000, 1, 0); /* 3 series, samples, event: seqs 0..4 */
    snprintf(dir, sizeof dir, "%s/records", fx.dir);
    assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST);
    snprintf(path, sizeof path, "%s/00000001.log", dir);
    write_file(path, b.data, b.len, 0);
    write_file(path, b.data, b.len / 2, 1); /* a torn batch */
    assert_int_equal(start(), 0);
    assert_int_equal(head_samples(), 6);
    assert_int_equal(file_size(path), (long)b.len);
    client_open(&c);
    hello(&c, 77, &end);
    assert_int_equal(end, 5);
    send_batch(&c, 1, &b);
    assert_int_equal(expect_ack(&c, 1).durable_end, 5);
    assert_int_equal(head_samples(), 6);
    assert_int_equal(file_size(path), (long)b.len);
    client_close(&c);

    stop();
    assert_int_equal(start(), 0);
    assert_int_equal(head_samples(), 0); /* nothing applied again */
    client_open(&c);
    hello(&c, 77, &end);
    assert_int_equal(end, 5);
    make_batch(&b2, 77, 5, 1, 2, 9000, 1, 0);
    send_batch(&c, 1, &b2);
    assert_int_equal(expect_ack(&c, 1).durable_end, 8);
    assert_int_equal(file_size(path), (long)(b.len + b2.len));
    client_close(&c);
    wbuf_release(&b);
    wbuf_release(&b2);
}

/* An old server's DATA/agents.state is read once, written into the WAL and
 * removed: the durable_end stays across the next restart without it. */
static void test_state_upgrade(void **state)
{
    (void)state;
    struct client c;
    uint64_t end;
    char path[160];
    const char *old = "# origin durable_end\n000000000000002a 12\n0000000000000063 3\n";
    stop();
    snprintf(path, sizeof path, "%s/agents.state", fx.dir);
    write_file(path, old, strlen(old), 0);
    assert_int_equal(start(), 0);
    assert_int_equal(access(path, F_OK), -1);
    client_open(&c);
    hello(&c, 42, &end);
    assert_int_equal(end, 12);
    client_close(&c);
    stop();
    assert_int_equal(start(), 0);
    client_open(&c);
    hello(&c, 0x63, &end);
    assert_int_equal(end, 3);
    client_close(&c);
    client_open(&c);
    hello(&c, 42, &end);
    assert_int_equal(end, 12);
    client_close(&c);

    /* A damaged state file stops the start with its name and line. */
    stop();
    write_file(path, "zz\n", 3, 0);
    struct server_config cfg;
    char err[256] = "";
    server_config_defaults(&cfg);
    cfg.data_dir = fx.dir;
    cfg.http_addr = "127.0.0.1:0";
    memset(&fx.st, 0, sizeof fx.st);
    assert_int_equal(server_new(&cfg, &fx.srv), 0);
    assert_int_equal(server_store_init(&fx.st, fx.srv), 0);
    struct agent_listener_config ac = { .addr = "127.0.0.1:0",
                                        .data_dir = fx.dir,
                                        .store = &fx.st };
    assert_int_equal(agent_listener_new(&fx.al, &ac, fx.srv, err, sizeof err), 0);
    assert_int_equal(server_store_open(&fx.st, fx.dir, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(agent_listener_start(fx.al, err, sizeof err), TT_ECORRUPT);
    assert_non_null(strstr(err, "agents.state:1"));
    unlink(path);
}

/* Many agents at once: every batch ACKed with its own origin's durable_end,
 * every sample stored once, the record log holding every event batch. */
struct sender {
    uint64_t origin;
    int batches;
    int ok;
};

static void *sender_main(void *arg)
{
    struct sender *sd = arg;
    struct client c;
    struct wbuf b;
    uint64_t end;
    wbuf_init(&b, 0);
    client_open(&c);
    hello(&c, sd->origin, &end);
    uint64_t seq = 0;
    for (int i = 0; i < sd->batches; i++) {
        wbuf_reset(&b);
        make_batch(&b, sd->origin, seq, 2, 10, 1000 + i * 10, i % 2, 0);
        seq += 3 + (uint64_t)(i % 2);
        send_batch(&c, (uint64_t)i + 1, &b);
    }
    sd->ok = 1;
    for (int i = 0; i < sd->batches; i++) {
        struct link_ack a = expect_ack(&c, (uint64_t)i + 1);
        if (a.origin_id != sd->origin)
            sd->ok = 0;
        if (i + 1 == sd->batches && a.durable_end != seq)
            sd->ok = 0;
    }
    client_close(&c);
    wbuf_release(&b);
    return NULL;
}

static void test_concurrent_agents(void **state)
{
    (void)state;
    enum { NS = 6, NB = 20 };
    pthread_t t[NS];
    struct sender sd[NS];
    for (int i = 0; i < NS; i++) {
        sd[i] = (struct sender){ .origin = 1000 + (uint64_t)i, .batches = NB };
        assert_int_equal(pthread_create(&t[i], NULL, sender_main, &sd[i]), 0);
    }
    for (int i = 0; i < NS; i++) {
        pthread_join(t[i], NULL);
        assert_true(sd[i].ok);
    }
    /* each origin's series are m{i=0}, m{i=1} shared by all: per series one
     * sample per time, so the distinct samples are 10 a batch per origin
     * minus those that collide across origins (same series, same time,
     * same value: exact duplicates, dropped). */
    assert_int_equal(head_samples(), NB * 10);
}

/* A batch without samples (an event only): its durable_end is a WAL commit
 * of its own, so it survives a restart without a state file. */
static void test_events_only(void **state)
{
    (void)state;
    struct client c;
    struct wbuf b;
    uint64_t end;
    wbuf_init(&b, 0);
    client_open(&c);
    hello(&c, 55, &end);
    make_batch(&b, 55, 0, 0, 0, 0, 1, 0); /* an empty samples record + an event */
    send_batch(&c, 1, &b);
    assert_int_equal(expect_ack(&c, 1).durable_end, 2);
    client_close(&c);
    stop();
    assert_int_equal(start(), 0);
    client_open(&c);
    hello(&c, 55, &end);
    assert_int_equal(end, 2);
    client_close(&c);
    wbuf_release(&b);
}

/* The other crash order: the WAL holds the batch's samples and origin
 * record, the record log lost its copy (the two fdatasyncs run at once).
 * The next start sends the origin back to the batch's first_seq, the agent
 * sends it again: the record log gets it, the samples are not doubled. */
static void test_lost_record_log_copy(void **state)
{
    (void)state;
    struct client c;
    struct wbuf b1, b2;
    uint64_t end;
    char path[160];
    wbuf_init(&b1, 0);
    wbuf_init(&b2, 0);
    client_open(&c);
    hello(&c, 88, &end);
    make_batch(&b1, 88, 0, 2, 4, 1000, 1, 0); /* seqs 0..3 */
    make_batch(&b2, 88, 4, 2, 4, 2000, 1, 0); /* seqs 4..7 */
    send_batch(&c, 1, &b1);
    assert_int_equal(expect_ack(&c, 1).durable_end, 4);
    send_batch(&c, 2, &b2);
    assert_int_equal(expect_ack(&c, 2).durable_end, 8);
    client_close(&c);
    assert_int_equal(head_samples(), 8);
    stop();
    /* the second batch's copy is gone, as if its fdatasync never ran */
    snprintf(path, sizeof path, "%s/records/00000001.log", fx.dir);
    assert_int_equal(file_size(path), (long)(b1.len + b2.len));
    assert_int_equal(truncate(path, (off_t)b1.len), 0);
    assert_int_equal(start(), 0);
    client_open(&c);
    hello(&c, 88, &end);
    assert_int_equal(end, 4);
    send_batch(&c, 1, &b2);
    assert_int_equal(expect_ack(&c, 1).durable_end, 8);
    assert_int_equal(head_samples(), 0); /* exact duplicates of the WAL's */
    assert_int_equal(file_size(path), (long)(b1.len + b2.len));
    client_close(&c);
    /* and it stays at 8 after another restart */
    stop();
    assert_int_equal(start(), 0);
    client_open(&c);
    hello(&c, 88, &end);
    assert_int_equal(end, 8);
    client_close(&c);
    wbuf_release(&b1);
    wbuf_release(&b2);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void restart_with(const struct agent_listener_config *lim)
{
    stop();
    fx.lim = *lim;
    assert_int_equal(start(), 0);
}

static void test_too_big(void **state)
{
    (void)state;
    struct client c;
    struct wbuf big, small, w;
    uint64_t end;
    char err[256];
    struct agent_listener_config lim = { .max_batch_bytes = 4096 };
    restart_with(&lim);
    wbuf_init(&big, 0);
    wbuf_init(&small, 0);
    wbuf_init(&w, 0);
    make_batch(&big, 9, 0, 3, 3000, 1000, 0, 0);
    assert_true(big.len > 4096);
    make_batch(&small, 9, 0, 1, 2, 1000, 0, 0);

    /* Twice: the whole frame at once, then its header alone first, so the
     * server learns the seq from the bytes it skips. The small batch right
     * behind it is read from the resynchronised stream, and refused for now
     * (applying it would move the origin's durable_end past the refused
     * batch); on a new connection it is taken. */
    for (int round = 0; round < 2; round++) {
        uint64_t seq = 1;
        client_open(&c);
        hello(&c, 9, &end);
        assert_int_equal(link_put_batch(&w, seq, big.data, big.len), 0);
        assert_int_equal(link_put_batch(&w, seq + 1, small.data, small.len), 0);
        if (round == 1) {
            assert_int_equal(send(c.fd, w.data, LINK_HEADER_LEN + 3, MSG_NOSIGNAL),
                             LINK_HEADER_LEN + 3);
            usleep(100 * 1000);
            size_t rest = w.len - (LINK_HEADER_LEN + 3);
            assert_int_equal(send(c.fd, w.data + LINK_HEADER_LEN + 3, rest, MSG_NOSIGNAL),
                             (ssize_t)rest);
            wbuf_reset(&w);
        } else {
            client_send(&c, &w);
        }
        assert_int_equal(client_next(&c), LINK_NACK);
        struct link_nack n;
        assert_int_equal(link_decode_nack(&c.f, &n, err, sizeof err), 0);
        assert_int_equal(n.seq, seq);
        assert_int_equal(n.reason, LINK_NACK_TOO_BIG);
        assert_int_equal(n.retry, 0);
        assert_true(n.message.len > 0);
        assert_int_equal(client_next(&c), LINK_NACK);
        assert_int_equal(link_decode_nack(&c.f, &n, err, sizeof err), 0);
        assert_int_equal(n.seq, seq + 1);
        assert_int_equal(n.reason, LINK_NACK_OVERLOADED);
        assert_int_equal(n.retry, 1);
        assert_int_equal(head_samples(), round == 0 ? 0 : 2);
        client_close(&c);
        client_open(&c);
        hello(&c, 9, &end);
        assert_int_equal(end, round == 0 ? 0 : 2);
        assert_int_equal(link_put_batch(&w, 1, small.data, small.len), 0);
        client_send(&c, &w);
        assert_int_equal(expect_ack(&c, 1).durable_end, 2);
        if (round == 0)
            client_close(&c);
    }
    assert_int_equal(head_samples(), 2);

    /* A control frame over its limit cannot be skipped: BYE. */
    uint8_t hdr[LINK_HEADER_LEN];
    assert_int_equal(link_put_ping(&w, &(struct link_ping){ 1, 1 }), 0);
    memcpy(hdr, w.data, sizeof hdr);
    wbuf_reset(&w);
    hdr[8] = 0;
    hdr[9] = 0;
    hdr[10] = 0x10; /* 1 MiB */
    uint32_t crc = crc32c(0, hdr, 12);
    memcpy(hdr + 12, &crc, 4);
    assert_int_equal(send(c.fd, hdr, sizeof hdr, MSG_NOSIGNAL), (ssize_t)sizeof hdr);
    assert_int_equal(client_next(&c), LINK_BYE);
    assert_int_equal(client_next(&c), 0);
    client_close(&c);
    wbuf_release(&big);
    wbuf_release(&small);
    wbuf_release(&w);
}

/* nodes_json GETs /api/tt/nodes into out (the body, NUL-terminated). */
static void nodes_json(char *out, size_t n)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(server_port(fx.srv)) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *req = "GET /api/tt/nodes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    size_t len = 0;
    ssize_t r;
    while (len + 1 < n && (r = recv(fd, out + len, n - 1 - len, 0)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fd);
    char *body = strstr(out, "\r\n\r\n");
    assert_non_null(body);
    memmove(out, body + 4, strlen(body + 4) + 1);
}

static void test_ping_pong_hlc(void **state)
{
    (void)state;
    struct client c;
    struct wbuf w;
    uint64_t end;
    char err[256];
    struct agent_listener_config lim = { .ping_interval_s = 1 };
    restart_with(&lim);
    wbuf_init(&w, 0);
    client_open(&c);
    hello(&c, 11, &end);

    /* Our PING is answered with our physical time echoed and an HLC that
     * has merged ours (a stamp 200 ms ahead, within the max offset). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t pt = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    tt_hlc ahead = hlc_pack(pt + 200, 77);
    assert_int_equal(link_put_ping(&w, &(struct link_ping){ ahead, pt }), 0);
    client_send(&c, &w);
    assert_int_equal(client_next(&c), LINK_PONG);
    struct link_pong po;
    assert_int_equal(link_decode_pong(&c.f, &po, err, sizeof err), 0);
    assert_int_equal(po.echo_ms, pt);
    assert_true(po.hlc > ahead);

    /* The server PINGs within its interval; the stamp keeps increasing. */
    int64_t t0 = mono_ms();
    assert_int_equal(client_next(&c), LINK_PING);
    assert_true(mono_ms() - t0 < 1500);
    struct link_ping pi;
    assert_int_equal(link_decode_ping(&c.f, &pi, err, sizeof err), 0);
    assert_true(pi.hlc > po.hlc);
    /* The agent's clock 5 s ahead: HELLO said physical_ms 1, the PONG
     * corrects the node's offset and gives a round trip. */
    char body[4096];
    nodes_json(body, sizeof body);
    assert_non_null(strstr(body, "\"rtt_ms\":null"));
    struct link_pong answer = { pi.physical_ms, ahead, pi.physical_ms + 5000 };
    assert_int_equal(link_put_pong(&w, &answer), 0);
    client_send(&c, &w);
    int64_t off = INT64_MIN, rtt = -1;
    for (int i = 0; i < 100 && off == INT64_MIN; i++) {
        usleep(10 * 1000);
        nodes_json(body, sizeof body);
        const char *o = strstr(body, "\"clock_offset_ms\":"), *r = strstr(body, "\"rtt_ms\":");
        assert_non_null(o);
        assert_non_null(r);
        if (r[9] != 'n') {
            off = strtoll(o + 18, NULL, 10);
            rtt = strtoll(r + 9, NULL, 10);
        }
    }
    assert_true(rtt >= 0 && rtt < 1000);
    assert_true(off > 5000 - 1000 && off <= 5000);

    /* An ACK carries the HLC too, after the batch header's. */
    struct wbuf b;
    wbuf_init(&b, 0);
    make_batch(&b, 11, 0, 1, 1, 1000, 0, 0);
    send_batch(&c, 1, &b);
    int t;
    while ((t = client_next(&c)) == LINK_PING)
        ;
    assert_int_equal(t, LINK_ACK);
    struct link_ack a;
    assert_int_equal(link_decode_ack(&c.f, &a, err, sizeof err), 0);
    assert_true(a.hlc > pi.hlc);
    client_close(&c);
    wbuf_release(&b);
    wbuf_release(&w);
}

static void test_slow_and_idle(void **state)
{
    (void)state;
    struct client c;
    struct wbuf w, b;
    uint64_t end;
    char err[256];
    struct link_bye bye;
    struct agent_listener_config lim = { .ping_interval_s = 1,
                                         .idle_timeout_s = 2,
                                         .frame_timeout_s = 1 };
    restart_with(&lim);
    wbuf_init(&w, 0);
    wbuf_init(&b, 0);

    /* A frame begun and never finished: closed after frame_timeout_s. */
    client_open(&c);
    hello(&c, 12, &end);
    make_batch(&b, 12, 0, 1, 1, 1000, 0, 0);
    assert_int_equal(link_put_batch(&w, 1, b.data, b.len), 0);
    int64_t t0 = mono_ms();
    assert_int_equal(send(c.fd, w.data, 30, MSG_NOSIGNAL), 30);
    wbuf_reset(&w);
    int t;
    while ((t = client_next(&c)) == LINK_PING)
        ;
    assert_int_equal(t, LINK_BYE);
    int64_t took = mono_ms() - t0;
    assert_true(took >= 900 && took < 2500);
    assert_int_equal(link_decode_bye(&c.f, &bye, err, sizeof err), 0);
    assert_int_equal(bye.code, LINK_BYE_IDLE);
    assert_int_equal(client_next(&c), 0);
    client_close(&c);

    /* A peer that answers no PING and sends nothing: closed after
     * idle_timeout_s, having been PINGed in between. */
    client_open(&c);
    hello(&c, 13, &end);
    t0 = mono_ms();
    int pings = 0;
    while ((t = client_next(&c)) == LINK_PING)
        pings++;
    took = mono_ms() - t0;
    assert_int_equal(t, LINK_BYE);
    assert_true(pings >= 1);
    assert_true(took >= 1900 && took < 3500);
    assert_int_equal(link_decode_bye(&c.f, &bye, err, sizeof err), 0);
    assert_int_equal(bye.code, LINK_BYE_IDLE);
    client_close(&c);

    /* One that answers the PINGs stays, past the idle timeout. */
    client_open(&c);
    hello(&c, 14, &end);
    t0 = mono_ms();
    while (mono_ms() - t0 < 3000) {
        assert_int_equal(client_next(&c), LINK_PING);
        struct link_ping pi;
        assert_int_equal(link_decode_ping(&c.f, &pi, err, sizeof err), 0);
        struct link_pong po = { pi.physical_ms, 0, pi.physical_ms };
        assert_int_equal(link_put_pong(&w, &po), 0);
        client_send(&c, &w);
    }
    send_batch(&c, 1, &b);
    while ((t = client_next(&c)) == LINK_PING)
        ;
    assert_int_equal(t, LINK_ACK);
    client_close(&c);
    wbuf_release(&w);
    wbuf_release(&b);
}

/* agent_listener_ingest_local: records put in by a server-side ingest path
 * get seqs from their origin's durable_end, land in the record log as a
 * batch of that origin, and the durable_end survives a restart (the next
 * ingest continues after it). Concurrent calls of one origin serialise:
 * their seq ranges do not overlap. Bad bodies are refused. */
struct ingest_arg {
    int n;
    uint64_t firsts[8];
};

static void ingest_spans(uint64_t id, int nspans, uint64_t *first)
{
    struct wbuf b;
    char err[256];
    wbuf_init(&b, 0);
    for (int i = 0; i < nspans; i++) {
        struct rec_span sp = { .span_id = (uint64_t)i + 1, .duration_ns = 5 };
        sp.trace_id[0] = 0xab;
        sp.name.p = "op";
        sp.name.len = 2;
        assert_int_equal(rec_put_span(&b, agent_listener_hlc_now(fx.al), 1000 + i, &sp), 0);
    }
    int rc = agent_listener_ingest_local(fx.al, "n1\0svc", 6, id, b.data, b.len, (uint32_t)nspans,
                                         first, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "ingest: %s\n", err);
    assert_int_equal(rc, 0);
    wbuf_release(&b);
}

static void *ingest_main(void *arg)
{
    struct ingest_arg *a = arg;
    for (int i = 0; i < a->n; i++)
        ingest_spans(777, 3, &a->firsts[i]);
    return NULL;
}

static void test_ingest_local(void **state)
{
    (void)state;
    uint64_t first = 99;
    char err[256];
    struct wbuf b, rd;
    ingest_spans(777, 2, &first);
    assert_int_equal(first, 0);
    ingest_spans(777, 3, &first);
    assert_int_equal(first, 2);

    /* Refused: a count that does not match, no NUL in the origin, a WAL type. */
    wbuf_init(&b, 0);
    struct rec_span sp = { .span_id = 1 };
    assert_int_equal(rec_put_span(&b, 1, 1, &sp), 0);
    assert_int_equal(agent_listener_ingest_local(fx.al, "n1\0svc", 6, 777, b.data, b.len, 2, NULL,
                                                 err, sizeof err),
                     TT_EINVAL);
    assert_non_null(strstr(err, "count says 2"));
    assert_int_equal(agent_listener_ingest_local(fx.al, "n1svc", 5, 777, b.data, b.len, 1, NULL,
                                                 err, sizeof err),
                     TT_EINVAL);
    assert_int_equal(agent_listener_ingest_local(fx.al, "n1\0svc", 6, 777, b.data, b.len - 1, 1,
                                                 NULL, err, sizeof err),
                     TT_EINVAL);
    wbuf_reset(&b);
    struct rec_sample smp = { 1, 1, 1.0 };
    assert_int_equal(rec_put_samples(&b, 0, 0, &smp, 1, REC_SAMPLES_RAW), 0);
    assert_int_equal(agent_listener_ingest_local(fx.al, "n1\0svc", 6, 777, b.data, b.len, 1, NULL,
                                                 err, sizeof err),
                     TT_EINVAL);

    /* Two threads of one origin: ranges of 3 that tile [5, 5 + 3 * 8). */
    pthread_t t1, t2;
    struct ingest_arg a1 = { .n = 4 }, a2 = { .n = 4 };
    assert_int_equal(pthread_create(&t1, NULL, ingest_main, &a1), 0);
    assert_int_equal(pthread_create(&t2, NULL, ingest_main, &a2), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    uint64_t seen = 0;
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 2; j++) {
            uint64_t f = j ? a2.firsts[i] : a1.firsts[i];
            assert_true(f >= 5 && f < 29 && (f - 5) % 3 == 0);
            uint64_t bit = UINT64_C(1) << ((f - 5) / 3);
            assert_int_equal(seen & bit, 0);
            seen |= bit;
        }
    }
    assert_int_equal(seen, 0xff);

    /* The record log: 10 batches of origin 777, seqs contiguous. */
    struct reclog_cursor cur = { 0, 0 };
    struct batch_hdr h;
    uint64_t next = 0;
    int n = 0, rc;
    wbuf_init(&rd, 0);
    struct reclog *rl = agent_listener_reclog(fx.al);
    uint64_t want[10];
    while ((rc = reclog_read(rl, &cur, &rd, err, sizeof err)) == 1) {
        assert_int_equal(batch_parse_header(rd.data, rd.len, &h, err, sizeof err), 0);
        assert_int_equal(h.origin_id, 777);
        assert_int_equal(h.origin_len, 6);
        assert_memory_equal(h.origin, "n1\0svc", 6);
        assert_true(n < 10);
        want[n++] = h.first_seq;
        next += h.count;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, 10);
    assert_int_equal(next, 29);
    assert_int_equal(want[0], 0);
    assert_int_equal(want[1], 2);

    /* After a restart the origin goes on from 29. */
    stop();
    assert_int_equal(start(), 0);
    ingest_spans(777, 1, &first);
    assert_int_equal(first, 29);
    wbuf_release(&b);
    wbuf_release(&rd);
}

UNIT_TESTS(cmocka_unit_test_setup_teardown(test_ingest_and_duplicates, setup, teardown),
           cmocka_unit_test_setup_teardown(test_bad_batch, setup, teardown),
           cmocka_unit_test_setup_teardown(test_protocol_errors, setup, teardown),
           cmocka_unit_test_setup_teardown(test_recover_record_log, setup, teardown),
           cmocka_unit_test_setup_teardown(test_state_upgrade, setup, teardown),
           cmocka_unit_test_setup_teardown(test_concurrent_agents, setup, teardown),
           cmocka_unit_test_setup_teardown(test_events_only, setup, teardown),
           cmocka_unit_test_setup_teardown(test_lost_record_log_copy, setup, teardown),
           cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
           cmocka_unit_test_setup_teardown(test_ping_pong_hlc, setup, teardown),
           cmocka_unit_test_setup_teardown(test_slow_and_idle, setup, teardown),
           cmocka_unit_test_setup_teardown(test_ingest_local, setup, teardown))
