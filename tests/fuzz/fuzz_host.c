/*
 * fuzz_host.c - fuzz target for the host collectors' parsers
 * (src/agent/host_*.c). The first byte chooses which file of a scratch
 * procfs/sysfs tree the rest of the input becomes (stat, meminfo, loadavg,
 * pressure/cpu, diskstats, net/dev, net/tcp, sys/fs/file-nr, self/mounts,
 * class/net/x/mtu); every collector then runs over the tree. Whatever the
 * bytes, a collector must not crash, and every sample it emits must have a
 * name and label values that are NUL-terminated strings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "agent/host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const files[] = {
    "stat",    "meminfo", "loadavg",        "pressure/cpu", "diskstats",
    "net/dev", "net/tcp", "sys/fs/file-nr", "self/mounts",  "class/net/x/mtu",
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static char root[64];

static void cleanup(void)
{
    char p[256];
    for (size_t i = 0; i < NFILES; i++) {
        snprintf(p, sizeof p, "%s/%s", root, files[i]);
        unlink(p);
    }
    static const char *const dirs[] = { "class/net/x", "class/net", "class", "self",
                                        "sys/fs",      "sys",       "net",   "pressure" };
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(p, sizeof p, "%s/%s", root, dirs[i]);
        rmdir(p);
    }
    rmdir(root);
}

static void setup(void)
{
    static const char *const dirs[] = { "pressure", "net",   "sys",       "sys/fs",
                                        "self",     "class", "class/net", "class/net/x" };
    char p[256];
    snprintf(root, sizeof root, "/tmp/tt-fuzz-host.XXXXXX");
    if (mkdtemp(root) == NULL)
        abort();
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(p, sizeof p, "%s/%s", root, dirs[i]);
        if (mkdir(p, 0700) != 0)
            abort();
    }
    atexit(cleanup);
}

static int on_sample(void *ctx, const char *name, const struct agent_label *l, size_t n,
                     int64_t t_ms, double v)
{
    size_t *count = ctx;
    (void)t_ms;
    (void)v;
    if (strlen(name) == 0)
        abort();
    for (size_t i = 0; i < n; i++)
        (void)(strlen(l[i].name) + strlen(l[i].value));
    (*count)++;
    return 0;
}

static void on_warn(void *ctx, const char *msg)
{
    (void)ctx;
    if (strlen(msg) == 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char p[256];
    size_t count = 0;
    FILE *f;

    if (size < 1)
        return 0;
    if (root[0] == 0)
        setup();
    snprintf(p, sizeof p, "%s/%s", root, files[data[0] % NFILES]);
    f = fopen(p, "w");
    if (f == NULL)
        abort();
    if (size > 1 && fwrite(data + 1, 1, size - 1, f) != size - 1)
        abort();
    fclose(f);
    struct host_opts o = { root, root };
    struct agent_emit e = { &count, on_sample, NULL, on_warn };
    if (host_collect_all(&o, &e, 0) != 0)
        abort();
    unlink(p);
    return 0;
}
