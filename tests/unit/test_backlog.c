/* test_backlog.c - the agent's on-disk backlog (src/agent/backlog.c): append,
 * cursor, ack and restart round trips, several origins, the byte limit with
 * drop counts, torn tails, corrupt batches, a bad state file, and kill -9
 * during appends and acks. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include "agent/backlog.h"
#include "core/batch.h"
#include "core/buf.h"
#include "core/clock.h"

/* ---- fixtures ----------------------------------------------------------------------- */

/* make_batch encodes a batch of origin/first_seq/count whose body is filler
 * of pad bytes per record (the backlog never decodes records). */
static void make_batch(struct wbuf *out, uint64_t origin, uint64_t first_seq, uint32_t count,
                       size_t pad)
{
    static const char origin_name[] = "node\0proc";
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.compression = BATCH_COMP_NONE;
    h.count = count;
    h.origin_id = origin;
    h.first_seq = first_seq;
    h.hlc_min = h.hlc_max = (uint64_t)1700000000000 << 16;
    h.origin = origin_name;
    h.origin_len = sizeof origin_name - 1;
    size_t blen = (size_t)count * pad;
    uint8_t *body = malloc(blen ? blen : 1);
    assert_non_null(body);
    for (size_t i = 0; i < blen; i++)
        body[i] = (uint8_t)(first_seq + i);
    wbuf_reset(out);
    assert_int_equal(batch_encode(out, &h, body, blen), 0);
    free(body);
}

struct probs {
    struct backlog_problem p[16];
    size_t n;
};

static void on_problem(void *arg, const struct backlog_problem *p)
{
    struct probs *ps = arg;
    if (ps->n < 16)
        ps->p[ps->n] = *p;
    ps->n++;
}

static void init_opts(struct backlog_options *o, struct probs *ps)
{
    backlog_options_default(o);
    o->ack_interval_ms = 0;
    o->problem = on_problem;
    o->problem_arg = ps;
}

static struct backlog *open_bl(const char *dir, const struct backlog_options *o)
{
    struct backlog *b = NULL;
    char err[256] = "";
    int rc = backlog_open(&b, dir, o, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "backlog_open: %s\n", err);
    assert_int_equal(rc, 0);
    return b;
}

static void append(struct backlog *b, uint64_t origin, uint64_t seq, uint32_t count, size_t pad,
                   struct backlog_pos *pos)
{
    struct wbuf w;
    char err[256] = "";
    wbuf_init(&w, 0);
    make_batch(&w, origin, seq, count, pad);
    int rc = backlog_append(b, w.data, w.len, pos, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "backlog_append: %s\n", err);
    assert_int_equal(rc, 0);
    wbuf_release(&w);
}

/* next_hdr: the next batch's header (1) or 0 at the end. */
static int next_hdr(struct backlog *b, struct batch_hdr *h, struct backlog_pos *pos)
{
    const uint8_t *p;
    size_t len;
    int rc = backlog_next(b, &p, &len, pos, NULL, 0);
    assert_true(rc == 0 || rc == 1);
    if (rc == 1) {
        assert_int_equal(batch_parse_header(p, len, h, NULL, 0), 0);
        assert_int_equal(batch_total_len(h), len);
        assert_int_equal(batch_check_body(p, h, NULL, 0), 0);
    }
    return rc;
}

static void seg_file(const char *dir, uint64_t num, char *out, size_t len)
{
    snprintf(out, len, "%s/backlog/%016" PRIx64 ".seg", dir, num);
}

