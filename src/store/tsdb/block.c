/*
 * block.c - what every block module shares: options, ids, error messages,
 * meta release and block removal (block.h). The writer is block_write.c, the
 * reader block_read.c and block_iter.c.
 */
#include "store/tsdb/block.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "store/tsdb/block_int.h"
#include "telltale.h"

int block_set_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *block_file_name(int which)
{
    switch (which) {
    case 0:
        return "index";
    case 1:
        return "chunks";
    case 2:
        return "rollups";
    default:
        return "meta.json";
    }
}

void block_writer_options_default(struct block_writer_options *o)
{
    memset(o, 0, sizeof *o);
    o->zstd_level = 3;
    o->level = 1;
    o->rollups = 1;
    o->chunk_range_ms = INT64_C(7200000);
    o->chunk_max_samples = 4096;
}

void block_meta_release(struct block_meta *meta)
{
    if (meta == NULL)
        return;
    free(meta->sources);
    meta->sources = NULL;
    meta->nsources = 0;
}

void block_new_id(char out[BLOCK_ID_LEN + 1])
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; /* Crockford */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    uint8_t rnd[10];
    size_t got = 0;
    while (got < sizeof rnd) {
        ssize_t n = getrandom(rnd + got, sizeof rnd - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof rnd) {
        /* No entropy source: mix the clock and the process in (ids must only
         * be unique among one server's blocks). */
        uint64_t x = ms ^ (uint64_t)ts.tv_nsec << 20 ^ (uint64_t)getpid() << 40;
        for (size_t i = got; i < sizeof rnd; i++) {
            x ^= x >> 33;
            x *= UINT64_C(0xff51afd7ed558ccd);
            x ^= x >> 29;
            rnd[i] = (uint8_t)x;
        }
    }
    /* 10 characters of time (48 bits, the top 2 of 50 zero), 16 of randomness. */
    for (int i = 9; i >= 0; i--) {
        out[i] = b32[ms & 31];
        ms >>= 5;
    }
    uint64_t hi = 0, lo = 0; /* 80 bits: hi 40, lo 40 */
    for (int i = 0; i < 5; i++) {
        hi = hi << 8 | rnd[i];
        lo = lo << 8 | rnd[5 + i];
    }
    for (int i = 7; i >= 0; i--) {
        out[10 + i] = b32[hi & 31];
        out[18 + i] = b32[lo & 31];
        hi >>= 5;
        lo >>= 5;
    }
    out[BLOCK_ID_LEN] = 0;
}

/* remove_files unlinks every entry of directory path (blocks hold only
 * files) and the directory itself. */
static int remove_files(const char *path, char *err, size_t errlen)
{
    DIR *d = opendir(path);
    char eb[96];
    if (d == NULL) {
        int e = errno;
        return block_set_err(err, errlen, TT_ESYS, "%s: cannot open directory: %s", path,
                             block_errstr(e, eb, sizeof eb));
    }
    int dfd = dirfd(d);
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(dfd, de->d_name, 0) != 0 && errno != ENOENT && rc == 0) {
            int e = errno;
            rc = block_set_err(err, errlen, TT_ESYS, "%s/%s: cannot remove: %s", path, de->d_name,
                               block_errstr(e, eb, sizeof eb));
        }
    }
    closedir(d);
    if (rc == 0 && rmdir(path) != 0) {
        int e = errno;
        rc = block_set_err(err, errlen, TT_ESYS, "%s: cannot remove directory: %s", path,
                           block_errstr(e, eb, sizeof eb));
    }
    return rc;
}

static void sync_parent(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    while (n > 0 && path[n - 1] != '/')
        n--;
    char *parent = malloc(n + 2);
    if (parent == NULL)
        return;
    if (n == 0) {
        parent[0] = '.';
        parent[1] = 0;
    } else {
        memcpy(parent, path, n);
        parent[n] = 0;
    }
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(parent);
}

int block_remove(const char *dir, char *err, size_t errlen)
{
    size_t n = strlen(dir);
    char *del = malloc(n + sizeof ".deleted");
    if (del == NULL)
        return block_set_err(err, errlen, TT_ESYS, "%s: out of memory", dir);
    memcpy(del, dir, n);
    memcpy(del + n, ".deleted", sizeof ".deleted");
    struct stat st;
    char eb[96];
    int rc = 0;
    /* A crash during an earlier removal may have left dir.deleted. */
    if (lstat(del, &st) == 0 && (rc = remove_files(del, err, errlen)) != 0)
        goto out;
    if (rename(dir, del) != 0) {
        int e = errno;
        rc = block_set_err(err, errlen, TT_ESYS, "%s: cannot rename to %s: %s", dir, del,
                           block_errstr(e, eb, sizeof eb));
        goto out;
    }
    sync_parent(dir);
    rc = remove_files(del, err, errlen);
    if (rc == 0)
        sync_parent(dir);
out:
    free(del);
    return rc;
}
