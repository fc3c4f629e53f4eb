/* test_digest.c - code digests (src/agent/digest.c): sha256 of a file
 * against a known vector, a directory's digest by its definition, the
 * (dev, inode, size, mtime) cache, events at start, on change and after the
 * resend interval, as= names, missing paths. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "emit_capture.h"
#include "agent/digest.h"
#include "telltale.h"

static void put(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void round_of(struct digest_watch *w, struct cap *c, int64_t t)
{
    cap_reset(c);
    struct agent_emit e = cap_emit(c);
    assert_int_equal(digest_watch_collect(w, &e, t), 0);
}

static void test_sha256_file(void **state)
{
    char dir[64], path[128], hex[65], err[256];
    uint8_t d[32];
    uint64_t size = 0;
    (void)state;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "digest"), 0);
    snprintf(path, sizeof path, "%s/abc", dir);
    put(path, "abc");
    assert_int_equal(digest_sha256_file(path, d, &size, err, sizeof err), 0);
    digest_hex(d, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(size, 3);
    snprintf(path, sizeof path, "%s/none", dir);
    assert_int_equal(digest_sha256_file(path, d, &size, err, sizeof err), TT_ENOTFOUND);
    rm_rf(dir);
}

/* expected_dir computes the digest of a tree of two files by its definition. */
static void expected_dir(const char *rel1, const char *c1, const char *rel2, const char *c2,
                         char hex[65])
{
    uint8_t buf[512], d[32];
    size_t n = 0;
    digest_sha256_buf(c1, strlen(c1), d);
    memcpy(buf + n, rel1, strlen(rel1) + 1);
    n += strlen(rel1) + 1;
    memcpy(buf + n, d, 32);
    n += 32;
    digest_sha256_buf(c2, strlen(c2), d);
    memcpy(buf + n, rel2, strlen(rel2) + 1);
    n += strlen(rel2) + 1;
    memcpy(buf + n, d, 32);
    n += 32;
    digest_sha256_buf(buf, n, d);
    digest_hex(d, hex);
}