static long file_len(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
    (void)state;
    char dir[64];
    struct probs ps = { .n = 0 };
    struct backlog_options o;
    struct batch_hdr h;
    struct wbuf w;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "backlog"), 0);
    init_opts(&o, &ps);
    struct backlog *b = open_bl(dir, &o);
    for (uint64_t i = 0; i < 10; i++)
        append(b, 7, i * 5, 5, 30, NULL);
    /* every batch back, byte for byte, in order */
    wbuf_init(&w, 0);
    for (uint64_t i = 0; i < 10; i++) {
        const uint8_t *p;
        size_t len;
        assert_int_equal(backlog_next(b, &p, &len, NULL, NULL, 0), 1);
        make_batch(&w, 7, i * 5, 5, 30);
        assert_int_equal(len, w.len);
        assert_memory_equal(p, w.data, len);
    }
    wbuf_release(&w);
    assert_int_equal(next_hdr(b, &h, NULL), 0);
    assert_int_equal(backlog_ack(b, 7, 24, NULL, 0), 0); /* batches 0..4 done */
    uint64_t seq;
    assert_int_equal(backlog_acked(b, 7, &seq), 1);
    assert_int_equal(seq, 24);
    assert_int_equal(backlog_acked(b, 8, &seq), 0);
    backlog_rewind(b);
    assert_int_equal(next_hdr(b, &h, NULL), 1);
    assert_int_equal(h.first_seq, 25);
    assert_int_equal(backlog_close(b), 0);

    /* after a restart the cursor starts at the oldest unacknowledged batch */
    b = open_bl(dir, &o);
    assert_int_equal(backlog_acked(b, 7, &seq), 1);
    assert_int_equal(seq, 24);
    struct backlog_stats st;
    backlog_get_stats(b, &st);
    assert_int_equal(st.unacked_at_open, 5);
    assert_int_equal(st.segments, 1);
    assert_true(st.oldest_ns > 0);
    for (uint64_t i = 5; i < 10; i++) {
        assert_int_equal(next_hdr(b, &h, NULL), 1);
        assert_int_equal(h.first_seq, i * 5);
    }
    assert_int_equal(next_hdr(b, &h, NULL), 0);
    /* an older ack changes nothing; everything acked empties the backlog's
     * closed segments */
    assert_int_equal(backlog_ack(b, 7, 3, NULL, 0), 0);
    assert_int_equal(backlog_acked(b, 7, &seq), 1);
    assert_int_equal(seq, 24);
    assert_int_equal(backlog_ack(b, 7, 49, NULL, 0), 0);
    backlog_get_stats(b, &st);
    assert_int_equal(st.segments, 0); /* found at open, closed: deleted */
    assert_int_equal(st.oldest_ns, 0);
    assert_int_equal(backlog_close(b), 0);
    assert_int_equal(ps.n, 0);
    rm_rf(dir);
}

static void test_ack_interleaved(void **state)
{
    (void)state;
    char dir[64];
    struct probs ps = { .n = 0 };
    struct backlog_options o;
    struct batch_hdr h;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "backlog"), 0);
    init_opts(&o, &ps);
    o.segment_bytes = 4096;
    struct backlog *b = open_bl(dir, &o);
    /* origins 1, 2, 3 interleaved, ~500-byte batches: several segments */
    for (uint64_t i = 0; i < 60; i++)
        append(b, 1 + i % 3, (i / 3) * 10, 10, 40, NULL);
    struct backlog_stats st;
    backlog_get_stats(b, &st);
    uint64_t segs = st.segments;
    assert_true(segs >= 5);
    /* acking one origin entirely deletes nothing: the others are in every segment */
    assert_int_equal(backlog_ack(b, 1, 1000, NULL, 0), 0);
    backlog_get_stats(b, &st);
    assert_int_equal(st.segments, segs);
    /* the cursor skips origin 1 */
    size_t n = 0;
    while (next_hdr(b, &h, NULL) == 1) {
        assert_int_not_equal(h.origin_id, 1);
        n++;
    }
    assert_int_equal(n, 40);
    /* origin 2 fully, origin 3 up to batch 9 (seq 99): the segments holding
     * only batches 0..9 of each are done */
    assert_int_equal(backlog_ack(b, 2, 199, NULL, 0), 0);
    assert_int_equal(backlog_ack(b, 3, 99, NULL, 0), 0);
    backlog_get_stats(b, &st);
    assert_true(st.segments < segs);
    assert_true(st.segments >= 2);
    backlog_rewind(b);
    n = 0;
    while (next_hdr(b, &h, NULL) == 1) {
        assert_int_equal(h.origin_id, 3);
        assert_int_equal(h.first_seq, 100 + n * 10);
        n++;
    }
    assert_int_equal(n, 10);
    assert_int_equal(backlog_close(b), 0);
    /* the same after a restart */
    b = open_bl(dir, &o);
    n = 0;
    while (next_hdr(b, &h, NULL) == 1) {
        assert_int_equal(h.origin_id, 3);
        assert_int_equal(h.first_seq, 100 + n * 10);
        n++;
    }
    assert_int_equal(n, 10);
    assert_int_equal(backlog_close(b), 0);
    assert_int_equal(ps.n, 0);
    rm_rf(dir);
}

