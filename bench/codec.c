/*
 * codec.c - benchmark and study of the TSDB chunk codecs (src/store/tsdb/
 * chunk.c, the head codec, and sealed_codec.c, the sealed-block codec).
 *
 * Usage: codec [--quick] [--json] [--study] [--block] [--data FILE]
 *              [--name NAME] [--synthetic HOSTS]
 *
 * Reads Prometheus text with millisecond timestamps (FILE, default the
 * node_exporter recording ../shared/data/node-exporter/nodeexp-1s-600s.prom.zst,
 * run from the project's root; .zst files go through `zstd -dc`), groups the
 * samples by series and cuts them at 2-hour boundaries as blocks do. With
 * --synthetic HOSTS it also generates the synthetic workload
 * (../shared/bench/gen_workload.py --hosts HOSTS) into a temporary file.
 *
 * Per dataset it prints encode and decode speed (values/s on one core) of
 * each codec against a memcpy of the same 16 bytes a sample in the same run
 * (figures NAME_encode_values_per_s and NAME_decode_values_per_s are the head
 * codec; NAME_sealed_* the sealed codec), the sealed codec's bytes per sample,
 * and with --study the bytes per sample of every candidate of the codec study
 * (docs/design/tsdb.md). Every chunk is decoded and compared bit for bit; a
 * mismatch exits 1. --json prints one JSON object a line (BENCH.md).
 *
 * --block writes real blocks (src/store/tsdb/block.h) into a temporary
 * directory instead of the speed runs: the node_exporter recording as one
 * block, the synthetic day as 2 h blocks and as one 24 h block, each with and
 * without rollups; it reads every sample back (bit for bit) and prints the
 * bytes per sample of the whole block directories (meta.json, index, chunks,
 * rollups) and of each file.
 *
 * CODEC_KEEP_BLOCKS=1 keeps the blocks --block writes (their paths go to
 * stderr); CODEC_ZSTD_LEVEL, CODEC_CHUNK_HOURS and CODEC_CHUNK_SAMPLES set
 * the writer's page compression level, chunk range and chunk size.
 *
 * CODEC_DEBUG=1 in the environment prints, with --study, each value column's
 * size, sample count, mode byte and series to stderr (per-family breakdowns).
 *
 * The codec sources are compiled into this program (bench targets link
 * libtelltale, zstd and lz4; this one also the store library for --block).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "../src/store/tsdb/block.h"

#include "../src/core/buf.c"
#include "../src/store/tsdb/chunk.c"
#include "../src/store/tsdb/sealed_codec.c"

struct series {
    char *key;
    int64_t *ts;
    double *vs;
    size_t n, cap;
};

/* One series' samples inside one 2 h block. */
static int64_t block_ms = INT64_C(7200000);

struct blk {
    const char *key;
    const int64_t *ts;
    const double *vs;
    size_t n;
    int64_t window;
};

struct dataset {
    struct series *s;
    size_t ns, scap;
    size_t *slot; /* open addressing: index + 1 */
    size_t nslot;
    struct blk *b;
    size_t nb;
    size_t samples;
};

struct opts {
    int json, quick, study, block;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "codec: out of memory\n");
        exit(2);
    }
    return q;
}

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * UINT64_C(1099511628211);
    return h;
}

static struct series *lookup(struct dataset *d, const char *key, size_t klen)
{
    if (d->ns * 2 >= d->nslot) {
        size_t nn = d->nslot ? d->nslot * 2 : 1024;
        size_t *ns = calloc(nn, sizeof *ns);
        if (!ns)
            exit(2);
        for (size_t i = 0; i < d->ns; i++) {
            size_t h = hash_str(d->s[i].key, strlen(d->s[i].key)) & (nn - 1);
            while (ns[h])
                h = (h + 1) & (nn - 1);
            ns[h] = i + 1;
        }
        free(d->slot);
        d->slot = ns;
        d->nslot = nn;
    }
    size_t h = hash_str(key, klen) & (d->nslot - 1);
    while (d->slot[h]) {
        struct series *s = &d->s[d->slot[h] - 1];
        if (strlen(s->key) == klen && memcmp(s->key, key, klen) == 0)
            return s;
        h = (h + 1) & (d->nslot - 1);
    }
    if (d->ns == d->scap) {
        d->scap = d->scap ? d->scap * 2 : 256;
        d->s = xrealloc(d->s, d->scap * sizeof *d->s);
    }
    struct series *s = &d->s[d->ns];
    memset(s, 0, sizeof *s);
    s->key = xrealloc(NULL, klen + 1);
    memcpy(s->key, key, klen);
    s->key[klen] = 0;
    d->slot[h] = ++d->ns;
    return s;
}

