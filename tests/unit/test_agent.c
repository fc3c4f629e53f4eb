/*
 * test_agent.c - the agent's batcher: a round of samples becomes one
 * self-contained core batch (series records with batch-local refs 1..n,
 * __name__ first, then one samples record), series deduplicated within the
 * round, header fields (origin, first_seq, count) right; bad input refused.
 * And the scrape schedule: a target with its own interval scraped only in
 * the rounds that start a slot of it, against a small HTTP server in a
 * thread of the test that counts the requests per path.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include "agent/agent.h"
#include "core/batch.h"
#include "core/compress.h"
#include "core/record.h"

/* label_at returns label i of a series record as "name=value". */
static void series_labels(const struct rec *r, uint64_t *ref, char *out, size_t n)
{
    struct rec_series s;
    struct rec_label l;
    char err[128];
    size_t used = 0;
    assert_int_equal(rec_decode_series(r, &s, err, sizeof err), 0);
    *ref = s.ref;
    out[0] = '\0';
    struct rec_list it = s.labels;
    while (rec_label_next(&it, &l) == 1) {
        int w = snprintf(out + used, n - used, "%s%.*s=%.*s", used ? "," : "", (int)l.name.len,
                         l.name.p, (int)l.value.len, l.value.p);
        assert_true(w > 0 && (size_t)w < n - used);
        used += (size_t)w;
    }
}

static void test_batcher_roundtrip(void **state)
{
    (void)state;
    struct agent_batcher b;
    struct wbuf out;
    struct agent_label l1[] = { { "cpu", "0" }, { "mode", "idle" } };
    struct agent_label l2[] = { { "cpu", "1" }, { "mode", "idle" } };
    agent_batcher_init(&b);
    wbuf_init(&out, 0);
    assert_int_equal(agent_batcher_count(&b), 0);
    assert_int_equal(agent_batcher_add(&b, "node_cpu_seconds_total", l1, 2, 1000, 1.5), 0);
    assert_int_equal(agent_batcher_add(&b, "node_cpu_seconds_total", l2, 2, 1000, 2.5), 0);
    assert_int_equal(agent_batcher_add(&b, "node_load1", NULL, 0, 1000, 0.25), 0);
    /* the same series again (a later sample): no new series record */
    assert_int_equal(agent_batcher_add(&b, "node_cpu_seconds_total", l1, 2, 2000, 3.5), 0);
    assert_int_equal(agent_batcher_count(&b), 4);
    assert_int_equal(agent_batcher_finish(&b, "n1", 0xabcdef, 100, 777, 1000000000, &out), 0);

    struct batch_hdr h;
    char err[256];
    assert_int_equal(batch_parse_header(out.data, out.len, &h, err, sizeof err), 0);
    assert_int_equal(batch_total_len(&h), out.len);
    assert_int_equal(h.origin_id, 0xabcdef);
    assert_int_equal(h.first_seq, 100);
    assert_int_equal(h.count, 4);
    assert_int_equal(h.origin_len, 8);
    assert_memory_equal(h.origin, "n1\0agent", 8);
    struct wbuf scratch;
    const uint8_t *body;
    size_t body_len;
    wbuf_init(&scratch, 0);
    assert_int_equal(batch_open(out.data, &h, &scratch, &body, &body_len, err, sizeof err), 0);

    struct rbuf r;
    struct rec rec;
    char labels[3][256];
    int nser = 0, nsamp = 0;
    rbuf_init(&r, body, body_len);
    while (rec_next(&r, body, &rec, err, sizeof err) == 1) {
        assert_int_equal(rec.hlc, 777);
        if (rec.type == REC_SERIES) {
            uint64_t ref;
            assert_true(nser < 3);
            assert_int_equal(nsamp, 0); /* series come before the samples */
            series_labels(&rec, &ref, labels[nser], sizeof labels[nser]);
            assert_int_equal(ref, (uint64_t)nser + 1);
            nser++;
            continue;
        }
        assert_int_equal(rec.type, REC_SAMPLES);
        struct rec_samples rs;
        struct rec_sample_iter it;
        struct rec_sample s;
        static const struct rec_sample want[] = {
            { 1, 1000, 1.5 }, { 2, 1000, 2.5 }, { 3, 1000, 0.25 }, { 1, 2000, 3.5 }
        };
        assert_int_equal(rec_decode_samples(&rec, &rs, err, sizeof err), 0);
        rec_sample_iter_init(&it, &rs);
        while (rec_sample_next(&it, &s) == 1) {
            assert_true(nsamp < 4);
            assert_int_equal(s.ref, want[nsamp].ref);
            assert_int_equal(s.t_ms, want[nsamp].t_ms);
            assert_true(s.v == want[nsamp].v);
            nsamp++;
        }
    }
    assert_int_equal(nser, 3);
    assert_int_equal(nsamp, 4);
    assert_string_equal(labels[0], "__name__=node_cpu_seconds_total,cpu=0,mode=idle");
    assert_string_equal(labels[1], "__name__=node_cpu_seconds_total,cpu=1,mode=idle");
    assert_string_equal(labels[2], "__name__=node_load1");

    /* reset: a new round starts with refs from 1 */
    agent_batcher_reset(&b);
    assert_int_equal(agent_batcher_count(&b), 0);
    assert_int_equal(agent_batcher_add(&b, "x", NULL, 0, 5, 1), 0);
    assert_int_equal(agent_batcher_count(&b), 2);
    wbuf_release(&scratch);
    wbuf_release(&out);
    agent_batcher_release(&b);
}

