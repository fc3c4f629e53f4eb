/*
 * test_shipper.c - the agent's shipper against a scripted server on a real
 * loopback socket: every batch respects WELCOME's max_batch_bytes (host
 * rounds are cut, seqs contiguous); a server PING gets a PONG echoing its
 * time; the server goes away, rounds stored meanwhile overflow the backlog,
 * and once the server is back the next round reports the drop as a
 * "telltale.agent.backlog.dropped" event; the server's HLC from ACKs is
 * merged, so a round stored after an ACK is stamped after it; the agent's
 * own metrics are in the rounds; a libtelltale spool segment is shipped
 * unchanged and deleted once acknowledged.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include "agent/agent.h"
#include "core/batch.h"
#include "core/clock.h"
#include "core/compress.h"
#include "core/hlc.h"
#include "core/link.h"
#include "core/record.h"

#define MAX_BATCH 4096
#define MAXB      4096

struct got_batch {
    uint64_t origin, first_seq;
    uint32_t count;
    tt_hlc hlc_min;
    size_t len;
    int drop_event; /* has the backlog drop event */
    int self_metric;
    uint8_t *bytes;
};

struct server {
    int lfd;
    uint16_t port;
    atomic_int stop, drop_conn, reopen, sessions;
    atomic_int pong_ok;
    atomic_int nbatches;
    _Atomic uint64_t last_ack_hlc;
    struct got_batch b[MAXB];
    pthread_mutex_t mu;
    char err[256];
};

static void send_all(int fd, struct wbuf *w)
{
    size_t off = 0;
    while (off < w->len) {
        ssize_t n = send(fd, w->data + off, w->len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    wbuf_reset(w);
}

/* inspect looks into a batch for the drop event and a self metric. */
static void inspect(struct got_batch *g, const uint8_t *p, const struct batch_hdr *h)
{
    struct wbuf scratch;
    const uint8_t *body;
    size_t len;
    char err[128];
    wbuf_init(&scratch, 0);
    if (batch_open(p, h, &scratch, &body, &len, err, sizeof err) == 0) {
        struct rbuf r;
        struct rec rec;
        rbuf_init(&r, body, len);
        while (rec_next(&r, body, &rec, err, sizeof err) == 1) {
            if (rec.type == REC_EVENT) {
                struct rec_event e;
                if (rec_decode_event(&rec, &e, err, sizeof err) == 0 && e.name.len == 30 &&
                    memcmp(e.name.p, "telltale.agent.backlog.dropped", 30) == 0)
                    g->drop_event = 1;
            } else if (rec.type == REC_SERIES) {
                struct rec_series s;
                struct rec_label l;
                if (rec_decode_series(&rec, &s, err, sizeof err) == 0) {
                    struct rec_list it = s.labels;
                    if (rec_label_next(&it, &l) == 1 && l.value.len > 15 &&
                        memcmp(l.value.p, "telltale_agent_", 15) == 0)
                        g->self_metric = 1;
                }
            }
        }
    }
    wbuf_release(&scratch);
}

static int listen_on(uint16_t port, uint16_t *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *bound = ntohs(sa.sin_port);
    return fd;
}

/* serve runs one connection until stop, or drop_conn (then 1). */
static int serve(struct server *s, int fd)
{
    struct link_reader rd;
    struct wbuf out;
    int welcomed = 0, dropped = 0;
    link_reader_init(&rd, 0);
    wbuf_init(&out, 0);
    while (!atomic_load(&s->stop)) {
        if (atomic_load(&s->drop_conn)) {
            dropped = 1;
            break;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 50) <= 0)
            continue;
        uint8_t buf[65536];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        if (link_reader_feed(&rd, buf, (size_t)n) < 0)
            break;
        struct link_frame f;
        while (link_reader_next(&rd, &f, s->err, sizeof s->err) == 1) {
            uint64_t now_ms = (uint64_t)(clock_realtime_ns() / TT_NS_PER_MS);
            if (f.type == LINK_HELLO && !welcomed) {
                struct link_welcome w = { .version = LINK_VERSION,
                                          .hlc = hlc_pack(now_ms, 0),
                                          .physical_ms = now_ms,
                                          .max_batch_bytes = MAX_BATCH,
                                          .n_origins = 0 };
                link_put_welcome(&out, &w);
                struct link_ping pg = { hlc_pack(now_ms, 1), 12345 };
                link_put_ping(&out, &pg);
                send_all(fd, &out);
                welcomed = 1;
                atomic_fetch_add(&s->sessions, 1);
            } else if (f.type == LINK_PONG) {
                struct link_pong pg;
                if (link_decode_pong(&f, &pg, s->err, sizeof s->err) == 0 && pg.echo_ms == 12345)
                    atomic_store(&s->pong_ok, 1);
            } else if (f.type == LINK_BATCH) {
                struct link_batch lb;
                if (link_decode_batch(&f, &lb, s->err, sizeof s->err) != 0)
                    goto done;
                pthread_mutex_lock(&s->mu);
                int i = atomic_load(&s->nbatches);
                if (i < MAXB) {
                    struct got_batch *g = &s->b[i];
                    g->origin = lb.hdr.origin_id;
                    g->first_seq = lb.hdr.first_seq;
                    g->count = lb.hdr.count;
                    g->hlc_min = lb.hdr.hlc_min;
                    g->len = lb.batch_len;
                    g->bytes = malloc(lb.batch_len);
                    memcpy(g->bytes, lb.batch, lb.batch_len);
                    inspect(g, lb.batch, &lb.hdr);
                    atomic_store(&s->nbatches, i + 1);
                }
                pthread_mutex_unlock(&s->mu);
                /* a server clock 300 ms ahead: the agent must merge it */
                tt_hlc h = hlc_pack(now_ms + 300, 7);
                struct link_ack a = { lb.seq, lb.hdr.origin_id, lb.hdr.first_seq + lb.hdr.count,
                                      h };
                link_put_ack(&out, &a);
                send_all(fd, &out);
                atomic_store(&s->last_ack_hlc, h);
            }
        }
    }
done:
    close(fd);
    link_reader_release(&rd);
    wbuf_release(&out);
    return dropped;
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0 || !serve(s, fd))
        return NULL;
    /* gone: connections are refused until reopen */
    close(s->lfd);
    s->lfd = -1;
    while (!atomic_load(&s->reopen) && !atomic_load(&s->stop))
        usleep(10000);
    uint16_t port;
    s->lfd = listen_on(s->port, &port);
    atomic_store(&s->drop_conn, 0);
    struct pollfd p = { .fd = s->lfd, .events = POLLIN };
    while (!atomic_load(&s->stop)) {
        if (poll(&p, 1, 50) <= 0)
            continue;
        fd = accept(s->lfd, NULL, NULL);
        if (fd >= 0)
            serve(s, fd);
        break;
    }
    return NULL;
}