static void test_limit_drop_oldest(void **state)
{
    (void)state;
    char dir[64];
    struct probs ps = { .n = 0 };
    struct backlog_options o;
    struct batch_hdr h;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "backlog"), 0);
    init_opts(&o, &ps);
    o.segment_bytes = 4096;
    o.limit_bytes = 3 * 4096;
    struct backlog *b = open_bl(dir, &o);
    /* batches of 8 records x 30 bytes + 73 bytes of frame = 313 bytes */
    uint64_t appended[3] = { 0, 0, 0 };
    for (uint64_t i = 0; i < 300; i++) {
        uint64_t origin = 1 + i % 2;
        append(b, origin, appended[origin] * 8, 8, 30, NULL);
        appended[origin]++;
        struct backlog_stats st;
        backlog_get_stats(b, &st);
        assert_true(st.bytes <= o.limit_bytes);
    }
    /* origin 1's first 5 batches were acknowledged before the drops: they
     * are not lost data */
    assert_int_equal(backlog_close(b), 0);
    rm_rf(dir);

    assert_int_equal(tmpdir_make(dir, sizeof dir, "backlog"), 0);
    b = open_bl(dir, &o);
    appended[1] = appended[2] = 0;
    for (uint64_t i = 0; i < 300; i++) {
        uint64_t origin = 1 + i % 2;
        append(b, origin, appended[origin] * 8, 8, 30, NULL);
        appended[origin]++;
        if (i == 9)
            assert_int_equal(backlog_ack(b, 1, 4 * 8 + 7, NULL, 0), 0);
    }
    /* count what is left per origin */
    uint64_t left[3] = { 0, 0, 0 }, first[3] = { UINT64_MAX, UINT64_MAX, UINT64_MAX };
    uint64_t prev_seq[3] = { 0, 0, 0 };
    while (next_hdr(b, &h, NULL) == 1) {
        assert_true(h.origin_id == 1 || h.origin_id == 2);
        if (left[h.origin_id] > 0)
            assert_int_equal(h.first_seq, prev_seq[h.origin_id] + 8); /* no gap inside */
        if (first[h.origin_id] == UINT64_MAX)
            first[h.origin_id] = h.first_seq;
        prev_seq[h.origin_id] = h.first_seq;
        left[h.origin_id]++;
    }
    /* only the newest survive: the last batch of each origin is there */
    assert_int_equal(prev_seq[1], (appended[1] - 1) * 8);
    assert_int_equal(prev_seq[2], (appended[2] - 1) * 8);
    struct backlog_stats st;
    backlog_get_stats(b, &st);
    assert_true(st.dropped_segments > 0);
    struct backlog_drop *d;
    size_t nd;
    assert_int_equal(backlog_take_drops(b, &d, &nd), 0);
    assert_int_equal(nd, 2);
    uint64_t total = 0;
    for (size_t i = 0; i < nd; i++) {
        uint64_t org = d[i].origin_id;
        assert_true(org == 1 || org == 2);
        /* dropped = appended - left - acknowledged (5 of origin 1) */
        uint64_t want = appended[org] - left[org] - (org == 1 ? 5 : 0);
        assert_int_equal(d[i].batches, want);
        assert_int_equal(d[i].records, want * 8);
        /* what they covered: the oldest undone seqs, up to the first kept */
        assert_true(d[i].bytes > want * 60);
        assert_int_equal(d[i].first_seq, org == 1 ? 5 * 8 : 0);
        assert_int_equal(d[i].last_seq, first[org] - 1);
        assert_true(d[i].hlc_min > 0 && d[i].hlc_min <= d[i].hlc_max);
        total += d[i].batches;
    }
    assert_int_equal(st.dropped_batches, total);
    free(d);
    /* taken: reset */
    assert_int_equal(backlog_take_drops(b, &d, &nd), 0);
    assert_int_equal(nd, 0);
    assert_null(d);

    /* drop counts not yet taken survive a restart */
    for (uint64_t i = 0; i < 40; i++) {
        append(b, 2, appended[2] * 8, 8, 30, NULL);
        appended[2]++;
    }
    backlog_get_stats(b, &st);
    uint64_t dropped_now = st.dropped_batches - total;
    assert_true(dropped_now > 0);
    assert_int_equal(backlog_close(b), 0);
    b = open_bl(dir, &o);
    assert_int_equal(backlog_take_drops(b, &d, &nd), 0);
    uint64_t sum = 0;
    for (size_t i = 0; i < nd; i++) {
        sum += d[i].batches;
        /* the range survives the restart too (state file version 2) */
        assert_true(d[i].bytes > 0 && d[i].first_seq <= d[i].last_seq);
    }
    assert_int_equal(sum, dropped_now);
    free(d);
    assert_int_equal(backlog_close(b), 0);
    /* the reset was persisted at close */
    b = open_bl(dir, &o);
    assert_int_equal(backlog_take_drops(b, &d, &nd), 0);
    assert_int_equal(nd, 0);
    assert_int_equal(backlog_close(b), 0);

    /* a batch over the limit is refused */
    b = open_bl(dir, &o);
    struct wbuf w;
    wbuf_init(&w, 0);
    make_batch(&w, 1, 0, 100, 200);
    assert_int_equal(backlog_append(b, w.data, w.len, NULL, NULL, 0), TT_ETOOBIG);
    /* and garbage too */
    make_batch(&w, 1, 0, 1, 30);
    assert_int_equal(backlog_append(b, w.data, w.len - 1, NULL, NULL, 0), TT_EINVAL);
    w.data[w.len - 10] ^= 1;
    assert_int_equal(backlog_append(b, w.data, w.len, NULL, NULL, 0), TT_ECORRUPT);
    wbuf_release(&w);
    assert_int_equal(backlog_close(b), 0);
    assert_int_equal(ps.n, 0);
    rm_rf(dir);
}

