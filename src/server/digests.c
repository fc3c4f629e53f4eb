/*
 * digests.c - the code digest store (digests.h): SQLite in WAL mode with
 * synchronous=NORMAL (a digest lost to a power cut comes back with the
 * agent's next hourly resend), one connection under one mutex.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/record.h"
#include "server/digests.h"
#include "server/http.h"
#include "server/json_out.h"
#include "telltale.h"

struct digests {
    pthread_mutex_t mu;
    char *dir;
    sqlite3 *db; /* NULL until first used */
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS latest(node TEXT NOT NULL, path TEXT NOT NULL,"
    " kind TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, role TEXT NOT NULL,"
    " release TEXT NOT NULL, first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,"
    " PRIMARY KEY(node, path));"
    "CREATE TABLE IF NOT EXISTS history(id INTEGER PRIMARY KEY, node TEXT NOT NULL,"
    " path TEXT NOT NULL, old_sha256 TEXT, sha256 TEXT NOT NULL, role TEXT NOT NULL,"
    " release TEXT NOT NULL, t_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS history_path ON history(path, t_ms);";

int digests_open(struct digests **out, const char *dir, char *err, size_t errlen)
{
    struct digests *d = calloc(1, sizeof(*d));
    *out = NULL;
    (void)err;
    (void)errlen;
    if (d == NULL)
        return TT_ENOMEM;
    d->dir = strdup(dir);
    if (d->dir == NULL) {
        free(d);
        return TT_ENOMEM;
    }
    pthread_mutex_init(&d->mu, NULL);
    *out = d;
    return 0;
}

/* ensure_open opens the database on first use (mu held): the server makes
 * its data directory only when it starts, after the routes are registered. */
static int ensure_open(struct digests *d, char *err, size_t errlen)
{
    char path[4200];
    char *msg = NULL;
    if (d->db != NULL)
        return 0;
    snprintf(path, sizeof path, "%s/digests.sqlite", d->dir);
    if (sqlite3_open_v2(path, &d->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(d->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%.300s: %s", path,
                 msg     ? msg
                 : d->db ? sqlite3_errmsg(d->db)
                         : "cannot open");
        sqlite3_free(msg);
        sqlite3_close(d->db);
        d->db = NULL;
        return TT_EIO;
    }
    sqlite3_busy_timeout(d->db, 5000);
    return 0;
}

void digests_close(struct digests *d)
{
    if (d == NULL)
        return;
    sqlite3_close(d->db);
    pthread_mutex_destroy(&d->mu);
    free(d->dir);
    free(d);
}

static int is_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n == 64;
}

static int db_err(struct digests *d, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "digests.sqlite %s: %s", what, sqlite3_errmsg(d->db));
    return TT_EIO;
}