static int wait_for(atomic_int *v, int want, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (atomic_load(v) >= want)
            return 1;
        usleep(10000);
    }
    return 0;
}

/* spool_segment writes one segment of two event batches of a dead
 * process's origin into dir; returns its path in path. */
static void spool_segment(const char *dir, uint64_t origin_id, char *path, size_t n, struct wbuf *w)
{
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    char origin[64];
    int ol = snprintf(origin, sizeof origin, "n1%capp/%ld", 0, (long)child);
    for (uint64_t k = 0; k < 2; k++) {
        struct wbuf raw;
        wbuf_init(&raw, 0);
        struct rec_event ev = { .severity = TT_SEV_INFO, .name = { "spooled", 7 } };
        assert_int_equal(rec_put_event(&raw, 5, 1000, &ev), 0);
        struct batch_hdr h = { .count = 1,
                               .origin_id = origin_id,
                               .first_seq = k,
                               .hlc_min = 5,
                               .hlc_max = 5,
                               .origin = origin,
                               .origin_len = (uint16_t)ol };
        assert_int_equal(batch_encode(w, &h, raw.data, raw.len), 0);
        wbuf_release(&raw);
    }
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, n, "%s/%016llx-%016llx.tts", dir, (unsigned long long)origin_id, 0ull);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, w->data, w->len), (ssize_t)w->len);
    close(fd);
}