static void test_torn_tail_cut(void **state)
{
    (void)state;
    char dir[64], path[256];
    struct probs ps = { .n = 0 };
    struct backlog_options o;
    struct batch_hdr h;
    struct backlog_pos pos[3];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "backlog"), 0);
    init_opts(&o, &ps);
    struct backlog *b = open_bl(dir, &o);
    for (uint64_t i = 0; i < 3; i++)
        append(b, 1, i * 4, 4, 50, &pos[i]);
    assert_int_equal(backlog_close(b), 0);
    seg_file(dir, pos[2].seg, path, sizeof path);
    long full = file_len(path);
    /* cut anywhere inside the third batch: it is cut away at open */
    for (long at = (long)pos[2].off + 1; at < full; at += 37) {
        char d2[64];
        char p2[256], cmd[512];
        assert_int_equal(tmpdir_make(d2, sizeof d2, "backlog"), 0);
        snprintf(cmd, sizeof cmd, "cp -r %s/backlog %s/", dir, d2);
        assert_int_equal(system(cmd), 0);
        seg_file(d2, pos[2].seg, p2, sizeof p2);
        assert_int_equal(truncate(p2, at), 0);
        ps.n = 0;
        b = open_bl(d2, &o);
        assert_int_equal(ps.n, 1);
        assert_int_equal(ps.p[0].code, TT_ETRUNC);
        assert_int_equal(ps.p[0].cut, 1);
        assert_int_equal(ps.p[0].offset, pos[2].off);
        assert_int_equal(ps.p[0].bytes, (uint64_t)at - pos[2].off);
        assert_string_equal(ps.p[0].file, strrchr(p2, '/') + 1);
        assert_int_equal(file_len(p2), (long)pos[2].off);
        assert_int_equal(next_hdr(b, &h, NULL), 1);
        assert_int_equal(h.first_seq, 0);
        assert_int_equal(next_hdr(b, &h, NULL), 1);
        assert_int_equal(h.first_seq, 4);
        assert_int_equal(next_hdr(b, &h, NULL), 0);
        /* appends go on in a new segment, read after the old one */
        append(b, 1, 8, 4, 50, NULL);
        assert_int_equal(next_hdr(b, &h, NULL), 1);
        assert_int_equal(h.first_seq, 8);
        assert_int_equal(backlog_close(b), 0);
        ps.n = 0;
        b = open_bl(d2, &o);
        assert_int_equal(ps.n, 0);
        assert_int_equal(backlog_close(b), 0);
        rm_rf(d2);
    }
    rm_rf(dir);
}