static int64_t window_of(int64_t t)
{
    int64_t w = t / block_ms;
    return t % block_ms < 0 ? w - 1 : w;
}

static int load(struct dataset *d, const char *path)
{
    FILE *f;
    int piped = 0;
    size_t pl = strlen(path);
    if (strcmp(path, "-") == 0) {
        f = stdin;
    } else if (pl > 4 && strcmp(path + pl - 4, ".zst") == 0) {
        char cmd[4096];
        if (strchr(path, '\'') ||
            snprintf(cmd, sizeof cmd, "zstd -dc -- '%s'", path) >= (int)sizeof cmd)
            return -1;
        f = popen(cmd, "r");
        piped = 1;
    } else {
        f = fopen(path, "r");
    }
    if (!f)
        return -1;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0 || line[0] == '#')
            continue;
        char *sp2 = strrchr(line, ' ');
        if (!sp2 || sp2 == line)
            continue;
        *sp2 = 0;
        char *sp1 = strrchr(line, ' ');
        if (!sp1)
            continue;
        char *end;
        long long t = strtoll(sp2 + 1, &end, 10);
        if (*end)
            continue;
        double v = strtod(sp1 + 1, &end);
        if (*end)
            continue;
        struct series *s = lookup(d, line, (size_t)(sp1 - line));
        if (s->n && t <= s->ts[s->n - 1])
            continue; /* out of order or duplicate: not what a block holds */
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 64;
            s->ts = xrealloc(s->ts, s->cap * sizeof *s->ts);
            s->vs = xrealloc(s->vs, s->cap * sizeof *s->vs);
        }
        s->ts[s->n] = t;
        s->vs[s->n++] = v;
        d->samples++;
    }
    free(line);
    int rc = piped ? pclose(f) : (f == stdin ? 0 : fclose(f));
    if (rc != 0 || d->samples == 0)
        return -1;
    /* Cut each series at 2 h boundaries (and the sealed chunk limit). */
    size_t bcap = 0;
    for (size_t i = 0; i < d->ns; i++) {
        struct series *s = &d->s[i];
        size_t j = 0;
        while (j < s->n) {
            int64_t w = window_of(s->ts[j]);
            size_t k = j + 1;
            while (k < s->n && k - j < SEALED_MAX_SAMPLES && window_of(s->ts[k]) == w)
                k++;
            if (d->nb == bcap) {
                bcap = bcap ? bcap * 2 : 1024;
                d->b = xrealloc(d->b, bcap * sizeof *d->b);
            }
            d->b[d->nb++] = (struct blk){ s->key, s->ts + j, s->vs + j, k - j, w };
            j = k;
        }
    }
    return 0;
}

static void dataset_free(struct dataset *d)
{
    for (size_t i = 0; i < d->ns; i++) {
        free(d->s[i].key);
        free(d->s[i].ts);
        free(d->s[i].vs);
    }
    free(d->s);
    free(d->slot);
    free(d->b);
    memset(d, 0, sizeof *d);
}

/* ---- output ------------------------------------------------------------ */

static void figure(const struct opts *o, const char *name, const char *fig, double v,
                   const char *unit, double vs_memcpy)
{
    if (o->json) {
        printf("{\"bench\":\"tsdb\",\"figure\":\"%s_%s\",\"value\":%.6g,\"unit\":\"%s\"", name, fig,
               v, unit);
        if (vs_memcpy > 0)
            printf(",\"vs\":{\"memcpy\":%.4g}", vs_memcpy);
        printf("}\n");
    } else if (vs_memcpy > 0) {
        printf("%s_%s %.4g %s (vs memcpy %.4g)\n", name, fig, v, unit, vs_memcpy);
    } else {
        printf("%s_%s %.4g %s\n", name, fig, v, unit);
    }
}

static void fail(const char *what, size_t i)
{
    fprintf(stderr, "codec: round trip mismatch: %s (block %zu)\n", what, i);
    exit(1);
}

/* ---- study helpers ----------------------------------------------------- */

/* zsize: bytes of buf as a zstd column (mode byte not counted), or len when
 * compression does not pay, exactly as emit() decides. */
static size_t zsize(ZSTD_CCtx *z, struct wbuf *tmp, const void *buf, size_t len)
{
    if (!z || len < 16)
        return len;
    size_t bound = ZSTD_compressBound(len);
    wbuf_reset(tmp);
    if (wbuf_reserve(tmp, bound) != 0)
        exit(2);
    size_t r = ZSTD_compressCCtx(z, tmp->data, bound, buf, len, 3);
    if (ZSTD_isError(r))
        return len;
    size_t c = r - 4 + varint_len(len);
    return c < len ? c : len;
}

/* A bit writer for the Chimp128 study encoder. */
struct bits {
    uint8_t *p;
    uint64_t n;
};