static void test_shipper_link(void **state)
{
    (void)state;
    char root[256], stdir[300], spdir[300], seg[600], addr[64], err[512];
    struct server *s = calloc(1, sizeof *s);
    struct agent *a = NULL;
    struct wbuf spooled;
    pthread_t th;
    assert_non_null(s);
    pthread_mutex_init(&s->mu, NULL);
    assert_int_equal(tmpdir_make(root, sizeof root, "shipper"), 0);
    snprintf(stdir, sizeof stdir, "%s/state", root);
    snprintf(spdir, sizeof spdir, "%s/spool", root);
    wbuf_init(&spooled, 0);
    spool_segment(spdir, 0x5150, seg, sizeof seg, &spooled);

    s->lfd = listen_on(0, &s->port);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)s->port);

    struct agent_config cfg = { .server = addr,
                                .node = "n1",
                                .state_dir = stdir,
                                .host = 1,
                                .self_metrics = 1,
                                .backlog_limit_bytes = 24 << 10,
                                .backlog_segment_bytes = 8 << 10,
                                .nspools = 1 };
    cfg.spool_dirs[0] = spdir;
    assert_int_equal(pthread_create(&th, NULL, server_main, s), 0);
    assert_int_equal(agent_new(&a, &cfg, err, sizeof err), 0);
    assert_int_equal(agent_start(a), 0);
    /* connected: WELCOME (the limit), PING/PONG, the spool shipped */
    assert_true(wait_for(&s->sessions, 1, 5000));
    assert_true(wait_for(&s->pong_ok, 1, 5000));
    assert_true(wait_for(&s->nbatches, 2, 5000));
    int64_t t = clock_realtime_ns() / TT_NS_PER_MS;
    assert_int_equal(agent_collect(a, t, err, sizeof err), 0);
    usleep(300000);
    /* the server goes away; rounds overflow the backlog meanwhile */
    atomic_store(&s->drop_conn, 1);
    usleep(200000);
    for (int i = 1; i <= 12; i++)
        assert_int_equal(agent_collect(a, t + i, err, sizeof err), 0);
    int n_down = atomic_load(&s->nbatches);
    atomic_store(&s->reopen, 1);
    assert_true(wait_for(&s->sessions, 2, 20000));
    usleep(500000);
    tt_hlc before = atomic_load(&s->last_ack_hlc);
    int n0 = atomic_load(&s->nbatches);
    assert_true(n0 > n_down);
    /* a round after the link came back: the drop report, after the ACK's HLC */
    assert_int_equal(agent_collect(a, t + 100, err, sizeof err), 0);
    assert_true(wait_for(&s->nbatches, n0 + 1, 5000));
    usleep(300000);
    agent_stop(a);
    atomic_store(&s->stop, 1);
    pthread_join(th, NULL);

    int n = atomic_load(&s->nbatches), drop = 0, self = 0, spool = 0;
    uint64_t next = 0;
    int first_own = 1, gaps = 0;
    for (int i = 0; i < n; i++) {
        struct got_batch *g = &s->b[i];
        assert_true(g->len <= MAX_BATCH);
        if (g->origin == 0x5150) {
            /* the spooled batches, unchanged, in order */
            assert_int_equal(g->first_seq, (uint64_t)spool);
            assert_memory_equal(g->bytes, spooled.data + (spool ? g->len : 0), g->len);
            spool++;
            continue;
        }
        assert_int_equal(g->origin, agent_origin_id(a));
        /* seqs contiguous, but for the batches the backlog dropped; a
         * reconnect may send a batch again (acked, ack not seen) */
        if (!first_own && g->first_seq != next) {
            assert_true(g->first_seq > next || g->first_seq + g->count <= next);
            gaps += g->first_seq > next;
        }
        first_own = 0;
        next = g->first_seq + g->count;
        drop += g->drop_event;
        self += g->self_metric;
        if (i >= n0)
            assert_true(g->hlc_min > before);
    }
    assert_int_equal(spool, 2);
    assert_int_equal(drop, 1);
    assert_int_equal(gaps, 1);
    assert_true(self > 0);
    /* a host round is cut into several batches of at most the limit */
    assert_true(n - n0 >= 2);
    /* the spool segment (its process gone) was deleted once acknowledged */
    struct stat st;
    assert_int_not_equal(stat(seg, &st), 0);
    for (int i = 0; i < n; i++)
        free(s->b[i].bytes);
    agent_free(a);
    if (s->lfd >= 0)
        close(s->lfd);
    pthread_mutex_destroy(&s->mu);
    free(s);
    wbuf_release(&spooled);
    rm_rf(root);
}

/* ---- a second scripted server: keepalive and NACK TOO_BIG ------------------ */

