/*
 * digest.c - code digests (digest.h): sha256 of files and directory trees
 * through libcrypto's EVP interface, a per-file cache keyed by (dev, inode,
 * size, mtime) so unchanged files are not read again, and the
 * "telltale.digest" events.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "agent/digest.h"
#include "telltale.h"

#define DIR_MAX_FILES 100000 /* a module tree larger than this is refused */
#define DIR_MAX_DEPTH 32

/* ---- hashing ----------------------------------------------------------------- */

void digest_sha256_buf(const void *p, size_t n, uint8_t out[32])
{
    unsigned int len = 32;
    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1)
        memset(out, 0, 32); /* only on allocation failure inside libcrypto */
}

void digest_hex(const uint8_t d[32], char out[65])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[64] = '\0';
}

int digest_sha256_file(const char *path, uint8_t out[32], uint64_t *size, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return TT_ENOTFOUND;
        snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
        return TT_EIO;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t buf[65536];
    uint64_t total = 0;
    int rc = 0;
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "%.300s: libcrypto cannot start a sha256", path);
        rc = TT_EIO;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
            rc = TT_EIO;
            goto out;
        }
        if (r == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)r);
        total += (uint64_t)r;
    }
    unsigned int len = 32;
    EVP_DigestFinal_ex(ctx, out, &len);
    *size = total;
out:
    EVP_MD_CTX_free(ctx);
    close(fd);
    return rc;
}

/* ---- the watch --------------------------------------------------------------- */

/* One hashed file: for a file entry its only one (rel ""), for a
 * directory one per file below it, sorted by rel. */
struct fcache {
    char *rel;
    uint64_t dev, ino, size;
    int64_t mtime_ns;
    uint8_t sha[32];
};

struct entry {
    char *path;
    char *name; /* reported as */
    char *of;   /* the binary whose mapped library this is, or NULL */
    int libs;
    struct fcache *files;
    size_t nfiles;
    int have, is_dir, warned;
    uint8_t sha[32];
    uint64_t size;
    int64_t last_sent_ms;
    int64_t libs_scanned_ms; /* libs: when /proc was last searched (0: never) */
};

struct digest_watch {
    struct entry *ents;
    size_t nents, capents;
    char *role, *release, *proc_root;
    int64_t resend_ms;
};

static void fcache_free(struct fcache *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i].rel);
    free(f);
}

static int add_entry(struct digest_watch *w, const char *path, const char *name, const char *of,
                     int libs)
{
    if (w->nents == w->capents) {
        size_t nc = w->capents ? w->capents * 2 : 8;
        struct entry *n = realloc(w->ents, nc * sizeof(*n));
        if (n == NULL)
            return TT_ENOMEM;
        w->ents = n;
        w->capents = nc;
    }
    struct entry *e = &w->ents[w->nents];
    memset(e, 0, sizeof(*e));
    e->path = strdup(path);
    e->name = strdup(name != NULL ? name : path);
    e->of = of != NULL ? strdup(of) : NULL;
    e->libs = libs;
    if (e->path == NULL || e->name == NULL || (of != NULL && e->of == NULL)) {
        free(e->path);
        free(e->name);
        free(e->of);
        return TT_ENOMEM;
    }
    w->nents++;
    return 0;
}

int digest_watch_new(struct digest_watch **out, const struct digest_watch_config *cfg, char *err,
                     size_t errlen)
{
    struct digest_watch *w = calloc(1, sizeof(*w));
    int rc = TT_ENOMEM;
    *out = NULL;
    if (w == NULL)
        return TT_ENOMEM;
    w->role = strdup(cfg->role ? cfg->role : "");
    w->release = strdup(cfg->release ? cfg->release : "");
    w->proc_root = strdup(cfg->proc_root ? cfg->proc_root : "/proc");
    w->resend_ms = cfg->resend_ms > 0 ? cfg->resend_ms : DIGEST_DEFAULT_RESEND_MS;
    if (w->role == NULL || w->release == NULL || w->proc_root == NULL)
        goto fail;
    for (size_t i = 0; i < cfg->nspecs; i++) {
        const char *p = cfg->specs[i].path;
        if (p == NULL || p[0] != '/') {
            snprintf(err, errlen, "digest path '%s': must be absolute", p ? p : "");
            rc = TT_EINVAL;
            goto fail;
        }
        rc = add_entry(w, p, cfg->specs[i].name, NULL, cfg->specs[i].libs);
        if (rc < 0)
            goto fail;
    }
    *out = w;
    return 0;
fail:
    digest_watch_free(w);
    return rc;
}

