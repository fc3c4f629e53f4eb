/*
 * cmd_agent.c - `telltale agent`: parses the command line, runs a
 * collection round every interval on the main thread (aligned to the
 * interval) while the agent's shipper thread sends the backlog to the
 * server, and stops cleanly on SIGINT or SIGTERM (read from a signalfd, the
 * signals blocked before any thread starts). Settings come from --config
 * FILE (agent_config.h) with the flags over them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/agent_config.h"
#include "cli/cli.h"
#include "cli/daemon.h"
#include "core/clock.h"
#include "core/log.h"

void cmd_agent_usage(FILE *out)
{
    fprintf(
        out,
        "usage: telltale agent [--config FILE] --server HOST:PORT --node NAME [--role R]\n"
        "                      [--release V] [--interval DURATION] [--state DIR]\n"
        "                      [--scrape '[JOB=]URL [OPTION]...']...\n"
        "                      [--process 'NAME [name=|pidfile=|cgroup=]X']...\n"
        "                      [--file '/PATH [TYPE]']... [--digest '/PATH [libs] [as=/NAME]']...\n"
        "                      [--digest-interval DURATION] [--spool DIR]... [--no-host]\n"
        "                      [--no-self-metrics] [--log-level LEVEL]\n\n"
        "Runs the per-node agent: every interval it collects the host's metrics\n"
        "(node_exporter names), the watched processes' and files' figures and the\n"
        "code digests, and scrapes the given Prometheus targets, keeps each\n"
        "round as one batch in an on-disk backlog, and ships the backlog and the\n"
        "libtelltale spools given (--spool) to the server's agent port; a batch is\n"
        "deleted once the server acknowledged it as durable. A server that is down\n"
        "or unreachable is retried with backoff.\n\n"
        "Options:\n"
        "  --config FILE       read settings from FILE (key = value lines, the keys\n"
        "                      are the options' names; see docs/configuration.md);\n"
        "                      flags override it\n"
        "  --server HOST:PORT  the server's agent port (its --agents; default\n"
        "                      127.0.0.1:7071)\n"
        "  --node NAME         this node's name (required)\n"
        "  --role R            the node's role (e.g. frontend)\n"
        "  --release V         the release the node runs\n"
        "  --interval DURATION collection period, like 10s or 500ms (default 10s)\n"
        "  --state DIR         origin id and backlog (default ./agent-state)\n"
        "  --scrape SPEC       scrape a Prometheus target: '[JOB=]URL [interval=D]\n"
        "                      [timeout=D] [LABEL=VALUE]...' (job label JOB, default\n"
        "                      'scrape'; interval: at least --interval, default\n"
        "                      --interval, the target then scraped in the first round\n"
        "                      of each interval; timeout: at most the interval, default\n"
        "                      10s or the interval if shorter; LABEL=VALUE: extra\n"
        "                      target labels, not job, instance or __*); repeatable\n"
        "  --process SPEC      watch a process group: 'NAME' (processes called NAME),\n"
        "                      'NAME name=COMM', 'NAME pidfile=/PATH', 'NAME\n"
        "                      cgroup=/sys/fs/cgroup/...'; repeatable\n"
        "  --file SPEC         check a file: '/PATH [json|yaml|ini|kv|text|auto]';\n"
        "                      repeatable\n"
        "  --digest SPEC       send the sha256 of a binary or directory: '/PATH [libs]\n"
        "                      [as=/NAME]' (libs: also the libraries a running process\n"
        "                      of it maps; as: the path to report); repeatable\n"
        "  --digest-interval D resend every digest this often (default 1h)\n"
        "  --spool DIR         ship the batches libtelltale programs write to this\n"
        "                      spool directory (their TELLTALE_SPOOL_DIR), deleting\n"
        "                      segments once acknowledged; repeatable (default: none)\n"
        "  --no-host           do not run the host collectors\n"
        "  --no-self-metrics   do not add the agent's own telltale_agent_* metrics\n"
        "  --log-level LEVEL   debug, info, warn or error (default warn), to stderr\n\n"
        "SIGINT or SIGTERM stop the agent cleanly (exit status 0).\n");
}

/* parse_flags reads the command line into fl (keys as in the file: dashes
 * become underscores). Returns 0 or CLI_USAGE (printed). */