struct script {
    int lfd;
    atomic_int stop;
    atomic_int answer_ping; /* 1: PONG the agent's PINGs */
    size_t nack_over;       /* NACK TOO_BIG (retry 0) batches bigger than this; 0: never */
    atomic_int conns;       /* connections accepted */
    atomic_int pings;       /* PINGs received */
    atomic_int closed;      /* connections the agent closed */
    atomic_int nacks;       /* TOO_BIG sent */
    atomic_int acked;       /* batches ACKed */
    uint64_t first[64];     /* ACKed batches: first_seq, count, bytes */
    uint32_t count[64];
    size_t len[64];
    char names[64][512]; /* their event names, concatenated */
};

static void *script_main(void *arg)
{
    struct script *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd lp = { .fd = s->lfd, .events = POLLIN };
        if (poll(&lp, 1, 50) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->conns, 1);
        struct link_reader rd;
        struct wbuf out;
        char err[256];
        link_reader_init(&rd, 0);
        wbuf_init(&out, 0);
        while (!atomic_load(&s->stop)) {
            struct pollfd p = { .fd = fd, .events = POLLIN };
            if (poll(&p, 1, 50) <= 0)
                continue;
            uint8_t buf[65536];
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n <= 0) {
                atomic_fetch_add(&s->closed, 1);
                break;
            }
            if (link_reader_feed(&rd, buf, (size_t)n) < 0)
                break;
            struct link_frame f;
            while (link_reader_next(&rd, &f, err, sizeof err) == 1) {
                uint64_t now_ms = (uint64_t)(clock_realtime_ns() / TT_NS_PER_MS);
                if (f.type == LINK_HELLO) {
                    struct link_welcome w = { .version = LINK_VERSION,
                                              .hlc = hlc_pack(now_ms, 0),
                                              .physical_ms = now_ms,
                                              .max_batch_bytes = 1u << 20 };
                    link_put_welcome(&out, &w);
                } else if (f.type == LINK_PING) {
                    struct link_ping pg;
                    assert_int_equal(link_decode_ping(&f, &pg, err, sizeof err), 0);
                    atomic_fetch_add(&s->pings, 1);
                    if (atomic_load(&s->answer_ping)) {
                        struct link_pong po = { pg.physical_ms, hlc_pack(now_ms, 0), now_ms };
                        link_put_pong(&out, &po);
                    }
                } else if (f.type == LINK_BATCH) {
                    struct link_batch lb;
                    assert_int_equal(link_decode_batch(&f, &lb, err, sizeof err), 0);
                    if (s->nack_over && lb.batch_len > s->nack_over) {
                        struct link_nack k = { lb.seq, LINK_NACK_TOO_BIG, 0, 0, { "too big", 7 } };
                        link_put_nack(&out, &k);
                        atomic_fetch_add(&s->nacks, 1);
                    } else {
                        int i = atomic_load(&s->acked);
                        if (i < 64) {
                            s->first[i] = lb.hdr.first_seq;
                            s->count[i] = lb.hdr.count;
                            s->len[i] = lb.batch_len;
                            struct wbuf scratch;
                            const uint8_t *body;
                            size_t blen;
                            wbuf_init(&scratch, 0);
                            assert_int_equal(batch_open(lb.batch, &lb.hdr, &scratch, &body, &blen,
                                                        err, sizeof err),
                                             0);
                            struct rbuf r;
                            struct rec rec;
                            size_t used = 0;
                            rbuf_init(&r, body, blen);
                            while (rec_next(&r, body, &rec, err, sizeof err) == 1) {
                                struct rec_event e;
                                assert_int_equal(rec_decode_event(&rec, &e, err, sizeof err), 0);
                                used += (size_t)snprintf(s->names[i] + used, 512 - used, "%.*s,",
                                                         (int)e.name.len, e.name.p);
                            }
                            wbuf_release(&scratch);
                            atomic_store(&s->acked, i + 1);
                        }
                        struct link_ack k = { lb.seq, lb.hdr.origin_id,
                                              lb.hdr.first_seq + lb.hdr.count,
                                              hlc_pack(now_ms, 0) };
                        link_put_ack(&out, &k);
                    }
                }
                send_all(fd, &out);
            }
        }
        close(fd);
        link_reader_release(&rd);
        wbuf_release(&out);
    }
    return NULL;
}

