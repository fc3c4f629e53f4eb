/*
 * evstore.c - the events store (see evstore.h, docs/design/events.md).
 * Memory holds a descriptor (header copy with its Bloom filter) of every
 * block and a set of the batch keys indexed; blocks are read with pread and
 * decompressed per search. A rwlock lets searches run while the writer
 * appends; the writer takes it only to publish blocks or drop segments.
 */
#include "store/events/evstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/crc32c.h"
#include "core/record.h"
#include "core/fileio.h"

#define STATE_MAGIC 0x31534554u /* "TES1" */
#define STATE_LEN   44

struct blk {
    uint32_t seg;
    uint64_t off;
    struct evseg_hdr h;
};

struct seg {
    uint32_t num;
    int fd;
    uint64_t size;
    int64_t tmax;
    int has_events;
};

struct keyset {
    struct evseg_key *slots; /* origin_id 0 and first_seq 0 both: empty */
    size_t cap, n;
};

struct evstore {
    struct evstore_config cfg;
    char dir[512];
    pthread_rwlock_t lock;
    struct blk *blks;
    size_t nblks, capblks;
    struct seg *segs;
    size_t nsegs, capsegs;
    struct keyset keys;
    uint64_t next_id; /* of the next event added */
    uint64_t events;  /* searchable */
    uint64_t problems, duplicates;
    uint32_t rl_seg;
    uint64_t rl_off;
    /* writer side */
    struct evseg_builder b;
    struct wbuf out;     /* finished blocks not yet written */
    struct wbuf scratch; /* a state change's attrs */
    struct blk *pending; /* their descriptors */
    size_t npending, cappending;
    int has_zero_key; /* the key (0, 0) was seen */
};

/* --- the batch key set: open addressing --- */

static uint64_t key_hash(uint64_t a, uint64_t b)
{
    uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

/* keyset_add returns 1 if added, 0 if present, TT_ENOMEM. */
static int keyset_add(struct evstore *st, uint64_t o, uint64_t s)
{
    struct keyset *k = &st->keys;
    if (o == 0 && s == 0) {
        int had = st->has_zero_key;
        st->has_zero_key = 1;
        return had ? 0 : 1;
    }
    if ((k->n + 1) * 2 > k->cap) {
        size_t ncap = k->cap ? k->cap * 2 : 1024;
        struct evseg_key *ns = calloc(ncap, sizeof *ns);
        if (ns == NULL)
            return TT_ENOMEM;
        for (size_t i = 0; i < k->cap; i++) {
            struct evseg_key *e = &k->slots[i];
            if (e->origin_id == 0 && e->first_seq == 0)
                continue;
            size_t j = key_hash(e->origin_id, e->first_seq) & (ncap - 1);
            while (ns[j].origin_id != 0 || ns[j].first_seq != 0)
                j = (j + 1) & (ncap - 1);
            ns[j] = *e;
        }
        free(k->slots);
        k->slots = ns;
        k->cap = ncap;
    }
    size_t j = key_hash(o, s) & (k->cap - 1);
    while (k->slots[j].origin_id != 0 || k->slots[j].first_seq != 0) {
        if (k->slots[j].origin_id == o && k->slots[j].first_seq == s)
            return 0;
        j = (j + 1) & (k->cap - 1);
    }
    k->slots[j].origin_id = o;
    k->slots[j].first_seq = s;
    k->n++;
    return 1;
}

static void seg_name(char *out, size_t outlen, uint32_t num)
{
    snprintf(out, outlen, "%08" PRIu32 ".evs", num);
}

static void report(struct evstore *st, const char *file, uint64_t off, const char *msg)
{
    st->problems++;
    if (st->cfg.problem)
        st->cfg.problem(st->cfg.problem_arg, file, off, msg);
}

static int push_blk(struct blk **arr, size_t *n, size_t *cap, const struct blk *b)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct blk *na = realloc(*arr, nc * sizeof *na);
        if (na == NULL)
            return TT_ENOMEM;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = *b;
    return 0;
}

static struct seg *seg_find(struct evstore *st, uint32_t num)
{
    size_t lo = 0, hi = st->nsegs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (st->segs[mid].num < num)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < st->nsegs && st->segs[lo].num == num ? &st->segs[lo] : NULL;
}

static int seg_add(struct evstore *st, uint32_t num, int fd, uint64_t size)
{
    if (st->nsegs == st->capsegs) {
        size_t nc = st->capsegs ? st->capsegs * 2 : 16;
        struct seg *na = realloc(st->segs, nc * sizeof *na);
        if (na == NULL)
            return TT_ENOMEM;
        st->segs = na;
        st->capsegs = nc;
    }
    st->segs[st->nsegs++] = (struct seg){ .num = num, .fd = fd, .size = size, .tmax = INT64_MIN };
    return 0;
}

