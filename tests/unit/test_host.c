/* test_host.c - the agent's host collectors (src/agent/host*.c): exact
 * names, labels and values read from the fixture trees in
 * tests/fixtures/proc-*, malformed lines reported as PATH:LINE and skipped,
 * missing files skipped silently, emitter errors passed back, the real
 * /proc giving every family with sane values, and the sock_diag TCP counts
 * (one dump of every family, one per family) exact in a network namespace
 * of the test's own. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sched.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "unit.h"
#include "telltale.h"
#include "agent/host.h"

#ifndef TT_SOURCE_DIR
#error "TT_SOURCE_DIR must name the source tree (cmake/Tests.cmake)"
#endif
#define FIXTURES TT_SOURCE_DIR "/tests/fixtures"

/* ---- a capturing emitter ---------------------------------------------------------- */

struct series {
    char key[256]; /* name{l1="v1",l2="v2"} in emission order */
    double v;
};

struct cap {
    struct series *s;
    size_t n, cap;
    char **fams; /* families announced through meta() */
    size_t nfams;
    char **warns;
    size_t nwarns;
    int64_t t_ms;
    size_t fail_after; /* sample() fails with TT_ENOMEM once n reaches it (0: never) */
    int unannounced;   /* samples of a family meta() did not announce first */
};

static int announced(const struct cap *c, const char *name)
{
    for (size_t i = 0; i < c->nfams; i++)
        if (strcmp(c->fams[i], name) == 0)
            return 1;
    return 0;
}

static int cap_sample(void *ctx, const char *name, const struct agent_label *l, size_t nl,
                      int64_t t_ms, double v)
{
    struct cap *c = ctx;
    struct series *s;
    size_t k;

    if (c->fail_after > 0 && c->n >= c->fail_after)
        return TT_ENOMEM;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->s = realloc(c->s, c->cap * sizeof *c->s);
        assert_non_null(c->s);
    }
    s = &c->s[c->n++];
    k = (size_t)snprintf(s->key, sizeof s->key, "%s", name);
    for (size_t i = 0; i < nl; i++)
        k += (size_t)snprintf(s->key + k, sizeof s->key - k, "%s%s=\"%s\"%s", i == 0 ? "{" : ",",
                              l[i].name, l[i].value, i + 1 == nl ? "}" : "");
    assert_true(k < sizeof s->key);
    s->v = v;
    assert_int_equal(t_ms, c->t_ms);
    if (!announced(c, name))
        c->unannounced++;
    return 0;
}

static int cap_meta(void *ctx, const char *family, enum agent_metric_type type, const char *help)
{
    struct cap *c = ctx;
    assert_true(type == AGENT_COUNTER || type == AGENT_GAUGE);
    assert_non_null(help);
    c->fams = realloc(c->fams, (c->nfams + 1) * sizeof *c->fams);
    assert_non_null(c->fams);
    c->fams[c->nfams] = strdup(family);
    assert_non_null(c->fams[c->nfams]);
    c->nfams++;
    return 0;
}

static void cap_warn(void *ctx, const char *msg)
{
    struct cap *c = ctx;
    c->warns = realloc(c->warns, (c->nwarns + 1) * sizeof *c->warns);
    assert_non_null(c->warns);
    c->warns[c->nwarns] = strdup(msg);
    assert_non_null(c->warns[c->nwarns]);
    c->nwarns++;
}

static void cap_free(struct cap *c)
{
    for (size_t i = 0; i < c->nfams; i++)
        free(c->fams[i]);
    for (size_t i = 0; i < c->nwarns; i++)
        free(c->warns[i]);
    free(c->fams);
    free(c->warns);
    free(c->s);
    memset(c, 0, sizeof *c);
}

/* collect_in runs every collector with procfs root proc and sysfs root
 * sys into c (proc NULL: the real /proc and /sys). */
static int collect_in(struct cap *c, const char *proc, const char *sys)
{
    struct host_opts o = { proc, sys };
    struct agent_emit e = { c, cap_sample, cap_meta, cap_warn };
    c->t_ms = 1700000000123;
    return host_collect_all(proc != NULL ? &o : NULL, &e, c->t_ms);
}

static int collect(struct cap *c, const char *proc)
{
    return collect_in(c, proc, FIXTURES "/sys-none");
}

