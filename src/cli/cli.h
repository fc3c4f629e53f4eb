/*
 * cli.h - the telltale command's subcommands (git builtin style: one file per
 * subcommand, cmd_<verb>(argc, argv) with argv[0] the verb) and the exit
 * codes every subcommand uses.
 *
 * Subcommands may print and return an exit code; they never call exit(), so
 * main can flush stdout and report write errors in one place.
 */
#ifndef TT_CLI_H
#define TT_CLI_H

#include <stdio.h>

enum cli_exit {
    CLI_OK = 0,       /* everything done, everything read */
    CLI_PROBLEMS = 1, /* done, but problems were found (and reported) */
    CLI_USAGE = 2,    /* bad command line */
};

struct cli_cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *out); /* the full help of the subcommand */
    const char *summary;      /* one line for `telltale --help` */
};

/* cli_is_help reports whether arg asks for help ("-h", "--help"). */
int cli_is_help(const char *arg);

/* cmd_align: `telltale align [--json] [--merged] FILE...` (cmd_align.c). */
int cmd_align(int argc, char **argv);
void cmd_align_usage(FILE *out);

/* cmd_spool: `telltale spool dump ...` (cmd_spool.c). */
int cmd_spool(int argc, char **argv);
void cmd_spool_usage(FILE *out);

/* cmd_server: `telltale server ...` (cmd_server.c). */
int cmd_server(int argc, char **argv);
void cmd_server_usage(FILE *out);

/* cmd_promqltest: `telltale promqltest [-v] FILE...` (cmd_promqltest.c). */
int cmd_promqltest(int argc, char **argv);
void cmd_promqltest_usage(FILE *out);

/* cmd_agent: `telltale agent --server HOST:PORT --node NAME ...` (cmd_agent.c). */
int cmd_agent(int argc, char **argv);
void cmd_agent_usage(FILE *out);

/* cmd_scrape: `telltale scrape URL [--job J] [--timeout D] ...` (cmd_scrape.c). */
int cmd_scrape(int argc, char **argv);
void cmd_scrape_usage(FILE *out);
/* cmd_snapshot: `telltale snapshot --at T` (cmd_snapshot.c). */
int cmd_snapshot(int argc, char **argv);
void cmd_snapshot_usage(FILE *out);

/* cmd_events: `telltale events [--server URL] [filters...]` (cmd_events.c). */
int cmd_events(int argc, char **argv);
void cmd_events_usage(FILE *out);
/* cmd_rql: `telltale rql --file CHANGES.jsonl 'QUERY'` (cmd_rql.c). */
int cmd_rql(int argc, char **argv);
void cmd_rql_usage(FILE *out);
/* cmd_collect: `telltale collect [--proc DIR] [--sys DIR]` (cmd_collect.c). */
int cmd_collect(int argc, char **argv);
void cmd_collect_usage(FILE *out);
/* cmd_trace: `telltale trace ID`, `telltale trace search ...` (cmd_trace.c). */
int cmd_trace(int argc, char **argv);
void cmd_trace_usage(FILE *out);

/* `telltale trace stats ...` and `telltale trace slowest ...` (argv[0] is
 * "stats" or "slowest"; cmd_trace_stats.c). */
int cmd_trace_stats(int argc, char **argv);
int cmd_trace_slowest(int argc, char **argv);
void cmd_trace_stats_usage(FILE *out);
void cmd_trace_slowest_usage(FILE *out);

/* cmd_sim: `telltale sim hlc-sync [flags]` (cmd_sim.c). */
int cmd_sim(int argc, char **argv);
void cmd_sim_usage(FILE *out);

#endif