/* own_bloom replaces h's borrowed Bloom filter by a copy the store owns. */
static int own_bloom(struct evseg_hdr *h)
{
    uint8_t *c = malloc(h->bloom_len);
    if (c == NULL) {
        h->bloom = NULL;
        return TT_ENOMEM;
    }
    memcpy(c, h->bloom, h->bloom_len);
    h->bloom = c;
    return 0;
}

/* --- STATE --- */

static int state_write(struct evstore *st, uint32_t rl_seg, uint64_t rl_off, uint32_t seg,
                       uint64_t seg_len, uint64_t next_id, char *err, size_t errlen)
{
    uint8_t b[STATE_LEN];
    char path[600], tmp[620];
    put_le32(b, STATE_MAGIC);
    put_le32(b + 4, 1);
    put_le32(b + 8, rl_seg);
    put_le32(b + 12, seg);
    put_le64(b + 16, rl_off);
    put_le64(b + 24, seg_len);
    put_le64(b + 32, next_id);
    put_le32(b + 40, crc32c(0, b, 40));
    snprintf(path, sizeof path, "%s/STATE", st->dir);
    snprintf(tmp, sizeof tmp, "%s/STATE.tmp", st->dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, b, sizeof b) != (ssize_t)sizeof b || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return TT_EIO;
    }
    close(fd);
    if (rename(tmp, path) != 0 || tt_fsync_dir(st->dir) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return TT_EIO;
    }
    return 0;
}

struct state {
    uint32_t rl_seg, seg;
    uint64_t rl_off, seg_len, next_id;
};

/* state_read: 1 with *s, 0 when absent or damaged (reported: rebuild). */
static int state_read(struct evstore *st, struct state *s)
{
    char path[600];
    uint8_t b[STATE_LEN];
    snprintf(path, sizeof path, "%s/STATE", st->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, b, sizeof b);
    close(fd);
    if (n != (ssize_t)sizeof b || get_le32(b) != STATE_MAGIC || get_le32(b + 4) != 1 ||
        crc32c(0, b, 40) != get_le32(b + 40)) {
        report(st, "STATE", 0, "damaged: the events store is rebuilt from the record log");
        return 0;
    }
    s->rl_seg = get_le32(b + 8);
    s->seg = get_le32(b + 12);
    s->rl_off = get_le64(b + 16);
    s->seg_len = get_le64(b + 24);
    s->next_id = get_le64(b + 32);
    return 1;
}

/* --- open --- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* scan_segment reads segment data and adds its blocks; damage is reported
 * and skipped up to the next header that checks. */
static int scan_segment(struct evstore *st, struct seg *sg, const uint8_t *p, size_t len)
{
    char file[32], msg[256];
    struct wbuf raw;
    int rc = 0;
    seg_name(file, sizeof file, sg->num);
    wbuf_init(&raw, EVSEG_MAX_RAW);
    size_t off = 0;
    while (off < len) {
        struct evseg_hdr h;
        int r = evseg_parse_header(p + off, len - off, &h, msg, sizeof msg);
        if (r == 0 && evseg_total_len(&h) > len - off) {
            snprintf(msg, sizeof msg, "block of %zu bytes runs past the end", evseg_total_len(&h));
            r = TT_ETRUNC;
        }
        if (r == 0)
            r = evseg_open_body(p + off, &h, &raw, msg, sizeof msg);
        const uint8_t *keys = NULL;
        struct evseg_iter it;
        if (r == 0 && evseg_iter_init(&it, &h, raw.data, raw.len, &keys) != 0) {
            snprintf(msg, sizeof msg, "block keys run past the body");
            r = TT_ECORRUPT;
        }
        if (r == TT_ENOMEM) {
            rc = r;
            break;
        }
        if (r != 0) {
            report(st, file, off, msg);
            /* Resynchronise at the next magic whose header checks. */
            size_t n = off + 1;
            for (; n + 4 <= len; n++) {
                struct evseg_hdr h2;
                if (get_le32(p + n) == EVSEG_MAGIC &&
                    evseg_parse_header(p + n, len - n, &h2, msg, sizeof msg) == 0)
                    break;
            }
            off = n + 4 <= len ? n : len;
            continue;
        }
        for (uint16_t i = 0; i < h.nkeys; i++)
            if (keyset_add(st, get_le64(keys + 16u * i), get_le64(keys + 16u * i + 8)) < 0) {
                rc = TT_ENOMEM;
                goto out;
            }
        struct blk b = { .seg = sg->num, .off = off, .h = h };
        if (own_bloom(&b.h) != 0 || push_blk(&st->blks, &st->nblks, &st->capblks, &b) != 0) {
            free((void *)b.h.bloom);
            rc = TT_ENOMEM;
            goto out;
        }
        st->events += h.count;
        if (h.count) {
            sg->has_events = 1;
            sg->tmax = h.tmax > sg->tmax ? h.tmax : sg->tmax;
        }
        off += evseg_total_len(&h);
    }
out:
    wbuf_release(&raw);
    return rc;
}