static const struct series *find(const struct cap *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->s[i].key, key) == 0)
            return &c->s[i];
    return NULL;
}

/* count_name counts the samples of metric name (any labels). */
static size_t count_name(const struct cap *c, const char *name)
{
    size_t n = 0, len = strlen(name);
    for (size_t i = 0; i < c->n; i++)
        if (strncmp(c->s[i].key, name, len) == 0 &&
            (c->s[i].key[len] == 0 || c->s[i].key[len] == '{'))
            n++;
    return n;
}

/* expect checks that series key was emitted once with value v. */
static void expect(const struct cap *c, const char *key, double v)
{
    const struct series *s = find(c, key);
    size_t n = 0;
    if (s == NULL)
        fail_msg("series %s not emitted", key);
    for (size_t i = 0; i < c->n; i++)
        n += strcmp(c->s[i].key, key) == 0;
    if (n != 1)
        fail_msg("series %s emitted %zu times", key, n);
    if (fabs(s->v - v) > 1e-9 * fmax(1, fabs(v)))
        fail_msg("%s: got %.17g, expected %.17g", key, s->v, v);
}

static void expect_none(const struct cap *c, const char *key)
{
    if (find(c, key) != NULL)
        fail_msg("series %s emitted, expected none", key);
}

static void expect_warn(const struct cap *c, const char *file_line, const char *what)
{
    char want[512];
    snprintf(want, sizeof want, "%s/proc-bad/%s: ", FIXTURES, file_line);
    for (size_t i = 0; i < c->nwarns; i++)
        if (strncmp(c->warns[i], want, strlen(want)) == 0 && strstr(c->warns[i], what) != NULL)
            return;
    for (size_t i = 0; i < c->nwarns; i++)
        print_message("warning: %s\n", c->warns[i]);
    fail_msg("no warning \"%s...%s\"", want, what);
}

/* ---- the fixture tree proc-basic ---------------------------------------------------- */

static void test_cpu_stat(void **state)
{
    struct cap c = { 0 };
    double hz = (double)sysconf(_SC_CLK_TCK);
    (void)state;

    assert_int_equal(collect(&c, FIXTURES "/proc-basic"), 0);
    assert_int_equal(c.nwarns, 0);
    assert_int_equal(c.unannounced, 0);
    expect(&c, "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"}", 100 / hz);
    expect(&c, "node_cpu_seconds_total{cpu=\"0\",mode=\"nice\"}", 10 / hz);
    expect(&c, "node_cpu_seconds_total{cpu=\"0\",mode=\"system\"}", 150 / hz);
    expect(&c, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}", 2000 / hz);
    expect(&c, "node_cpu_seconds_total{cpu=\"0\",mode=\"iowait\"}", 20 / hz);
    expect(&c, "node_cpu_seconds_total{cpu=\"0\",mode=\"irq\"}", 0);
    expect(&c, "node_cpu_seconds_total{cpu=\"0\",mode=\"softirq\"}", 5 / hz);
    expect(&c, "node_cpu_seconds_total{cpu=\"0\",mode=\"steal\"}", 1 / hz);
    expect(&c, "node_cpu_seconds_total{cpu=\"1\",mode=\"user\"}", 200 / hz);
    expect(&c, "node_cpu_seconds_total{cpu=\"1\",mode=\"iowait\"}", 30 / hz);
    expect(&c, "node_cpu_guest_seconds_total{cpu=\"0\",mode=\"user\"}", 40 / hz);
    expect(&c, "node_cpu_guest_seconds_total{cpu=\"0\",mode=\"nice\"}", 2 / hz);
    expect(&c, "node_cpu_guest_seconds_total{cpu=\"1\",mode=\"user\"}", 0);
    /* The "cpu" line is the sum: node_exporter does not report it. */
    assert_int_equal(count_name(&c, "node_cpu_seconds_total"), 16);
    assert_int_equal(count_name(&c, "node_cpu_guest_seconds_total"), 4);
    expect(&c, "node_context_switches_total", 66549015);
    expect(&c, "node_intr_total", 9877690);
    expect(&c, "node_forks_total", 930132);
    expect(&c, "node_boot_time_seconds", 1795437803);
    expect(&c, "node_procs_running", 3);
    expect(&c, "node_procs_blocked", 1);
    cap_free(&c);
}

