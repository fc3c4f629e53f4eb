/*
 * host_fs.c - usage of mounted filesystems: the mounts listed in
 * /proc/self/mounts, each asked with statvfs(), as node_exporter's
 * filesystem collector names them: node_filesystem_{size,free,avail}_bytes,
 * node_filesystem_files, node_filesystem_files_free, node_filesystem_readonly
 * and node_filesystem_device_error, labelled {device,fstype,mountpoint}. A
 * mount statvfs() fails on (gone, no permission) gets device_error 1 and no
 * other sample, as in node_exporter.
 *
 * Left out, as node_exporter's defaults leave them out: pseudo filesystems
 * (--collector.filesystem.fs-types-exclude)
 *   ^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|
 *     hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|
 *     securityfs|selinuxfs|squashfs|sysfs|tracefs)$
 * and mount points (--collector.filesystem.mount-points-exclude)
 *   ^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)
 * A mount listed twice with the same labels is reported once.
 *
 * statvfs() of a hung network filesystem can block; node_exporter gives up
 * on it after a timeout in a goroutine, this collector does not yet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include "agent/host.h"
#include "agent/host_int.h"

static const char *const pseudo_fs[] = {
    "autofs",     "binfmt_misc", "bpf",       "cgroup",   "cgroup2",   "configfs",
    "debugfs",    "devpts",      "devtmpfs",  "fusectl",  "hugetlbfs", "iso9660",
    "mqueue",     "nsfs",        "overlay",   "proc",     "procfs",    "pstore",
    "rpc_pipefs", "securityfs",  "selinuxfs", "squashfs", "sysfs",     "tracefs",
};

static const struct {
    const char *name, *help;
} families[] = {
    { "node_filesystem_size_bytes", "Filesystem size in bytes." },
    { "node_filesystem_free_bytes", "Filesystem free space in bytes." },
    { "node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes." },
    { "node_filesystem_files", "Filesystem total file nodes." },
    { "node_filesystem_files_free", "Filesystem total free file nodes." },
    { "node_filesystem_readonly", "Filesystem read-only status." },
    { "node_filesystem_device_error",
      "Whether an error occurred while getting statistics for the given device." },
};
#define NFAM (sizeof(families) / sizeof(families[0]))

/* excluded_mount: the mount point pattern of the file comment. */
static int excluded_mount(const char *mp)
{
    static const char *const whole[] = { "/dev", "/proc", "/sys" };
    static const char *const below[] = { "/run/credentials/", "/var/lib/docker/",
                                         "/var/lib/containers/storage/" };
    for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
        size_t n = strlen(whole[i]);
        if (strncmp(mp, whole[i], n) == 0 && (mp[n] == 0 || mp[n] == '/'))
            return 1;
    }
    /* ".+" after the directory: at least one character below it. */
    for (size_t i = 0; i < sizeof(below) / sizeof(below[0]); i++) {
        size_t n = strlen(below[i]);
        if (strncmp(mp, below[i], n) == 0 && mp[n] != 0)
            return 1;
    }
    return 0;
}

static int excluded_fs(const char *fstype)
{
    for (size_t i = 0; i < sizeof(pseudo_fs) / sizeof(pseudo_fs[0]); i++)
        if (strcmp(fstype, pseudo_fs[i]) == 0)
            return 1;
    return 0;
}

/* unescape resolves the kernel's octal escapes ("\040" for a space) in
 * place; returns -1 on a backslash not followed by three octal digits. */
static int unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r != 0; r++) {
        if (*r != '\\') {
            *w++ = *r;
            continue;
        }
        if (r[1] < '0' || r[1] > '3' || r[2] < '0' || r[2] > '7' || r[3] < '0' || r[3] > '7')
            return -1;
        *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
        r += 3;
    }
    *w = 0;
    return 0;
}

/* has_ro tells whether the comma-separated mount options hold "ro". */
static int has_ro(const char *opts)
{
    size_t n;
    while (*opts != 0) {
        n = strcspn(opts, ",");
        if (n == 2 && opts[0] == 'r' && opts[1] == 'o')
            return 1;
        opts += n;
        if (*opts == ',')
            opts++;
    }
    return 0;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s != 0; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull; /* a separator, so "a","bc" != "ab","c" */
}

/* seen_add remembers a label set's hash; returns 1 when it was there
 * already, -1 when out of memory. */
static int seen_add(uint64_t **seen, size_t *n, size_t *cap, uint64_t h)
{
    for (size_t i = 0; i < *n; i++)
        if ((*seen)[i] == h)
            return 1;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        uint64_t *p = realloc(*seen, nc * sizeof *p);
        if (p == NULL)
            return -1;
        *seen = p;
        *cap = nc;
    }
    (*seen)[(*n)++] = h;
    return 0;
}

int host_fs_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms)
{
    struct host_file hf;
    uint64_t *seen = NULL;
    size_t nseen = 0, capseen = 0;
    int rc = 0;

    if (!host_open(&hf, e, host_root(o, 'p'), "self/mounts"))
        goto out;
    for (size_t i = 0; i < NFAM && rc == 0; i++)
        rc = host_meta(e, families[i].name, AGENT_GAUGE, families[i].help);
    while (rc == 0 && host_next(&hf)) {
        char *f[4];
        struct agent_label l[3];
        struct statvfs sv;
        double v[NFAM];
        size_t n;
        int dup;

        n = host_fields(hf.line, f, 4);
        if (n == 0)
            continue;
        if (n < 4) {
            host_warn(&hf, "%zu fields, expected at least 4", n);
            continue;
        }
        if (unescape(f[0]) != 0 || unescape(f[1]) != 0) {
            host_warn(&hf, "bad escape in device or mount point");
            continue;
        }
        if (excluded_fs(f[2]) || excluded_mount(f[1]))
            continue;
        dup = seen_add(&seen, &nseen, &capseen,
                       fnv1a(fnv1a(fnv1a(0xcbf29ce484222325ull, f[0]), f[1]), f[2]));
        if (dup == 1)
            continue;
        if (dup < 0) {
            host_warn(&hf, "out of memory");
            break;
        }
        l[0] = (struct agent_label){ "device", f[0] };
        l[1] = (struct agent_label){ "fstype", f[2] };
        l[2] = (struct agent_label){ "mountpoint", f[1] };
        if (statvfs(f[1], &sv) != 0) {
            rc = host_sample(e, "node_filesystem_device_error", l, 3, now_ms, 1);
            continue;
        }
        v[0] = (double)sv.f_blocks * (double)sv.f_frsize;
        v[1] = (double)sv.f_bfree * (double)sv.f_frsize;
        v[2] = (double)sv.f_bavail * (double)sv.f_frsize;
        v[3] = (double)sv.f_files;
        v[4] = (double)sv.f_ffree;
        v[5] = has_ro(f[3]) ? 1 : 0;
        v[6] = 0;
        for (size_t i = 0; i < NFAM && rc == 0; i++)
            rc = host_sample(e, families[i].name, l, 3, now_ms, v[i]);
    }
out:
    free(seen);
    host_close(&hf);
    return rc;
}