static int list_segments(const char *dir, uint32_t **out, size_t *n)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return TT_EIO;
    uint32_t *a = NULL;
    size_t na = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *s = de->d_name;
        if (strlen(s) != 12 || strcmp(s + 8, ".evs") != 0)
            continue;
        uint32_t v = 0;
        int ok = 1;
        for (int i = 0; i < 8; i++) {
            if (s[i] < '0' || s[i] > '9')
                ok = 0;
            v = v * 10 + (uint32_t)(s[i] - '0');
        }
        if (!ok || v == 0)
            continue;
        if (na == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *nb = realloc(a, cap * sizeof *nb);
            if (nb == NULL) {
                free(a);
                closedir(d);
                return TT_ENOMEM;
            }
            a = nb;
        }
        a[na++] = v;
    }
    closedir(d);
    if (na)
        qsort(a, na, sizeof *a, cmp_u32);
    *out = a;
    *n = na;
    return 0;
}

int evstore_open(struct evstore **out, const struct evstore_config *cfg, char *err, size_t errlen)
{
    struct evstore *st = calloc(1, sizeof *st);
    uint32_t *nums = NULL;
    size_t nnums = 0;
    uint8_t *data = NULL;
    int rc = 0;
    *out = NULL;
    if (st == NULL)
        return TT_ENOMEM;
    st->cfg = *cfg;
    if (st->cfg.segment_bytes == 0)
        st->cfg.segment_bytes = EVSTORE_DEFAULT_SEGMENT_BYTES;
    if (st->cfg.block_events == 0)
        st->cfg.block_events = EVSTORE_DEFAULT_BLOCK_EVENTS;
    snprintf(st->dir, sizeof st->dir, "%s", cfg->dir);
    st->cfg.dir = st->dir;
    pthread_rwlock_init(&st->lock, NULL);
    evseg_builder_init(&st->b);
    wbuf_init(&st->out, 0);
    wbuf_init(&st->scratch, 0);
    if (st->cfg.records == 0)
        st->cfg.records = REC_EVENT;
    if (st->cfg.records != REC_EVENT && st->cfg.records != REC_STATE) {
        snprintf(err, errlen, "records: only events (%d) or state changes (%d)", REC_EVENT,
                 REC_STATE);
        rc = TT_EINVAL;
        goto fail;
    }
    if (mkdir(st->dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", st->dir, strerror(errno));
        rc = TT_EIO;
        goto fail;
    }
    struct state s = { 0 };
    int have = state_read(st, &s);
    rc = list_segments(st->dir, &nums, &nnums);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot list", st->dir);
        goto fail;
    }
    for (size_t i = 0; i < nnums; i++) {
        char file[32], path[600];
        seg_name(file, sizeof file, nums[i]);
        snprintf(path, sizeof path, "%s/%s", st->dir, file);
        /* Segments past STATE hold only what was never committed. */
        if (!have || nums[i] > s.seg) {
            if (unlink(path) != 0) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                rc = TT_EIO;
                goto fail;
            }
            continue;
        }
        int fd = open(path, (nums[i] == s.seg ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            rc = TT_EIO;
            goto fail;
        }
        uint64_t size = (uint64_t)sb.st_size;
        if (nums[i] == s.seg && size > s.seg_len) {
            if (ftruncate(fd, (off_t)s.seg_len) != 0 || fdatasync(fd) != 0) {
                snprintf(err, errlen, "%s: cutting to %" PRIu64 ": %s", path, s.seg_len,
                         strerror(errno));
                close(fd);
                rc = TT_EIO;
                goto fail;
            }
            size = s.seg_len;
        }
        if (seg_add(st, nums[i], fd, size) != 0) {
            close(fd);
            rc = TT_ENOMEM;
            goto fail;
        }
        free(data);
        data = malloc(size ? size : 1);
        if (data == NULL) {
            rc = TT_ENOMEM;
            goto fail;
        }
        size_t got = 0;
        while (got < size) {
            ssize_t n = pread(fd, data + got, size - got, (off_t)got);
            if (n <= 0) {
                snprintf(err, errlen, "%s: read: %s", path, n < 0 ? strerror(errno) : "short");
                rc = TT_EIO;
                goto fail;
            }
            got += (size_t)n;
        }
        rc = scan_segment(st, &st->segs[st->nsegs - 1], data, size);
        if (rc < 0)
            goto fail;
    }
    if (have) {
        st->rl_seg = s.rl_seg;
        st->rl_off = s.rl_off;
        st->next_id = s.next_id;
    }
    if (st->nblks > 0) {
        const struct blk *last = &st->blks[st->nblks - 1];
        if (last->h.first_id + last->h.count > st->next_id)
            st->next_id = last->h.first_id + last->h.count;
    }
    if (st->next_id == 0)
        st->next_id = 1;
    evseg_builder_reset(&st->b, st->next_id);
    free(nums);
    free(data);
    *out = st;
    return 0;
fail:
    free(nums);
    free(data);
    evstore_close(st);
    return rc;
}