static void bput(struct bits *b, uint64_t v, unsigned n)
{
    if (n > 32) {
        bput(b, v >> 32, n - 32);
        v &= 0xffffffffu;
        n = 32;
    }
    if (n == 0)
        return;
    put(b->p, &b->n, v & ((UINT64_C(1) << n) - 1), n);
}

/* chimp128 encodes vs with Chimp128 (Liakos et al., VLDB 2022) into out
 * (room for 10 n + 64 bytes, zeroed); returns the bytes used. */
static size_t chimp128(const double *vs, size_t n, uint8_t *out, uint32_t *indices)
{
    static const uint8_t rep[65] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3,
                                     3, 4, 4, 5, 5, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                     7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                     7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7 };
    static const uint8_t round_[8] = { 0, 8, 12, 16, 18, 20, 22, 24 };
    enum { PREV = 128, THRESH = 13, LSB = (1 << 14) - 1 };
    uint64_t stored[PREV];
    struct bits b = { out, 0 };
    memset(indices, 0, sizeof(uint32_t) * (LSB + 1));
    uint64_t first = f64_bits(vs[0]);
    bput(&b, first, 64);
    stored[0] = first;
    indices[first & LSB] = 0;
    unsigned stored_lead = 65;
    for (size_t index = 0; index + 1 < n; index++) {
        uint64_t v = f64_bits(vs[index + 1]);
        uint32_t key = (uint32_t)(v & LSB);
        size_t cur = indices[key];
        uint64_t x;
        size_t prev;
        unsigned trail;
        if (index - cur < PREV) {
            uint64_t t = v ^ stored[cur % PREV];
            trail = t ? (unsigned)__builtin_ctzll(t) : 64;
            if (trail > THRESH) {
                prev = cur % PREV;
                x = t;
            } else {
                prev = index % PREV;
                x = stored[prev] ^ v;
                trail = x ? (unsigned)__builtin_ctzll(x) : 64;
            }
        } else {
            prev = index % PREV;
            x = stored[prev] ^ v;
            trail = x ? (unsigned)__builtin_ctzll(x) : 64;
        }
        if (x == 0) {
            bput(&b, prev, 9);
            stored_lead = 65;
        } else {
            unsigned lr = rep[__builtin_clzll(x)];
            unsigned lead = round_[lr];
            if (trail > THRESH) {
                unsigned sig = 64 - lead - trail;
                bput(&b, (UINT64_C(1) << 16) | (prev << 9) | (lr << 6) | sig, 18);
                bput(&b, x >> trail, sig);
                stored_lead = 65;
            } else if (lead == stored_lead) {
                bput(&b, 2, 2);
                bput(&b, x, 64 - lead);
            } else {
                stored_lead = lead;
                bput(&b, (UINT64_C(3) << 3) | lr, 5);
                bput(&b, x, 64 - lead);
            }
        }
        stored[(index + 1) % PREV] = v;
        indices[key] = (uint32_t)(index + 1);
    }
    return (size_t)((b.n + 7) / 8);
}