/* Events: after the samples, each with its own HLC and time; the header's
 * HLC range covers them; a batch of events alone is fine. */
static void test_batcher_events(void **state)
{
    (void)state;
    struct agent_batcher b;
    struct wbuf out, scratch;
    struct agent_label attrs[] = { { "path", "/etc/app.json" }, { "old", "ab12" } };
    struct agent_event ev = { .severity = TT_SEV_WARNING,
                              .component = "file",
                              .name = "telltale.file.changed",
                              .message = "changed",
                              .attrs = attrs,
                              .nattrs = 2,
                              .t_ms = 1500 };
    char err[256];
    agent_batcher_init(&b);
    wbuf_init(&out, 0);
    wbuf_init(&scratch, 0);
    assert_int_equal(agent_batcher_add(&b, "up", NULL, 0, 1000, 1), 0);
    assert_int_equal(agent_batcher_add_event(&b, &ev, 500), 0);
    assert_int_equal(agent_batcher_count(&b), 3);
    assert_int_equal(agent_batcher_finish(&b, "n1", 7, 10, 900, 1000000000, &out), 0);
    struct batch_hdr h;
    assert_int_equal(batch_parse_header(out.data, out.len, &h, err, sizeof err), 0);
    assert_int_equal(h.count, 3);
    assert_int_equal(h.hlc_min, 500);
    assert_int_equal(h.hlc_max, 900);
    const uint8_t *body;
    size_t body_len;
    assert_int_equal(batch_open(out.data, &h, &scratch, &body, &body_len, err, sizeof err), 0);
    struct rbuf r;
    struct rec rec;
    int types[4], n = 0;
    rbuf_init(&r, body, body_len);
    while (rec_next(&r, body, &rec, err, sizeof err) == 1) {
        assert_true(n < 4);
        types[n++] = rec.type;
        if (rec.type != REC_EVENT)
            continue;
        struct rec_event e;
        struct rec_str k;
        struct rec_value v;
        assert_int_equal(rec.hlc, 500);
        assert_int_equal(rec.time_ns, 1500000000);
        assert_int_equal(rec_decode_event(&rec, &e, err, sizeof err), 0);
        assert_int_equal(e.severity, TT_SEV_WARNING);
        assert_int_equal(e.name.len, strlen("telltale.file.changed"));
        assert_memory_equal(e.name.p, "telltale.file.changed", e.name.len);
        assert_memory_equal(e.component.p, "file", 4);
        assert_int_equal(e.attrs.count, 2);
        struct rec_list it = e.attrs;
        assert_int_equal(rec_kv_next(&it, &k, &v), 1);
        assert_memory_equal(k.p, "path", 4);
        assert_int_equal(v.type, TT_VAL_STR);
        assert_memory_equal(v.u.s.p, "/etc/app.json", 13);
    }
    assert_int_equal(n, 3);
    assert_int_equal(types[0], REC_SERIES);
    assert_int_equal(types[1], REC_SAMPLES);
    assert_int_equal(types[2], REC_EVENT);

    /* events alone */
    agent_batcher_reset(&b);
    wbuf_reset(&out);
    assert_int_equal(agent_batcher_add_event(&b, &ev, 42), 0);
    assert_int_equal(agent_batcher_count(&b), 1);
    assert_int_equal(agent_batcher_finish(&b, "n1", 7, 13, 900, 1000000000, &out), 0);
    assert_int_equal(batch_parse_header(out.data, out.len, &h, err, sizeof err), 0);
    assert_int_equal(h.count, 1);
    assert_int_equal(h.hlc_min, 42);
    assert_int_equal(h.hlc_max, 42);

    /* bad events */
    struct agent_event noname = ev;
    noname.name = "";
    assert_int_equal(agent_batcher_add_event(&b, &noname, 1), TT_EINVAL);
    struct agent_label bad[] = { { "k", NULL } };
    struct agent_event badattr = ev;
    badattr.attrs = bad;
    badattr.nattrs = 1;
    assert_int_equal(agent_batcher_add_event(&b, &badattr, 1), TT_EINVAL);
    assert_int_equal(agent_batcher_count(&b), 1);
    wbuf_release(&scratch);
    wbuf_release(&out);
    agent_batcher_release(&b);
}