void evstore_close(struct evstore *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->nsegs; i++)
        close(st->segs[i].fd);
    for (size_t i = 0; i < st->nblks; i++)
        free((void *)st->blks[i].h.bloom);
    for (size_t i = 0; i < st->npending; i++)
        free((void *)st->pending[i].h.bloom);
    free(st->segs);
    free(st->blks);
    free(st->pending);
    free(st->keys.slots);
    evseg_builder_release(&st->b);
    wbuf_release(&st->out);
    wbuf_release(&st->scratch);
    pthread_rwlock_destroy(&st->lock);
    free(st);
}

void evstore_cursor(struct evstore *st, uint32_t *seg, uint64_t *off)
{
    *seg = st->rl_seg;
    *off = st->rl_off;
}

/* --- writing --- */

/* finish_block moves the builder's block to out with its descriptor
 * (segment and offset are filled when written). */
static int finish_block(struct evstore *st)
{
    struct evseg_hdr h = st->b.h;
    if (h.count == 0 && h.nkeys == 0)
        return 0;
    size_t at = st->out.len;
    int rc = evseg_builder_finish(&st->b, &st->out);
    if (rc != 0)
        return rc;
    struct evseg_hdr ph;
    char msg[128];
    rc = evseg_parse_header(st->out.data + at, st->out.len - at, &ph, msg, sizeof msg);
    if (rc != 0)
        return TT_EIO; /* cannot happen: the builder wrote it */
    struct blk b = { .seg = 0, .off = at, .h = ph };
    if (own_bloom(&b.h) != 0 || push_blk(&st->pending, &st->npending, &st->cappending, &b) != 0) {
        free((void *)b.h.bloom);
        return TT_ENOMEM;
    }
    st->next_id = ph.first_id + ph.count;
    evseg_builder_reset(&st->b, st->next_id);
    return 0;
}

/* to_entry turns a record of the store's type into an entry (node and
 * process left empty): events as they are; state changes with log as the
 * component, var as the name and the values as attrs "value" and "prev"
 * (encoded into st->scratch, valid until the next call). Returns 1, 0 for a
 * record of another type, or TT_ECORRUPT (message in err). */
static int to_entry(struct evstore *st, const struct rec *rec, struct evseg_event *e, char *err,
                    size_t errlen)
{
    memset(e, 0, sizeof *e);
    e->time_ns = rec->time_ns;
    e->hlc = rec->hlc;
    if (rec->type != st->cfg.records)
        return 0;
    if (rec->type == REC_STATE) {
        struct rec_state sc;
        int rc = rec_decode_state(rec, &sc, err, errlen);
        if (rc < 0)
            return rc;
        wbuf_reset(&st->scratch);
        rec_kv_put(&st->scratch, "value", 5, &sc.value);
        rec_kv_put(&st->scratch, "prev", 4, &sc.prev);
        if (st->scratch.err)
            return st->scratch.err;
        e->component = sc.log;
        e->name = sc.var;
        e->message = (struct rec_str){ "", 0 };
        e->attrs = (struct rec_list){ 2, st->scratch.data, (uint32_t)st->scratch.len, 0 };
        return 1;
    }
    struct rec_event ev;
    int rc = rec_decode_event(rec, &ev, err, errlen);
    if (rc < 0)
        return rc;
    struct rec_list it = ev.attrs;
    struct rec_str k;
    struct rec_value v;
    while ((rc = rec_kv_next(&it, &k, &v)) == 1)
        ;
    if (rc < 0) {
        snprintf(err, errlen, "event %.*s: attributes do not decode", (int)ev.name.len, ev.name.p);
        return TT_ECORRUPT;
    }
    e->severity = ev.severity;
    e->component = ev.component;
    e->name = ev.name;
    e->message = ev.message;
    e->attrs = ev.attrs;
    return 1;
}