static void test_mem_load_pressure_filefd(void **state)
{
    struct cap c = { 0 };
    (void)state;

    assert_int_equal(collect(&c, FIXTURES "/proc-basic"), 0);
    assert_int_equal(c.nwarns, 0);
    expect(&c, "node_memory_MemTotal_bytes", 8000000.0 * 1024);
    expect(&c, "node_memory_MemFree_bytes", 1000000.0 * 1024);
    expect(&c, "node_memory_MemAvailable_bytes", 5000000.0 * 1024);
    expect(&c, "node_memory_Active_anon_bytes", 200000.0 * 1024);
    expect(&c, "node_memory_Inactive_file_bytes", 300000.0 * 1024);
    expect(&c, "node_memory_SwapCached_bytes", 0);
    expect(&c, "node_memory_SwapTotal_bytes", 2097148.0 * 1024);
    expect(&c, "node_memory_SwapFree_bytes", 2097000.0 * 1024);
    expect(&c, "node_memory_HugePages_Total", 0);
    expect(&c, "node_memory_HugePages_Free", 0);
    expect(&c, "node_memory_Hugepagesize_bytes", 2048.0 * 1024);
    expect_none(&c, "node_memory_HugePages_Total_bytes");
    expect(&c, "node_load1", 0.52);
    expect(&c, "node_load5", 1.58);
    expect(&c, "node_load15", 2.75);
    expect(&c, "node_pressure_cpu_waiting_seconds_total", 1737.0238);
    expect_none(&c, "node_pressure_cpu_stalled_seconds_total");
    expect(&c, "node_pressure_memory_waiting_seconds_total", 2.5);
    expect(&c, "node_pressure_memory_stalled_seconds_total", 1.5);
    expect(&c, "node_pressure_io_waiting_seconds_total", 0.4);
    expect(&c, "node_pressure_io_stalled_seconds_total", 0.3);
    expect(&c, "node_filefd_allocated", 4128);
    expect(&c, "node_filefd_maximum", 9223372036854775807.0);
    cap_free(&c);
}

static void test_disk(void **state)
{
    struct cap c = { 0 };
    (void)state;

    assert_int_equal(collect(&c, FIXTURES "/proc-basic"), 0);
    assert_int_equal(c.nwarns, 0);
    assert_int_equal(c.unannounced, 0);
    expect(&c, "node_disk_reads_completed_total{device=\"vda\"}", 1000);
    expect(&c, "node_disk_reads_merged_total{device=\"vda\"}", 20);
    expect(&c, "node_disk_read_bytes_total{device=\"vda\"}", 40000.0 * 512);
    expect(&c, "node_disk_read_time_seconds_total{device=\"vda\"}", 1.5);
    expect(&c, "node_disk_writes_completed_total{device=\"vda\"}", 2000);
    expect(&c, "node_disk_writes_merged_total{device=\"vda\"}", 30);
    expect(&c, "node_disk_written_bytes_total{device=\"vda\"}", 80000.0 * 512);
    expect(&c, "node_disk_write_time_seconds_total{device=\"vda\"}", 2.5);
    expect(&c, "node_disk_io_now{device=\"vda\"}", 2);
    expect(&c, "node_disk_io_time_seconds_total{device=\"vda\"}", 3);
    expect(&c, "node_disk_io_time_weighted_seconds_total{device=\"vda\"}", 4);
    expect(&c, "node_disk_discards_completed_total{device=\"vda\"}", 10);
    expect(&c, "node_disk_discards_merged_total{device=\"vda\"}", 1);
    expect(&c, "node_disk_discarded_sectors_total{device=\"vda\"}", 160);
    expect(&c, "node_disk_discard_time_seconds_total{device=\"vda\"}", 0.007);
    expect(&c, "node_disk_flush_requests_total{device=\"vda\"}", 50);
    expect(&c, "node_disk_flush_requests_time_seconds_total{device=\"vda\"}", 0.06);
    /* 15 fields: discards but no flushes; 11: neither. */
    expect(&c, "node_disk_discards_completed_total{device=\"nvme0n1\"}", 0);
    expect_none(&c, "node_disk_flush_requests_total{device=\"nvme0n1\"}");
    expect(&c, "node_disk_reads_completed_total{device=\"sdb\"}", 7);
    expect(&c, "node_disk_io_time_weighted_seconds_total{device=\"sdb\"}", 0.003);
    expect_none(&c, "node_disk_discards_completed_total{device=\"sdb\"}");
    expect(&c, "node_disk_reads_completed_total{device=\"dm-0\"}", 11);
    /* node_exporter's default device exclusion: loop, ram, partitions. */
    expect_none(&c, "node_disk_reads_completed_total{device=\"loop0\"}");
    expect_none(&c, "node_disk_reads_completed_total{device=\"ram0\"}");
    expect_none(&c, "node_disk_reads_completed_total{device=\"vda1\"}");
    expect_none(&c, "node_disk_reads_completed_total{device=\"nvme0n1p1\"}");
    assert_int_equal(count_name(&c, "node_disk_reads_completed_total"), 4);
    cap_free(&c);
}

