/*
 * file_check.h - the file sanity collector: configured files (configs the
 * node's services read) checked every round: exists, size, mtime, sha256,
 * a parse check by type (fileparse.h) and invisible characters.
 *
 * Metrics (labels path, and type on valid):
 *   telltale_file_exists            1 or 0
 *   telltale_file_size_bytes        size (when it exists)
 *   telltale_file_mtime_seconds     modification time (when it exists)
 *   telltale_file_valid{type}       1 parses, 0 does not (when it exists)
 *   telltale_file_control_chars     invisible characters found (when it exists)
 * Events (component "file"):
 *   telltale.file.changed   notice: attrs path, old_sha256, new_sha256,
 *                           old_size, new_size
 *   telltale.file.invalid   error: the file stopped parsing (or did not
 *                           parse when first seen): attrs path, type, line,
 *                           col, error; the message is "path:line:col: msg"
 *   telltale.file.valid     info: an invalid file parses again
 *   telltale.file.controls  warning: invisible characters appeared: attrs
 *                           path, count, first ("line:col what U+XXXX")
 *   telltale.file.missing   warning: the file disappeared (attrs path)
 *
 * Invariant: the file is read (hashed, parsed, scanned) again only when its
 * (dev, inode, size, mtime, ctime) changed; the metrics are emitted every
 * round from what was last read. Files over FILE_CHECK_MAX_BYTES are
 * hashed but not parsed or scanned (valid is then 1 and a warning said so).
 */
#ifndef TT_AGENT_FILE_CHECK_H
#define TT_AGENT_FILE_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include "agent/collector.h"
#include "agent/fileparse.h"

#define FILE_CHECK_MAX_BYTES (16u << 20)

struct file_spec {
    const char *path;
    enum fileparse_type type; /* FILEPARSE_AUTO: by extension */
};

struct file_check;

/* file_check_new copies the specs. Returns 0 with *out (file_check_free),
 * TT_EINVAL (an empty or relative path: message in err), TT_ENOMEM. */
int file_check_new(struct file_check **out, const struct file_spec *specs, size_t n, char *err,
                   size_t errlen);

/* file_check_collect checks every file at now_ms, emitting the metrics and
 * events above through e. Returns 0, TT_ENOMEM, or the first error e
 * returned. A file that cannot be read is a warning through e->warn. */
int file_check_collect(struct file_check *fc, const struct agent_emit *e, int64_t now_ms);

/* file_check_free frees fc (NULL is fine). */
void file_check_free(struct file_check *fc);

#endif