int evstore_add_batch(struct evstore *st, const struct batch_hdr *h, const uint8_t *body,
                      size_t body_len, char *err, size_t errlen)
{
    struct rbuf r;
    struct rec rec;
    struct evseg_event e;
    int n = 0, rc;
    /* Check the whole batch first, so a bad one adds nothing. */
    rbuf_init(&r, body, body_len);
    while ((rc = rec_next(&r, body, &rec, err, errlen)) == 1) {
        rc = to_entry(st, &rec, &e, err, errlen);
        if (rc < 0)
            return rc;
        n += rc;
    }
    if (rc < 0)
        return rc;
    if (n == 0)
        return 0;
    rc = keyset_add(st, h->origin_id, h->first_seq);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        st->duplicates++;
        return 0;
    }
    size_t nl = strnlen(h->origin, h->origin_len);
    struct rec_str node = { h->origin, (uint32_t)nl };
    struct rec_str proc = { "", 0 };
    if (nl < h->origin_len)
        proc = (struct rec_str){ h->origin + nl + 1, (uint32_t)(h->origin_len - nl - 1) };
    int keyed = 0;
    rbuf_init(&r, body, body_len);
    while (rec_next(&r, body, &rec, err, errlen) == 1) {
        if (to_entry(st, &rec, &e, err, errlen) != 1)
            continue;
        if (!keyed) {
            evseg_builder_key(&st->b, h->origin_id, h->first_seq);
            keyed = 1;
        }
        e.node = node;
        e.process = proc;
        rc = evseg_builder_add(&st->b, &e);
        if (rc == 0 && st->b.h.count >= st->cfg.block_events)
            rc = finish_block(st);
        if (rc < 0) {
            snprintf(err, errlen, "building a block: %s", tt_strerror(rc));
            return rc;
        }
    }
    return n;
}

static int open_segment(struct evstore *st, uint32_t num, char *err, size_t errlen)
{
    char file[32], path[600];
    seg_name(file, sizeof file, num);
    snprintf(path, sizeof path, "%s/%s", st->dir, file);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || tt_fsync_dir(st->dir) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return TT_EIO;
    }
    pthread_rwlock_wrlock(&st->lock);
    int rc = seg_add(st, num, fd, 0);
    pthread_rwlock_unlock(&st->lock);
    if (rc != 0)
        close(fd);
    return rc;
}

int evstore_commit(struct evstore *st, uint32_t rl_seg, uint64_t rl_off, char *err, size_t errlen)
{
    int rc = finish_block(st);
    if (rc < 0) {
        snprintf(err, errlen, "building a block: %s", tt_strerror(rc));
        return rc;
    }
    struct seg *cur = st->nsegs ? &st->segs[st->nsegs - 1] : NULL;
    for (size_t i = 0; i < st->npending; i++) {
        struct blk *b = &st->pending[i];
        size_t len = evseg_total_len(&b->h);
        /* Written by an earlier call that failed later on: placed already
         * (segment numbers start at 1; b->off is then the segment offset). */
        if (b->seg != 0)
            continue;
        if (cur == NULL || (cur->size > 0 && cur->size + len > st->cfg.segment_bytes)) {
            if (cur != NULL && fdatasync(cur->fd) != 0) {
                snprintf(err, errlen, "fdatasync: %s", strerror(errno));
                return TT_EIO;
            }
            rc = open_segment(st, cur ? cur->num + 1 : 1, err, errlen);
            if (rc < 0)
                return rc;
            cur = &st->segs[st->nsegs - 1];
        }
        if (tt_pwrite_all(cur->fd, st->out.data + b->off, len, cur->size) != 0) {
            char file[32];
            seg_name(file, sizeof file, cur->num);
            snprintf(err, errlen, "%s: write: %s", file, strerror(errno));
            if (ftruncate(cur->fd, (off_t)cur->size) != 0) {
                /* The cut is redone at the next open, from STATE. */
            }
            return TT_EIO;
        }
        b->seg = cur->num;
        b->off = cur->size;
        cur->size += len;
    }
    if (cur != NULL && st->npending > 0 && fdatasync(cur->fd) != 0) {
        snprintf(err, errlen, "fdatasync: %s", strerror(errno));
        return TT_EIO;
    }
    pthread_rwlock_wrlock(&st->lock);
    for (size_t i = 0; i < st->npending; i++) {
        struct blk *b = &st->pending[i];
        if (push_blk(&st->blks, &st->nblks, &st->capblks, b) != 0) {
            pthread_rwlock_unlock(&st->lock);
            return TT_ENOMEM;
        }
        st->events += b->h.count;
        struct seg *sg = seg_find(st, b->seg);
        if (sg && b->h.count) {
            sg->has_events = 1;
            sg->tmax = b->h.tmax > sg->tmax ? b->h.tmax : sg->tmax;
        }
    }
    pthread_rwlock_unlock(&st->lock);
    st->npending = 0;
    wbuf_reset(&st->out);
    rc = state_write(st, rl_seg, rl_off, cur ? cur->num : 0, cur ? cur->size : 0, st->next_id, err,
                     errlen);
    if (rc < 0)
        return rc;
    st->rl_seg = rl_seg;
    st->rl_off = rl_off;
    return 0;
}