/* The study: bytes per sample of every candidate on dataset d. */
static void study(const struct opts *o, const char *name, const struct dataset *d)
{
    ZSTD_CCtx *z = ZSTD_createCCtx();
    struct wbuf tmp, col, head, page;
    wbuf_init(&page, 0);
    wbuf_init(&tmp, 0);
    wbuf_init(&col, 0);
    wbuf_init(&head, 0);
    struct sealed_ctx c0, c3;
    sealed_ctx_init(&c0, 0);
    sealed_ctx_init(&c3, z ? 3 : 0);
    uint8_t *cb = NULL;
    uint32_t *indices = xrealloc(NULL, sizeof(uint32_t) << 14);
    size_t cbcap = 0;
    enum {
        HEAD120,
        GORILLA_BLOCK,
        F_TS_DOD,
        F_TS_DOD_Z,
        TS_OURS,
        TS_OURS_SHARED,
        V_XORS,
        V_XORS_Z,
        V_CHIMP,
        V_CHIMP_Z,
        V_DECS,
        V_DECS_Z,
        V_OURS0,
        V_OURS,
        V_PAGE,
        NFIG
    };
    static const char *const fname[NFIG] = {
        "head_xor_120_bytes_per_sample",
        "gorilla_block_bytes_per_sample",
        "ts_dod_varint_bytes_per_sample",
        "ts_dod_varint_zstd_bytes_per_sample",
        "ts_sealed_bytes_per_sample",
        "ts_sealed_shared_bytes_per_sample",
        "v_xor_bytes_per_sample",
        "v_xor_zstd_bytes_per_sample",
        "v_chimp128_bytes_per_sample",
        "v_chimp128_zstd_bytes_per_sample",
        "v_decimal_bytes_per_sample",
        "v_decimal_zstd_bytes_per_sample",
        "v_sealed_nozstd_bytes_per_sample",
        "v_sealed_bytes_per_sample",
        "v_sealed_zstd_64k_pages_bytes_per_sample",
    };
    double tot[NFIG] = { 0 };
    size_t modes[4] = { 0 };
    /* Shared timestamp columns: one per distinct column per 2 h window. */
    uint64_t *seen = calloc(d->nb * 2 + 1, sizeof *seen);
    size_t nseen = d->nb * 2 + 1;
    if (!seen)
        exit(2);
    for (size_t i = 0; i < d->nb; i++) {
        const struct blk *bk = &d->b[i];
        size_t n = bk->n;
        /* Head chunks of 120 samples, and one XOR chunk for the block. */
        for (size_t j = 0; j < n; j += CHUNK_DEF_SAMPLES) {
            struct chunk_app a;
            wbuf_reset(&head);
            chunk_app_init(&a, &head, CHUNK_DEF_SAMPLES, 1u << 20);
            for (size_t k = j; k < n && k < j + CHUNK_DEF_SAMPLES; k++)
                if (chunk_append(&a, bk->ts[k], bk->vs[k]) != 0)
                    fail("head append", i);
            tot[HEAD120] += (double)head.len;
        }
        {
            struct chunk_app a;
            wbuf_reset(&head);
            chunk_app_init(&a, &head, SEALED_MAX_SAMPLES, UINT32_MAX >> 3);
            for (size_t k = 0; k < n; k++)
                if (chunk_append(&a, bk->ts[k], bk->vs[k]) != 0)
                    fail("block append", i);
            tot[GORILLA_BLOCK] += (double)head.len;
        }
        /* Timestamps: plain dod varints, with zstd, ours, ours shared. */
        wbuf_reset(&tmp);
        wbuf_reset(&col);
        wbuf_put_svarint(&col, bk->ts[0]);
        uint64_t prevd = 0;
        for (size_t k = 1; k < n; k++) {
            uint64_t dl = (uint64_t)bk->ts[k] - (uint64_t)bk->ts[k - 1];
            wbuf_put_uvarint(&col, zz((int64_t)(dl - prevd)));
            prevd = dl;
        }
        tot[F_TS_DOD] += (double)col.len + 1;
        tot[F_TS_DOD_Z] += (double)zsize(z, &tmp, col.data, col.len) + 1;
        wbuf_reset(&col);
        if (sealed_ts_encode(&c3, &col, bk->ts, n) != 0)
            fail("ts encode", i);
        tot[TS_OURS] += (double)col.len;
        uint64_t h = hash_str((const char *)col.data, col.len) ^ (uint64_t)bk->window * 31 ^
                     (uint64_t)n * UINT64_C(0x9e3779b97f4a7c15);
        h |= 1;
        size_t at = h % nseen;
        while (seen[at] && seen[at] != h)
            at = (at + 1) % nseen;
        if (!seen[at]) {
            seen[at] = h;
            tot[TS_OURS_SHARED] += (double)col.len;
        }
        /* Values. */
        wbuf_reset(&col);
        encode_xor(&col, bk->vs, n);
        tot[V_XORS] += (double)col.len + 1;
        tot[V_XORS_Z] += (double)zsize(z, &tmp, col.data, col.len) + 1;
        if (cbcap < 10 * n + 64) {
            cbcap = 10 * n + 64;
            cb = xrealloc(cb, cbcap);
        }
        memset(cb, 0, cbcap);
        size_t cl = chimp128(bk->vs, n, cb, indices);
        tot[V_CHIMP] += (double)cl + 1;
        tot[V_CHIMP_Z] += (double)zsize(z, &tmp, cb, cl) + 1;
        wbuf_reset(&col);
        int dec = encode_dec(&c0, &col, bk->vs, n);
        if (dec == 1) {
            tot[V_DECS] += (double)col.len + 1;
            tot[V_DECS_Z] += (double)zsize(z, &tmp, col.data, col.len) + 1;
        } else { /* no decimal form: counted as its XOR fallback */
            wbuf_reset(&col);
            encode_xor(&col, bk->vs, n);
            tot[V_DECS] += (double)col.len + 1;
            tot[V_DECS_Z] += (double)zsize(z, &tmp, col.data, col.len) + 1;
        }
        wbuf_reset(&col);
        if (sealed_values_encode(&c0, &col, bk->vs, n) != 0)
            fail("values encode", i);
        tot[V_OURS0] += (double)col.len;
        wbuf_put(&page, col.data, col.len);
        if (page.len >= 65536 || i + 1 == d->nb) {
            tot[V_PAGE] += (double)zsize(z, &tmp, page.data, page.len);
            wbuf_reset(&page);
        }
        wbuf_reset(&col);
        if (sealed_values_encode(&c3, &col, bk->vs, n) != 0)
            fail("values encode", i);
        tot[V_OURS] += (double)col.len;
        modes[col.data[0] & 3]++;
        if (getenv("CODEC_DEBUG"))
            fprintf(stderr, "%zu %zu %d %s\n", col.len, n, col.data[0], bk->key);
    }
    double s = (double)d->samples;
    for (int f = 0; f < NFIG; f++)
        figure(o, name, fname[f], tot[f] / s, "bytes", 0);
    figure(o, name, "sealed_total_bytes_per_sample", (tot[TS_OURS] + tot[V_OURS]) / s, "bytes", 0);
    figure(o, name, "sealed_total_shared_ts_bytes_per_sample",
           (tot[TS_OURS_SHARED] + tot[V_OURS]) / s, "bytes", 0);
    if (!o->json)
        printf("%s: %zu series, %zu blocks, %zu samples; value modes const %zu, decimal %zu, "
               "xor %zu%s\n",
               name, d->ns, d->nb, d->samples, modes[V_CONST], modes[V_DEC], modes[V_XOR],
               z ? "" : " (zstd not linked: no zstd figures)");
    free(seen);
    free(cb);
    free(indices);
    sealed_ctx_release(&c0);
    sealed_ctx_release(&c3);
    wbuf_release(&tmp);
    wbuf_release(&col);
    wbuf_release(&head);
    wbuf_release(&page);
    if (z)
        ZSTD_freeCCtx(z);
}

