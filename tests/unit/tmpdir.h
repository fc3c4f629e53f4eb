/*
 * tmpdir.h - temporary directories for unit tests: make one under /tmp with
 * a name prefix, and remove a tree (files and directories) afterwards.
 * Header-only so that tests of the library (which link nothing of the
 * server) can use it too.
 */
#ifndef TT_TEST_TMPDIR_H
#define TT_TEST_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* rm_rf removes path and, for a directory, everything below it. Errors are
 * ignored (a test cleaning up must not fail on them). */
static inline void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char p[1024];
    if (d == NULL) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int k = snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (k > 0 && (size_t)k < sizeof p)
            rm_rf(p);
    }
    closedir(d);
    rmdir(path);
}

/* tmpdir_make creates a fresh directory /tmp/tt-PREFIX-XXXXXX and writes its
 * name into dir (len bytes, at least 32). Returns 0, or -1 (dir is then empty). */
static inline int tmpdir_make(char *dir, size_t len, const char *prefix)
{
    snprintf(dir, len, "/tmp/tt-%s-XXXXXX", prefix);
    if (mkdtemp(dir) == NULL) {
        dir[0] = '\0';
        return -1;
    }
    return 0;
}

#endif