int digests_put(struct digests *d, const struct digest_report *r, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int rc = 0, step;
    char *old = NULL;
    int64_t first = r->t_ms;

    if (!r->node || !r->node[0] || !r->path || !r->path[0] || !r->kind || !r->sha256 ||
        !is_hex64(r->sha256) || !r->role || !r->release) {
        snprintf(err, errlen, "digest report without node, path, kind or a 64-hex sha256");
        return TT_EINVAL;
    }
    pthread_mutex_lock(&d->mu);
    if ((rc = ensure_open(d, err, errlen)) < 0)
        goto out;
    if (sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_err(d, "begin", err, errlen);
        goto out;
    }
    if (sqlite3_prepare_v2(d->db,
                           "SELECT sha256, first_seen_ms FROM latest WHERE node=?1 AND path=?2", -1,
                           &q, NULL) != SQLITE_OK) {
        rc = db_err(d, "select", err, errlen);
        goto rollback;
    }
    sqlite3_bind_text(q, 1, r->node, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, r->path, -1, SQLITE_STATIC);
    step = sqlite3_step(q);
    if (step == SQLITE_ROW) {
        old = strdup((const char *)sqlite3_column_text(q, 0));
        if (old == NULL) {
            rc = TT_ENOMEM;
            goto rollback;
        }
        first = sqlite3_column_int64(q, 1);
    } else if (step != SQLITE_DONE) {
        rc = db_err(d, "select", err, errlen);
        goto rollback;
    }
    sqlite3_finalize(q);
    q = NULL;
    int changed = old == NULL || strcmp(old, r->sha256) != 0;
    if (changed)
        first = r->t_ms;
    if (sqlite3_prepare_v2(d->db,
                           "INSERT OR REPLACE INTO latest(node, path, kind, sha256, size, role,"
                           " release, first_seen_ms, last_seen_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,"
                           "?9)",
                           -1, &q, NULL) != SQLITE_OK) {
        rc = db_err(d, "insert", err, errlen);
        goto rollback;
    }
    sqlite3_bind_text(q, 1, r->node, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, r->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, r->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, r->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)r->size);
    sqlite3_bind_text(q, 6, r->role, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 7, r->release, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 8, first);
    sqlite3_bind_int64(q, 9, r->t_ms);
    if (sqlite3_step(q) != SQLITE_DONE) {
        rc = db_err(d, "insert", err, errlen);
        goto rollback;
    }
    sqlite3_finalize(q);
    q = NULL;
    if (changed) {
        if (sqlite3_prepare_v2(d->db,
                               "INSERT INTO history(node, path, old_sha256, sha256, role, release,"
                               " t_ms) VALUES(?1,?2,?3,?4,?5,?6,?7)",
                               -1, &q, NULL) != SQLITE_OK) {
            rc = db_err(d, "history", err, errlen);
            goto rollback;
        }
        sqlite3_bind_text(q, 1, r->node, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, r->path, -1, SQLITE_STATIC);
        if (old != NULL)
            sqlite3_bind_text(q, 3, old, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(q, 3);
        sqlite3_bind_text(q, 4, r->sha256, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, r->role, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 6, r->release, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 7, r->t_ms);
        if (sqlite3_step(q) != SQLITE_DONE) {
            rc = db_err(d, "history", err, errlen);
            goto rollback;
        }
        sqlite3_finalize(q);
        q = NULL;
    }
    if (sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_err(d, "commit", err, errlen);
        goto rollback;
    }
    goto out;
rollback:
    sqlite3_finalize(q);
    q = NULL;
    sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
out:
    pthread_mutex_unlock(&d->mu);
    free(old);
    return rc;
}

/* ---- ingest from batches -------------------------------------------------------- */

#define ATTR_MAX 4096

static void copy_rs(char *dst, size_t n, struct rec_str s)
{
    size_t k = s.len < n - 1 ? s.len : n - 1;
    memcpy(dst, s.p, k);
    dst[k] = '\0';
}

int digests_ingest(struct digests *d, const char *origin, size_t origin_len, const uint8_t *body,
                   size_t body_len, size_t *skipped, char *err, size_t errlen)
{
    char node[256];
    size_t nl = 0;
    struct rbuf r;
    struct rec rec;
    int rc, n = 0;

    if (skipped != NULL)
        *skipped = 0;
    while (nl < origin_len && origin[nl] != '\0')
        nl++;
    if (nl == 0 || nl >= sizeof node) {
        snprintf(err, errlen, "digest events from an origin without a node name");
        return 0;
    }
    memcpy(node, origin, nl);
    node[nl] = '\0';
    rbuf_init(&r, body, body_len);
    while ((rc = rec_next(&r, body, &rec, err, errlen)) == 1) {
        struct rec_event ev;
        if (rec.type != REC_EVENT)
            continue;
        rc = rec_decode_event(&rec, &ev, err, errlen);
        if (rc < 0)
            return rc;
        if (ev.name.len != 15 || memcmp(ev.name.p, "telltale.digest", 15) != 0)
            continue;
        char path[ATTR_MAX];
        char kind[16] = "", sha[80] = "", size[32] = "", role[256] = "", release[256] = "";
        int have_path = 0;
        struct rec_list it = ev.attrs;
        struct rec_str k;
        struct rec_value v;
        path[0] = '\0';
        while ((rc = rec_kv_next(&it, &k, &v)) == 1) {
            if (v.type != TT_VAL_STR)
                continue;
#define ATTR(name, buf)                                                        \
    if (k.len == sizeof(name) - 1 && memcmp(k.p, name, sizeof(name) - 1) == 0) \
        copy_rs(buf, sizeof buf, v.u.s);
            if (k.len == 4 && memcmp(k.p, "path", 4) == 0) {
                if (v.u.s.len < ATTR_MAX) {
                    copy_rs(path, ATTR_MAX, v.u.s);
                    have_path = 1;
                }
            }
            ATTR("kind", kind)
            ATTR("sha256", sha)
            ATTR("size", size)
            ATTR("role", role)
            ATTR("release", release)
#undef ATTR
        }
        if (rc < 0) {
            snprintf(err, errlen, "telltale.digest event: malformed attributes");
            return TT_ECORRUPT;
        }
        struct digest_report dr = {
            node, path,    kind[0] ? kind : "file",  sha,
            role, release, strtoull(size, NULL, 10), rec.time_ns / 1000000
        };
        char perr[256];
        if (!have_path || !is_hex64(sha)) {
            if (skipped != NULL)
                (*skipped)++;
            continue;
        }
        rc = digests_put(d, &dr, perr, sizeof perr);
        if (rc == TT_EINVAL) {
            if (skipped != NULL)
                (*skipped)++;
            continue;
        }
        if (rc < 0) {
            snprintf(err, errlen, "%s", perr);
            return rc;
        }
        n++;
    }
    return rc < 0 ? rc : n;
}

