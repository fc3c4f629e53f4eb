/*
 * watch.c - the process, file and digest watchers as one (watch.h).
 */
#include <stdlib.h>
#include "agent/watch.h"
#include "telltale.h"

struct agent_watch {
    struct proc_watch *procs;
    struct file_check *files;
    struct digest_watch *digests;
};

int agent_watch_active(const struct agent_watch *w)
{
    return w != NULL && (w->procs != NULL || w->files != NULL || w->digests != NULL);
}

int agent_watch_new(struct agent_watch **out, const struct agent_watch_config *cfg,
                    const char *role, const char *release, char *err, size_t errlen)
{
    struct agent_watch *w = calloc(1, sizeof(*w));
    int rc = 0;
    *out = NULL;
    if (w == NULL)
        return TT_ENOMEM;
    if (cfg != NULL && cfg->nprocs > 0)
        rc = proc_watch_new(&w->procs, cfg->procs, cfg->nprocs, cfg->proc_root, err, errlen);
    if (rc == 0 && cfg != NULL && cfg->nfiles > 0)
        rc = file_check_new(&w->files, cfg->files, cfg->nfiles, err, errlen);
    if (rc == 0 && cfg != NULL && cfg->ndigests > 0) {
        struct digest_watch_config dc = { cfg->digests, cfg->ndigests,         role,
                                          release,      cfg->digest_resend_ms, cfg->proc_root };
        rc = digest_watch_new(&w->digests, &dc, err, errlen);
    }
    if (rc < 0) {
        agent_watch_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int agent_watch_collect(struct agent_watch *w, const struct agent_emit *e, int64_t now_ms)
{
    int rc = 0;
    if (w->procs != NULL && (rc = proc_watch_collect(w->procs, e, now_ms)) < 0)
        return rc;
    if (w->files != NULL && (rc = file_check_collect(w->files, e, now_ms)) < 0)
        return rc;
    if (w->digests != NULL && (rc = digest_watch_collect(w->digests, e, now_ms)) < 0)
        return rc;
    return 0;
}

void agent_watch_free(struct agent_watch *w)
{
    if (w == NULL)
        return;
    proc_watch_free(w->procs);
    file_check_free(w->files);
    digest_watch_free(w->digests);
    free(w);
}