static void test_dir_and_events(void **state)
{
    char dir[64], mod[128], sub[160], f1[200], f2[200], want[65], line[100], err[256];
    struct digest_watch *w = NULL;
    struct cap c;
    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(tmpdir_make(dir, sizeof dir, "digest"), 0);
    snprintf(mod, sizeof mod, "%s/mod", dir);
    snprintf(sub, sizeof sub, "%s/lib", mod);
    assert_int_equal(mkdir(mod, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(f1, sizeof f1, "%s/z.py", mod);
    snprintf(f2, sizeof f2, "%s/util.py", sub);
    put(f1, "print(1)\n");
    put(f2, "def f(): pass\n");

    struct digest_spec spec = { mod, 0, NULL };
    struct digest_watch_config cfg = { &spec, 1, "web", "1.2", 10000, NULL };
    assert_int_equal(digest_watch_new(&w, &cfg, err, sizeof err), 0);
    round_of(w, &c, 1000);
    assert_int_equal(c.nevents, 1);
    const struct cap_event *ev = &c.events[0];
    assert_string_equal(ev->name, "telltale.digest");
    assert_string_equal(ev->component, "digest");
    /* sorted by relative path: "lib/util.py" < "z.py" */
    expected_dir("lib/util.py", "def f(): pass\n", "z.py", "print(1)\n", want);
    snprintf(line, sizeof line, "sha256=%s", want);
    assert_true(cap_attr_has(ev, line));
    assert_true(cap_attr_has(ev, "kind=dir"));
    assert_true(cap_attr_has(ev, "files=2"));
    assert_true(cap_attr_has(ev, "size=23"));
    assert_true(cap_attr_has(ev, "role=web"));
    assert_true(cap_attr_has(ev, "release=1.2"));

    /* nothing changed, before the resend interval: no event */
    round_of(w, &c, 5000);
    assert_int_equal(c.nevents, 0);
    /* the resend interval passed: sent again, same digest */
    round_of(w, &c, 11000);
    assert_int_equal(c.nevents, 1);
    assert_true(cap_attr_has(&c.events[0], line));

    /* a file changes: an event with the old digest */
    put(f2, "def f(): return 2\n");
    round_of(w, &c, 12000);
    assert_int_equal(c.nevents, 1);
    char old[80];
    snprintf(old, sizeof old, "old_sha256=%s", want);
    assert_true(cap_attr_has(&c.events[0], old));
    expected_dir("lib/util.py", "def f(): return 2\n", "z.py", "print(1)\n", want);
    snprintf(line, sizeof line, "sha256=%s", want);
    assert_true(cap_attr_has(&c.events[0], line));

    /* the cache: same size, mtime put back, same inode -> not read again,
     * so the digest does not move (this is the documented trade-off) */
    struct stat st;
    assert_int_equal(stat(f1, &st), 0);
    int fd = open(f1, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 0), 1);
    close(fd);
    struct timespec ts[2] = { st.st_atim, st.st_mtim };
    assert_int_equal(utimensat(AT_FDCWD, f1, ts, 0), 0);
    round_of(w, &c, 13000);
    assert_int_equal(c.nevents, 0);
    /* mtime moves: read again, changed */
    ts[1].tv_sec += 1;
    assert_int_equal(utimensat(AT_FDCWD, f1, ts, 0), 0);
    round_of(w, &c, 14000);
    assert_int_equal(c.nevents, 1);
    assert_non_null(strstr(c.events[0].attrs, "old_sha256="));

    /* a file added: changed */
    snprintf(f1, sizeof f1, "%s/new.py", mod);
    put(f1, "");
    round_of(w, &c, 15000);
    assert_int_equal(c.nevents, 1);
    assert_true(cap_attr_has(&c.events[0], "files=3"));

    cap_free(&c);
    digest_watch_free(w);
    rm_rf(dir);
}

static void test_names_and_missing(void **state)
{
    char dir[64], bin[128], err[256];
    struct digest_watch *w = NULL;
    struct cap c;
    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(tmpdir_make(dir, sizeof dir, "digest"), 0);
    snprintf(bin, sizeof bin, "%s/app", dir);
    struct digest_spec spec = { bin, 0, "/usr/bin/app" };
    struct digest_watch_config cfg = { &spec, 1, NULL, NULL, 0, NULL };
    assert_int_equal(digest_watch_new(&w, &cfg, err, sizeof err), 0);
    round_of(w, &c, 1000);
    assert_int_equal(c.nevents, 0);
    assert_int_equal(c.nwarns, 1);
    assert_non_null(strstr(c.warns[0], bin));
    round_of(w, &c, 2000);
    assert_int_equal(c.nwarns, 0); /* once */
    put(bin, "abc");
    round_of(w, &c, 3000);
    assert_int_equal(c.nevents, 1);
    assert_true(cap_attr_has(&c.events[0], "path=/usr/bin/app"));
    assert_true(cap_attr_has(&c.events[0], "kind=file"));
    assert_true(cap_attr_has(
        &c.events[0], "sha256=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    assert_true(cap_attr_has(&c.events[0], "role="));
    cap_free(&c);
    digest_watch_free(w);

    struct digest_spec rel = { "bin/app", 0, NULL };
    struct digest_watch_config bad = { &rel, 1, NULL, NULL, 0, NULL };
    assert_int_equal(digest_watch_new(&w, &bad, err, sizeof err), TT_EINVAL);
    assert_null(w);
    rm_rf(dir);
}

static void test_libs(void **state)
{
    char exe[4096], err[256];
    struct digest_watch *w = NULL;
    struct cap c;
    (void)state;
    memset(&c, 0, sizeof c);
    /* this test binary is running and maps libc (and libcmocka) */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    struct digest_spec spec = { exe, 1, NULL };
    struct digest_watch_config cfg = { &spec, 1, "r", "v", 0, NULL };
    assert_int_equal(digest_watch_new(&w, &cfg, err, sizeof err), 0);
    round_of(w, &c, 1000);
    assert_true(c.nevents >= 2);
    int libc = 0;
    char of[4200];
    snprintf(of, sizeof of, "of=%s", exe);
    for (size_t i = 0; i < c.nevents; i++)
        if (strstr(c.events[i].attrs, "libc.so") != NULL && cap_attr_has(&c.events[i], of))
            libc = 1;
    assert_true(libc);
    cap_free(&c);
    digest_watch_free(w);
}

UNIT_TESTS(cmocka_unit_test(test_sha256_file), cmocka_unit_test(test_dir_and_events),
           cmocka_unit_test(test_names_and_missing), cmocka_unit_test(test_libs))
