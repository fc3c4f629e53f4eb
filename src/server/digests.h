/*
 * digests.h - the server's code digest store: the latest sha256 per (node,
 * path) the agents sent as "telltale.digest" events, and the history of
 * changes, in SQLite (DATA/digests.sqlite), served as GET /api/tt/digests.
 *
 * Tables: latest(node, path, kind, sha256, size, role, release,
 * first_seen_ms, last_seen_ms; key (node, path)) and history(node, path,
 * old_sha256, sha256, role, release, t_ms), a row per change of a (node,
 * path)'s sha256 (the first sighting has old_sha256 NULL).
 *
 * A "clash" is a path whose nodes of the same role and release hold
 * different digests: the same release should run the same code.
 *
 * Thread safety: every function may be called from any thread (one mutex).
 */
#ifndef TT_SERVER_DIGESTS_H
#define TT_SERVER_DIGESTS_H

#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"

struct http_req;
struct digests;

/* One digest report. All strings NUL-terminated, borrowed for the call. */
struct digest_report {
    const char *node, *path, *kind, *sha256, *role, *release;
    uint64_t size;
    int64_t t_ms;
};

/* digests_open makes the store of DIR/digests.sqlite; the database is
 * opened (created) on first use, so DIR may not exist yet: an open failure
 * is then the TT_EIO of that call. Returns 0 with *out (digests_close) or
 * TT_ENOMEM. */
int digests_open(struct digests **out, const char *dir, char *err, size_t errlen);

/* digests_handle is the handler of GET /api/tt/digests (ctx: the struct
 * digests): parameters path (one path) and history (1: with the changes);
 * 500 when the database fails. */
int digests_handle(struct http_req *req, void *ctx);

/* digests_put records one report: latest row replaced (its first_seen kept
 * when the sha256 is the same) and a history row when the sha256 differs
 * from the node's last one for the path. Returns 0, TT_EINVAL (an empty
 * field or a sha256 that is not 64 hex digits), TT_EIO (message in err). */
int digests_put(struct digests *d, const struct digest_report *r, char *err, size_t errlen);

/* digests_ingest records every "telltale.digest" event record of a batch
 * body (records as rec_next reads them) from origin ("NODE\0agent": the
 * node is the part before the NUL). Events with missing attributes are
 * skipped and counted in *skipped (may be NULL). Returns the number
 * recorded, or TT_ECORRUPT (a record that does not decode; message in err)
 * or TT_EIO. */
int digests_ingest(struct digests *d, const char *origin, size_t origin_len, const uint8_t *body,
                   size_t body_len, size_t *skipped, char *err, size_t errlen);

/* digests_json appends the /api/tt/digests answer to b: {"status":
 * "success", "data": D} with D an array of {path,
 * clash, digests: [{sha256, kind, size, nodes: [{node, role, release,
 * first_seen_ms, last_seen_ms}]}], history (when history): [{node, role,
 * release, old_sha256, sha256, t_ms}]}, paths sorted; path (may be NULL)
 * selects one path. Returns 0, TT_ENOMEM or TT_EIO (message in err). */
int digests_json(struct digests *d, const char *path, int history, struct wbuf *b, char *err,
                 size_t errlen);

/* digests_close closes the database and frees d (NULL is fine). */
void digests_close(struct digests *d);

#endif
