/*
 * proc_watch.c - the process collector (proc_watch.h). Every round: the
 * groups' pids (one scan of PROC for the name groups, the pid files, the
 * cgroup.procs files), each pid's /proc/PID/stat (CPU, threads, RSS, start
 * time) and fd directory, sums per group, CPU counters kept monotonic by
 * adding per-process deltas, restarts by the main process's (pid, start).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "agent/proc_watch.h"
#include "telltale.h"

#define PF_KTHREAD_FLAG  0x00200000u /* kernel threads: never a configured process */
#define CGROUP_MAX_DEPTH 16

struct pinfo {
    int pid;
    uint64_t start; /* clock ticks after boot */
    uint64_t utime, stime, rss_pages, threads;
    int64_t fds; /* -1: not readable */
    char comm[32];
};

struct seen {
    int pid;
    uint64_t start, utime, stime;
};

struct group {
    char *label, *arg;
    enum proc_match match;
    struct seen *prev;
    size_t nprev;
    uint64_t cpu_user, cpu_sys; /* ticks */
    int main_pid;
    uint64_t main_start;
    uint64_t restarts;
    /* this round */
    struct pinfo *cur;
    size_t ncur, capcur;
};

struct proc_watch {
    struct group *g;
    size_t n;
    char *root;
    long tck, page;
    int64_t btime; /* seconds since the epoch at boot */
};

/* ---- reading /proc -------------------------------------------------------------- */

/* read_stat fills p from ROOT/PID/stat. Returns 1, 0 (gone or unreadable),
 * and sets *kthread. */
static int read_stat(const struct proc_watch *w, int pid, struct pinfo *p, int *kthread)
{
    char path[PATH_MAX], buf[2048];
    snprintf(path, sizeof path, "%s/%d/stat", w->root, pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (open == NULL || close == NULL || close < open)
        return 0;
    size_t cl = (size_t)(close - open - 1);
    if (cl >= sizeof p->comm)
        cl = sizeof p->comm - 1;
    memset(p, 0, sizeof(*p));
    memcpy(p->comm, open + 1, cl);
    p->pid = pid;
    /* Fields after the comm, numbered as proc(5) does: state is 3. */
    unsigned long long v[25] = { 0 };
    char *s = close + 1;
    for (int k = 3; k <= 24; k++) {
        while (*s == ' ')
            s++;
        if (*s == '\0' || *s == '\n')
            return 0;
        if (k != 3)
            v[k] = strtoull(s, NULL, 10);
        while (*s != ' ' && *s != '\0')
            s++;
    }
    *kthread = (v[9] & PF_KTHREAD_FLAG) != 0;
    p->utime = v[14];
    p->stime = v[15];
    p->threads = v[20];
    p->start = v[22];
    p->rss_pages = v[24];
    return 1;
}

static int64_t count_fds(const struct proc_watch *w, int pid)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%d/fd", w->root, pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int64_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int parse_pid(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    while (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r')
        end++;
    if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > INT_MAX)
        return 0;
    return (int)v;
}

static int group_add(struct group *g, const struct pinfo *p)
{
    for (size_t i = 0; i < g->ncur; i++)
        if (g->cur[i].pid == p->pid)
            return 0;
    if (g->ncur == g->capcur) {
        size_t nc = g->capcur ? g->capcur * 2 : 8;
        struct pinfo *n = realloc(g->cur, nc * sizeof(*n));
        if (n == NULL)
            return TT_ENOMEM;
        g->cur = n;
        g->capcur = nc;
    }
    g->cur[g->ncur++] = *p;
    return 0;
}

/* add_pid reads pid's stat and adds it to g (a pid that is gone is skipped). */
static int add_pid(const struct proc_watch *w, struct group *g, int pid)
{
    struct pinfo p;
    int kthread;
    if (!read_stat(w, pid, &p, &kthread))
        return 0;
    return group_add(g, &p);
}

static int read_cgroup(const struct proc_watch *w, struct group *g, const char *dir, int depth)
{
    char path[PATH_MAX], line[64];
    if ((size_t)snprintf(path, sizeof path, "%s/cgroup.procs", dir) >= sizeof path)
        return 0;
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        int pid = parse_pid(line);
        if (pid > 0)
            rc = add_pid(w, g, pid);
    }
    fclose(f);
    if (rc < 0 || depth >= CGROUP_MAX_DEPTH)
        return rc;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || de->d_type != DT_DIR)
            continue;
        char sub[PATH_MAX];
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name) < sizeof sub)
            rc = read_cgroup(w, g, sub, depth + 1);
    }
    closedir(d);
    return rc;
}

static int name_matches(const char *want, const struct pinfo *p, const char *exe_base)
{
    if (strcmp(p->comm, want) == 0)
        return 1;
    /* comm is cut at 15 bytes */
    if (strlen(p->comm) == 15 && strncmp(p->comm, want, 15) == 0)
        return 1;
    return exe_base != NULL && strcmp(exe_base, want) == 0;
}