static void test_net_tcp(void **state)
{
    struct cap c = { 0 };
    (void)state;

    assert_int_equal(collect(&c, FIXTURES "/proc-basic"), 0);
    assert_int_equal(c.nwarns, 0);
    expect(&c, "node_network_receive_bytes_total{device=\"eth0\"}", 123456789);
    expect(&c, "node_network_receive_packets_total{device=\"eth0\"}", 1000);
    expect(&c, "node_network_receive_errs_total{device=\"eth0\"}", 1);
    expect(&c, "node_network_receive_drop_total{device=\"eth0\"}", 2);
    expect(&c, "node_network_receive_fifo_total{device=\"eth0\"}", 3);
    expect(&c, "node_network_receive_frame_total{device=\"eth0\"}", 4);
    expect(&c, "node_network_receive_compressed_total{device=\"eth0\"}", 5);
    expect(&c, "node_network_receive_multicast_total{device=\"eth0\"}", 6);
    expect(&c, "node_network_transmit_bytes_total{device=\"eth0\"}", 987654321);
    expect(&c, "node_network_transmit_packets_total{device=\"eth0\"}", 2000);
    expect(&c, "node_network_transmit_errs_total{device=\"eth0\"}", 7);
    expect(&c, "node_network_transmit_drop_total{device=\"eth0\"}", 8);
    expect(&c, "node_network_transmit_fifo_total{device=\"eth0\"}", 9);
    expect(&c, "node_network_transmit_colls_total{device=\"eth0\"}", 10);
    expect(&c, "node_network_transmit_carrier_total{device=\"eth0\"}", 11);
    expect(&c, "node_network_transmit_compressed_total{device=\"eth0\"}", 12);
    expect(&c, "node_network_receive_bytes_total{device=\"lo\"}", 1000);
    assert_int_equal(count_name(&c, "node_network_receive_bytes_total"), 2);
    expect(&c, "node_tcp_connection_states{state=\"listen\"}", 2);
    expect(&c, "node_tcp_connection_states{state=\"established\"}", 2);
    expect(&c, "node_tcp_connection_states{state=\"time_wait\"}", 1);
    expect(&c, "node_tcp_connection_states{state=\"close_wait\"}", 0);
    assert_int_equal(count_name(&c, "node_tcp_connection_states"), 11);
    cap_free(&c);
}

static void test_filesystem(void **state)
{
    struct cap c = { 0 };
    struct statvfs sv;
    const char *root = "{device=\"/dev/root\",fstype=\"ext4\",mountpoint=\"/\"}";
    char key[256];
    (void)state;

    assert_int_equal(collect(&c, FIXTURES "/proc-basic"), 0);
    assert_int_equal(c.nwarns, 0);
    assert_int_equal(statvfs("/", &sv), 0);
    snprintf(key, sizeof key, "node_filesystem_size_bytes%s", root);
    expect(&c, key, (double)sv.f_blocks * (double)sv.f_frsize);
    snprintf(key, sizeof key, "node_filesystem_files%s", root);
    expect(&c, key, (double)sv.f_files);
    snprintf(key, sizeof key, "node_filesystem_readonly%s", root);
    expect(&c, key, 0);
    snprintf(key, sizeof key, "node_filesystem_device_error%s", root);
    expect(&c, key, 0);
    snprintf(key, sizeof key, "node_filesystem_avail_bytes%s", root);
    assert_non_null(find(&c, key));
    /* A mount point that is gone: an error flag and nothing else; the
     * kernel's \040 is a space. */
    expect(&c,
           "node_filesystem_device_error{device=\"/dev/sdz1\",fstype=\"ext4\","
           "mountpoint=\"/nonexistent/telltale test\"}",
           1);
    /* Pseudo filesystems, /dev, /proc, /sys, docker's layers left out; "/"
     * listed twice is reported once. */
    assert_int_equal(count_name(&c, "node_filesystem_size_bytes"), 1);
    assert_int_equal(count_name(&c, "node_filesystem_device_error"), 2);
    cap_free(&c);
}