void digest_watch_free(struct digest_watch *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->nents; i++) {
        free(w->ents[i].path);
        free(w->ents[i].name);
        free(w->ents[i].of);
        fcache_free(w->ents[i].files, w->ents[i].nfiles);
    }
    free(w->ents);
    free(w->role);
    free(w->release);
    free(w->proc_root);
    free(w);
}

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static int same_key(const struct fcache *f, const struct stat *st)
{
    return f->dev == (uint64_t)st->st_dev && f->ino == (uint64_t)st->st_ino &&
           f->size == (uint64_t)st->st_size && f->mtime_ns == mtime_ns(st);
}

/* A list of relative paths found under a directory. */
struct names {
    char **v;
    size_t n, cap;
};

static int names_add(struct names *ns, const char *s)
{
    if (ns->n == ns->cap) {
        size_t nc = ns->cap ? ns->cap * 2 : 64;
        char **n = realloc(ns->v, nc * sizeof(*n));
        if (n == NULL)
            return TT_ENOMEM;
        ns->v = n;
        ns->cap = nc;
    }
    ns->v[ns->n] = strdup(s);
    if (ns->v[ns->n] == NULL)
        return TT_ENOMEM;
    ns->n++;
    return 0;
}

static void names_free(struct names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
}

/* walk collects the relative paths of the regular files and symlinks below
 * root/rel. Returns 0, TT_ENOMEM, TT_ETOOBIG, TT_EIO (message in err). */
static int walk(const char *root, const char *rel, int depth, struct names *ns, char *err,
                size_t errlen)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel) >=
        sizeof path) {
        snprintf(err, errlen, "%.300s/%.100s: path too long", root, rel);
        return TT_EIO;
    }
    if (depth > DIR_MAX_DEPTH) {
        snprintf(err, errlen, "%.300s: deeper than %d levels", path, DIR_MAX_DEPTH);
        return TT_ETOOBIG;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
        return TT_EIO;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char sub[PATH_MAX];
        if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >=
            sizeof sub)
            continue;
        struct stat st;
        char full[PATH_MAX];
        if ((size_t)snprintf(full, sizeof full, "%s/%s", root, sub) >= sizeof full ||
            lstat(full, &st) != 0)
            continue; /* gone since readdir: the next round sees the tree as it is */
        if (S_ISDIR(st.st_mode)) {
            rc = walk(root, sub, depth + 1, ns, err, errlen);
        } else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
            if (ns->n >= DIR_MAX_FILES) {
                snprintf(err, errlen, "%.300s: more than %d files", root, DIR_MAX_FILES);
                rc = TT_ETOOBIG;
            } else {
                rc = names_add(ns, sub);
            }
        }
        if (rc < 0)
            break;
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_fcache(const void *key, const void *elem)
{
    return strcmp(key, ((const struct fcache *)elem)->rel);
}

/* hash_one fills f (rel already set) for the file at full, reusing old when
 * its key is unchanged. Returns 0, TT_ENOTFOUND, TT_EIO. */
static int hash_one(const char *full, struct fcache *f, const struct fcache *old, int follow,
                    char *err, size_t errlen)
{
    struct stat st;
    if ((follow ? stat(full, &st) : lstat(full, &st)) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return TT_ENOTFOUND;
        snprintf(err, errlen, "%.300s: %s", full, strerror(errno));
        return TT_EIO;
    }
    if (old != NULL && same_key(old, &st)) {
        memcpy(f->sha, old->sha, 32);
    } else if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX + 8] = "symlink:";
        ssize_t n = readlink(full, target + 8, PATH_MAX - 1);
        if (n < 0) {
            snprintf(err, errlen, "%.300s: %s", full, strerror(errno));
            return TT_EIO;
        }
        digest_sha256_buf(target, (size_t)n + 8, f->sha);
    } else {
        uint64_t size;
        int rc = digest_sha256_file(full, f->sha, &size, err, errlen);
        if (rc < 0)
            return rc;
    }
    f->dev = (uint64_t)st.st_dev;
    f->ino = (uint64_t)st.st_ino;
    f->size = (uint64_t)st.st_size;
    f->mtime_ns = mtime_ns(&st);
    return 0;
}

