/*
 * fuzz_backlog.c - fuzz target for the agent's backlog reader
 * (src/agent/backlog.c). The input is written into a fresh backlog
 * directory as segment files and optionally a state file, then opened and
 * walked with the cursor, acked and walked again: nothing may crash, every
 * problem must lie inside its file, and every batch handed out must be one
 * whole batch with good checksums. The segment bytes are also scanned in
 * memory (backlog_scan_buffer), which must account for every byte.
 *
 * Input: u8 flags; if flags & 1, u16 state_len and state_len bytes of state
 * file; the rest is segment data, written as one segment, or (flags & 2)
 * split in two at its middle (so damage in the first is not cut).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "agent/backlog.h"
#include "core/batch.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static char root[64];

struct ctx {
    uint64_t file_len[2];
    uint64_t state_len;
    uint64_t problems, skipped;
};

static void clean(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p)
            unlink(p);
    }
    closedir(d);
}

static void cleanup(void)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/backlog", root);
    clean(dir);
    rmdir(dir);
    rmdir(root);
}

static void put_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (n > 0)
        CHECK(fwrite(p, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

static void on_problem(void *arg, const struct backlog_problem *p)
{
    struct ctx *c = arg;
    c->problems++;
    c->skipped += p->bytes;
    CHECK(p->code < 0 && p->msg[0] != 0);
    if (strcmp(p->file, "acked") == 0)
        return;
    int k = strcmp(p->file, "0000000000000001.seg") == 0   ? 0
            : strcmp(p->file, "0000000000000002.seg") == 0 ? 1
                                                           : -1;
    CHECK(k >= 0);
    CHECK(p->offset <= c->file_len[k] && p->bytes <= c->file_len[k] - p->offset);
}

static void on_scan_problem(void *arg, const struct backlog_problem *p)
{
    uint64_t *acc = arg; /* [0] input length, [1] bytes skipped */
    CHECK(p->offset <= acc[0] && p->bytes <= acc[0] - p->offset && p->bytes > 0);
    CHECK(strcmp(p->file, "fuzz") == 0);
    acc[1] += p->bytes;
}

/* walk hands out every batch and checks it; returns how many. */
static uint64_t walk(struct backlog *b, uint64_t *first_origin, uint64_t *first_seq)
{
    const uint8_t *p;
    size_t len;
    uint64_t n = 0;
    struct batch_hdr h;
    while (backlog_next(b, &p, &len, NULL, NULL, 0) == 1) {
        CHECK(batch_parse_header(p, len, &h, NULL, 0) == 0);
        CHECK(batch_total_len(&h) == len);
        CHECK(batch_check_body(p, &h, NULL, 0) == 0);
        if (n == 0) {
            *first_origin = h.origin_id;
            *first_seq = h.first_seq + (h.count ? h.count - 1 : 0);
        }
        n++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[128];
    struct ctx c;
    memset(&c, 0, sizeof c);
    if (root[0] == 0) {
        snprintf(root, sizeof root, "/tmp/tt-fuzz-backlog-XXXXXX");
        CHECK(mkdtemp(root) != NULL);
        atexit(cleanup);
    }
    snprintf(dir, sizeof dir, "%s/backlog", root);
    mkdir(dir, 0755);
    clean(dir);
    if (size == 0)
        return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    if ((flags & 1) && size >= 2) {
        size_t sl = (size_t)data[0] | (size_t)data[1] << 8;
        data += 2;
        size -= 2;
        if (sl > size)
            sl = size;
        put_file(dir, "acked", data, sl);
        c.state_len = sl;
        data += sl;
        size -= sl;
    }
    size_t first = (flags & 2) ? size / 2 : size;
    c.file_len[0] = first;
    c.file_len[1] = size - first;
    put_file(dir, "0000000000000001.seg", data, first);
    if (flags & 2)
        put_file(dir, "0000000000000002.seg", data + first, size - first);

    /* in memory: every byte is a good batch or skipped */
    uint64_t acc[2] = { size, 0 };
    backlog_scan_buffer(data, size, "fuzz", on_scan_problem, acc);
    CHECK(acc[1] <= size);

    struct backlog_options o;
    struct backlog *b = NULL;
    char err[256];
    backlog_options_default(&o);
    o.ack_interval_ms = 0;
    o.problem = on_problem;
    o.problem_arg = &c;
    int rc = backlog_open(&b, root, &o, err, sizeof err);
    CHECK(rc == 0 || rc == TT_ENOMEM);
    if (rc != 0)
        return 0;
    uint64_t origin = 0, seq = 0;
    uint64_t n = walk(b, &origin, &seq);
    struct backlog_stats st;
    backlog_get_stats(b, &st);
    CHECK(st.bytes <= size);
    if (n > 0) {
        CHECK(backlog_ack(b, origin, seq, NULL, 0) == 0);
        backlog_rewind(b);
        uint64_t o2 = 0, s2 = 0;
        CHECK(walk(b, &o2, &s2) < n);
    }
    CHECK(backlog_close(b) == 0);
    return 0;
}