static void test_corrupt_middle_skipped(void **state)
{
    (void)state;
    char dir[64], path[256];
    struct probs ps = { .n = 0 };
    struct backlog_options o;
    struct batch_hdr h;
    struct backlog_pos pos[4];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "backlog"), 0);
    init_opts(&o, &ps);
    struct backlog *b = open_bl(dir, &o);
    for (uint64_t i = 0; i < 4; i++)
        append(b, 1, i * 4, 4, 50, &pos[i]);
    assert_int_equal(backlog_close(b), 0);
    /* flip a body byte of the second batch and a header byte of the third */
    seg_file(dir, pos[1].seg, path, sizeof path);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, (off_t)pos[1].off + 100), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, (off_t)pos[1].off + 100), 1);
    assert_int_equal(pread(fd, &c, 1, (off_t)pos[2].off + 30), 1);
    c ^= 0x01;
    assert_int_equal(pwrite(fd, &c, 1, (off_t)pos[2].off + 30), 1);
    close(fd);
    long len = file_len(path);
    b = open_bl(dir, &o);
    /* one problem: after the bad body the scan resumes at the next header
     * that parses, which is the fourth batch's (the third's header is bad) */
    assert_int_equal(ps.n, 1);
    assert_int_equal(ps.p[0].code, TT_ECORRUPT);
    assert_int_equal(ps.p[0].offset, pos[1].off);
    assert_int_equal(ps.p[0].bytes, pos[3].off - pos[1].off);
    assert_int_equal(ps.p[0].cut, 0);
    assert_string_equal(ps.p[0].file, strrchr(path, '/') + 1);
    assert_non_null(strstr(ps.p[0].msg, "CRC") != NULL ? ps.p[0].msg : strstr(ps.p[0].msg, "crc"));
    assert_int_equal(file_len(path), len); /* nothing cut */
    assert_int_equal(next_hdr(b, &h, NULL), 1);
    assert_int_equal(h.first_seq, 0);
    assert_int_equal(next_hdr(b, &h, NULL), 1);
    assert_int_equal(h.first_seq, 12);
    assert_int_equal(next_hdr(b, &h, NULL), 0);
    struct backlog_stats st;
    backlog_get_stats(b, &st);
    assert_int_equal(st.problems, 2); /* at open, met again by the cursor */
    assert_int_equal(ps.n, 1);        /* but reported once */
    assert_int_equal(backlog_close(b), 0);
    rm_rf(dir);
}

