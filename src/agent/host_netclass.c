/*
 * host_netclass.c - the state of each network interface from sysfs
 * (/sys/class/net/<device>/), as node_exporter's netclass collector names
 * it: node_network_up (1 when operstate is "up"), node_network_mtu_bytes,
 * node_network_carrier, node_network_speed_bytes (Mbit/s times 125000;
 * node_exporter reports the kernel's -1 for "unknown" as -125000, and so
 * does this) and node_network_transmit_queue_length, labelled {device}.
 * Every interface is reported, lo included. An attribute the kernel has no
 * value for right now (carrier of a down interface: EINVAL) is left out
 * silently; one that is not a number is a warning.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/host.h"
#include "agent/host_int.h"

static const struct {
    const char *attr, *name, *help;
    double scale;
} attrs[] = {
    { "mtu", "node_network_mtu_bytes", "Network device property: mtu_bytes", 1 },
    { "carrier", "node_network_carrier", "Network device property: carrier", 1 },
    { "speed", "node_network_speed_bytes", "Network device property: speed_bytes", 125000 },
    { "tx_queue_len", "node_network_transmit_queue_length",
      "Network device property: transmit_queue_length", 1 },
};
#define NATTRS (sizeof(attrs) / sizeof(attrs[0]))

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* device emits the samples of one interface. */
static int device(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms,
                  const char *dev)
{
    struct agent_label l = { "device", dev };
    char rel[512];
    int rc = 0;

    snprintf(rel, sizeof rel, "class/net/%s/operstate", dev);
    {
        struct host_file hf;
        if (host_open(&hf, e, host_root(o, 's'), rel)) {
            hf.quiet = 1;
            if (host_next(&hf))
                rc = host_sample(e, "node_network_up", &l, 1, now_ms,
                                 strcmp(hf.line, "up") == 0 ? 1 : 0);
        }
        host_close(&hf);
    }
    for (size_t i = 0; i < NATTRS && rc == 0; i++) {
        struct host_file hf;
        double v;

        snprintf(rel, sizeof rel, "class/net/%s/%s", dev, attrs[i].attr);
        if (host_open(&hf, e, host_root(o, 's'), rel)) {
            hf.quiet = 1;
            if (host_next(&hf)) {
                if (host_f64(hf.line, &v) != 0)
                    host_warn(&hf, "\"%s\" is not a number", hf.line);
                else
                    rc = host_sample(e, attrs[i].name, &l, 1, now_ms, v * attrs[i].scale);
            }
        }
        host_close(&hf);
    }
    return rc;
}

int host_netclass_collect(const struct host_opts *o, const struct agent_emit *e, int64_t now_ms)
{
    char path[1024];
    char **devs = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d;
    int rc = 0;

    snprintf(path, sizeof path, "%s/class/net", host_root(o, 's'));
    d = opendir(path);
    if (d == NULL)
        return 0; /* no sysfs here: skipped silently */
    while ((de = readdir(d)) != NULL) {
        char *s;
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **p = realloc(devs, nc * sizeof *p);
            if (p == NULL)
                break;
            devs = p;
            cap = nc;
        }
        s = strdup(de->d_name);
        if (s == NULL)
            break;
        devs[n++] = s;
    }
    closedir(d);
    /* Sorted, so the output does not depend on the directory's order. */
    if (n > 0)
        qsort(devs, n, sizeof *devs, by_name);
    rc = host_meta(e, "node_network_up", AGENT_GAUGE,
                   "Value is 1 if operstate is 'up', 0 otherwise.");
    for (size_t i = 0; i < NATTRS && rc == 0; i++)
        rc = host_meta(e, attrs[i].name, AGENT_GAUGE, attrs[i].help);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = device(o, e, now_ms, devs[i]);
    for (size_t i = 0; i < n; i++)
        free(devs[i]);
    free(devs);
    return rc;
}