/* ---- the API -------------------------------------------------------------------- */

struct row {
    char *path, *sha, *kind, *node, *role, *release;
    int64_t size, first, last;
};

static void rows_free(struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].path);
        free(rows[i].sha);
        free(rows[i].kind);
        free(rows[i].node);
        free(rows[i].role);
        free(rows[i].release);
    }
    free(rows);
}

static char *col_dup(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return strdup(t ? (const char *)t : "");
}

static int write_history(struct digests *d, const char *path, struct json_out *j, char *err,
                         size_t errlen)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(d->db,
                           "SELECT node, role, release, old_sha256, sha256, t_ms FROM history"
                           " WHERE path=?1 ORDER BY t_ms, id",
                           -1, &q, NULL) != SQLITE_OK)
        return db_err(d, "history", err, errlen);
    sqlite3_bind_text(q, 1, path, -1, SQLITE_STATIC);
    json_out_key(j, "history");
    json_out_array_begin(j);
    int s;
    while ((s = sqlite3_step(q)) == SQLITE_ROW) {
        json_out_object_begin(j);
        json_out_key(j, "node");
        json_out_str(j, (const char *)sqlite3_column_text(q, 0));
        json_out_key(j, "role");
        json_out_str(j, (const char *)sqlite3_column_text(q, 1));
        json_out_key(j, "release");
        json_out_str(j, (const char *)sqlite3_column_text(q, 2));
        json_out_key(j, "old_sha256");
        json_out_str(j, (const char *)sqlite3_column_text(q, 3)); /* NULL: null */
        json_out_key(j, "sha256");
        json_out_str(j, (const char *)sqlite3_column_text(q, 4));
        json_out_key(j, "t_ms");
        json_out_i64(j, sqlite3_column_int64(q, 5));
        json_out_object_end(j);
    }
    json_out_array_end(j);
    sqlite3_finalize(q);
    return s == SQLITE_DONE ? 0 : db_err(d, "history", err, errlen);
}

/* write_path writes one path's object from rows[0..n) (same path, sorted by sha, node). */
static int write_path(struct digests *d, const struct row *rows, size_t n, int history,
                      struct json_out *j, char *err, size_t errlen)
{
    int clash = 0;
    for (size_t a = 0; a < n && !clash; a++)
        for (size_t b = a + 1; b < n && !clash; b++)
            clash = strcmp(rows[a].role, rows[b].role) == 0 &&
                    strcmp(rows[a].release, rows[b].release) == 0 &&
                    strcmp(rows[a].sha, rows[b].sha) != 0;
    json_out_object_begin(j);
    json_out_key(j, "path");
    json_out_str(j, rows[0].path);
    json_out_key(j, "clash");
    json_out_bool(j, clash);
    json_out_key(j, "digests");
    json_out_array_begin(j);
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && strcmp(rows[e].sha, rows[i].sha) == 0)
            e++;
        json_out_object_begin(j);
        json_out_key(j, "sha256");
        json_out_str(j, rows[i].sha);
        json_out_key(j, "kind");
        json_out_str(j, rows[i].kind);
        json_out_key(j, "size");
        json_out_i64(j, rows[i].size);
        json_out_key(j, "nodes");
        json_out_array_begin(j);
        for (size_t k = i; k < e; k++) {
            json_out_object_begin(j);
            json_out_key(j, "node");
            json_out_str(j, rows[k].node);
            json_out_key(j, "role");
            json_out_str(j, rows[k].role);
            json_out_key(j, "release");
            json_out_str(j, rows[k].release);
            json_out_key(j, "first_seen_ms");
            json_out_i64(j, rows[k].first);
            json_out_key(j, "last_seen_ms");
            json_out_i64(j, rows[k].last);
            json_out_object_end(j);
        }
        json_out_array_end(j);
        json_out_object_end(j);
        i = e;
    }
    json_out_array_end(j);
    int rc = history ? write_history(d, rows[0].path, j, err, errlen) : 0;
    json_out_object_end(j);
    return rc;
}