static void test_netclass(void **state)
{
    struct cap c = { 0 };
    const char *want = FIXTURES "/sys-basic/class/net/bad0/mtu:1: \"abc\" is not a number";
    (void)state;

    assert_int_equal(collect_in(&c, FIXTURES "/proc-none", FIXTURES "/sys-basic"), 0);
    assert_int_equal(c.unannounced, 0);
    expect(&c, "node_network_up{device=\"eth0\"}", 1);
    expect(&c, "node_network_up{device=\"lo\"}", 0); /* operstate "unknown" */
    expect(&c, "node_network_up{device=\"ifb0\"}", 0);
    expect(&c, "node_network_up{device=\"bad0\"}", 1);
    expect(&c, "node_network_mtu_bytes{device=\"eth0\"}", 1400);
    expect(&c, "node_network_mtu_bytes{device=\"lo\"}", 65536);
    expect_none(&c, "node_network_mtu_bytes{device=\"bad0\"}");
    expect(&c, "node_network_carrier{device=\"eth0\"}", 1);
    expect_none(&c, "node_network_carrier{device=\"ifb0\"}");
    expect(&c, "node_network_speed_bytes{device=\"eth0\"}", 1000 * 125000.0);
    expect(&c, "node_network_speed_bytes{device=\"ifb0\"}", -125000); /* as node_exporter */
    expect(&c, "node_network_transmit_queue_length{device=\"ifb0\"}", 32);
    assert_int_equal(count_name(&c, "node_network_up"), 4);
    /* Interfaces in name order, whatever the directory's order. */
    assert_string_equal(c.s[0].key, "node_network_up{device=\"bad0\"}");
    assert_int_equal(c.nwarns, 1);
    assert_string_equal(c.warns[0], want);
    cap_free(&c);
}

/* ---- malformed and missing files ------------------------------------------------------ */

static void test_malformed_lines_warned_and_skipped(void **state)
{
    struct cap c = { 0 };
    double hz = (double)sysconf(_SC_CLK_TCK);
    (void)state;

    assert_int_equal(collect(&c, FIXTURES "/proc-bad"), 0);
    expect_warn(&c, "stat:3", "field 3 \"x\" is not a number");
    expect_warn(&c, "stat:4", "4 fields, expected at least 9");
    expect_warn(&c, "stat:5", "intr has no value");
    expect_warn(&c, "stat:6", "ctxt value \"abc\"");
    expect_warn(&c, "meminfo:2", "expected \"Key: value [kB]\"");
    expect_warn(&c, "meminfo:3", "expected \"Key: value [kB]\"");
    expect_warn(&c, "meminfo:4", "unit \"MB\"");
    expect_warn(&c, "meminfo:5", "\"notanumber\" is not a number");
    expect_warn(&c, "loadavg:1", "field 2 \"x\" is not a number");
    expect_warn(&c, "pressure/cpu:1", "expected \"some avg10=X");
    expect_warn(&c, "diskstats:1", "8 fields, expected at least 14");
    expect_warn(&c, "diskstats:3", "field 13 \"ten\" is not a number");
    expect_warn(&c, "net/dev:3", "no ':'");
    expect_warn(&c, "net/dev:4", "eth1: 3 counters, expected 16");
    expect_warn(&c, "net/tcp:3", "state \"ZZ\"");
    expect_warn(&c, "net/tcp:4", "2 fields, expected at least 4");
    expect_warn(&c, "sys/fs/file-nr:1", "2 fields, expected 3");
    expect_warn(&c, "self/mounts:2", "bad escape");
    expect_warn(&c, "self/mounts:3", "2 fields, expected at least 4");
    assert_int_equal(c.nwarns, 19);
    /* The good lines around the bad ones are all there. */
    expect(&c, "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"}", 100 / hz);
    assert_int_equal(count_name(&c, "node_cpu_seconds_total"), 8);
    expect(&c, "node_boot_time_seconds", 1795437803);
    expect_none(&c, "node_context_switches_total");
    expect(&c, "node_memory_MemTotal_bytes", 8000000.0 * 1024);
    expect(&c, "node_memory_Buffers_bytes", 100.0 * 1024);
    assert_int_equal(count_name(&c, "node_load1"), 0);
    assert_int_equal(count_name(&c, "node_pressure_cpu_waiting_seconds_total"), 0);
    expect(&c, "node_disk_io_time_weighted_seconds_total{device=\"vdb\"}", 0.011);
    assert_int_equal(count_name(&c, "node_disk_reads_completed_total"), 1);
    expect(&c, "node_network_transmit_compressed_total{device=\"eth2\"}", 16);
    assert_int_equal(count_name(&c, "node_network_receive_bytes_total"), 1);
    expect(&c, "node_tcp_connection_states{state=\"listen\"}", 1);
    expect(&c, "node_tcp_connection_states{state=\"established\"}", 0);
    assert_int_equal(count_name(&c, "node_filefd_allocated"), 0);
    assert_int_equal(count_name(&c, "node_filesystem_size_bytes"), 1);
    cap_free(&c);
}

