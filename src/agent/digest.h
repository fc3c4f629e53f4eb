/*
 * digest.h - code digests: the sha256 of configured binaries, shared
 * libraries and module directories, sent to the server as
 * "telltale.digest" events (attrs path, kind "file"/"dir", sha256, size,
 * role, release; "files" for a directory; "of" for a library found through
 * a binary) at start-up, whenever one changes, and every resend interval so
 * a server that lost them (restarted, new) learns them again.
 *
 * A directory's digest is the sha256 over its regular files and symlinks
 * (recursively, not following links) in byte order of their relative paths:
 * for each, the relative path, a NUL, and the file's 32-byte sha256 (a
 * symlink's is the sha256 of "symlink:" + its target). Its size is the sum
 * of the files' sizes.
 *
 * Invariant: a file is read and hashed again only when its (dev, inode,
 * size, mtime) changed since it was last hashed; otherwise the cached hash
 * is used, so a steady round costs one stat per file.
 */
#ifndef TT_AGENT_DIGEST_H
#define TT_AGENT_DIGEST_H

#include <stddef.h>
#include <stdint.h>
#include "agent/collector.h"

#define DIGEST_DEFAULT_RESEND_MS (3600 * 1000)

/* digest_sha256_file hashes the file at path into out (32 bytes) and sets
 * *size to the bytes read. Returns 0, TT_ENOTFOUND (no such file), TT_EIO
 * (message in err). */
int digest_sha256_file(const char *path, uint8_t out[32], uint64_t *size, char *err, size_t errlen);

/* digest_sha256_buf hashes p[0..n) into out. */
void digest_sha256_buf(const void *p, size_t n, uint8_t out[32]);

/* digest_hex writes the 64 lowercase hex digits of d and a NUL into out (65 bytes). */
void digest_hex(const uint8_t d[32], char out[65]);

/* One configured path: a file or a directory (decided each round by stat);
 * libs: also digest the shared libraries a running process of this binary
 * has mapped (read from /proc/PID/maps of the first process whose exe is
 * path, searched at start and every resend interval);
 * name: the path reported (NULL: path), for a tree seen from outside its
 * root (a container's /proc/PID/root/usr/bin/app reported as /usr/bin/app). */
struct digest_spec {
    const char *path;
    int libs;
    const char *name;
};

struct digest_watch_config {
    const struct digest_spec *specs; /* borrowed for digest_watch_new only */
    size_t nspecs;
    const char *role, *release; /* copied; NULL is "" */
    int64_t resend_ms;          /* 0: DIGEST_DEFAULT_RESEND_MS */
    const char *proc_root;      /* NULL: /proc */
};

struct digest_watch;

/* digest_watch_new copies cfg. Returns 0 with *out (digest_watch_free),
 * TT_EINVAL (an empty or relative path: message in err), TT_ENOMEM. */
int digest_watch_new(struct digest_watch **out, const struct digest_watch_config *cfg, char *err,
                     size_t errlen);

/* digest_watch_collect checks every path at now_ms and emits a
 * "telltale.digest" event through e->event for each one that is new,
 * changed, or not sent for resend_ms; a path that cannot be read is a
 * warning through e->warn (once until it is readable again) and no event.
 * Returns 0, TT_ENOMEM, or the first error e->event returned. */
int digest_watch_collect(struct digest_watch *w, const struct agent_emit *e, int64_t now_ms);

/* digest_watch_free frees w (NULL is fine). */
void digest_watch_free(struct digest_watch *w);

#endif