/* ---- speed ------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* speed measures memcpy, the head codec and the sealed codec over every block
 * of d, checks every round trip, and prints the figures. */
static void speed(const struct opts *o, const char *name, const struct dataset *d)
{
    int runs = o->quick ? 3 : 7;
    double t_mem[7], t_henc[7], t_hdec[7], t_senc[7], t_sdec[7];
    size_t maxn = 0;
    for (size_t i = 0; i < d->nb; i++)
        if (d->b[i].n > maxn)
            maxn = d->b[i].n;
    int64_t *ts = xrealloc(NULL, (maxn + CHUNK_DEF_SAMPLES) * sizeof *ts);
    double *vs = xrealloc(NULL, (maxn + CHUNK_DEF_SAMPLES) * sizeof *vs);
    uint8_t *raw = xrealloc(NULL, d->samples * 16 + 16);
    uint8_t *raw2 = xrealloc(NULL, d->samples * 16 + 16);
    /* The raw input, laid out as the codecs see it, for memcpy. */
    size_t off = 0;
    for (size_t i = 0; i < d->nb; i++) {
        memcpy(raw + off, d->b[i].ts, d->b[i].n * 8);
        off += d->b[i].n * 8;
        memcpy(raw + off, d->b[i].vs, d->b[i].n * 8);
        off += d->b[i].n * 8;
    }
    /* Encoded output, kept for the decode runs. */
    struct wbuf heads, sealed;
    wbuf_init(&heads, 0);
    wbuf_init(&sealed, 0);
    size_t *soff = xrealloc(NULL, (d->nb + 1) * sizeof *soff);
    struct sealed_ctx sc;
    sealed_ctx_init(&sc, 3);
    volatile uint64_t sink = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        for (int rep = 0; rep < 4; rep++) {
            memcpy(raw2, raw, off);
            sink += raw2[rep * 7 % (off ? off : 1)];
        }
        t_mem[r] = (now_s() - t0) / 4;

        t0 = now_s();
        wbuf_reset(&heads);
        for (size_t i = 0; i < d->nb; i++) {
            const struct blk *bk = &d->b[i];
            for (size_t j = 0; j < bk->n; j += CHUNK_DEF_SAMPLES) {
                struct chunk_app a;
                chunk_app_init(&a, &heads, CHUNK_DEF_SAMPLES, 1u << 20);
                for (size_t k = j; k < bk->n && k < j + CHUNK_DEF_SAMPLES; k++)
                    chunk_append(&a, bk->ts[k], bk->vs[k]);
            }
        }
        t_henc[r] = now_s() - t0;

        t0 = now_s();
        size_t pos = 0, got = 0;
        while (pos < heads.len) {
            struct chunk_iter it;
            if (chunk_iter_init(&it, heads.data + pos, heads.len - pos) != 0)
                fail("head chunk", pos);
            while (chunk_iter_next(&it) == 1) {
                sink += (uint64_t)it.t;
                got++;
            }
            pos += CHUNK_HDR_BYTES + (size_t)((it.nbits + 7) >> 3);
        }
        t_hdec[r] = now_s() - t0;
        if (got != d->samples)
            fail("head sample count", got);

        t0 = now_s();
        wbuf_reset(&sealed);
        for (size_t i = 0; i < d->nb; i++) {
            soff[i] = sealed.len;
            if (sealed_chunk_encode(&sc, &sealed, d->b[i].ts, d->b[i].vs, d->b[i].n) != 0)
                fail("sealed encode", i);
        }
        soff[d->nb] = sealed.len;
        t_senc[r] = now_s() - t0;

        t0 = now_s();
        for (size_t i = 0; i < d->nb; i++) {
            int n = sealed_chunk_decode(&sc, sealed.data + soff[i], soff[i + 1] - soff[i], ts, vs,
                                        maxn);
            if (n != (int)d->b[i].n)
                fail("sealed decode", i);
            sink += (uint64_t)ts[0];
        }
        t_sdec[r] = now_s() - t0;
    }
    /* Bit-exact checks, outside the timed runs. */
    size_t pos = 0;
    for (size_t i = 0; i < d->nb; i++) {
        const struct blk *bk = &d->b[i];
        int n =
            sealed_chunk_decode(&sc, sealed.data + soff[i], soff[i + 1] - soff[i], ts, vs, maxn);
        if (n != (int)bk->n)
            fail("sealed count", i);
        for (size_t k = 0; k < bk->n; k++)
            if (ts[k] != bk->ts[k] || f64_bits(vs[k]) != f64_bits(bk->vs[k]))
                fail("sealed sample", i);
        for (size_t j = 0; j < bk->n; j += CHUNK_DEF_SAMPLES) {
            n = chunk_decode_all(heads.data + pos, heads.len - pos, ts, vs, CHUNK_DEF_SAMPLES);
            if (n < 0)
                fail("head decode", i);
            for (int k = 0; k < n; k++)
                if (ts[k] != bk->ts[j + (size_t)k] ||
                    f64_bits(vs[k]) != f64_bits(bk->vs[j + (size_t)k]))
                    fail("head sample", i);
            struct chunk_info ci;
            chunk_info_read(heads.data + pos, heads.len - pos, &ci);
            pos += ci.len;
        }
    }
    double s = (double)d->samples;
    double mem = s / median(t_mem, runs);
    double he = s / median(t_henc, runs), hd = s / median(t_hdec, runs);
    double se = s / median(t_senc, runs), sd = s / median(t_sdec, runs);
    figure(o, name, "memcpy_values_per_s", mem, "values/s", 0);
    figure(o, name, "encode_values_per_s", he, "values/s", he / mem);
    figure(o, name, "decode_values_per_s", hd, "values/s", hd / mem);
    figure(o, name, "sealed_encode_values_per_s", se, "values/s", se / mem);
    figure(o, name, "sealed_decode_values_per_s", sd, "values/s", sd / mem);
    figure(o, name, "head_bytes_per_sample", (double)heads.len / s, "bytes", 0);
    figure(o, name, "sealed_bytes_per_sample", (double)sealed.len / s, "bytes", 0);
    (void)sink;
    sealed_ctx_release(&sc);
    wbuf_release(&heads);
    wbuf_release(&sealed);
    free(soff);
    free(ts);
    free(vs);
    free(raw);
    free(raw2);
}

