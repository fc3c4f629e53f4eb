/*
 * test_reclog.c - the server's record log (src/server/reclog.c): appends
 * rotate into numbered segments, a reopen scans every batch in order and
 * goes on appending at the end, a torn tail of the last segment is reported
 * and cut, damage in an earlier one is reported and skipped, and appends
 * from many threads share fdatasyncs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include "core/batch.h"
#include "core/record.h"
#include "server/reclog.h"

/* make_batch: a batch of origin with n event records, first_seq seq. */
static void make_batch(struct wbuf *out, uint64_t origin, uint64_t seq, uint32_t n)
{
    struct wbuf raw;
    wbuf_init(&raw, 0);
    for (uint32_t i = 0; i < n; i++) {
        struct rec_event e = { .severity = 3,
                               .component = { "c", 1 },
                               .name = { "ev", 2 },
                               .message = { "a message of some length", 24 } };
        assert_int_equal(rec_put_event(&raw, 1, 0, &e), 0);
    }
    struct batch_hdr h;
    memset(&h, 0, sizeof h);
    h.count = n;
    h.origin_id = origin;
    h.first_seq = seq;
    h.origin = "n";
    h.origin_len = 1;
    wbuf_reset(out);
    assert_int_equal(batch_encode(out, &h, raw.data, raw.len), 0);
    wbuf_release(&raw);
}

struct seen {
    uint64_t seqs[256];
    size_t n;
    size_t problems, cut;
    char file[32];
};

static int seen_batch(void *arg, const struct batch_hdr *h, const uint8_t *body, size_t len)
{
    struct seen *s = arg;
    (void)body;
    (void)len;
    assert_true(s->n < 256);
    s->seqs[s->n++] = h->first_seq;
    return 0;
}

static void seen_problem(void *arg, const char *file, const struct batch_problem *p, int cut)
{
    struct seen *s = arg;
    (void)p;
    s->problems++;
    s->cut += (size_t)cut;
    snprintf(s->file, sizeof s->file, "%s", file);
}

static const struct reclog_scan_cb seen_cb = { seen_batch, seen_problem };