/* Many series: the dedup table grows (and the refs stay right). */
static void test_batcher_many_series(void **state)
{
    (void)state;
    struct agent_batcher b;
    struct wbuf out;
    char v[32];
    agent_batcher_init(&b);
    wbuf_init(&out, 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5000; i++) {
            snprintf(v, sizeof v, "%d", i);
            struct agent_label l = { "i", v };
            assert_int_equal(agent_batcher_add(&b, "m", &l, 1, 1000 + round, i), 0);
        }
    }
    assert_int_equal(agent_batcher_count(&b), 5001);
    assert_int_equal(agent_batcher_finish(&b, "n", 1, 0, 1, 0, &out), 0);
    struct batch_hdr h;
    struct wbuf scratch;
    const uint8_t *body;
    size_t body_len;
    char err[256];
    wbuf_init(&scratch, 0);
    assert_int_equal(batch_parse_header(out.data, out.len, &h, err, sizeof err), 0);
    assert_int_equal(batch_open(out.data, &h, &scratch, &body, &body_len, err, sizeof err), 0);
    struct rbuf r;
    struct rec rec;
    uint64_t nser = 0;
    rbuf_init(&r, body, body_len);
    while (rec_next(&r, body, &rec, err, sizeof err) == 1) {
        if (rec.type != REC_SERIES) {
            struct rec_samples rs;
            struct rec_sample_iter it;
            struct rec_sample s;
            int n = 0;
            assert_int_equal(rec_decode_samples(&rec, &rs, err, sizeof err), 0);
            rec_sample_iter_init(&it, &rs);
            while (rec_sample_next(&it, &s) == 1) {
                assert_int_equal(s.ref, (uint64_t)(n % 5000) + 1);
                assert_true(s.v == (double)(n % 5000));
                n++;
            }
            assert_int_equal(n, 10000);
            continue;
        }
        uint64_t ref;
        char lab[64], want[64];
        series_labels(&rec, &ref, lab, sizeof lab);
        assert_int_equal(ref, nser + 1);
        snprintf(want, sizeof want, "__name__=m,i=%llu", (unsigned long long)nser);
        assert_string_equal(lab, want);
        nser++;
    }
    assert_int_equal(nser, 5000);
    wbuf_release(&scratch);
    wbuf_release(&out);
    agent_batcher_release(&b);
}