/* ---- real blocks (--block) ------------------------------------------------ */

/* parse_key turns a text-format series key, name{a="b",...}, into a
 * normalized label set whose strings live in *store (caller frees). */
static int parse_key(const char *key, struct labels *ls, char **store)
{
    size_t n = strlen(key);
    char *s = xrealloc(NULL, n + 16);
    *store = s;
    size_t w = 0, i = 0;
    labels_init(ls);
    const char *name = s + w;
    while (i < n && key[i] != '{')
        s[w++] = key[i++];
    s[w++] = 0;
    if (*name && labels_push(ls, "__name__", name) != 0)
        return -1;
    if (i < n)
        i++; /* '{' */
    while (i < n && key[i] != '}') {
        const char *ln = s + w;
        while (i < n && key[i] != '=')
            s[w++] = key[i++];
        s[w++] = 0;
        if (i + 1 >= n || key[i + 1] != '"')
            return -1;
        i += 2;
        const char *lv = s + w;
        while (i < n && key[i] != '"') {
            if (key[i] == '\\' && i + 1 < n) {
                i++;
                s[w++] = key[i] == 'n' ? '\n' : key[i];
                i++;
            } else {
                s[w++] = key[i++];
            }
        }
        s[w++] = 0;
        i++; /* '"' */
        if (i < n && key[i] == ',')
            i++;
        if (labels_push(ls, ln, lv) != 0)
            return -1;
    }
    return labels_normalize(ls);
}