static struct agent *script_agent(struct script *s, const char *root, const char *spdir,
                                  uint32_t io_ms, uint32_t idle_ms)
{
    char stdir[300], addr[64], err[512];
    uint16_t port;
    struct agent *a = NULL;
    s->lfd = listen_on(0, &port);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)port);
    snprintf(stdir, sizeof stdir, "%s/state", root);
    struct agent_config cfg = { .server = addr,
                                .node = "n2",
                                .state_dir = stdir,
                                .io_timeout_ms = io_ms,
                                .ping_idle_ms = idle_ms };
    if (spdir != NULL) {
        cfg.spool_dirs[0] = spdir;
        cfg.nspools = 1;
    }
    assert_int_equal(agent_new(&a, &cfg, err, sizeof err), 0);
    return a;
}

/* An idle link is kept alive by PINGs; a server that stops answering them
 * is left after io_timeout_ms and the agent reconnects. */
static void test_shipper_keepalive(void **state)
{
    (void)state;
    char root[256];
    pthread_t th;
    struct script *s = calloc(1, sizeof *s);
    assert_int_equal(tmpdir_make(root, sizeof root, "keepalive"), 0);
    s->answer_ping = 1;
    struct agent *a = script_agent(s, root, NULL, 600, 150);
    assert_int_equal(pthread_create(&th, NULL, script_main, s), 0);
    assert_int_equal(agent_start(a), 0);
    /* answered: several PINGs over 2 s, one connection all along */
    usleep(2000000);
    assert_true(atomic_load(&s->pings) >= 5);
    assert_int_equal(atomic_load(&s->conns), 1);
    assert_int_equal(atomic_load(&s->closed), 0);
    /* the server goes silent: the agent gives up on it and reconnects */
    atomic_store(&s->answer_ping, 0);
    assert_true(wait_for(&s->closed, 1, 5000));
    assert_true(wait_for(&s->conns, 2, 5000));
    agent_stop(a);
    atomic_store(&s->stop, 1);
    pthread_join(th, NULL);
    agent_free(a);
    close(s->lfd);
    free(s);
    rm_rf(root);
}

/* NACK TOO_BIG for a batch under the announced limit: the agent lowers its
 * limit, reconnects and sends the batch again in pieces that keep its seq
 * range, and the spool segment is acknowledged (and deleted) through them. */
static void test_shipper_nack_too_big(void **state)
{
    (void)state;
    char root[256], spdir[300], seg[600], msg[320];
    pthread_t th;
    struct script *s = calloc(1, sizeof *s);
    assert_int_equal(tmpdir_make(root, sizeof root, "toobig"), 0);
    snprintf(spdir, sizeof spdir, "%s/spool", root);
    assert_int_equal(mkdir(spdir, 0755), 0);
    /* one batch of 20 events with incompressible messages, of a dead process */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    struct wbuf raw, w;
    wbuf_init(&raw, 0);
    wbuf_init(&w, 0);
    uint64_t x = 99;
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "e%d", i);
        for (size_t k = 0; k + 1 < sizeof msg; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            msg[k] = (char)('a' + x % 26);
        }
        msg[sizeof msg - 1] = '\0';
        struct rec_event ev = { .severity = TT_SEV_INFO,
                                .name = { name, (uint32_t)strlen(name) },
                                .message = { msg, (uint32_t)strlen(msg) } };
        assert_int_equal(rec_put_event(&raw, 10 + (tt_hlc)i, 1000, &ev), 0);
    }
    char origin[64];
    int ol = snprintf(origin, sizeof origin, "n2%capp/%ld", 0, (long)child);
    struct batch_hdr h = { .count = 20,
                           .origin_id = 0x77,
                           .first_seq = 100,
                           .hlc_min = 10,
                           .hlc_max = 29,
                           .origin = origin,
                           .origin_len = (uint16_t)ol };
    assert_int_equal(batch_encode(&w, &h, raw.data, raw.len), 0);
    snprintf(seg, sizeof seg, "%s/%016llx-%016llx.tts", spdir, 0x77ull, 100ull);
    int fd = open(seg, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, w.data, w.len), (ssize_t)w.len);
    close(fd);
    assert_true(w.len > 6000);

    s->answer_ping = 1;
    s->nack_over = 4000;
    struct agent *a = script_agent(s, root, spdir, 0, 0);
    assert_int_equal(pthread_create(&th, NULL, script_main, s), 0);
    assert_int_equal(agent_start(a), 0);
    struct stat st;
    for (int i = 0; i < 500 && stat(seg, &st) == 0; i++)
        usleep(10000);
    assert_int_not_equal(stat(seg, &st), 0); /* acknowledged through the pieces */
    agent_stop(a);
    atomic_store(&s->stop, 1);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&s->nacks), 1);
    assert_int_equal(atomic_load(&s->conns), 2);
    /* the pieces: contiguous seqs 100..119, each under the limit, the
     * events once and in order */
    int n = atomic_load(&s->acked);
    assert_true(n >= 2);
    uint64_t next = 100;
    char all[2048] = "", want[2048] = "";
    size_t al = 0, wl = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(s->first[i], next);
        assert_true(s->len[i] <= 4000);
        next += s->count[i];
        al += (size_t)snprintf(all + al, sizeof all - al, "%s", s->names[i]);
    }
    assert_int_equal(next, 120);
    for (int i = 0; i < 20; i++)
        wl += (size_t)snprintf(want + wl, sizeof want - wl, "e%d,", i);
    assert_string_equal(all, want);
    agent_free(a);
    close(s->lfd);
    free(s);
    wbuf_release(&raw);
    wbuf_release(&w);
    rm_rf(root);
}

