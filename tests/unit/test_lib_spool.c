/* test_lib_spool.c - the spool: segment naming and rotation, the size cap
 * (oldest dropped first and counted, agent-deleted segments not counted),
 * torn writes truncated away, error messages, and spool_forget after fork. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"
#include "lib/spool.h"

#define ORIGIN UINT64_C(0xabc)

struct fixture {
    char dir[64];
};

static void make_tmpdir(struct fixture *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/tt-spool-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char p[512];

    if (d == NULL) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        rm_rf(p);
    }
    closedir(d);
    rmdir(path);
}

/* seg_size returns the size of the segment starting at first_seq, or -1. */
static long long seg_size(const struct fixture *f, uint64_t first_seq)
{
    char p[512];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%016" PRIx64 "-%016" PRIx64 ".tts", f->dir, ORIGIN, first_seq);
    if (stat(p, &st) != 0)
        return -1;
    return (long long)st.st_size;
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void open_spool(struct spool *s, const struct fixture *f, uint64_t max, uint64_t seg)
{
    char err[256];
    int rc = spool_open(s, f->dir, ORIGIN, max, seg, 0, err, sizeof(err));

    if (rc != 0)
        fail_msg("spool_open: %s", err);
}

/* append a batch of len bytes filled with a recognisable byte. */
static int append(struct spool *s, size_t len, uint64_t first_seq, uint32_t count)
{
    uint8_t buf[1024];

    assert_true(len <= sizeof(buf));
    memset(buf, (int)(first_seq & 0xff), len);
    return spool_append(s, buf, len, first_seq, count);
}

static void test_rotation(void **state)
{
    struct fixture f;
    struct spool s;

    (void)state;
    make_tmpdir(&f);
    open_spool(&s, &f, 0, 100);
    assert_int_equal(count_files(f.dir), 0); /* nothing until the first append */
    assert_int_equal(append(&s, 40, 1, 4), 0);
    assert_int_equal(append(&s, 40, 5, 4), 0);
    assert_int_equal(seg_size(&f, 1), 80);
    /* 80 + 40 > 100: a new segment named after the batch's first record. */
    assert_int_equal(append(&s, 40, 9, 4), 0);
    assert_int_equal(seg_size(&f, 1), 80);
    assert_int_equal(seg_size(&f, 9), 40);
    /* Bigger than a segment: goes alone into its own segment. */
    assert_int_equal(append(&s, 250, 13, 1), 0);
    assert_int_equal(seg_size(&f, 13), 250);
    assert_int_equal(append(&s, 10, 14, 1), 0);
    assert_int_equal(seg_size(&f, 14), 10);
    assert_int_equal(count_files(f.dir), 4);
    assert_int_equal(s.nsegs, 3);
    assert_int_equal(s.segs[0].records, 8);
    assert_int_equal(s.cur.records, 1);
    assert_int_equal(spool_sync(&s), 0);
    spool_close(&s);
    assert_int_equal(s.fd, -1);
    assert_int_equal(count_files(f.dir), 4); /* files stay */
    rm_rf(f.dir);
}

static void test_cap_drops_oldest_and_counts(void **state)
{
    struct fixture f;
    struct spool s;
    uint64_t recs = 99, segs = 99;

    (void)state;
    make_tmpdir(&f);
    open_spool(&s, &f, 200, 100);
    /* Two full segments: 100 + 100 bytes, 10 records each. */
    for (uint64_t i = 0; i < 4; i++)
        assert_int_equal(append(&s, 50, 1 + i * 5, 5), 0);
    spool_take_losses(&s, &recs, &segs);
    assert_int_equal(recs, 0);
    assert_int_equal(segs, 0);
    /* The fifth rotates and would make 250 > 200: the oldest goes. */
    assert_int_equal(append(&s, 50, 21, 5), 0);
    assert_int_equal(seg_size(&f, 1), -1);
    assert_int_equal(seg_size(&f, 11), 100);
    assert_int_equal(seg_size(&f, 21), 50);
    spool_take_losses(&s, &recs, &segs);
    assert_int_equal(recs, 10);
    assert_int_equal(segs, 1);
    /* Reported once, then reset. */
    spool_take_losses(&s, &recs, &segs);
    assert_int_equal(recs, 0);
    assert_int_equal(segs, 0);
    /* 150 + 50 fits exactly; one more byte does not. */
    assert_int_equal(append(&s, 50, 26, 7), 0);
    assert_int_equal(seg_size(&f, 11), 100);
    assert_int_equal(append(&s, 1, 33, 1), 0);
    assert_int_equal(seg_size(&f, 11), -1);
    spool_take_losses(&s, &recs, &segs);
    assert_int_equal(recs, 10);
    assert_int_equal(segs, 1);
    assert_int_equal(count_files(f.dir), 2);
    spool_close(&s);
    rm_rf(f.dir);
}

static void test_cap_smaller_than_segment(void **state)
{
    struct fixture f;
    struct spool s;
    uint64_t recs, segs;

    (void)state;
    make_tmpdir(&f);
    open_spool(&s, &f, 100, 1000);
    assert_int_equal(append(&s, 60, 1, 3), 0);
    /* Only the open segment exists and 60 + 60 > 100: it is closed and dropped. */
    assert_int_equal(append(&s, 60, 4, 3), 0);
    assert_int_equal(seg_size(&f, 1), -1);
    assert_int_equal(seg_size(&f, 4), 60);
    spool_take_losses(&s, &recs, &segs);
    assert_int_equal(recs, 3);
    assert_int_equal(segs, 1);
    spool_close(&s);
    rm_rf(f.dir);
}

static void test_agent_deleted_not_lost(void **state)
{
    struct fixture f;
    struct spool s;
    uint64_t recs = 99, segs = 99;
    char p[512];

    (void)state;
    make_tmpdir(&f);
    open_spool(&s, &f, 200, 100);
    for (uint64_t i = 0; i < 4; i++)
        assert_int_equal(append(&s, 50, 1 + i * 5, 5), 0);
    /* The agent ships and deletes the oldest closed segment. */
    snprintf(p, sizeof(p), "%s/%016" PRIx64 "-%016" PRIx64 ".tts", f.dir, ORIGIN, (uint64_t)1);
    assert_int_equal(unlink(p), 0);
    /* Past the tracked cap: the gone segment is forgotten, the one still on
     * disk is kept (the real total is 150), and nothing counts as lost. */
    assert_int_equal(append(&s, 50, 21, 5), 0);
    assert_int_equal(seg_size(&f, 11), 100);
    spool_take_losses(&s, &recs, &segs);
    assert_int_equal(recs, 0);
    assert_int_equal(segs, 0);
    assert_int_equal(s.nsegs, 1);
    spool_close(&s);
    rm_rf(f.dir);
}

static void test_open_errors(void **state)
{
    struct fixture f;
    struct spool s;
    char err[256], path[256];
    int fd, rc;

    (void)state;
    make_tmpdir(&f);
    /* A path through a regular file cannot be created. */
    snprintf(path, sizeof(path), "%s/file", f.dir);
    fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof(path), "%s/file/spool", f.dir);
    rc = spool_open(&s, path, ORIGIN, 0, 100, 0, err, sizeof(err));
    assert_int_equal(rc, TT_ESYS);
    assert_int_equal(s.fd, -1);
    assert_non_null(strstr(err, "cannot create spool directory"));
    assert_non_null(strstr(err, "/file/spool"));
    assert_non_null(strstr(err, "Not a directory"));
    spool_close(&s);

    snprintf(path, sizeof(path), "%s/file", f.dir);
    rc = spool_open(&s, path, ORIGIN, 0, 100, 0, err, sizeof(err));
    assert_int_equal(rc, TT_ESYS);
    assert_non_null(strstr(err, "not a directory"));

    rc = spool_open(&s, "", ORIGIN, 0, 100, 0, err, sizeof(err));
    assert_int_equal(rc, TT_EINVAL);

    /* A read-only directory (root ignores modes, so only checked as a user). */
    if (geteuid() != 0) {
        snprintf(path, sizeof(path), "%s/ro", f.dir);
        assert_int_equal(mkdir(path, 0555), 0);
        rc = spool_open(&s, path, ORIGIN, 0, 100, 0, err, sizeof(err));
        assert_int_equal(rc, TT_EIO);
        assert_non_null(strstr(err, "is not writable"));
        assert_non_null(strstr(err, path));
    }

    /* Missing parents are created, trailing slashes dropped. */
    snprintf(path, sizeof(path), "%s/a/b/c/", f.dir);
    rc = spool_open(&s, path, ORIGIN, 0, 100, 0, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_int_equal(append(&s, 10, 1, 1), 0);
    spool_close(&s);
    snprintf(path, sizeof(path), "%s/a/b/c/%016" PRIx64 "-%016" PRIx64 ".tts", f.dir, ORIGIN,
             (uint64_t)1);
    assert_int_equal(access(path, F_OK), 0);
    rm_rf(f.dir);
}

static void test_write_failure_truncates(void **state)
{
    struct fixture f;
    struct spool s;
    struct rlimit rl = { 150, 150 };

    (void)state;
    make_tmpdir(&f);
    open_spool(&s, &f, 0, 1000);
    /* Each test runs in its own process, so the limit does not leak. */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
    assert_int_equal(append(&s, 100, 1, 1), 0);
    /* Half of this one fits, then EFBIG: the torn half is cut off. */
    assert_int_equal(append(&s, 100, 2, 1), TT_EIO);
    assert_int_equal(seg_size(&f, 1), 100);
    assert_int_equal(s.cur.records, 1);
    assert_int_equal(append(&s, 50, 2, 1), 0);
    assert_int_equal(seg_size(&f, 1), 150);
    spool_close(&s);

    /* A failure on a new segment's first batch leaves no empty file. */
    rl.rlim_cur = 0;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
    open_spool(&s, &f, 0, 1000);
    assert_int_equal(append(&s, 10, 7, 1), TT_EIO);
    assert_int_equal(seg_size(&f, 7), -1);
    assert_int_equal(s.fd, -1);
    spool_close(&s);
    rm_rf(f.dir);
}

static void test_fork_forget(void **state)
{
    struct fixture f;
    struct spool s;
    pid_t pid;
    int status;

    (void)state;
    make_tmpdir(&f);
    open_spool(&s, &f, 0, 1000);
    assert_int_equal(append(&s, 100, 1, 1), 0);
    assert_true(fcntl(s.fd, F_GETFD) & FD_CLOEXEC);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = s.fd;
        spool_forget(&s);
        /* The child's copy is closed, its memory freed, nothing else done. */
        _exit(s.fd == -1 && s.segs == NULL && fcntl(fd, F_GETFD) < 0 ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* The parent's segment is intact and still being appended to. */
    assert_int_equal(seg_size(&f, 1), 100);
    assert_int_equal(append(&s, 100, 2, 1), 0);
    assert_int_equal(seg_size(&f, 1), 200);
    spool_forget(&s);
    assert_int_equal(seg_size(&f, 1), 200);
    rm_rf(f.dir);
}

UNIT_TESTS(cmocka_unit_test(test_rotation), cmocka_unit_test(test_cap_drops_oldest_and_counts),
           cmocka_unit_test(test_cap_smaller_than_segment),
           cmocka_unit_test(test_agent_deleted_not_lost), cmocka_unit_test(test_open_errors),
           cmocka_unit_test(test_write_failure_truncates), cmocka_unit_test(test_fork_forget))
