/*
 * main.c - the telltale command: global options (--help, --version), the
 * subcommand table, and dispatch to cmd_<verb>() (one file per subcommand).
 *
 * Exit codes: 0 success, 1 problems found (a subcommand's own report), 2
 * usage errors, including unknown commands. Output errors on stdout (a full
 * disk, a closed pipe) are caught here and turn a success into 1.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "telltale.h"
#include "cli/cli.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);
static void help_usage(FILE *out);
static void version_usage(FILE *out);

static const struct cli_cmd commands[] = {
    { "align", cmd_align, cmd_align_usage,
      "align per-node logs after the fact by their HLC stamps" },
    { "agent", cmd_agent, cmd_agent_usage,
      "run the per-node agent: collect and ship to the server" },
    { "collect", cmd_collect, cmd_collect_usage,
      "run the host collectors once, print Prometheus text format" },
    { "events", cmd_events, cmd_events_usage, "search the events the server keeps" },
    { "help", cmd_help, help_usage, "show help for telltale or one of its commands" },
    { "sim", cmd_sim, cmd_sim_usage, "run a simulation experiment (hlc-sync)" },
    { "snapshot", cmd_snapshot, cmd_snapshot_usage,
      "print every node's state variables at an HLC or time (a consistent cut)" },
    { "spool", cmd_spool, cmd_spool_usage, "read the spool segments libtelltale writes" },
    { "promqltest", cmd_promqltest, cmd_promqltest_usage,
      "run PromQL test files against the engine" },
    { "rql", cmd_rql, cmd_rql_usage, "evaluate an RQL query over the cuts of a state-change file" },
    { "scrape", cmd_scrape, cmd_scrape_usage,
      "scrape a Prometheus target once and print what the agent would ship" },
    { "server", cmd_server, cmd_server_usage,
      "run the server: the metric store and its Prometheus API" },
    { "trace", cmd_trace, cmd_trace_usage,
      "print a trace as a waterfall, or search traces (Jaeger API of a server)" },
    { "version", cmd_version, version_usage, "print the version" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

int cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

static const struct cli_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: telltale [--version] [--help] <command> [<args>]\n\n"
                 "Telltale monitors distributed systems: spans, metrics, events and state\n"
                 "changes from libtelltale, shipped by the agent to the server.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'telltale help <command>' or 'telltale <command> --help' for a "
                 "command's options.\n");
}

static void help_usage(FILE *out)
{
    fprintf(out, "usage: telltale help [<command>]\n\n"
                 "Shows the list of commands, or the help of one command.\n");
}

static void version_usage(FILE *out)
{
    fprintf(out, "usage: telltale version\n       telltale --version\n\n"
                 "Prints the version of the telltale command.\n");
}

static int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "telltale version: takes no arguments\n");
        return CLI_USAGE;
    }
    printf("telltale %d.%d.%d\n", TT_VERSION_MAJOR, TT_VERSION_MINOR, TT_VERSION_PATCH);
    return CLI_OK;
}

static int unknown_cmd(const char *name)
{
    fprintf(stderr, "telltale: unknown command '%s' (see 'telltale --help')\n", name);
    return CLI_USAGE;
}

static int cmd_help(int argc, char **argv)
{
    const struct cli_cmd *c;

    if (argc < 2) {
        usage(stdout);
        return CLI_OK;
    }
    if (argc > 2) {
        fprintf(stderr, "usage: telltale help [<command>]\n");
        return CLI_USAGE;
    }
    c = find_cmd(argv[1]);
    if (c == NULL)
        return unknown_cmd(argv[1]);
    c->usage(stdout);
    return CLI_OK;
}

/* finish flushes stdout: output that did not reach its destination is a
 * failure even when the command itself went well. */
static int finish(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno != EPIPE)
            fprintf(stderr, "telltale: writing output: %s\n", strerror(errno));
        return rc == CLI_OK ? CLI_PROBLEMS : rc;
    }
    return rc;
}

int main(int argc, char **argv)
{
    const struct cli_cmd *c;

    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return finish(CLI_OK);
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
        return finish(cmd_version(1, argv + 1));
    if (argv[1][0] == '-') {
        fprintf(stderr, "telltale: unknown option '%s' (see 'telltale --help')\n", argv[1]);
        return CLI_USAGE;
    }
    c = find_cmd(argv[1]);
    if (c == NULL)
        return unknown_cmd(argv[1]);
    /* Every subcommand answers --help the same way; those with their own
     * subcommands (spool dump --help) handle deeper levels themselves. */
    if (argc == 3 && cli_is_help(argv[2])) {
        c->usage(stdout);
        return finish(CLI_OK);
    }
    return finish(c->run(argc - 1, argv + 1));
}