static int parse_flags(int argc, char **argv, struct agent_file_config *fl, const char **config)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        char key[64], err[512] = "";
        if (strcmp(o, "--no-host") == 0) {
            fl->host = 0;
            continue;
        }
        if (strcmp(o, "--no-self-metrics") == 0) {
            fl->self_metrics = 0;
            continue;
        }
        if (i + 1 >= argc || strncmp(o, "--", 2) != 0 || strlen(o) >= sizeof key + 2) {
            fprintf(stderr,
                    "telltale agent: unknown option or missing value '%s' (see 'telltale agent "
                    "--help')\n",
                    o);
            return CLI_USAGE;
        }
        const char *v = argv[++i];
        if (strcmp(o, "--config") == 0) {
            *config = v;
            continue;
        }
        snprintf(key, sizeof key, "%s", o + 2);
        for (char *p = key; *p; p++)
            if (*p == '-')
                *p = '_';
        int rc = agent_config_set(fl, key, v, err, sizeof err);
        if (rc == TT_ENOTFOUND) {
            fprintf(stderr, "telltale agent: unknown option '%s' (see 'telltale agent --help')\n",
                    o);
            return CLI_USAGE;
        }
        if (rc < 0) {
            fprintf(stderr, "telltale agent: %s: %s\n", o, err[0] ? err : tt_strerror(rc));
            return CLI_USAGE;
        }
    }
    return 0;
}

int cmd_agent(int argc, char **argv)
{
    struct agent_config cfg;
    struct agent_watch_config wcfg;
    struct agent_file_config file, flags;
    struct agent *a = NULL;
    struct log lg;
    enum log_level level = LOG_LEVEL_WARN;
    int64_t interval_ms = AGENT_DEFAULT_INTERVAL_MS;
    const char *config = NULL;
    sigset_t old;
    int sfd = -1, masked = 0, ret = CLI_PROBLEMS;
    char err[512];

    memset(&cfg, 0, sizeof cfg);
    memset(&wcfg, 0, sizeof wcfg);
    cfg.server = "127.0.0.1:7071";
    cfg.state_dir = "./agent-state";
    cfg.host = 1;
    cfg.self_metrics = 1;
    agent_config_init(&file);
    agent_config_init(&flags);
    ret = parse_flags(argc, argv, &flags, &config);
    if (ret != 0) {
        agent_config_release(&flags);
        return ret;
    }
    ret = CLI_PROBLEMS;
    if (config != NULL && agent_config_read(&file, config, err, sizeof err) < 0) {
        fprintf(stderr, "telltale agent: config %s\n", err);
        agent_config_release(&flags);
        agent_config_release(&file);
        return CLI_USAGE;
    }
    agent_config_merge(&file, &flags);
    agent_config_apply(&file, &cfg, &wcfg);
    if (file.interval_ms)
        interval_ms = file.interval_ms;
    cfg.interval_ms = interval_ms;
    /* The scrape specs against the collection interval, now that it is
     * known: a usage error, before any state is touched. */
    for (size_t i = 0; i < cfg.nscrapes; i++) {
        struct agent_scrape_spec spec;
        if (agent_scrape_spec_parse(&spec, cfg.scrape_urls[i], interval_ms, err, sizeof err) < 0) {
            fprintf(stderr, "telltale agent: %s\n", err);
            agent_config_release(&file);
            return CLI_USAGE;
        }
        agent_scrape_spec_release(&spec);
    }
    if (file.log_level != NULL && log_level_parse(file.log_level, &level) < 0) {
        fprintf(stderr, "telltale agent: bad log level '%s'\n", file.log_level);
        agent_config_release(&file);
        return CLI_USAGE;
    }
    cfg.watch = &wcfg;
    if (cfg.node == NULL || cfg.node[0] == '\0') {
        fprintf(stderr, "telltale agent: --node NAME is required\n");
        agent_config_release(&file);
        return CLI_USAGE;
    }
    log_init(&lg, level, daemon_stderr_sink, NULL);
    cfg.log = &lg;

    if (daemon_signals_begin("telltale agent", &old, &sfd) != 0)
        goto out;
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
    agent_config_release(&file);
    return ret;
}