static void test_state_file_bad(void **state)
{
    (void)state;
    char dir[64], path[256];
    struct probs ps = { .n = 0 };
    struct backlog_options o;
    struct batch_hdr h;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "backlog"), 0);
    init_opts(&o, &ps);
    o.segment_bytes = 4096;
    struct backlog *b = open_bl(dir, &o);
    for (uint64_t i = 0; i < 6; i++)
        append(b, 1, i, 1, 50, NULL);
    assert_int_equal(backlog_ack(b, 1, 2, NULL, 0), 0);
    assert_int_equal(backlog_close(b), 0);
    snprintf(path, sizeof path, "%s/backlog/acked", dir);
    /* garbled: everything is resent, with a report */
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    fseek(f, 20, SEEK_SET);
    fputc('X', f);
    fclose(f);
    b = open_bl(dir, &o);
    assert_int_equal(ps.n, 1);
    assert_int_equal(ps.p[0].code, TT_ECORRUPT);
    assert_string_equal(ps.p[0].file, "acked");
    size_t n = 0;
    while (next_hdr(b, &h, NULL) == 1)
        assert_int_equal(h.first_seq, n++);
    assert_int_equal(n, 6);
    uint64_t seq;
    assert_int_equal(backlog_acked(b, 1, &seq), 0);
    assert_int_equal(backlog_close(b), 0);
    /* missing, with segments there: the same */
    assert_int_equal(unlink(path) == 0 || errno == ENOENT, 1);
    ps.n = 0;
    b = open_bl(dir, &o);
    assert_int_equal(ps.n, 1);
    assert_int_equal(ps.p[0].code, TT_ENOTFOUND);
    n = 0;
    while (next_hdr(b, &h, NULL) == 1)
        n++;
    assert_int_equal(n, 6);
    assert_int_equal(backlog_close(b), 0);
    rm_rf(dir);
}

static void test_cursor_rewind(void **state)
{
    (void)state;
    char dir[64];
    struct probs ps = { .n = 0 };
    struct backlog_options o;
    struct batch_hdr h;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "backlog"), 0);
    init_opts(&o, &ps);
    o.segment_bytes = 4096;
    struct backlog *b = open_bl(dir, &o);
    for (uint64_t i = 0; i < 30; i++)
        append(b, 1, i, 1, 200, NULL);
    for (uint64_t i = 0; i < 20; i++) {
        assert_int_equal(next_hdr(b, &h, NULL), 1);
        assert_int_equal(h.first_seq, i);
    }
    /* link lost after the server acked 0..7: the cursor restarts at 8 */
    assert_int_equal(backlog_ack(b, 1, 7, NULL, 0), 0);
    backlog_rewind(b);
    for (uint64_t i = 8; i < 30; i++) {
        assert_int_equal(next_hdr(b, &h, NULL), 1);
        assert_int_equal(h.first_seq, i);
    }
    assert_int_equal(next_hdr(b, &h, NULL), 0);
    struct backlog_stats st;
    backlog_get_stats(b, &st);
    assert_int_equal(st.resent, 12); /* 8..19 went out twice */
    /* batches appended while the cursor sits at the end come next */
    append(b, 1, 30, 1, 200, NULL);
    assert_int_equal(next_hdr(b, &h, NULL), 1);
    assert_int_equal(h.first_seq, 30);
    /* an ack while the cursor is inside a segment that then goes away */
    backlog_rewind(b);
    assert_int_equal(next_hdr(b, &h, NULL), 1);
    assert_int_equal(h.first_seq, 8);
    assert_int_equal(backlog_ack(b, 1, 25, NULL, 0), 0);
    assert_int_equal(next_hdr(b, &h, NULL), 1);
    assert_int_equal(h.first_seq, 26);
    assert_int_equal(backlog_close(b), 0);
    rm_rf(dir);
}

/* kill9_child appends batches of origin 1 with seq 0, 1, ... forever,
 * writing each seq to fd once backlog_append returned; with ack_every, it
 * also acks seq - ack_lag every ack_every appends and reports it as
 * UINT64_MAX - acked. */