/* scan_names walks ROOT once and adds every process to the name groups it matches. */
static int scan_names(struct proc_watch *w)
{
    DIR *d = opendir(w->root);
    if (d == NULL)
        return 0;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        int pid = parse_pid(de->d_name);
        struct pinfo p;
        int kthread;
        if (pid <= 0 || !read_stat(w, pid, &p, &kthread) || kthread)
            continue;
        char link[PATH_MAX], exe[PATH_MAX];
        const char *base = NULL;
        snprintf(link, sizeof link, "%s/%d/exe", w->root, pid);
        ssize_t n = readlink(link, exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = '\0';
            char *del = strstr(exe, " (deleted)");
            if (del != NULL && del[10] == '\0')
                *del = '\0'; /* a binary replaced on disk: still its name */
            const char *slash = strrchr(exe, '/');
            base = slash ? slash + 1 : exe;
        }
        for (size_t i = 0; i < w->n && rc == 0; i++) {
            struct group *g = &w->g[i];
            if (g->match == PROC_BY_NAME && name_matches(g->arg, &p, base))
                rc = group_add(g, &p);
        }
    }
    closedir(d);
    return rc;
}

/* ---- lifecycle ------------------------------------------------------------------ */

int proc_watch_new(struct proc_watch **out, const struct proc_spec *specs, size_t n,
                   const char *proc_root, char *err, size_t errlen)
{
    struct proc_watch *w = calloc(1, sizeof(*w));
    *out = NULL;
    if (w == NULL)
        return TT_ENOMEM;
    w->g = calloc(n ? n : 1, sizeof(*w->g));
    w->root = strdup(proc_root ? proc_root : "/proc");
    if (w->g == NULL || w->root == NULL) {
        proc_watch_free(w);
        return TT_ENOMEM;
    }
    w->tck = sysconf(_SC_CLK_TCK);
    w->page = sysconf(_SC_PAGESIZE);
    if (w->tck <= 0)
        w->tck = 100;
    if (w->page <= 0)
        w->page = 4096;
    char path[PATH_MAX], line[256];
    snprintf(path, sizeof path, "%s/stat", w->root);
    FILE *f = fopen(path, "re");
    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL)
            if (strncmp(line, "btime ", 6) == 0)
                w->btime = strtoll(line + 6, NULL, 10);
        fclose(f);
    }
    for (size_t i = 0; i < n; i++) {
        const struct proc_spec *s = &specs[i];
        if (s->label == NULL || s->label[0] == '\0' || s->arg == NULL || s->arg[0] == '\0') {
            snprintf(err, errlen, "process %zu: needs a name and what to match", i + 1);
            goto inval;
        }
        if (s->match != PROC_BY_NAME && s->arg[0] != '/') {
            snprintf(err, errlen, "process '%s': %s path '%s' must be absolute", s->label,
                     s->match == PROC_BY_PIDFILE ? "pid file" : "cgroup", s->arg);
            goto inval;
        }
        for (size_t j = 0; j < w->n; j++) {
            if (strcmp(w->g[j].label, s->label) == 0) {
                snprintf(err, errlen, "process '%s' configured twice", s->label);
                goto inval;
            }
        }
        struct group *g = &w->g[w->n];
        g->label = strdup(s->label);
        g->arg = strdup(s->arg);
        g->match = s->match;
        w->n++;
        if (g->label == NULL || g->arg == NULL) {
            proc_watch_free(w);
            return TT_ENOMEM;
        }
    }
    *out = w;
    return 0;
inval:
    proc_watch_free(w);
    return TT_EINVAL;
}

void proc_watch_free(struct proc_watch *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->g[i].label);
        free(w->g[i].arg);
        free(w->g[i].prev);
        free(w->g[i].cur);
    }
    free(w->g);
    free(w->root);
    free(w);
}

/* ---- one round -------------------------------------------------------------------- */

