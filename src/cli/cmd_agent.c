/*
 * cmd_agent.c - `telltale agent`: parses the command line, runs a
 * collection round every interval on the main thread (aligned to the
 * interval) while the agent's shipper thread sends the backlog to the
 * server, and stops cleanly on SIGINT or SIGTERM (read from a signalfd, the
 * signals blocked before any thread starts).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/cli.h"
#include "cli/daemon.h"
#include "core/clock.h"
#include "core/log.h"
#include "query/promql/lexer.h"

void cmd_agent_usage(FILE *out)
{
    fprintf(out,
            "usage: telltale agent --server HOST:PORT --node NAME [--role R] [--release V]\n"
            "                      [--interval DURATION] [--state DIR] [--scrape [JOB=]URL]...\n"
            "                      [--spool DIR]... [--no-host] [--no-self-metrics]\n"
            "                      [--log-level LEVEL]\n\n"
            "Runs the per-node agent: every interval it collects the host's metrics\n"
            "(node_exporter names) and scrapes the given Prometheus targets, keeps each\n"
            "round as one batch in an on-disk backlog, and ships the backlog to the\n"
            "server's agent port; a batch is deleted once the server acknowledged it as\n"
            "durable. A server that is down or unreachable is retried with backoff.\n\n"
            "Options:\n"
            "  --server HOST:PORT  the server's agent port (its --agents; default\n"
            "                      127.0.0.1:7071)\n"
            "  --node NAME         this node's name (required)\n"
            "  --role R            the node's role (e.g. frontend)\n"
            "  --release V         the release the node runs\n"
            "  --interval DURATION collection period, a Prometheus duration (default 10s)\n"
            "  --state DIR         origin id and backlog (default ./agent-state)\n"
            "  --scrape [JOB=]URL  scrape this Prometheus target every interval (job\n"
            "                      label JOB, default 'scrape'); repeatable\n"
            "  --spool DIR         ship the batches libtelltale programs write to this\n"
            "                      spool directory (their TELLTALE_SPOOL_DIR), deleting\n"
            "                      segments once acknowledged; repeatable (default: none)\n"
            "  --no-host           do not run the host collectors\n"
            "  --no-self-metrics   do not add the agent's own telltale_agent_* metrics\n"
            "  --log-level LEVEL   debug, info, warn or error (default warn), to stderr\n\n"
            "SIGINT or SIGTERM stop the agent cleanly (exit status 0).\n");
}

int cmd_agent(int argc, char **argv)
{
    struct agent_config cfg;
    struct agent *a = NULL;
    struct log lg;
    enum log_level level = LOG_LEVEL_WARN;
    int64_t interval_ms = AGENT_DEFAULT_INTERVAL_MS;
    sigset_t old;
    int sfd = -1, masked = 0, ret = CLI_PROBLEMS;
    char err[512];

    memset(&cfg, 0, sizeof cfg);
    cfg.server = "127.0.0.1:7071";
    cfg.state_dir = "./agent-state";
    cfg.host = 1;
    cfg.self_metrics = 1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(o, "--no-host") == 0) {
            cfg.host = 0;
            continue;
        }
        if (strcmp(o, "--no-self-metrics") == 0) {
            cfg.self_metrics = 0;
            continue;
        }
        if (!has_val || strncmp(o, "--", 2) != 0) {
            fprintf(stderr,
                    "telltale agent: unknown option or missing value '%s' (see 'telltale agent "
                    "--help')\n",
                    o);
            return CLI_USAGE;
        }
        const char *v = argv[++i];
        if (strcmp(o, "--server") == 0) {
            cfg.server = v;
        } else if (strcmp(o, "--node") == 0) {
            cfg.node = v;
        } else if (strcmp(o, "--role") == 0) {
            cfg.role = v;
        } else if (strcmp(o, "--release") == 0) {
            cfg.release = v;
        } else if (strcmp(o, "--state") == 0) {
            cfg.state_dir = v;
        } else if (strcmp(o, "--scrape") == 0) {
            if (cfg.nscrapes == AGENT_MAX_SCRAPES) {
                fprintf(stderr, "telltale agent: at most %d --scrape targets\n", AGENT_MAX_SCRAPES);
                return CLI_USAGE;
            }
            cfg.scrape_urls[cfg.nscrapes++] = v;
        } else if (strcmp(o, "--spool") == 0) {
            if (cfg.nspools == AGENT_MAX_SPOOLS) {
                fprintf(stderr, "telltale agent: at most %d --spool directories\n",
                        AGENT_MAX_SPOOLS);
                return CLI_USAGE;
            }
            cfg.spool_dirs[cfg.nspools++] = v;
        } else if (strcmp(o, "--interval") == 0) {
            char e[128];
            if (promql_parse_duration(v, strlen(v), &interval_ms, e, sizeof e) != 0 ||
                interval_ms < 100) {
                fprintf(stderr, "telltale agent: --interval: bad duration '%s' (at least 100ms)\n",
                        v);
                return CLI_USAGE;
            }
        } else if (strcmp(o, "--log-level") == 0) {
            if (log_level_parse(v, &level) < 0) {
                fprintf(stderr, "telltale agent: bad --log-level '%s'\n", v);
                return CLI_USAGE;
            }
        } else {
            fprintf(stderr, "telltale agent: unknown option '%s' (see 'telltale agent --help')\n",
                    o);
            return CLI_USAGE;
        }
    }
    if (cfg.node == NULL || cfg.node[0] == '\0') {
        fprintf(stderr, "telltale agent: --node NAME is required\n");
        return CLI_USAGE;
    }
    log_init(&lg, level, daemon_stderr_sink, NULL);
    cfg.log = &lg;

    if (daemon_signals_begin("telltale agent", &old, &sfd) != 0)
        return CLI_PROBLEMS;
    masked = 1;
    err[0] = '\0';
    int rc = agent_new(&a, &cfg, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "telltale agent: %s\n", err[0] ? err : tt_strerror(rc));
        goto out;
    }
    if (agent_start(a) < 0) {
        fprintf(stderr, "telltale agent: cannot start the shipper thread\n");
        goto out;
    }
    char origin[24];
    snprintf(origin, sizeof origin, "%016llx", (unsigned long long)agent_origin_id(a));
    log_info(&lg, "agent started", "node", cfg.node, "server", cfg.server, "origin", origin);

    for (;;) {
        int64_t now = clock_realtime_ns() / TT_NS_PER_MS;
        err[0] = '\0';
        if (agent_collect(a, now, err, sizeof err) < 0)
            log_error(&lg, "collection round lost", "reason", err);
        /* Sleep to the next multiple of the interval, waking for signals. */
        int64_t next = (clock_realtime_ns() / TT_NS_PER_MS / interval_ms + 1) * interval_ms;
        int64_t wait = next - clock_realtime_ns() / TT_NS_PER_MS;
        int sig = daemon_wait_signal(sfd, wait > 0 ? (int)wait : 0);
        if (sig < 0) {
            fprintf(stderr, "telltale agent: waiting for signals: %s\n", strerror(errno));
            goto out;
        }
        if (sig > 0) {
            log_info(&lg, "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
    }
    ret = CLI_OK;
out:
    agent_free(a);
    if (masked)
        daemon_signals_end(sfd, &old);
    return ret;
}
