/* test_digests.c - the server's code digest store (src/server/digests.c):
 * reports, clashes between nodes of one role and release, the change
 * history, ingest of "telltale.digest" event records as the agent's batcher
 * encodes them, persistence across reopen, bad reports. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "unit.h"
#include "tmpdir.h"
#include "agent/agent.h"
#include "server/digests.h"
#include "telltale.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static void put(struct digests *d, const char *node, const char *path, const char *sha,
                const char *role, const char *release, int64_t t)
{
    char err[256] = "";
    struct digest_report r = { node, path, "file", sha, role, release, 100, t };
    int rc = digests_put(d, &r, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "digests_put: %s\n", err);
    assert_int_equal(rc, 0);
}

/* get returns the parsed /api/tt/digests data (json_decref it). */
static json_t *get(struct digests *d, const char *path, int history)
{
    struct wbuf b;
    char err[256];
    json_error_t je;
    wbuf_init(&b, 0);
    assert_int_equal(digests_json(d, path, history, &b, err, sizeof err), 0);
    json_t *j = json_loadb((const char *)b.data, b.len, 0, &je);
    wbuf_release(&b);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "success");
    json_t *data = json_incref(json_object_get(j, "data"));
    json_decref(j);
    return data;
}

static json_t *find_path(json_t *data, const char *path)
{
    size_t i;
    json_t *p;
    json_array_foreach(data, i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "path")), path) == 0)
            return p;
    }
    return NULL;
}

static void test_clash_and_history(void **state)
{
    char dir[64], err[256];
    struct digests *d = NULL;
    (void)state;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "digests"), 0);
    assert_int_equal(digests_open(&d, dir, err, sizeof err), 0);
    put(d, "a", "/usr/bin/app", SHA_A, "web", "1.0", 1000);
    put(d, "b", "/usr/bin/app", SHA_B, "web", "1.0", 1001);
    put(d, "c", "/usr/bin/app", SHA_C, "db", "1.0", 1002);   /* another role: no clash */
    put(d, "a", "/usr/lib/x.so", SHA_A, "web", "1.0", 1003); /* one node: no clash */
    put(d, "b", "/usr/lib/x.so", SHA_B, "web", "2.0", 1004); /* another release */

    json_t *data = get(d, NULL, 0);
    assert_int_equal(json_array_size(data), 2);
    json_t *app = find_path(data, "/usr/bin/app");
    assert_non_null(app);
    assert_true(json_is_true(json_object_get(app, "clash")));
    json_t *ds = json_object_get(app, "digests");
    assert_int_equal(json_array_size(ds), 3);
    json_t *first = json_array_get(ds, 0);
    assert_string_equal(json_string_value(json_object_get(first, "sha256")), SHA_A);
    json_t *nodes = json_object_get(first, "nodes");
    assert_int_equal(json_array_size(nodes), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(nodes, 0), "node")), "a");
    assert_null(json_object_get(app, "history"));
    assert_true(json_is_false(json_object_get(find_path(data, "/usr/lib/x.so"), "clash")));
    json_decref(data);

    /* a catches up with b: no clash; the history has the change */
    put(d, "a", "/usr/bin/app", SHA_B, "web", "1.0", 2000);
    put(d, "a", "/usr/bin/app", SHA_B, "web", "1.0", 3000); /* a resend: no history row */
    data = get(d, "/usr/bin/app", 1);
    assert_int_equal(json_array_size(data), 1);
    app = json_array_get(data, 0);
    assert_true(json_is_false(json_object_get(app, "clash")));
    ds = json_object_get(app, "digests");
    assert_int_equal(json_array_size(ds), 2); /* B (a, b), C (c) */
    nodes = json_object_get(json_array_get(ds, 0), "nodes");
    assert_int_equal(json_array_size(nodes), 2);
    json_t *na = json_array_get(nodes, 0);
    assert_int_equal(json_integer_value(json_object_get(na, "first_seen_ms")), 2000);
    assert_int_equal(json_integer_value(json_object_get(na, "last_seen_ms")), 3000);
    json_t *h = json_object_get(app, "history");
    assert_int_equal(json_array_size(h), 4);
    json_t *last = json_array_get(h, 3);
    assert_string_equal(json_string_value(json_object_get(last, "node")), "a");
    assert_string_equal(json_string_value(json_object_get(last, "old_sha256")), SHA_A);
    assert_string_equal(json_string_value(json_object_get(last, "sha256")), SHA_B);
    assert_int_equal(json_integer_value(json_object_get(last, "t_ms")), 2000);
    assert_true(json_is_null(json_object_get(json_array_get(h, 0), "old_sha256")));
    json_decref(data);

    /* persistence */
    digests_close(d);
    assert_int_equal(digests_open(&d, dir, err, sizeof err), 0);
    data = get(d, "/usr/lib/x.so", 0);
    assert_int_equal(json_array_size(data), 1);
    json_decref(data);
    data = get(d, "/nope", 0);
    assert_int_equal(json_array_size(data), 0);
    json_decref(data);
    digests_close(d);
    rm_rf(dir);
}