/* A batch of one record bigger than the limit cannot be cut: after the
 * NACK it is dropped (logged), once what was sent before it is
 * acknowledged, and the batch after it goes through. */
static void test_shipper_unsendable(void **state)
{
    (void)state;
    char root[256], spdir[300], seg[600], origin[64];
    static char msg[3000];
    pthread_t th;
    struct script *s = calloc(1, sizeof *s);
    assert_int_equal(tmpdir_make(root, sizeof root, "unsendable"), 0);
    snprintf(spdir, sizeof spdir, "%s/spool", root);
    assert_int_equal(mkdir(spdir, 0755), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    int ol = snprintf(origin, sizeof origin, "n2%capp/%ld", 0, (long)child);
    struct wbuf w;
    wbuf_init(&w, 0);
    uint64_t x = 7;
    for (int b = 0; b < 2; b++) {
        struct wbuf raw;
        size_t ml = b == 0 ? sizeof msg - 1 : 10;
        for (size_t k = 0; k < ml; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            msg[k] = (char)('a' + x % 26);
        }
        wbuf_init(&raw, 0);
        struct rec_event ev = { .severity = TT_SEV_INFO,
                                .name = { b == 0 ? "big" : "small", b == 0 ? 3u : 5u },
                                .message = { msg, (uint32_t)ml } };
        assert_int_equal(rec_put_event(&raw, 10, 1000, &ev), 0);
        struct batch_hdr h = { .count = 1,
                               .origin_id = 0x78,
                               .first_seq = (uint64_t)b,
                               .hlc_min = 10,
                               .hlc_max = 10,
                               .origin = origin,
                               .origin_len = (uint16_t)ol };
        assert_int_equal(batch_encode(&w, &h, raw.data, raw.len), 0);
        wbuf_release(&raw);
    }
    snprintf(seg, sizeof seg, "%s/%016llx-%016llx.tts", spdir, 0x78ull, 0ull);
    int fd = open(seg, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, w.data, w.len), (ssize_t)w.len);
    close(fd);

    s->answer_ping = 1;
    s->nack_over = 2000;
    struct agent *a = script_agent(s, root, spdir, 0, 0);
    assert_int_equal(pthread_create(&th, NULL, script_main, s), 0);
    assert_int_equal(agent_start(a), 0);
    struct stat st;
    for (int i = 0; i < 500 && stat(seg, &st) == 0; i++)
        usleep(10000);
    assert_int_not_equal(stat(seg, &st), 0);
    agent_stop(a);
    atomic_store(&s->stop, 1);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&s->nacks), 1);
    /* only the small batch got through (maybe twice: sent behind the big
     * one, its ACK unread when the agent reconnected; the server dedups) */
    int n = atomic_load(&s->acked);
    assert_true(n >= 1 && n <= 2);
    for (int i = 0; i < n; i++) {
        assert_int_equal(s->first[i], 1);
        assert_string_equal(s->names[i], "small,");
    }
    agent_free(a);
    close(s->lfd);
    free(s);
    wbuf_release(&w);
    rm_rf(root);
}

UNIT_TESTS(cmocka_unit_test(test_shipper_link), cmocka_unit_test(test_shipper_keepalive),
           cmocka_unit_test(test_shipper_nack_too_big), cmocka_unit_test(test_shipper_unsendable))