static void test_batcher_bad_input(void **state)
{
    (void)state;
    struct agent_batcher b;
    struct wbuf out;
    struct agent_label bad[] = { { "", "x" } };
    struct agent_label nullv[] = { { "a", NULL } };
    agent_batcher_init(&b);
    wbuf_init(&out, 0);
    assert_int_equal(agent_batcher_add(&b, "", NULL, 0, 1, 1), TT_EINVAL);
    assert_int_equal(agent_batcher_add(&b, NULL, NULL, 0, 1, 1), TT_EINVAL);
    assert_int_equal(agent_batcher_add(&b, "m", bad, 1, 1, 1), TT_EINVAL);
    assert_int_equal(agent_batcher_add(&b, "m", nullv, 1, 1, 1), TT_EINVAL);
    /* nothing added: no batch */
    assert_int_equal(agent_batcher_finish(&b, "n", 1, 0, 1, 0, &out), TT_EINVAL);
    assert_int_equal(out.len, 0);
    /* a node name too long for the batch origin */
    char *node = malloc(BATCH_ORIGIN_MAX + 1);
    assert_non_null(node);
    memset(node, 'a', BATCH_ORIGIN_MAX);
    node[BATCH_ORIGIN_MAX] = '\0';
    assert_int_equal(agent_batcher_add(&b, "m", NULL, 0, 1, 1), 0);
    assert_int_equal(agent_batcher_finish(&b, node, 1, 0, 1, 0, &out), TT_EINVAL);
    assert_int_equal(out.len, 0);
    free(node);
    wbuf_release(&out);
    agent_batcher_release(&b);
}

/* check_self_contained walks one batch: every sample's ref is declared by a
 * series record earlier in the same batch. Adds the samples' values to
 * *vsum, counts samples and events, returns the header. */
static struct batch_hdr check_self_contained(const uint8_t *p, size_t len, uint64_t *nsamples,
                                             uint64_t *nevents, double *vsum)
{
    struct batch_hdr h;
    struct wbuf scratch;
    const uint8_t *body;
    size_t body_len;
    char err[256];
    uint8_t declared[4096];
    uint32_t nrec = 0;
    memset(declared, 0, sizeof declared);
    wbuf_init(&scratch, 0);
    assert_int_equal(batch_parse_header(p, len, &h, err, sizeof err), 0);
    assert_int_equal(batch_total_len(&h), len);
    assert_int_equal(batch_open(p, &h, &scratch, &body, &body_len, err, sizeof err), 0);
    struct rbuf r;
    struct rec rec;
    rbuf_init(&r, body, body_len);
    while (rec_next(&r, body, &rec, err, sizeof err) == 1) {
        nrec++;
        if (rec.type == REC_SERIES) {
            struct rec_series se;
            assert_int_equal(rec_decode_series(&rec, &se, err, sizeof err), 0);
            assert_true(se.ref < sizeof declared);
            declared[se.ref] = 1;
        } else if (rec.type == REC_SAMPLES) {
            struct rec_samples rs;
            struct rec_sample_iter it;
            struct rec_sample x;
            assert_int_equal(rec_decode_samples(&rec, &rs, err, sizeof err), 0);
            rec_sample_iter_init(&it, &rs);
            while (rec_sample_next(&it, &x) == 1) {
                assert_true(x.ref < sizeof declared && declared[x.ref]);
                *vsum += x.v;
                (*nsamples)++;
            }
        } else {
            assert_int_equal(rec.type, REC_EVENT);
            (*nevents)++;
        }
    }
    assert_int_equal(nrec, h.count);
    wbuf_release(&scratch);
    return h;
}

/* A round over the limit is cut into parts that each fit, are
 * self-contained, have contiguous seqs, and hold every sample once. */