static void kill9_child(const char *dir, int fd, int ack_every)
{
    struct backlog_options o;
    struct backlog *b;
    struct wbuf w;
    backlog_options_default(&o);
    o.segment_bytes = 8192;
    o.sync = BACKLOG_SYNC_ALWAYS;
    o.ack_interval_ms = 0;
    if (backlog_open(&b, dir, &o, NULL, 0) != 0)
        _exit(2);
    uint64_t seq = 0;
    struct batch_hdr h;
    const uint8_t *p;
    size_t len;
    while (backlog_next(b, &p, &len, NULL, NULL, 0) == 1) {
        if (batch_parse_header(p, len, &h, NULL, 0) != 0)
            _exit(3);
        seq = h.first_seq + 1;
    }
    wbuf_init(&w, 0);
    for (;; seq++) {
        make_batch(&w, 1, seq, 1, 100 + (size_t)(seq % 7) * 30);
        if (backlog_append(b, w.data, w.len, NULL, NULL, 0) != 0)
            _exit(4);
        if (write(fd, &seq, sizeof seq) != (ssize_t)sizeof seq)
            _exit(5);
        if (ack_every && seq % (uint64_t)ack_every == 0 && seq >= 10) {
            uint64_t a = seq - 10;
            if (backlog_ack(b, 1, a, NULL, 0) != 0)
                _exit(6);
            uint64_t m = UINT64_MAX - a;
            if (write(fd, &m, sizeof m) != (ssize_t)sizeof m)
                _exit(5);
        }
    }
}

/* run_kill9 runs kill9_child for 100..400 ms, kills it, and returns the
 * highest appended seq reported (or -1) and the highest ack in *acked. */
static int64_t run_kill9(const char *dir, int ack_every, int64_t *acked)
{
    int pfd[2];
    int64_t top = -1;
    *acked = -1;
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        kill9_child(dir, pfd[1], ack_every);
        _exit(7);
    }
    close(pfd[1]);
    int64_t until = clock_monotonic_ns() + (100 + rand() % 300) * TT_NS_PER_MS;
    int killed = 0;
    for (;;) {
        /* Kill at a random moment once the child has appended (and acked,
         * when it acks) at least once: on a loaded machine its first fsyncs
         * may take longer than the random delay. */
        int64_t now = clock_monotonic_ns();
        int ready = top >= 0 && (ack_every == 0 || *acked >= 0);
        if (!killed && now >= until && (ready || now >= until + 10 * TT_NS_PER_S)) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        struct pollfd pf = { pfd[0], POLLIN, 0 };
        if (poll(&pf, 1, 10) <= 0)
            continue;
        uint64_t v;
        ssize_t n = read(pfd[0], &v, sizeof v);
        if (n <= 0)
            break; /* the child is gone and the pipe drained */
        assert_int_equal(n, sizeof v);
        if (v > UINT64_MAX / 2)
            *acked = (int64_t)(UINT64_MAX - v);
        else
            top = (int64_t)v;
    }
    close(pfd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    return top;
}

static void test_kill9_appends(void **state)
{
    (void)state;
    char dir[64];
    struct probs ps = { .n = 0 };
    struct backlog_options o;
    struct batch_hdr h;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "backlog"), 0);
    srand((unsigned)getpid());
    init_opts(&o, &ps);
    o.segment_bytes = 8192;
    int64_t prev_top = -1;
    for (int round = 0; round < 3; round++) {
        int64_t acked;
        int64_t top = run_kill9(dir, 0, &acked);
        assert_true(top > prev_top);
        ps.n = 0;
        struct backlog *b = open_bl(dir, &o);
        /* only a torn tail, if anything, and it was cut */
        for (size_t k = 0; k < ps.n && k < 16; k++) {
            assert_int_equal(ps.p[k].cut, 1);
            assert_int_equal(ps.p[k].code, TT_ETRUNC);
        }
        /* every append that returned is there, in order, nothing missing */
        int64_t want = 0;
        while (next_hdr(b, &h, NULL) == 1) {
            assert_int_equal(h.first_seq, want);
            want++;
        }
        assert_true(want - 1 >= top);     /* all acknowledged appends */
        assert_true(want - 1 <= top + 1); /* at most one more, not yet reported */
        prev_top = want - 1;
        assert_int_equal(backlog_close(b), 0);
    }
    rm_rf(dir);
}

