/*
 * fuzz_spool_reader.c - fuzz target for the agent's libtelltale spool reader
 * (src/agent/spool_reader.c). The input becomes a spool directory (one or
 * two segment files of one origin) and optionally the reader's state file;
 * the reader hands out every batch, which must be one whole batch with good
 * checksums, they are all acknowledged, the reader is reopened (it must not
 * hand out an acknowledged batch again) and rewound: nothing may crash, and
 * the skipped bytes stay within the files.
 *
 * Input: u8 flags; if flags & 1, u16 state_len and state_len bytes of state
 * file; the rest is segment data, written as one segment, or (flags & 2)
 * split in two at its middle (the first then is finished: its torn tail is
 * reported and it is deleted once acknowledged).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "agent/spool_reader.h"
#include "core/batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static char root[64], spool[128], state[128];

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
    clean(spool);
    clean(state);
    rmdir(spool);
    rmdir(state);
    rmdir(root);
}

static void put_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (n > 0)
        CHECK(fwrite(p, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

/* walk hands out every batch, checks it, acks it if ack; returns how many. */
static uint64_t walk(struct spool_reader *r, int ack)
{
    const uint8_t *p;
    size_t len;
    struct spool_token t;
    struct batch_hdr h;
    uint64_t n = 0;
    char err[256];
    int rc;
    while ((rc = spool_reader_next(r, 0, &p, &len, &t, err, sizeof err)) == 1) {
        CHECK(batch_parse_header(p, len, &h, NULL, 0) == 0);
        CHECK(batch_total_len(&h) == len);
        CHECK(batch_check_body(p, &h, NULL, 0) == 0);
        if (ack)
            CHECK(spool_reader_ack(r, &t, err, sizeof err) == 0);
        n++;
    }
    CHECK(rc == 0 || rc == TT_ENOMEM);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256], err[256];
    if (root[0] == 0) {
        snprintf(root, sizeof root, "/tmp/tt-fuzz-spoolrd-XXXXXX");
        CHECK(mkdtemp(root) != NULL);
        snprintf(spool, sizeof spool, "%s/spool", root);
        snprintf(state, sizeof state, "%s/state", root);
        CHECK(mkdir(spool, 0755) == 0 && mkdir(state, 0755) == 0);
        atexit(cleanup);
    }
    clean(spool);
    clean(state);
    if (size == 0)
        return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    struct spool_reader *r = NULL;
    if ((flags & 1) && size >= 2) {
        size_t sl = (size_t)data[0] | (size_t)data[1] << 8;
        data += 2;
        size -= 2;
        if (sl > size)
            sl = size;
        /* the reader's state file: spool-<FNV-1a of the spool path> */
        uint64_t hsh = 1469598103934665603ull;
        for (const char *c = spool; *c; c++) {
            hsh ^= (uint8_t)*c;
            hsh *= 1099511628211ull;
        }
        snprintf(path, sizeof path, "%s/spool-%016llx", state, (unsigned long long)hsh);
        put_file(path, data, sl);
        data += sl;
        size -= sl;
    }
    size_t first = (flags & 2) ? size / 2 : size;
    snprintf(path, sizeof path, "%s/00000000000000aa-0000000000000000.tts", spool);
    put_file(path, data, first);
    if (flags & 2) {
        snprintf(path, sizeof path, "%s/00000000000000aa-0000000000000100.tts", spool);
        put_file(path, data + first, size - first);
    }

    int rc = spool_reader_open(&r, spool, state, NULL, err, sizeof err);
    CHECK(rc == 0 || rc == TT_ENOMEM);
    if (rc != 0)
        return 0;
    walk(r, 1);
    struct spool_reader_stats st;
    spool_reader_get_stats(r, &st);
    CHECK(st.bytes_skipped <= 2 * (uint64_t)size + 65536);
    spool_reader_close(r);
    /* reopened: everything was acknowledged, nothing comes again */
    CHECK(spool_reader_open(&r, spool, state, NULL, err, sizeof err) == 0);
    CHECK(walk(r, 0) == 0);
    spool_reader_rewind(r);
    CHECK(walk(r, 0) == 0);
    spool_reader_close(r);
    return 0;
}