static int cmp_seen(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* account adds the CPU used since the last round by g's current processes
 * and makes them the new "previous" set. */
static int account(struct group *g)
{
    struct seen *next = calloc(g->ncur ? g->ncur : 1, sizeof(*next));
    if (next == NULL)
        return TT_ENOMEM;
    for (size_t i = 0; i < g->ncur; i++) {
        const struct pinfo *p = &g->cur[i];
        struct seen key = { .pid = p->pid };
        const struct seen *old =
            g->nprev > 0 ? bsearch(&key, g->prev, g->nprev, sizeof(*g->prev), cmp_seen) : NULL;
        if (old != NULL && old->start == p->start) {
            if (p->utime > old->utime)
                g->cpu_user += p->utime - old->utime;
            if (p->stime > old->stime)
                g->cpu_sys += p->stime - old->stime;
        } else {
            g->cpu_user += p->utime; /* new since the last round: all of it */
            g->cpu_sys += p->stime;
        }
        next[i] = (struct seen){ p->pid, p->start, p->utime, p->stime };
    }
    qsort(next, g->ncur, sizeof(*next), cmp_seen);
    free(g->prev);
    g->prev = next;
    g->nprev = g->ncur;
    return 0;
}

static int emit_group(struct proc_watch *w, struct group *g, const struct agent_emit *e,
                      int64_t now_ms)
{
    struct agent_label l[2] = { { "process", g->label }, { "mode", "user" } };
    uint64_t rss = 0, threads = 0;
    int64_t fds = 0;
    int fds_known = 0, rc;
    const struct pinfo *main = NULL;

    for (size_t i = 0; i < g->ncur; i++) {
        const struct pinfo *p = &g->cur[i];
        rss += p->rss_pages;
        threads += p->threads;
        if (p->fds >= 0) {
            fds += p->fds;
            fds_known = 1;
        }
        if (main == NULL || p->start < main->start ||
            (p->start == main->start && p->pid < main->pid))
            main = p;
    }
    if (g->match == PROC_BY_PIDFILE && g->ncur > 0)
        main = &g->cur[0];
    if (main != NULL) {
        if (g->main_pid != 0 && (g->main_pid != main->pid || g->main_start != main->start)) {
            char op[24], np[24], msg[400];
            g->restarts++;
            snprintf(op, sizeof op, "%d", g->main_pid);
            snprintf(np, sizeof np, "%d", main->pid);
            snprintf(msg, sizeof msg, "process %.100s (%.32s) restarted: pid %s -> %s", g->label,
                     main->comm, op, np);
            struct agent_label a[] = { { "process", g->label },
                                       { "old_pid", op },
                                       { "new_pid", np },
                                       { "name", main->comm } };
            struct agent_event ev = {
                TT_SEV_WARNING, "process", "telltale.process.restarted", msg, a, 4, now_ms
            };
            if (e->event != NULL && (rc = e->event(e->ctx, &ev)) < 0)
                return rc;
        }
        g->main_pid = main->pid;
        g->main_start = main->start;
    }
    double tck = (double)w->tck;
    if ((rc = e->sample(e->ctx, "telltale_process_up", l, 1, now_ms, g->ncur > 0)) < 0 ||
        (rc = e->sample(e->ctx, "telltale_process_count", l, 1, now_ms, (double)g->ncur)) < 0 ||
        (rc = e->sample(e->ctx, "telltale_process_cpu_seconds_total", l, 2, now_ms,
                        (double)g->cpu_user / tck)) < 0)
        return rc;
    l[1].value = "system";
    if ((rc = e->sample(e->ctx, "telltale_process_cpu_seconds_total", l, 2, now_ms,
                        (double)g->cpu_sys / tck)) < 0 ||
        (rc = e->sample(e->ctx, "telltale_process_resident_memory_bytes", l, 1, now_ms,
                        (double)rss * (double)w->page)) < 0 ||
        (rc = e->sample(e->ctx, "telltale_process_threads", l, 1, now_ms, (double)threads)) < 0 ||
        (rc = e->sample(e->ctx, "telltale_process_restarts_total", l, 1, now_ms,
                        (double)g->restarts)) < 0)
        return rc;
    if (fds_known &&
        (rc = e->sample(e->ctx, "telltale_process_open_fds", l, 1, now_ms, (double)fds)) < 0)
        return rc;
    if (main != NULL && w->btime > 0 &&
        (rc = e->sample(e->ctx, "telltale_process_start_time_seconds", l, 1, now_ms,
                        (double)w->btime + (double)main->start / tck)) < 0)
        return rc;
    return 0;
}

int proc_watch_collect(struct proc_watch *w, const struct agent_emit *e, int64_t now_ms)
{
    int names = 0, rc = 0;
    for (size_t i = 0; i < w->n; i++) {
        w->g[i].ncur = 0;
        names |= w->g[i].match == PROC_BY_NAME;
    }
    if (names && (rc = scan_names(w)) < 0)
        return rc;
    for (size_t i = 0; i < w->n; i++) {
        struct group *g = &w->g[i];
        if (g->match == PROC_BY_PIDFILE) {
            char line[64] = "";
            FILE *f = fopen(g->arg, "re");
            if (f != NULL) {
                if (fgets(line, sizeof line, f) == NULL)
                    line[0] = '\0';
                fclose(f);
            }
            int pid = parse_pid(line);
            if (pid > 0 && (rc = add_pid(w, g, pid)) < 0)
                return rc;
        } else if (g->match == PROC_BY_CGROUP) {
            if ((rc = read_cgroup(w, g, g->arg, 0)) < 0)
                return rc;
        }
        for (size_t k = 0; k < g->ncur; k++)
            g->cur[k].fds = count_fds(w, g->cur[k].pid);
        if ((rc = account(g)) < 0)
            return rc;
        if ((rc = emit_group(w, g, e, now_ms)) < 0)
            return rc;
    }
    return 0;
}
