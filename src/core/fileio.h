/*
 * fileio.h - small file helpers the stores share (the WAL, the record log,
 * the agent's backlog, the span and event stores): whole positional reads
 * and writes that retry EINTR and short transfers, and the directory fsync
 * that makes a created or renamed name durable.
 */
#ifndef TT_CORE_FILEIO_H
#define TT_CORE_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* tt_fsync_dir fsyncs directory dir, so names created or renamed in it
 * survive a crash. Returns 0, or -1 with errno set (open or fsync failed). */
int tt_fsync_dir(const char *dir);

/* tt_pread_all reads exactly n bytes at offset off of fd into p, retrying
 * EINTR and short reads. Returns 0, or -1 with errno set (EIO when the file
 * ends first). */
int tt_pread_all(int fd, void *p, size_t n, uint64_t off);

/* tt_pwrite_all writes exactly n bytes from p at offset off of fd, retrying
 * EINTR and short writes. Returns 0, or -1 with errno set (ENOSPC when a
 * write makes no progress). */
int tt_pwrite_all(int fd, const void *p, size_t n, uint64_t off);

#endif