int digests_json(struct digests *d, const char *path, int history, struct wbuf *b, char *err,
                 size_t errlen)
{
    sqlite3_stmt *q = NULL;
    struct row *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = 0, s;
    struct json_out j;

    pthread_mutex_lock(&d->mu);
    if ((rc = ensure_open(d, err, errlen)) < 0)
        goto out;
    if (sqlite3_prepare_v2(d->db,
                           path != NULL ? "SELECT path, sha256, kind, size, node, role, release,"
                                          " first_seen_ms, last_seen_ms FROM latest WHERE path=?1"
                                          " ORDER BY path, sha256, node"
                                        : "SELECT path, sha256, kind, size, node, role, release,"
                                          " first_seen_ms, last_seen_ms FROM latest"
                                          " ORDER BY path, sha256, node",
                           -1, &q, NULL) != SQLITE_OK) {
        rc = db_err(d, "select", err, errlen);
        goto out;
    }
    if (path != NULL)
        sqlite3_bind_text(q, 1, path, -1, SQLITE_STATIC);
    while ((s = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct row *nr = realloc(rows, nc * sizeof(*nr));
            if (nr == NULL) {
                rc = TT_ENOMEM;
                goto out;
            }
            rows = nr;
            cap = nc;
        }
        struct row *r = &rows[n++];
        r->path = col_dup(q, 0);
        r->sha = col_dup(q, 1);
        r->kind = col_dup(q, 2);
        r->size = sqlite3_column_int64(q, 3);
        r->node = col_dup(q, 4);
        r->role = col_dup(q, 5);
        r->release = col_dup(q, 6);
        r->first = sqlite3_column_int64(q, 7);
        r->last = sqlite3_column_int64(q, 8);
        if (!r->path || !r->sha || !r->kind || !r->node || !r->role || !r->release) {
            rc = TT_ENOMEM;
            goto out;
        }
    }
    if (s != SQLITE_DONE) {
        rc = db_err(d, "select", err, errlen);
        goto out;
    }
    json_out_init(&j, b);
    json_out_success_begin(&j);
    json_out_array_begin(&j);
    for (size_t i = 0; i < n && rc == 0;) {
        size_t e = i;
        while (e < n && strcmp(rows[e].path, rows[i].path) == 0)
            e++;
        rc = write_path(d, rows + i, e - i, history, &j, err, errlen);
        i = e;
    }
    json_out_array_end(&j);
    json_out_success_end(&j);
out:
    sqlite3_finalize(q);
    pthread_mutex_unlock(&d->mu);
    rows_free(rows, n);
    return rc;
}

int digests_handle(struct http_req *req, void *ctx)
{
    struct digests *d = ctx;
    struct wbuf b;
    char err[512] = "";
    const char *path = http_req_param(req, "path");
    const char *hist = http_req_param(req, "history");
    int history = hist != NULL && (strcmp(hist, "1") == 0 || strcmp(hist, "true") == 0);
    wbuf_init(&b, 0);
    int rc = digests_json(d, path != NULL && path[0] ? path : NULL, history, &b, err, sizeof err);
    if (rc < 0) {
        wbuf_release(&b);
        return http_respond_error(req, 500, NULL, "digests: %s", err[0] ? err : tt_strerror(rc));
    }
    return http_respond_json(req, 200, &b);
}