static void test_bad_reports(void **state)
{
    char dir[64], err[256];
    struct digests *d = NULL;
    (void)state;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "digests"), 0);
    assert_int_equal(digests_open(&d, dir, err, sizeof err), 0);
    struct digest_report r = { "a", "/x", "file", "abc", "", "", 1, 1 };
    assert_int_equal(digests_put(d, &r, err, sizeof err), TT_EINVAL);
    r.sha256 = SHA_A;
    r.node = "";
    assert_int_equal(digests_put(d, &r, err, sizeof err), TT_EINVAL);
    r.node = "a";
    r.sha256 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_int_equal(digests_put(d, &r, err, sizeof err), TT_EINVAL);
    digests_close(d);

    /* a data directory that cannot hold the database: the error on first use */
    assert_int_equal(digests_open(&d, "/nonexistent/dir", err, sizeof err), 0);
    r.sha256 = SHA_A;
    err[0] = '\0';
    assert_int_equal(digests_put(d, &r, err, sizeof err), TT_EIO);
    assert_non_null(strstr(err, "/nonexistent/dir/digests.sqlite"));
    digests_close(d);
    rm_rf(dir);
}

static void add_event(struct agent_batcher *b, const char *name, const struct agent_label *a,
                      size_t n)
{
    struct agent_event ev = { TT_SEV_INFO, "digest", name, "m", a, n, 5000 };
    assert_int_equal(agent_batcher_add_event(b, &ev, 1), 0);
}

static void test_ingest(void **state)
{
    char dir[64], err[256];
    struct digests *d = NULL;
    struct agent_batcher b;
    size_t skipped = 9;
    (void)state;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "digests"), 0);
    assert_int_equal(digests_open(&d, dir, err, sizeof err), 0);
    agent_batcher_init(&b);
    struct agent_label ok1[] = { { "path", "/usr/bin/app" }, { "kind", "file" },
                                 { "sha256", SHA_A },        { "size", "1234" },
                                 { "role", "web" },          { "release", "1.0" } };
    struct agent_label ok2[] = { { "path", "/opt/mods" }, { "kind", "dir" }, { "sha256", SHA_B },
                                 { "size", "99" },        { "role", "web" }, { "release", "1.0" } };
    struct agent_label nosha[] = { { "path", "/x" }, { "kind", "file" } };
    struct agent_label other[] = { { "path", "/etc/app.json" } };
    add_event(&b, "telltale.digest", ok1, 6);
    add_event(&b, "telltale.file.changed", other, 1);
    add_event(&b, "telltale.digest", nosha, 2);
    add_event(&b, "telltale.digest", ok2, 6);
    int n = digests_ingest(d, "node1\0agent", 11, b.events.data, b.events.len, &skipped, err,
                           sizeof err);
    assert_int_equal(n, 2);
    assert_int_equal(skipped, 1);
    json_t *data = get(d, NULL, 0);
    assert_int_equal(json_array_size(data), 2);
    json_t *mods = find_path(data, "/opt/mods");
    assert_non_null(mods);
    json_t *dg = json_array_get(json_object_get(mods, "digests"), 0);
    assert_string_equal(json_string_value(json_object_get(dg, "kind")), "dir");
    assert_int_equal(json_integer_value(json_object_get(dg, "size")), 99);
    json_t *nd = json_array_get(json_object_get(dg, "nodes"), 0);
    assert_string_equal(json_string_value(json_object_get(nd, "node")), "node1");
    assert_int_equal(json_integer_value(json_object_get(nd, "last_seen_ms")), 5000);
    json_decref(data);

    /* a corrupt body is an error, not a crash */
    uint8_t junk[40];
    memset(junk, 0xff, sizeof junk);
    assert_true(digests_ingest(d, "n\0agent", 7, junk, sizeof junk, NULL, err, sizeof err) < 0);
    agent_batcher_release(&b);
    digests_close(d);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_clash_and_history), cmocka_unit_test(test_bad_reports),
           cmocka_unit_test(test_ingest))
