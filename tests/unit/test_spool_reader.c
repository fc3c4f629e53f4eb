/*
 * test_spool_reader.c - the agent's libtelltale spool reader: batches in
 * order across segments, the acknowledged offset survives a reopen, a
 * partial batch at the tail of the newest segment is waited for (and is a
 * torn tail once the writer moved on), damage is skipped and reported,
 * rewind hands out the unacknowledged again, and segments are deleted when
 * wholly acknowledged and finished (not the newest of their origin, or
 * their process is gone), never before.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "telltale.h"
#include "agent/spool_reader.h"
#include "core/batch.h"
#include "core/record.h"

struct env {
    char root[256], spool[300], state[300];
};

static void env_make(struct env *e)
{
    assert_int_equal(tmpdir_make(e->root, sizeof e->root, "spoolrd"), 0);
    snprintf(e->spool, sizeof e->spool, "%s/spool", e->root);
    snprintf(e->state, sizeof e->state, "%s/state", e->root);
    assert_int_equal(mkdir(e->spool, 0755), 0);
    assert_int_equal(mkdir(e->state, 0755), 0);
}

/* make_batch appends one batch of n event records of origin "n1\0svc/pid"
 * to out. */
static void make_batch(struct wbuf *out, uint64_t origin_id, long pid, uint64_t first_seq,
                       uint32_t n)
{
    struct wbuf raw;
    char origin[64];
    wbuf_init(&raw, 0);
    for (uint32_t i = 0; i < n; i++) {
        struct rec_event ev = { .severity = TT_SEV_INFO, .name = { "tick", 4 } };
        assert_int_equal(rec_put_event(&raw, 100 + first_seq + i, 1000, &ev), 0);
    }
    int ol = snprintf(origin, sizeof origin, "n1%csvc/%ld", 0, pid);
    struct batch_hdr h = { .count = n,
                           .origin_id = origin_id,
                           .first_seq = first_seq,
                           .hlc_min = 100 + first_seq,
                           .hlc_max = 100 + first_seq + n - 1,
                           .origin = origin,
                           .origin_len = (uint16_t)ol };
    assert_int_equal(batch_encode(out, &h, raw.data, raw.len), 0);
    wbuf_release(&raw);
}

static void seg_path(const struct env *e, uint64_t origin, uint64_t first, char *p, size_t n)
{
    snprintf(p, n, "%s/%016llx-%016llx.tts", e->spool, (unsigned long long)origin,
             (unsigned long long)first);
}

static void append_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

