/*
 * watch.h - the agent's watchers of this node's own software: the process
 * collector (proc_watch.h), the file sanity collector (file_check.h) and the
 * code digests (digest.h), made from one configuration and run together
 * once per collection round, after the host collectors.
 */
#ifndef TT_AGENT_WATCH_H
#define TT_AGENT_WATCH_H

#include <stddef.h>
#include <stdint.h>
#include "agent/collector.h"
#include "agent/digest.h"
#include "agent/file_check.h"
#include "agent/proc_watch.h"

struct agent_watch_config {
    const struct proc_spec *procs;
    size_t nprocs;
    const struct file_spec *files;
    size_t nfiles;
    const struct digest_spec *digests;
    size_t ndigests;
    int64_t digest_resend_ms; /* 0: an hour */
    const char *proc_root;    /* NULL: /proc */
};

struct agent_watch;

/* agent_watch_new makes the watchers of cfg (everything copied; role and
 * release go into the digest events). Returns 0 with *out (agent_watch_free;
 * NULL cfg or nothing configured gives an empty watch), TT_EINVAL (message
 * in err), TT_ENOMEM. */
int agent_watch_new(struct agent_watch **out, const struct agent_watch_config *cfg,
                    const char *role, const char *release, char *err, size_t errlen);

/* agent_watch_collect runs the process, file and digest watchers at now_ms.
 * Returns 0, TT_ENOMEM or the first error e returned. */
int agent_watch_collect(struct agent_watch *w, const struct agent_emit *e, int64_t now_ms);

/* agent_watch_active: 1 when w watches at least one process, file or
 * digest path (NULL: 0). */
int agent_watch_active(const struct agent_watch *w);

/* agent_watch_free frees w (NULL is fine). */
void agent_watch_free(struct agent_watch *w);

#endif