int evstore_retention(struct evstore *st, int64_t now_ns)
{
    int deleted = 0;
    for (;;) {
        if (st->nsegs < 2)
            break;
        struct seg *old = &st->segs[0];
        uint64_t total = 0;
        for (size_t i = 0; i < st->nsegs; i++)
            total += st->segs[i].size;
        int by_age = st->cfg.retention_ns > 0 && old->has_events &&
                     old->tmax < now_ns - st->cfg.retention_ns;
        int by_size = st->cfg.retention_bytes > 0 && total > st->cfg.retention_bytes;
        if (!by_age && !by_size)
            break;
        char file[32], path[600];
        seg_name(file, sizeof file, old->num);
        snprintf(path, sizeof path, "%s/%s", st->dir, file);
        pthread_rwlock_wrlock(&st->lock);
        size_t k = 0;
        while (k < st->nblks && st->blks[k].seg == old->num) {
            st->events -= st->blks[k].h.count;
            free((void *)st->blks[k].h.bloom);
            k++;
        }
        memmove(st->blks, st->blks + k, (st->nblks - k) * sizeof *st->blks);
        st->nblks -= k;
        close(old->fd);
        memmove(st->segs, st->segs + 1, (st->nsegs - 1) * sizeof *st->segs);
        st->nsegs--;
        pthread_rwlock_unlock(&st->lock);
        if (unlink(path) != 0) {
            /* Left on disk; it is no longer read and a reopen deletes
             * nothing older than STATE's segment, so it will be scanned
             * again: harmless, retention retries then. */
        }
        deleted++;
    }
    return deleted;
}

/* --- search --- */

void evstore_query_init(struct evstore_query *q)
{
    memset(q, 0, sizeof *q);
    q->start_ns = INT64_MIN;
    q->end_ns = INT64_MAX;
    q->hlc_max = UINT64_MAX;
    q->limit = 100;
}

static int str_eq(struct rec_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.p, c, n) == 0;
}

struct tok {
    const char *p;
    size_t n;
};

static int ci_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return 1;
}

/* mark_tokens sets found[i] for each query token among p's tokens. */
static void mark_tokens(const char *p, size_t n, const struct tok *t, size_t nt, int *found)
{
    size_t pos = 0, s, l;
    while (evseg_next_token(p, n, &pos, &s, &l))
        for (size_t i = 0; i < nt; i++)
            if (!found[i] && t[i].n == l && ci_eq(p + s, t[i].p, l))
                found[i] = 1;
}

static int event_matches(const struct evstore_query *q, const struct evseg_event *e,
                         const struct tok *t, size_t nt)
{
    if (e->time_ns < q->start_ns || e->time_ns > q->end_ns || e->hlc < q->hlc_min ||
        e->hlc > q->hlc_max)
        return 0;
    if (q->has_after &&
        (e->time_ns > q->after_time_ns || (e->time_ns == q->after_time_ns && e->id >= q->after_id)))
        return 0;
    if (q->min_severity > 0 && e->severity < q->min_severity)
        return 0;
    if ((q->node && !str_eq(e->node, q->node)) ||
        (q->component && !str_eq(e->component, q->component)) ||
        (q->name && !str_eq(e->name, q->name)))
        return 0;
    int found[EVSTORE_MAX_TOKENS] = { 0 };
    int kvfound[EVSTORE_MAX_KV] = { 0 };
    if (nt)
        mark_tokens(e->message.p, e->message.len, t, nt, found);
    if (nt || q->nkv) {
        struct rec_list it = e->attrs;
        struct rec_str k;
        struct rec_value v;
        char num[64];
        while (rec_kv_next(&it, &k, &v) == 1) {
            const char *direct;
            size_t vl = evseg_value_text(&v, num, sizeof num, &direct);
            const char *vp = direct ? direct : num;
            if (direct && nt)
                mark_tokens(vp, vl, t, nt, found);
            for (size_t i = 0; i < q->nkv; i++)
                if (!kvfound[i] && str_eq(k, q->kv[i].key) && vl == strlen(q->kv[i].value) &&
                    memcmp(vp, q->kv[i].value, vl) == 0)
                    kvfound[i] = 1;
        }
    }
    for (size_t i = 0; i < nt; i++)
        if (!found[i])
            return 0;
    for (size_t i = 0; i < q->nkv; i++)
        if (!kvfound[i])
            return 0;
    return 1;
}

/* a is newer than b (comes first). */
static int newer(int64_t ta, uint64_t ia, int64_t tb, uint64_t ib)
{
    return ta > tb || (ta == tb && ia > ib);
}

/* The query's terms, hashed once per search for the Bloom filters. */
struct qterms {
    uint64_t h[3 + EVSTORE_MAX_KV + EVSTORE_MAX_TOKENS];
    size_t n;
};