struct bseries {
    struct labels ls;
    char *store;
    const struct series *s;
};

static int cmp_bseries(const void *a, const void *b)
{
    return labels_cmp(&((const struct bseries *)a)->ls, &((const struct bseries *)b)->ls);
}

static size_t lower(const int64_t *ts, size_t n, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint64_t file_size(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* verify reads every sample of the block back and compares. */
static void verify(const char *path, const struct bseries *bs, size_t ns, int64_t mint,
                   int64_t maxt)
{
    char err[512];
    struct block *b;
    struct block_series_set *ss;
    if (block_open(&b, path, err, sizeof err) != 0) {
        fprintf(stderr, "codec: %s\n", err);
        exit(1);
    }
    if (block_select(b, NULL, 0, mint, maxt, &ss) != 0)
        exit(2);
    size_t k = 0;
    for (size_t i = 0; i < ns; i++) {
        const struct series *s = bs[i].s;
        size_t a = lower(s->ts, s->n, mint), e = lower(s->ts, s->n, maxt + 1);
        if (a == e)
            continue;
        if (k >= block_series_set_count(ss) ||
            !labels_equal(block_series_set_labels(ss, k), &bs[i].ls))
            fail("block series", i);
        struct block_iter it;
        if (block_iter_init(&it, ss, k, mint, maxt, BLOCK_RAW, 0) != 0)
            exit(2);
        for (size_t j = a; j < e; j++) {
            if (block_iter_next(&it) != 1 || it.t != s->ts[j] ||
                f64_bits(it.v) != f64_bits(s->vs[j]))
                fail("block sample", i);
        }
        if (block_iter_next(&it) != 0)
            fail("block end", i);
        block_iter_release(&it);
        k++;
    }
    if (k != block_series_set_count(ss))
        fail("block series count", k);
    block_series_set_free(ss);
    block_close(b);
}

/* block_run writes d as blocks of block_len ms (0: one block over all of d)
 * and prints bytes per sample. */
static void block_run(const struct opts *o, const char *name, const struct dataset *d,
                      int64_t block_len, int rollups, const char *label)
{
    struct bseries *bs = xrealloc(NULL, d->ns * sizeof *bs);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < d->ns; i++) {
        bs[i].s = &d->s[i];
        if (parse_key(d->s[i].key, &bs[i].ls, &bs[i].store) != 0) {
            fprintf(stderr, "codec: cannot parse series %s\n", d->s[i].key);
            exit(2);
        }
        if (d->s[i].n) {
            lo = d->s[i].ts[0] < lo ? d->s[i].ts[0] : lo;
            hi = d->s[i].ts[d->s[i].n - 1] > hi ? d->s[i].ts[d->s[i].n - 1] : hi;
        }
    }
    qsort(bs, d->ns, sizeof *bs, cmp_bseries);
    char tmpl[] = "/tmp/tt-codec-blocks-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        exit(2);
    struct block_writer_options bo;
    block_writer_options_default(&bo);
    bo.rollups = rollups;
    if (getenv("CODEC_ZSTD_LEVEL"))
        bo.zstd_level = (int)strtol(getenv("CODEC_ZSTD_LEVEL"), NULL, 10);
    if (getenv("CODEC_CHUNK_HOURS"))
        bo.chunk_range_ms = strtol(getenv("CODEC_CHUNK_HOURS"), NULL, 10) * INT64_C(3600000);
    if (getenv("CODEC_CHUNK_SAMPLES"))
        bo.chunk_max_samples = (uint32_t)strtoul(getenv("CODEC_CHUNK_SAMPLES"), NULL, 10);
    uint64_t bytes[4] = { 0, 0, 0, 0 }, samples = 0;
    size_t nblocks = 0;
    double t0 = now_s();
    int64_t w0 = block_len ? (lo / block_len) * block_len : lo;
    int64_t step = block_len ? block_len : hi - lo + 1;
    for (int64_t mint = w0; mint <= hi; mint += step) {
        int64_t maxt = mint + step - 1;
        char err[512];
        struct block_writer *w;
        if (block_writer_new(&w, tmpl, mint, maxt, &bo, err, sizeof err) != 0) {
            fprintf(stderr, "codec: %s\n", err);
            exit(2);
        }
        for (size_t i = 0; i < d->ns; i++) {
            const struct series *s = bs[i].s;
            size_t a = lower(s->ts, s->n, mint), e = lower(s->ts, s->n, maxt + 1);
            if (a < e && block_writer_add_series(w, &bs[i].ls, s->ts + a, s->vs + a, e - a, err,
                                                 sizeof err) != 0) {
                fprintf(stderr, "codec: %s\n", err);
                exit(2);
            }
        }
        struct block_meta m;
        int rc = block_writer_finish(w, &m, err, sizeof err);
        if (rc == TT_ENOTFOUND)
            continue;
        if (rc != 0) {
            fprintf(stderr, "codec: %s\n", err);
            exit(2);
        }
        char path[256];
        snprintf(path, sizeof path, "%s/%s", tmpl, m.id);
        bytes[0] += file_size(path, "meta.json");
        bytes[1] += file_size(path, "index");
        bytes[2] += file_size(path, "chunks");
        bytes[3] += file_size(path, "rollups");
        samples += m.samples;
        nblocks++;
        verify(path, bs, d->ns, mint, maxt);
        char e2[256];
        if (getenv("CODEC_KEEP_BLOCKS"))
            fprintf(stderr, "codec: kept %s\n", path);
        else if (block_remove(path, e2, sizeof e2) != 0)
            fprintf(stderr, "codec: %s\n", e2);
        block_meta_release(&m);
    }
    double secs = now_s() - t0;
    if (!getenv("CODEC_KEEP_BLOCKS"))
        rmdir(tmpl);
    if (samples != d->samples)
        fail("block sample total", (size_t)samples);
    double s = (double)samples, tot = (double)(bytes[0] + bytes[1] + bytes[2] + bytes[3]);
    char fig[128];
    snprintf(fig, sizeof fig, "block_%s_bytes_per_sample", label);
    figure(o, name, fig, tot / s, "bytes", 0);
    if (!o->json)
        printf("  %zu blocks: meta.json %.4f, index %.4f, chunks %.4f, rollups %.4f bytes/sample; "
               "written and read back in %.2f s\n",
               nblocks, (double)bytes[0] / s, (double)bytes[1] / s, (double)bytes[2] / s,
               (double)bytes[3] / s, secs);
    for (size_t i = 0; i < d->ns; i++) {
        labels_release(&bs[i].ls);
        free(bs[i].store);
    }
    free(bs);
}

static void blocks(const struct opts *o, const char *name, const struct dataset *d, int synthetic)
{
    if (!synthetic) {
        block_run(o, name, d, 0, 0, "one");
        block_run(o, name, d, 0, 1, "one_rollups");
    } else {
        block_run(o, name, d, INT64_C(7200000), 0, "2h");
        block_run(o, name, d, INT64_C(7200000), 1, "2h_rollups");
        block_run(o, name, d, INT64_C(86400000), 0, "24h");
        block_run(o, name, d, INT64_C(86400000), 1, "24h_rollups");
    }
}

static void run(const struct opts *o, const char *name, const char *path)
{
    struct dataset d;
    memset(&d, 0, sizeof d);
    if (load(&d, path) != 0) {
        fprintf(stderr, "codec: cannot read %s\n", path);
        exit(2);
    }
    if (o->block)
        blocks(o, name, &d, strcmp(name, "synthetic") == 0);
    else if (o->study)
        study(o, name, &d);
    if (!o->block)
        speed(o, name, &d);
    dataset_free(&d);
}

int main(int argc, char **argv)
{
    struct opts o = { 0, 0, 0, 0 };
    const char *data = "../shared/data/node-exporter/nodeexp-1s-600s.prom.zst";
    const char *name = "nodeexp";
    long hosts = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            o.json = 1;
        else if (strcmp(argv[i], "--quick") == 0)
            o.quick = 1;
        else if (strcmp(argv[i], "--study") == 0)
            o.study = 1;
        else if (strcmp(argv[i], "--block") == 0)
            o.block = 1;
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--block-hours") == 0 && i + 1 < argc)
            block_ms = strtol(argv[++i], NULL, 10) * 3600000;
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (strcmp(argv[i], "--synthetic") == 0 && i + 1 < argc) {
            char *end;
            hosts = strtol(argv[++i], &end, 10);
            if (*end || hosts < 1 || hosts > 1000)
                hosts = -1;
        } else
            hosts = -1;
        if (hosts < 0) {
            fprintf(
                stderr,
                "usage: codec [--quick] [--json] [--study] [--block] [--data FILE] [--name NAME] "
                "[--synthetic HOSTS]\n");
            return 2;
        }
    }
    run(&o, name, data);
    if (hosts > 0) {
        char tmpl[] = "/tmp/tt-codec-XXXXXX";
        int fd = mkstemp(tmpl);
        if (fd < 0)
            return 2;
        close(fd);
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "python3 ../shared/bench/gen_workload.py --hosts %ld --prom %s >/dev/null 2>&1",
                 hosts, tmpl);
        if (system(cmd) != 0) {
            unlink(tmpl);
            fprintf(stderr, "codec: gen_workload.py failed\n");
            return 2;
        }
        run(&o, "synthetic", tmpl);
        unlink(tmpl);
    }
    return 0;
}