/* refresh recomputes e's digest. Returns 0, TT_ENOTFOUND, TT_EIO,
 * TT_ETOOBIG (message in err), TT_ENOMEM. */
static int refresh(struct entry *e, char *err, size_t errlen)
{
    struct stat st;
    struct fcache *nf = NULL;
    size_t nn = 0;
    struct names ns = { NULL, 0, 0 };
    int rc;

    if (stat(e->path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return TT_ENOTFOUND;
        snprintf(err, errlen, "%.300s: %s", e->path, strerror(errno));
        return TT_EIO;
    }
    if (!S_ISDIR(st.st_mode)) {
        nf = calloc(1, sizeof(*nf));
        if (nf == NULL || (nf->rel = strdup("")) == NULL) {
            free(nf);
            return TT_ENOMEM;
        }
        nn = 1;
        rc = hash_one(e->path, nf, e->nfiles == 1 && !e->is_dir ? &e->files[0] : NULL, 1, err,
                      errlen);
        if (rc < 0)
            goto fail;
        memcpy(e->sha, nf->sha, 32);
        e->size = nf->size;
        e->is_dir = 0;
    } else {
        rc = walk(e->path, "", 0, &ns, err, errlen);
        if (rc < 0)
            goto fail;
        if (ns.n > 1)
            qsort(ns.v, ns.n, sizeof(*ns.v), cmp_str);
        nf = calloc(ns.n ? ns.n : 1, sizeof(*nf));
        if (nf == NULL) {
            rc = TT_ENOMEM;
            goto fail;
        }
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
            EVP_MD_CTX_free(ctx);
            rc = TT_ENOMEM;
            goto fail;
        }
        uint64_t total = 0;
        for (size_t i = 0; i < ns.n; i++) {
            char full[PATH_MAX];
            snprintf(full, sizeof full, "%s/%s", e->path, ns.v[i]);
            const struct fcache *old =
                e->is_dir && e->nfiles > 0
                    ? bsearch(ns.v[i], e->files, e->nfiles, sizeof(*e->files), cmp_fcache)
                    : NULL;
            struct fcache f;
            memset(&f, 0, sizeof f);
            rc = hash_one(full, &f, old, 0, err, errlen);
            if (rc == TT_ENOTFOUND)
                continue; /* removed during the walk */
            if (rc < 0) {
                EVP_MD_CTX_free(ctx);
                goto fail;
            }
            f.rel = ns.v[i];
            ns.v[i] = NULL;
            nf[nn++] = f;
            EVP_DigestUpdate(ctx, f.rel, strlen(f.rel) + 1);
            EVP_DigestUpdate(ctx, f.sha, 32);
            total += f.size;
        }
        unsigned int len = 32;
        EVP_DigestFinal_ex(ctx, e->sha, &len);
        EVP_MD_CTX_free(ctx);
        e->size = total;
        e->is_dir = 1;
    }
    fcache_free(e->files, e->nfiles);
    e->files = nf;
    e->nfiles = nn;
    names_free(&ns);
    return 0;
fail:
    fcache_free(nf, nn);
    names_free(&ns);
    return rc;
}

/* find_libs adds an entry for every shared library mapped by a running
 * process whose exe is e->path (the first such process found). */
static int find_libs(struct digest_watch *w, size_t ei)
{
    DIR *d = opendir(w->proc_root);
    if (d == NULL)
        return 0;
    struct dirent *de;
    char exe[PATH_MAX], link[PATH_MAX + 64];
    int rc = 0, found = 0;
    while (!found && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        snprintf(link, sizeof link, "%s/%s/exe", w->proc_root, de->d_name);
        ssize_t n = readlink(link, exe, sizeof exe - 1);
        if (n <= 0)
            continue;
        exe[n] = '\0';
        if (strcmp(exe, w->ents[ei].path) != 0)
            continue;
        snprintf(link, sizeof link, "%s/%s/maps", w->proc_root, de->d_name);
        FILE *f = fopen(link, "re");
        if (f == NULL)
            continue;
        found = 1;
        char line[PATH_MAX + 256];
        while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
            char *p = strchr(line, '/');
            if (p == NULL)
                continue;
            p[strcspn(p, "\n")] = '\0';
            if (strstr(p, ".so") == NULL || strstr(p, " (deleted)") != NULL)
                continue;
            int known = 0;
            for (size_t i = 0; i < w->nents && !known; i++)
                known = strcmp(w->ents[i].path, p) == 0;
            if (!known)
                rc = add_entry(w, p, NULL, w->ents[ei].name, 0);
        }
        fclose(f);
    }
    closedir(d);
    return rc;
}