static void qterms_build(struct qterms *qt, const struct evstore_query *q, const struct tok *t,
                         size_t nt)
{
    qt->n = 0;
    if (q->node)
        qt->h[qt->n++] = evseg_term_hash('n', q->node, strlen(q->node));
    if (q->component)
        qt->h[qt->n++] = evseg_term_hash('c', q->component, strlen(q->component));
    if (q->name)
        qt->h[qt->n++] = evseg_term_hash('N', q->name, strlen(q->name));
    for (size_t i = 0; i < q->nkv; i++) {
        char kv[512];
        int n = snprintf(kv, sizeof kv, "%s=%s", q->kv[i].key, q->kv[i].value);
        if (n > 0 && (size_t)n < sizeof kv) /* longer ones were never added */
            qt->h[qt->n++] = evseg_term_hash('k', kv, (size_t)n);
    }
    for (size_t i = 0; i < nt; i++)
        qt->h[qt->n++] = evseg_term_hash('t', t[i].p, t[i].n);
}

static int block_may_match(const struct evstore_query *q, const struct blk *b,
                           const struct qterms *qt)
{
    const struct evseg_hdr *h = &b->h;
    if (h->count == 0 || h->tmax < q->start_ns || h->tmin > q->end_ns || h->hlc_max < q->hlc_min ||
        h->hlc_min > q->hlc_max)
        return 0;
    if (q->has_after && h->tmin > q->after_time_ns)
        return 0;
    if (q->min_severity > 0 && (h->sevmask >> (q->min_severity & 7)) == 0)
        return 0;
    for (size_t i = 0; i < qt->n; i++)
        if (!evseg_bloom_maybe(h->bloom, h->bloom_len, qt->h[i]))
            return 0;
    return 1;
}

static int cmp_blk_tmax_desc(const void *a, const void *b)
{
    const struct blk *x = a, *y = b;
    if (x->h.tmax != y->h.tmax)
        return x->h.tmax > y->h.tmax ? -1 : 1;
    return x->h.first_id > y->h.first_id ? -1 : x->h.first_id < y->h.first_id;
}

static int cmp_hit(const void *a, const void *b)
{
    const struct evstore_hit *x = a, *y = b;
    if (newer(x->ev.time_ns, x->ev.id, y->ev.time_ns, y->ev.id))
        return -1;
    return newer(y->ev.time_ns, y->ev.id, x->ev.time_ns, x->ev.id) ? 1 : 0;
}

/* copy_event makes a hit owning copies of e's bytes. */
static int copy_event(struct evstore_hit *hit, const struct evseg_event *e)
{
    size_t n = (size_t)e->node.len + e->process.len + e->component.len + e->name.len +
               e->message.len + e->attrs.len + 1;
    uint8_t *m = malloc(n), *p = m;
    if (m == NULL)
        return TT_ENOMEM;
    hit->ev = *e;
    hit->mem = m;
    struct rec_str *fields[] = { &hit->ev.node, &hit->ev.process, &hit->ev.component, &hit->ev.name,
                                 &hit->ev.message };
    for (size_t i = 0; i < 5; i++) {
        if (fields[i]->len)
            memcpy(p, fields[i]->p, fields[i]->len);
        fields[i]->p = (const char *)p;
        p += fields[i]->len;
    }
    if (e->attrs.len)
        memcpy(p, e->attrs.bytes, e->attrs.len);
    hit->ev.attrs.bytes = p;
    return 0;
}

/* Heap of the best hits: a max-heap on "oldest at the root", so the worst
 * of the kept hits is replaced first. */