static long seg_size(const char *dir, unsigned n)
{
    char p[256];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%08u.log", dir, n);
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

static void test_rotate_scan_cut(void **state)
{
    (void)state;
    char base[64], dir[128], err[256] = "", p[256];
    struct reclog *rl = NULL;
    struct wbuf b;
    struct reclog_pos pos = { 0, 0, 0 };
    assert_int_equal(tmpdir_make(base, sizeof base, "rl"), 0);
    snprintf(dir, sizeof dir, "%s/records", base);
    wbuf_init(&b, 0);

    make_batch(&b, 9, 0, 10);
    size_t blen = b.len;
    /* three batches a segment */
    assert_int_equal(reclog_open(&rl, dir, blen * 3, &seen_cb, NULL, err, sizeof err), 0);
    for (uint64_t i = 0; i < 7; i++) {
        make_batch(&b, 9, i * 10, 10);
        assert_int_equal(b.len, blen);
        assert_int_equal(reclog_append(rl, b.data, b.len, &pos, err, sizeof err), 0);
        assert_int_equal(pos.seg, i / 3 + 1);
        assert_int_equal(pos.end, (i % 3 + 1) * blen);
    }
    assert_int_equal(reclog_sync(rl, pos.ticket, err, sizeof err), 0);
    struct reclog_stats st;
    reclog_get_stats(rl, &st);
    assert_int_equal(st.segment, 3);
    assert_int_equal(st.segments, 3);
    assert_int_equal(st.appends, 7);
    assert_int_equal(reclog_close(rl), 0);
    assert_int_equal(seg_size(dir, 1), (long)(3 * blen));
    assert_int_equal(seg_size(dir, 2), (long)(3 * blen));
    assert_int_equal(seg_size(dir, 3), (long)blen);

    /* A torn batch at the end of the last segment, garbage in the first. */
    snprintf(p, sizeof p, "%s/00000003.log", dir);
    FILE *f = fopen(p, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite(b.data, 1, blen / 2, f), blen / 2);
    fclose(f);
    snprintf(p, sizeof p, "%s/00000001.log", dir);
    f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, (long)blen + 40, SEEK_SET);
    fputc(0x5a, f);
    fputc(0xa5, f);
    fclose(f);

    struct seen s = { .n = 0 };
    assert_int_equal(reclog_open(&rl, dir, blen * 3, &seen_cb, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 6); /* the second batch is damaged */
    assert_int_equal(s.seqs[0], 0);
    assert_int_equal(s.seqs[1], 20);
    assert_int_equal(s.seqs[5], 60);
    assert_int_equal(s.problems, 2);
    assert_int_equal(s.cut, 1);
    assert_string_equal(s.file, "00000003.log");
    assert_int_equal(seg_size(dir, 3), (long)blen);
    reclog_get_stats(rl, &st);
    assert_int_equal(st.segment, 3);
    assert_int_equal(st.segment_len, blen); /* what the scan kept */
    /* appends go on in the last segment, then rotate */
    make_batch(&b, 9, 70, 10);
    assert_int_equal(reclog_append(rl, b.data, b.len, &pos, err, sizeof err), 0);
    assert_int_equal(reclog_append(rl, b.data, b.len, &pos, err, sizeof err), 0);
    assert_int_equal(reclog_append(rl, b.data, b.len, &pos, err, sizeof err), 0);
    assert_int_equal(reclog_sync(rl, pos.ticket, err, sizeof err), 0);
    assert_int_equal(reclog_close(rl), 0);
    assert_int_equal(seg_size(dir, 3), (long)(3 * blen));
    assert_int_equal(seg_size(dir, 4), (long)blen);

    /* Without callbacks only the last segment is read. */
    assert_int_equal(reclog_open(&rl, dir, 0, NULL, NULL, err, sizeof err), 0);
    reclog_get_stats(rl, &st);
    assert_int_equal(st.segment, 4);
    assert_int_equal(reclog_close(rl), 0);

    wbuf_release(&b);
    rm_rf(base);
}

static int stop_batch(void *arg, const struct batch_hdr *h, const uint8_t *body, size_t len)
{
    (void)arg;
    (void)h;
    (void)body;
    (void)len;
    return TT_ENOMEM;
}

static void test_callback_error(void **state)
{
    (void)state;
    char base[64], dir[128], err[256] = "";
    struct reclog *rl = NULL;
    struct wbuf b;
    struct reclog_pos pos;
    assert_int_equal(tmpdir_make(base, sizeof base, "rl"), 0);
    snprintf(dir, sizeof dir, "%s/records", base);
    wbuf_init(&b, 0);
    make_batch(&b, 1, 0, 1);
    assert_int_equal(reclog_open(&rl, dir, 0, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(reclog_append(rl, b.data, b.len, &pos, err, sizeof err), 0);
    assert_int_equal(reclog_close(rl), 0);
    struct reclog_scan_cb cb = { stop_batch, NULL };
    assert_int_equal(reclog_open(&rl, dir, 0, &cb, NULL, err, sizeof err), TT_ENOMEM);
    assert_null(rl);
    wbuf_release(&b);
    rm_rf(base);
}

struct appender {
    struct reclog *rl;
    int n;
    int ok;
};

static void *append_main(void *arg)
{
    struct appender *a = arg;
    struct wbuf b;
    char err[256];
    struct reclog_pos pos;
    wbuf_init(&b, 0);
    a->ok = 1;
    for (int i = 0; i < a->n; i++) {
        make_batch(&b, 5, (uint64_t)i, 3);
        if (reclog_append(a->rl, b.data, b.len, &pos, err, sizeof err) != 0 ||
            reclog_sync(a->rl, pos.ticket, err, sizeof err) != 0)
            a->ok = 0;
    }
    wbuf_release(&b);
    return NULL;
}

/* Threads appending and syncing at once: every batch is found whole, and
 * there are no more fdatasyncs than appends. */
static void test_concurrent_group_sync(void **state)
{
    (void)state;
    enum { NT = 4, NB = 50 };
    char base[64], dir[128], err[256] = "";
    struct reclog *rl = NULL;
    pthread_t t[NT];
    struct appender a[NT];
    assert_int_equal(tmpdir_make(base, sizeof base, "rl"), 0);
    snprintf(dir, sizeof dir, "%s/records", base);
    assert_int_equal(reclog_open(&rl, dir, 8192, NULL, NULL, err, sizeof err), 0);
    for (int i = 0; i < NT; i++) {
        a[i] = (struct appender){ rl, NB, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, append_main, &a[i]), 0);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(t[i], NULL);
        assert_true(a[i].ok);
    }
    struct reclog_stats st;
    reclog_get_stats(rl, &st);
    assert_int_equal(st.appends, NT * NB);
    assert_true(st.syncs <= NT * NB);
    assert_true(st.segments > 1);
    assert_int_equal(reclog_close(rl), 0);
    struct seen s = { .n = 0 };
    struct reclog_scan_cb cb = { seen_batch, seen_problem };
    assert_int_equal(reclog_open(&rl, dir, 8192, &cb, &s, err, sizeof err), 0);
    assert_int_equal(s.n, NT * NB);
    assert_int_equal(s.problems, 0);
    assert_int_equal(reclog_close(rl), 0);
    rm_rf(base);
}

/* A reader tails the log: every durable batch once, in order, across
 * segments and a reopen; nothing past the durable place; a damaged stretch
 * is reported and the reader goes on with the next segment. */
static void test_reader_tails(void **state)
{
    (void)state;
    char dir[256], err[256];
    struct reclog *rl = NULL;
    struct reclog_pos pos;
    struct reclog_cursor cur = { 0, 0 };
    struct wbuf b, got;
    struct batch_hdr h;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "reclog-reader"), 0);
    wbuf_init(&b, 0);
    wbuf_init(&got, 0);
    make_batch(&b, 5, 0, 10);
    uint64_t segbytes = 2 * b.len; /* two batches a segment */
    assert_int_equal(reclog_open(&rl, dir, segbytes, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(reclog_read(rl, &cur, &got, err, sizeof err), 0); /* empty */
    for (uint64_t i = 0; i < 6; i++) {
        make_batch(&b, 5, i * 10, 10);
        assert_int_equal(reclog_append(rl, b.data, b.len, &pos, err, sizeof err), 0);
        if (i == 4)
            break; /* the fifth is appended but maybe not durable yet */
        assert_int_equal(reclog_sync(rl, pos.ticket, err, sizeof err), 0);
    }
    uint64_t want = 0;
    int r;
    while ((r = reclog_read(rl, &cur, &got, err, sizeof err)) == 1) {
        assert_int_equal(batch_parse_header(got.data, got.len, &h, err, sizeof err), 0);
        assert_int_equal(h.first_seq, want);
        assert_int_equal(batch_total_len(&h), got.len);
        want += 10;
    }
    assert_int_equal(r, 0);
    assert_true(want == 40 || want == 50); /* the fifth only once its sync ran */
    assert_int_equal(reclog_sync(rl, pos.ticket, err, sizeof err), 0);
    while ((r = reclog_read(rl, &cur, &got, err, sizeof err)) == 1) {
        assert_int_equal(batch_parse_header(got.data, got.len, &h, err, sizeof err), 0);
        assert_int_equal(h.first_seq, want);
        want += 10;
    }
    assert_int_equal(want, 50);
    assert_int_equal(reclog_close(rl), 0);

    /* reopened: the cursor goes on; a flipped byte in segment 1 is reported
     * once and the reader moves to segment 2 */
    char path[300];
    snprintf(path, sizeof path, "%s/00000001.log", dir);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 100, SEEK_SET), 0);
    assert_int_equal(fputc('x', f), 'x');
    fclose(f);
    assert_int_equal(reclog_open(&rl, dir, segbytes, NULL, NULL, err, sizeof err), 0);
    make_batch(&b, 5, 50, 10);
    assert_int_equal(reclog_append(rl, b.data, b.len, &pos, err, sizeof err), 0);
    assert_int_equal(reclog_sync(rl, pos.ticket, err, sizeof err), 0);
    assert_int_equal(reclog_read(rl, &cur, &got, err, sizeof err), 1);
    assert_int_equal(batch_parse_header(got.data, got.len, &h, err, sizeof err), 0);
    assert_int_equal(h.first_seq, 50);
    assert_int_equal(reclog_read(rl, &cur, &got, err, sizeof err), 0);
    struct reclog_cursor fresh = { 0, 0 };
    assert_int_equal(reclog_read(rl, &fresh, &got, err, sizeof err), TT_ECORRUPT);
    assert_non_null(strstr(err, "00000001.log"));
    want = 20; /* segment 2 on */
    while ((r = reclog_read(rl, &fresh, &got, err, sizeof err)) == 1) {
        assert_int_equal(batch_parse_header(got.data, got.len, &h, err, sizeof err), 0);
        assert_int_equal(h.first_seq, want);
        want += 10;
    }
    assert_int_equal(r, 0);
    assert_int_equal(want, 60);
    assert_int_equal(reclog_close(rl), 0);
    wbuf_release(&b);
    wbuf_release(&got);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_rotate_scan_cut), cmocka_unit_test(test_reader_tails),
           cmocka_unit_test(test_callback_error), cmocka_unit_test(test_concurrent_group_sync))