static void test_missing_files_silent(void **state)
{
    struct cap c = { 0 };
    (void)state;

    assert_int_equal(collect(&c, FIXTURES "/proc-none"), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(c.nwarns, 0);
    cap_free(&c);
    /* proc-bad has no pressure/io, pressure/memory nor net/tcp6: no word. */
    assert_int_equal(collect(&c, FIXTURES "/proc-bad"), 0);
    for (size_t i = 0; i < c.nwarns; i++) {
        assert_null(strstr(c.warns[i], "pressure/io"));
        assert_null(strstr(c.warns[i], "tcp6"));
    }
    assert_int_equal(count_name(&c, "node_pressure_io_waiting_seconds_total"), 0);
    cap_free(&c);
}

static void test_emitter_error_stops(void **state)
{
    struct cap c = { 0 };
    size_t all;
    (void)state;

    assert_int_equal(collect(&c, FIXTURES "/proc-basic"), 0);
    all = c.n;
    cap_free(&c);
    assert_true(all > 100);
    /* Failing at every point: the code comes back and nothing more is emitted. */
    for (size_t k = 1; k < all; k += 7) {
        c.fail_after = k;
        assert_int_equal(collect(&c, FIXTURES "/proc-basic"), TT_ENOMEM);
        assert_int_equal(c.n, k);
        cap_free(&c);
    }
}

/* ---- the real /proc ----------------------------------------------------------------------- */

/* tcp_pair opens a listening socket on 127.0.0.1 and a connection to it:
 * fds[0] listens, fds[1] and fds[2] are the two established ends. */
static void tcp_pair(int fds[3])
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof sa;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fds[0] >= 0);
    assert_int_equal(bind(fds[0], (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fds[0], 1), 0);
    assert_int_equal(getsockname(fds[0], (struct sockaddr *)&sa, &len), 0);
    fds[1] = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fds[1] >= 0);
    assert_int_equal(connect(fds[1], (struct sockaddr *)&sa, sizeof sa), 0);
    fds[2] = accept(fds[0], NULL, NULL);
    assert_true(fds[2] >= 0);
}