static void heap_sift_down(struct evstore_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && cmp_hit(&h[l], &h[m]) > 0)
            m = l;
        if (r < n && cmp_hit(&h[r], &h[m]) > 0)
            m = r;
        if (m == i)
            return;
        struct evstore_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_sift_up(struct evstore_hit *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (cmp_hit(&h[i], &h[p]) <= 0)
            return;
        struct evstore_hit t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

int evstore_search(struct evstore *st, const struct evstore_query *q, struct evstore_result *res,
                   char *err, size_t errlen)
{
    struct tok t[EVSTORE_MAX_TOKENS];
    size_t nt = 0;
    memset(res, 0, sizeof *res);
    if (q->limit == 0 || q->limit > 10000 || q->nkv > EVSTORE_MAX_KV) {
        snprintf(err, errlen, "limit must be 1..10000 and at most %d key=value filters",
                 EVSTORE_MAX_KV);
        return TT_EINVAL;
    }
    if (q->text) {
        size_t pos = 0, s, l, n = strlen(q->text);
        while (evseg_next_token(q->text, n, &pos, &s, &l)) {
            if (nt == EVSTORE_MAX_TOKENS) {
                snprintf(err, errlen, "text: at most %d words", EVSTORE_MAX_TOKENS);
                return TT_EINVAL;
            }
            t[nt++] = (struct tok){ q->text + s, l };
        }
    }
    size_t want = q->limit + 1; /* one more tells whether there are more */
    struct evstore_hit *heap = calloc(want, sizeof *heap);
    struct blk *cand = NULL;
    size_t ncand = 0, nheap = 0;
    struct wbuf stored, raw;
    int rc = 0;
    wbuf_init(&stored, 0);
    wbuf_init(&raw, EVSEG_MAX_RAW);
    if (heap == NULL)
        return TT_ENOMEM;
    pthread_rwlock_rdlock(&st->lock);
    res->blocks_total = st->nblks;
    cand = malloc((st->nblks ? st->nblks : 1) * sizeof *cand);
    if (cand == NULL) {
        rc = TT_ENOMEM;
        goto out;
    }
    struct qterms qt;
    qterms_build(&qt, q, t, nt);
    for (size_t i = 0; i < st->nblks; i++)
        if (block_may_match(q, &st->blks[i], &qt))
            cand[ncand++] = st->blks[i];
    qsort(cand, ncand, sizeof *cand, cmp_blk_tmax_desc);
    for (size_t i = 0; i < ncand && rc == 0; i++) {
        const struct blk *b = &cand[i];
        /* Blocks come by newest event: once the kept hits are all newer
         * than anything this block holds, no later block can do better. */
        if (nheap == want && b->h.tmax < heap[0].ev.time_ns)
            break;
        struct seg *sg = seg_find(st, b->seg);
        size_t len = evseg_total_len(&b->h);
        char msg[256];
        wbuf_reset(&stored);
        if (sg == NULL || wbuf_reserve(&stored, len) != 0) {
            rc = TT_ENOMEM;
            break;
        }
        ssize_t got = pread(sg->fd, stored.data, len, (off_t)b->off);
        struct evseg_hdr h;
        int r = got == (ssize_t)len ? 0 : TT_EIO;
        if (r == 0)
            r = evseg_parse_header(stored.data, len, &h, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "short read");
        if (r == 0)
            r = evseg_open_body(stored.data, &h, &raw, msg, sizeof msg);
        struct evseg_iter it;
        if (r == 0 && evseg_iter_init(&it, &h, raw.data, raw.len, NULL) != 0) {
            snprintf(msg, sizeof msg, "keys run past the body");
            r = TT_ECORRUPT;
        }
        if (r == TT_ENOMEM) {
            rc = r;
            break;
        }
        if (r != 0) {
            res->problems++;
            snprintf(err, errlen, "%08" PRIu32 ".evs at %" PRIu64 ": %s", b->seg, b->off, msg);
            continue;
        }
        res->blocks_read++;
        struct evseg_event e;
        while ((r = evseg_iter_next(&it, &e, msg, sizeof msg)) == 1) {
            res->events_scanned++;
            if (!event_matches(q, &e, t, nt))
                continue;
            if (nheap == want) {
                if (!newer(e.time_ns, e.id, heap[0].ev.time_ns, heap[0].ev.id))
                    continue;
                free(heap[0].mem);
                if (copy_event(&heap[0], &e) != 0) {
                    heap[0] = heap[--nheap];
                    rc = TT_ENOMEM;
                    break;
                }
                heap_sift_down(heap, nheap, 0);
            } else {
                if (copy_event(&heap[nheap], &e) != 0) {
                    rc = TT_ENOMEM;
                    break;
                }
                heap_sift_up(heap, nheap);
                nheap++;
            }
        }
        if (r < 0) {
            res->problems++;
            snprintf(err, errlen, "%08" PRIu32 ".evs at %" PRIu64 ": %s", b->seg, b->off, msg);
        }
    }
out:
    pthread_rwlock_unlock(&st->lock);
    free(cand);
    wbuf_release(&stored);
    wbuf_release(&raw);
    qsort(heap, nheap, sizeof *heap, cmp_hit);
    if (nheap > q->limit) {
        res->more = 1;
        free(heap[q->limit].mem);
        nheap = q->limit;
    }
    res->hits = heap;
    res->n = nheap;
    return rc;
}

void evstore_result_release(struct evstore_result *res)
{
    for (size_t i = 0; i < res->n; i++)
        free(res->hits[i].mem);
    free(res->hits);
    res->hits = NULL;
    res->n = 0;
}

void evstore_get_stats(struct evstore *st, struct evstore_stats *s)
{
    pthread_rwlock_rdlock(&st->lock);
    memset(s, 0, sizeof *s);
    s->events = st->events;
    s->blocks = st->nblks;
    s->segments = st->nsegs;
    for (size_t i = 0; i < st->nsegs; i++)
        s->bytes += st->segs[i].size;
    s->problems = st->problems;
    s->duplicates = st->duplicates;
    pthread_rwlock_unlock(&st->lock);
}