/* next_seq returns the first_seq of the next batch handed out, or -1. */
static long long next_seq(struct spool_reader *r, struct spool_token *tok)
{
    const uint8_t *b;
    size_t len;
    char err[256];
    struct batch_hdr h;
    int rc = spool_reader_next(r, 0, &b, &len, tok, err, sizeof err);
    assert_true(rc >= 0);
    if (rc == 0)
        return -1;
    assert_int_equal(batch_parse_header(b, len, &h, err, sizeof err), 0);
    assert_int_equal(batch_total_len(&h), len);
    assert_int_equal(batch_check_body(b, &h, err, sizeof err), 0);
    return (long long)h.first_seq;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_order_ack_resume_delete(void **state)
{
    (void)state;
    struct env e;
    struct wbuf b;
    struct spool_reader *r = NULL;
    struct spool_token t[8];
    char s1[512], s2[512], err[256];
    long me = (long)getpid();
    env_make(&e);
    wbuf_init(&b, 0);
    /* segment 1: seqs 0..2, 3..5, 6..8; segment 2 (newest): 9..10, 11..12 */
    for (int i = 0; i < 3; i++)
        make_batch(&b, 0xaa, me, (uint64_t)i * 3, 3);
    seg_path(&e, 0xaa, 0, s1, sizeof s1);
    append_file(s1, b.data, b.len);
    wbuf_reset(&b);
    make_batch(&b, 0xaa, me, 9, 2);
    make_batch(&b, 0xaa, me, 11, 2);
    seg_path(&e, 0xaa, 9, s2, sizeof s2);
    append_file(s2, b.data, b.len);
    /* not a segment: ignored */
    char junk[512];
    snprintf(junk, sizeof junk, "%s/notes.txt", e.spool);
    append_file(junk, "hello", 5);

    assert_int_equal(spool_reader_open(&r, e.spool, e.state, NULL, err, sizeof err), 0);
    long long want[] = { 0, 3, 6, 9, 11 };
    for (int i = 0; i < 5; i++)
        assert_int_equal(next_seq(r, &t[i]), want[i]);
    assert_int_equal(next_seq(r, &t[5]), -1);
    /* two acks, then a restart: it resumes at the third batch */
    assert_int_equal(spool_reader_ack(r, &t[0], err, sizeof err), 0);
    assert_int_equal(spool_reader_ack(r, &t[1], err, sizeof err), 0);
    spool_reader_close(r);
    assert_int_equal(spool_reader_open(&r, e.spool, e.state, NULL, err, sizeof err), 0);
    assert_int_equal(next_seq(r, &t[2]), 6);
    assert_int_equal(next_seq(r, &t[3]), 9);
    assert_int_equal(next_seq(r, &t[4]), 11);
    /* the whole first segment acknowledged: deleted (a newer one exists) */
    assert_true(exists(s1));
    assert_int_equal(spool_reader_ack(r, &t[2], err, sizeof err), 0);
    assert_false(exists(s1));
    /* the newest, wholly acknowledged but its process (us) alive: kept */
    assert_int_equal(spool_reader_ack(r, &t[3], err, sizeof err), 0);
    assert_int_equal(spool_reader_ack(r, &t[4], err, sizeof err), 0);
    assert_true(exists(s2));
    struct spool_reader_stats st;
    spool_reader_get_stats(r, &st);
    assert_int_equal(st.segments_deleted, 1);
    assert_int_equal(st.problems, 0);
    assert_int_equal(st.pending_bytes, 0);
    /* the writer appends more to it: handed out after the acked ones */
    wbuf_reset(&b);
    make_batch(&b, 0xaa, me, 13, 1);
    append_file(s2, b.data, b.len);
    assert_int_equal(next_seq(r, &t[5]), 13);
    spool_reader_close(r);
    /* a restart: nothing before the acked offset comes again */
    assert_int_equal(spool_reader_open(&r, e.spool, e.state, NULL, err, sizeof err), 0);
    assert_int_equal(next_seq(r, &t[5]), 13);
    assert_int_equal(next_seq(r, &t[6]), -1);
    /* rewind: the unacknowledged batch once more */
    spool_reader_rewind(r);
    assert_int_equal(next_seq(r, &t[5]), 13);
    spool_reader_close(r);
    wbuf_release(&b);
    rm_rf(e.root);
}

static void test_partial_tail_then_torn(void **state)
{
    (void)state;
    struct env e;
    struct wbuf b;
    struct spool_reader *r = NULL;
    struct spool_token t[4];
    char s1[512], s2[512], err[256];
    long me = (long)getpid();
    env_make(&e);
    wbuf_init(&b, 0);
    make_batch(&b, 0xbb, me, 0, 2);
    size_t first_len = b.len;
    make_batch(&b, 0xbb, me, 2, 2);
    seg_path(&e, 0xbb, 0, s1, sizeof s1);
    /* the first batch and half of the second: the writer is mid-write */
    append_file(s1, b.data, first_len + 10);
    assert_int_equal(spool_reader_open(&r, e.spool, e.state, NULL, err, sizeof err), 0);
    assert_int_equal(next_seq(r, &t[0]), 0);
    assert_int_equal(next_seq(r, &t[1]), -1);
    struct spool_reader_stats st;
    spool_reader_get_stats(r, &st);
    assert_int_equal(st.problems, 0);
    /* the rest arrives */
    append_file(s1, b.data + first_len + 10, b.len - first_len - 10);
    assert_int_equal(next_seq(r, &t[1]), 2);
    /* half a third batch, then the writer moves to a new segment: the half
     * batch is a torn tail, reported once and skipped */
    wbuf_reset(&b);
    make_batch(&b, 0xbb, me, 4, 2);
    append_file(s1, b.data, b.len / 2);
    assert_int_equal(next_seq(r, &t[2]), -1);
    wbuf_reset(&b);
    make_batch(&b, 0xbb, me, 6, 1);
    seg_path(&e, 0xbb, 6, s2, sizeof s2);
    append_file(s2, b.data, b.len);
    assert_int_equal(next_seq(r, &t[2]), 6);
    spool_reader_get_stats(r, &st);
    assert_int_equal(st.problems, 1);
    assert_true(st.bytes_skipped > 0);
    /* the old segment goes once its good batches are acknowledged */
    assert_int_equal(spool_reader_ack(r, &t[0], err, sizeof err), 0);
    assert_true(exists(s1));
    assert_int_equal(spool_reader_ack(r, &t[1], err, sizeof err), 0);
    assert_false(exists(s1));
    spool_reader_close(r);
    wbuf_release(&b);
    rm_rf(e.root);
}

static void test_damage_and_dead_writer(void **state)
{
    (void)state;
    struct env e;
    struct wbuf b;
    struct spool_reader *r = NULL;
    struct spool_token t[4];
    char s1[512], err[256];
    env_make(&e);
    /* a process that is gone */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    wbuf_init(&b, 0);
    make_batch(&b, 0xcc, (long)child, 0, 1);
    size_t l1 = b.len;
    make_batch(&b, 0xcc, (long)child, 1, 1);
    make_batch(&b, 0xcc, (long)child, 2, 1);
    b.data[l1 + (b.len - l1) / 4] ^= 0x20; /* damage the second batch */
    seg_path(&e, 0xcc, 0, s1, sizeof s1);
    append_file(s1, b.data, b.len);
    assert_int_equal(spool_reader_open(&r, e.spool, e.state, NULL, err, sizeof err), 0);
    assert_int_equal(next_seq(r, &t[0]), 0);
    assert_int_equal(next_seq(r, &t[1]), 2);
    assert_int_equal(next_seq(r, &t[2]), -1);
    struct spool_reader_stats st;
    spool_reader_get_stats(r, &st);
    assert_int_equal(st.problems, 1);
    /* the newest segment of a dead process: deleted once acknowledged */
    assert_int_equal(spool_reader_ack(r, &t[0], err, sizeof err), 0);
    assert_true(exists(s1));
    assert_int_equal(spool_reader_ack(r, &t[1], err, sizeof err), 0);
    assert_false(exists(s1));
    /* an unknown token (segment gone) is ignored */
    assert_int_equal(spool_reader_ack(r, &t[1], err, sizeof err), 0);
    spool_reader_close(r);
    /* a spool directory that does not exist yet is fine: nothing to read */
    char none[400];
    snprintf(none, sizeof none, "%s/none", e.root);
    assert_int_equal(spool_reader_open(&r, none, e.state, NULL, err, sizeof err), 0);
    assert_int_equal(next_seq(r, &t[0]), -1);
    spool_reader_close(r);
    assert_int_equal(spool_reader_open(&r, "", e.state, NULL, err, sizeof err), TT_EINVAL);
    wbuf_release(&b);
    rm_rf(e.root);
}

/* Two live writers: their batches alternate, each origin's in order. */
static void test_origins_take_turns(void **state)
{
    (void)state;
    struct env e;
    struct wbuf b;
    struct spool_reader *r = NULL;
    struct spool_token t;
    char s1[512], s2[512], s3[512], err[256];
    long me = (long)getpid();
    env_make(&e);
    wbuf_init(&b, 0);
    for (int i = 0; i < 2; i++)
        make_batch(&b, 0x10, me, (uint64_t)i, 1);
    seg_path(&e, 0x10, 0, s1, sizeof s1);
    append_file(s1, b.data, b.len);
    wbuf_reset(&b);
    make_batch(&b, 0x10, me, 2, 1);
    seg_path(&e, 0x10, 2, s2, sizeof s2);
    append_file(s2, b.data, b.len);
    wbuf_reset(&b);
    for (int i = 0; i < 3; i++)
        make_batch(&b, 0x20, me, 100 + (uint64_t)i, 1);
    seg_path(&e, 0x20, 100, s3, sizeof s3);
    append_file(s3, b.data, b.len);
    assert_int_equal(spool_reader_open(&r, e.spool, e.state, NULL, err, sizeof err), 0);
    long long want[] = { 0, 100, 1, 101, 2, 102, -1 };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(next_seq(r, &t), want[i]);
    spool_reader_close(r);
    wbuf_release(&b);
    rm_rf(e.root);
}

UNIT_TESTS(cmocka_unit_test(test_order_ack_resume_delete),
           cmocka_unit_test(test_partial_tail_then_torn),
           cmocka_unit_test(test_damage_and_dead_writer), cmocka_unit_test(test_origins_take_turns))