static void test_kill9_acked_position(void **state)
{
    (void)state;
    char dir[64];
    struct probs ps = { .n = 0 };
    struct backlog_options o;
    struct batch_hdr h;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "backlog"), 0);
    srand((unsigned)getpid() + 1);
    init_opts(&o, &ps);
    o.segment_bytes = 8192;
    for (int round = 0; round < 2; round++) {
        int64_t acked;
        int64_t top = run_kill9(dir, 5, &acked);
        assert_true(acked >= 0);
        ps.n = 0;
        struct backlog *b = open_bl(dir, &o);
        for (size_t k = 0; k < ps.n && k < 16; k++)
            assert_int_equal(ps.p[k].cut, 1);
        uint64_t seq;
        assert_int_equal(backlog_acked(b, 1, &seq), 1);
        /* the ack reported is persisted (a later one may have been too) */
        assert_true((int64_t)seq >= acked && (int64_t)seq <= acked + 5);
        /* nothing acknowledged is sent again: the cursor starts right after */
        assert_int_equal(next_hdr(b, &h, NULL), 1);
        assert_int_equal(h.first_seq, seq + 1);
        int64_t last = (int64_t)h.first_seq;
        while (next_hdr(b, &h, NULL) == 1)
            assert_int_equal((int64_t)h.first_seq, ++last);
        assert_true(last >= top);
        /* acknowledged segments are gone: only the few newest stay */
        struct backlog_stats st;
        backlog_get_stats(b, &st);
        assert_true(st.segments <= 3);
        assert_int_equal(backlog_close(b), 0);
    }
    rm_rf(dir);
}

static void test_interval_policy(void **state)
{
    (void)state;
    char dir[64];
    struct probs ps = { .n = 0 };
    struct backlog_options o;
    struct batch_hdr h;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "backlog"), 0);
    init_opts(&o, &ps);
    o.sync = BACKLOG_SYNC_INTERVAL;
    o.interval_ms = 60000;
    o.ack_interval_ms = 60000;
    struct backlog *b = open_bl(dir, &o);
    for (uint64_t i = 0; i < 50; i++)
        append(b, 1, i, 1, 40, NULL);
    struct backlog_stats st;
    backlog_get_stats(b, &st);
    assert_true(st.syncs <= 1); /* grouped: at most the first */
    assert_int_equal(backlog_ack(b, 1, 9, NULL, 0), 0);
    uint64_t writes = st.state_writes;
    backlog_get_stats(b, &st);
    assert_true(st.state_writes <= writes + 1);
    assert_int_equal(backlog_sync(b, NULL, 0), 0);
    backlog_get_stats(b, &st);
    assert_true(st.syncs >= 1);
    assert_int_equal(backlog_ack(b, 1, 19, NULL, 0), 0); /* persisted at close */
    assert_int_equal(backlog_close(b), 0);
    b = open_bl(dir, &o);
    assert_int_equal(next_hdr(b, &h, NULL), 1);
    assert_int_equal(h.first_seq, 20);
    assert_int_equal(backlog_close(b), 0);
    assert_int_equal(ps.n, 0);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_ack_interleaved),
           cmocka_unit_test(test_limit_drop_oldest), cmocka_unit_test(test_torn_tail_cut),
           cmocka_unit_test(test_corrupt_middle_skipped), cmocka_unit_test(test_state_file_bad),
           cmocka_unit_test(test_cursor_rewind), cmocka_unit_test(test_kill9_appends),
           cmocka_unit_test(test_kill9_acked_position), cmocka_unit_test(test_interval_policy))