static int send_event(struct digest_watch *w, struct entry *e, const struct agent_emit *em,
                      const char *old_hex, int64_t now_ms)
{
    char hex[65], size[24], files[24], msg[512];
    struct agent_label attrs[9];
    size_t n = 0;
    digest_hex(e->sha, hex);
    snprintf(size, sizeof size, "%llu", (unsigned long long)e->size);
    snprintf(files, sizeof files, "%zu", e->nfiles);
    attrs[n++] = (struct agent_label){ "path", e->name };
    attrs[n++] = (struct agent_label){ "kind", e->is_dir ? "dir" : "file" };
    attrs[n++] = (struct agent_label){ "sha256", hex };
    attrs[n++] = (struct agent_label){ "size", size };
    attrs[n++] = (struct agent_label){ "role", w->role };
    attrs[n++] = (struct agent_label){ "release", w->release };
    if (e->is_dir)
        attrs[n++] = (struct agent_label){ "files", files };
    if (e->of != NULL)
        attrs[n++] = (struct agent_label){ "of", e->of };
    if (old_hex != NULL)
        attrs[n++] = (struct agent_label){ "old_sha256", old_hex };
    if (old_hex != NULL)
        snprintf(msg, sizeof msg, "%.300s changed: sha256 %.12s -> %.12s", e->name, old_hex, hex);
    else
        snprintf(msg, sizeof msg, "%.300s: sha256 %s", e->name, hex);
    struct agent_event ev = {
        .severity = old_hex != NULL ? TT_SEV_NOTICE : TT_SEV_INFO,
        .component = "digest",
        .name = "telltale.digest",
        .message = msg,
        .attrs = attrs,
        .nattrs = n,
        .t_ms = now_ms,
    };
    if (em->event == NULL)
        return 0;
    int rc = em->event(em->ctx, &ev);
    if (rc == 0)
        e->last_sent_ms = now_ms;
    return rc;
}

int digest_watch_collect(struct digest_watch *w, const struct agent_emit *em, int64_t now_ms)
{
    size_t nconf = w->nents;
    for (size_t i = 0; i < nconf; i++) {
        /* Searching /proc is a readlink per process: done at start and
         * every resend interval (a restarted binary's new libraries are
         * found then), not every round. */
        struct entry *e = &w->ents[i];
        if (e->libs && e->of == NULL &&
            (e->libs_scanned_ms == 0 || now_ms - e->libs_scanned_ms >= w->resend_ms)) {
            e->libs_scanned_ms = now_ms;
            int rc = find_libs(w, i);
            if (rc < 0)
                return rc;
        }
    }
    for (size_t i = 0; i < w->nents; i++) {
        struct entry *e = &w->ents[i];
        char err[512] = "", old_hex[65];
        uint8_t old[32];
        int had = e->have, was_dir = e->is_dir;
        memcpy(old, e->sha, 32);
        int rc = refresh(e, err, sizeof err);
        if (rc == TT_ENOMEM)
            return rc;
        if (rc < 0) {
            if (!e->warned && em->warn != NULL) {
                char msg[700];
                if (rc == TT_ENOTFOUND)
                    snprintf(msg, sizeof msg, "digest %.300s: no such file or directory", e->path);
                else
                    snprintf(msg, sizeof msg, "digest: %s", err);
                em->warn(em->ctx, msg);
            }
            e->warned = 1;
            continue;
        }
        e->warned = 0;
        e->have = 1;
        int changed = had && (memcmp(old, e->sha, 32) != 0 || was_dir != e->is_dir);
        if (changed)
            digest_hex(old, old_hex);
        if (!had || changed || now_ms - e->last_sent_ms >= w->resend_ms) {
            rc = send_event(w, e, em, changed ? old_hex : NULL, now_ms);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}