static void test_batcher_split(void **state)
{
    (void)state;
    struct agent_batcher b;
    struct wbuf out;
    char v[32], big[200];
    double want = 0;
    agent_batcher_init(&b);
    wbuf_init(&out, 0);
    big[sizeof big - 1] = '\0';
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 3000; i++) {
        snprintf(v, sizeof v, "%d", i % 1000);
        /* a pad that zstd cannot squeeze, the same for the same series */
        uint64_t y = x + (uint64_t)(i % 1000) * 0x9e3779b97f4a7c15ull;
        for (size_t k = 0; k + 1 < sizeof big; k++) {
            y ^= y << 13;
            y ^= y >> 7;
            y ^= y << 17;
            big[k] = (char)('a' + y % 26);
        }
        struct agent_label l[] = { { "i", v }, { "pad", big } };
        assert_int_equal(agent_batcher_add(&b, "m", l, 2, 1000 + i, i), 0);
        want += i;
    }
    struct agent_label at[] = { { "k", "v" } };
    struct agent_event ev = { .name = "e", .attrs = at, .nattrs = 1, .t_ms = 5 };
    assert_int_equal(agent_batcher_add_event(&b, &ev, 42), 0);
    assert_int_equal(agent_batcher_add_event(&b, &ev, 43), 0);

    /* the whole round fits a big limit: one part, the same as finish */
    struct agent_batch_part *parts = NULL;
    size_t nparts = 0;
    assert_int_equal(agent_batcher_split(&b, "n", 7, 0, 64u << 20, &parts, &nparts), 0);
    assert_int_equal(nparts, 1);
    assert_int_equal(parts[0].count, agent_batcher_count(&b));
    free(parts);

    const size_t limit = 8192;
    assert_int_equal(agent_batcher_split(&b, "n", 7, 0, limit, &parts, &nparts), 0);
    assert_true(nparts > 20);
    uint64_t seq = 500, nsamples = 0, nevents = 0;
    double sum = 0;
    for (size_t i = 0; i < nparts; i++) {
        wbuf_reset(&out);
        uint32_t count = 0;
        assert_int_equal(agent_batcher_finish_part(&b, &parts[i], "n", 9, seq, 7, 0, &out, &count),
                         0);
        assert_int_equal(count, parts[i].count);
        assert_true(out.len <= limit);
        uint64_t ev_before = nevents;
        struct batch_hdr h = check_self_contained(out.data, out.len, &nsamples, &nevents, &sum);
        assert_int_equal(h.first_seq, seq);
        assert_int_equal(h.count, count);
        assert_int_equal(h.origin_id, 9);
        /* the events travel with the last part only */
        assert_int_equal(nevents - ev_before, i + 1 == nparts ? 2 : 0);
        seq += count;
    }
    assert_int_equal(nsamples, 3000);
    assert_int_equal(nevents, 2);
    assert_true(sum == want);
    free(parts);

    /* one sample whose series alone is over the limit cannot be cut */
    assert_int_equal(agent_batcher_split(&b, "n", 7, 0, 300, &parts, &nparts), TT_ETOOBIG);
    assert_null(parts);
    /* a bad part is refused */
    struct agent_batch_part bad = { 10, 5, 0, 0 };
    assert_int_equal(agent_batcher_finish_part(&b, &bad, "n", 9, 0, 7, 0, &out, NULL), TT_EINVAL);
    wbuf_release(&out);
    agent_batcher_release(&b);
}

/* ---- the scrape schedule ----------------------------------------------------- */

/* A one-thread HTTP server: "/a" and "/b" serve one sample and count their
 * requests; anything else is a 404. */
struct counting_srv {
    int fd, port;
    pthread_t thr;
    atomic_int stop, na, nb;
};

static void *counting_main(void *arg)
{
    struct counting_srv *s = arg;
    while (!atomic_load(&s->stop)) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        char req[2048];
        size_t n = 0;
        while (n < sizeof req - 1) {
            ssize_t r = recv(c, req + n, sizeof req - 1 - n, 0);
            if (r <= 0)
                break;
            n += (size_t)r;
            req[n] = '\0';
            if (strstr(req, "\r\n\r\n") != NULL)
                break;
        }
        req[n] = '\0';
        const char *body = "not found\n", *status = "404 Not Found";
        if (strncmp(req, "GET /a ", 7) == 0 || strncmp(req, "GET /b ", 7) == 0) {
            atomic_fetch_add(req[5] == 'a' ? &s->na : &s->nb, 1);
            body = "m 1\n";
            status = "200 OK";
        }
        char resp[256];
        int k = snprintf(resp, sizeof resp,
                         "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         status, strlen(body), body);
        (void)send(c, resp, (size_t)k, MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

static struct counting_srv *counting_start(void)
{
    struct counting_srv *s = calloc(1, sizeof *s);
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    assert_non_null(s);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thr, NULL, counting_main, s), 0);
    return s;
}

static void counting_stop(struct counting_srv *s)
{
    struct sockaddr_in a;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    atomic_store(&s->stop, 1);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)s->port);
    (void)connect(c, (struct sockaddr *)&a, sizeof a);
    close(c);
    pthread_join(s->thr, NULL);
    close(s->fd);
    free(s);
}