static void test_real_proc(void **state)
{
    struct cap c = { 0 };
    size_t ncpu;
    const struct series *s;
    int fds[3];
    (void)state;

    tcp_pair(fds);
    assert_int_equal(collect(&c, NULL), 0);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    for (size_t i = 0; i < c.nwarns; i++)
        print_message("warning: %s\n", c.warns[i]);
    assert_int_equal(c.nwarns, 0);
    assert_int_equal(c.unannounced, 0);
    ncpu = count_name(&c, "node_cpu_seconds_total");
    assert_true(ncpu >= 8 && ncpu % 8 == 0);
    for (size_t i = 0; i < c.n; i++) {
        assert_true(isfinite(c.s[i].v));
        /* Only an unknown link speed is negative (-1 Mbit/s, as node_exporter). */
        if (c.s[i].v < 0 && strncmp(c.s[i].key, "node_network_speed_bytes{", 25) != 0)
            fail_msg("%s is %g", c.s[i].key, c.s[i].v);
    }
    s = find(&c, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"}");
    assert_non_null(s);
    s = find(&c, "node_memory_MemTotal_bytes");
    assert_non_null(s);
    assert_true(s->v > 16e6);
    assert_non_null(find(&c, "node_memory_MemAvailable_bytes"));
    assert_non_null(find(&c, "node_memory_SwapTotal_bytes"));
    assert_non_null(find(&c, "node_load1"));
    assert_non_null(find(&c, "node_load15"));
    s = find(&c, "node_boot_time_seconds");
    assert_non_null(s);
    assert_true(s->v > 1e9 && s->v < (double)time(NULL));
    s = find(&c, "node_context_switches_total");
    assert_non_null(s);
    assert_true(s->v > 0);
    assert_non_null(find(&c, "node_forks_total"));
    assert_non_null(find(&c, "node_intr_total"));
    s = find(&c, "node_procs_running");
    assert_non_null(s);
    assert_true(s->v >= 1); /* this test is running */
    s = find(&c, "node_filefd_maximum");
    assert_non_null(s);
    assert_true(s->v > 0);
    assert_non_null(find(&c, "node_network_receive_bytes_total{device=\"lo\"}"));
    if (access("/sys/class/net/lo", F_OK) == 0)
        assert_non_null(find(&c, "node_network_mtu_bytes{device=\"lo\"}"));
    assert_int_equal(count_name(&c, "node_tcp_connection_states"), 11);
    /* Our own sockets are counted (through sock_diag on the real /proc). */
    s = find(&c, "node_tcp_connection_states{state=\"listen\"}");
    assert_non_null(s);
    assert_true(s->v >= 1);
    s = find(&c, "node_tcp_connection_states{state=\"established\"}");
    assert_non_null(s);
    assert_true(s->v >= 2);
    assert_true(count_name(&c, "node_filesystem_size_bytes") >= 1);
    if (access("/proc/pressure/cpu", R_OK) == 0)
        assert_non_null(find(&c, "node_pressure_cpu_waiting_seconds_total"));
    /* Every device reported has every field of the oldest kernels. */
    assert_int_equal(count_name(&c, "node_disk_io_time_seconds_total"),
                     count_name(&c, "node_disk_reads_completed_total"));
    cap_free(&c);
}

/* diag_child runs in a fresh network namespace with two listening sockets,
 * IPv4 and IPv6 (not dual stack), and nothing else: both ways of counting
 * must see exactly those two. Exit status: 0 ok, 77 no namespace or no
 * IPv6 here (skipped), 10+ which check failed. */
static int diag_child(void)
{
    struct sockaddr_in a4 = { .sin_family = AF_INET };
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
    int one = 1, fd4, fd6;

    if (unshare(CLONE_NEWNET) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
        return 77;
    fd4 = socket(AF_INET, SOCK_STREAM, 0);
    if (fd4 < 0 || bind(fd4, (struct sockaddr *)&a4, sizeof a4) != 0 || listen(fd4, 1) != 0)
        return 10;
    fd6 = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd6 < 0)
        return 77;
    if (setsockopt(fd6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0 ||
        bind(fd6, (struct sockaddr *)&a6, sizeof a6) != 0 || listen(fd6, 1) != 0)
        return 11;
    for (int way = 0; way < 2; way++) {
        uint64_t n[12];
        if (host_tcp_diag_count(way, n) != 0)
            return 12 + way;
        for (int st = 1; st < 12; st++)
            if (n[st] != (st == 10 ? 2u : 0u)) /* 10: TCP_LISTEN */
                return 14 + way;
    }
    close(fd4);
    close(fd6);
    return 0;
}

static void test_tcp_diag_counts_both_families(void **state)
{
    int status;
    pid_t pid;
    (void)state;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(diag_child());
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

UNIT_TESTS(cmocka_unit_test(test_cpu_stat), cmocka_unit_test(test_mem_load_pressure_filefd),
           cmocka_unit_test(test_disk), cmocka_unit_test(test_net_tcp),
           cmocka_unit_test(test_filesystem), cmocka_unit_test(test_netclass),
           cmocka_unit_test(test_malformed_lines_warned_and_skipped),
           cmocka_unit_test(test_missing_files_silent), cmocka_unit_test(test_emitter_error_stops),
           cmocka_unit_test(test_real_proc), cmocka_unit_test(test_tcp_diag_counts_both_families))