/* schedule: with a 1 s collection interval, a target with interval=2s is
 * scraped in every other round (the rounds at even seconds, after the
 * first round), one without an interval in every round; a round woken a
 * little early or late counts at its nominal time. */
static void test_scrape_interval(void **state)
{
    char dir[64], stdir[128], a_spec[128], b_spec[128], err[512] = "";
    struct agent *a = NULL;
    (void)state;
    struct counting_srv *srv = counting_start();
    assert_int_equal(tmpdir_make(dir, sizeof dir, "agentscrape"), 0);
    snprintf(stdir, sizeof stdir, "%s/state", dir);
    snprintf(a_spec, sizeof a_spec, "every=http://127.0.0.1:%d/a", srv->port);
    snprintf(b_spec, sizeof b_spec, "half=http://127.0.0.1:%d/b interval=2s timeout=1s env=t",
             srv->port);
    struct agent_config cfg = { .server = "127.0.0.1:1",
                                .node = "n1",
                                .state_dir = stdir,
                                .interval_ms = 1000,
                                .nscrapes = 2 };
    cfg.scrape_urls[0] = a_spec;
    cfg.scrape_urls[1] = b_spec;
    assert_int_equal(agent_new(&a, &cfg, err, sizeof err), 0);
    /* rounds at 1000 s + k s, woken up to 30 ms off the second */
    static const int jitter_ms[] = { 3, 2, -30, 30, 0, 1, -1, 12 };
    static const int want_b[] = { 1, 1, 2, 2, 3, 3, 4, 4 };
    for (int k = 0; k < 8; k++) {
        int64_t now = INT64_C(1000000) + k * 1000 + jitter_ms[k];
        assert_int_equal(agent_collect(a, now, err, sizeof err), 0);
        assert_int_equal(atomic_load(&srv->na), k + 1);
        if (atomic_load(&srv->nb) != want_b[k])
            fprintf(stderr, "round %d: /b scraped %d times, want %d\n", k, atomic_load(&srv->nb),
                    want_b[k]);
        assert_int_equal(atomic_load(&srv->nb), want_b[k]);
    }
    /* a first round off the slot's start scrapes at once, the next at the next slot */
    agent_free(a);
    a = NULL;
    assert_int_equal(agent_new(&a, &cfg, err, sizeof err), 0);
    atomic_store(&srv->nb, 0);
    atomic_store(&srv->na, 0);
    for (int k = 0; k < 4; k++)
        assert_int_equal(agent_collect(a, INT64_C(2001000) + k * 1000, err, sizeof err), 0);
    assert_int_equal(atomic_load(&srv->na), 4);
    assert_int_equal(atomic_load(&srv->nb), 3); /* 2001 s, 2002 s, 2004 s */
    agent_free(a);
    a = NULL;

    /* the collection interval bounds the target's interval and timeout */
    cfg.nscrapes = 1;
    cfg.scrape_urls[0] = "http://127.0.0.1:9/m interval=500ms";
    assert_int_equal(agent_new(&a, &cfg, err, sizeof err), TT_EINVAL);
    assert_null(a);
    assert_non_null(strstr(err, "scrape 'http://127.0.0.1:9/m interval=500ms': interval 500ms is "
                                "shorter than the agent's collection interval 1s"));
    cfg.scrape_urls[0] = "http://127.0.0.1:9/m timeout=2s";
    assert_int_equal(agent_new(&a, &cfg, err, sizeof err), TT_EINVAL);
    assert_non_null(strstr(err, "timeout 2s is longer than the target's interval 1s"));
    cfg.interval_ms = 0; /* the default, 10 s */
    assert_int_equal(agent_new(&a, &cfg, err, sizeof err), 0);
    agent_free(a);
    counting_stop(srv);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_batcher_roundtrip), cmocka_unit_test(test_batcher_events),
           cmocka_unit_test(test_batcher_many_series), cmocka_unit_test(test_batcher_bad_input),
           cmocka_unit_test(test_batcher_split), cmocka_unit_test(test_scrape_interval))
