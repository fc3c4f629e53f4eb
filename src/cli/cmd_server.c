/*
 * cmd_server.c - `telltale server`: reads the configuration (file, then
 * flags), configures logging to stderr, starts the server and serves until
 * SIGINT or SIGTERM, then stops it cleanly and exits 0.
 *
 * Signals are blocked in every thread (the mask is set before any thread
 * starts, and threads inherit it) and read from a signalfd by the main
 * thread, so no code runs in signal context. SIGPIPE is ignored: a client
 * that goes away is an error on its connection, not the end of the server.
 *
 * The configuration file (docs/configuration.md) is lines of key = value;
 * '#' starts a comment line; unknown keys are errors, so typos do not pass
 * silently. Command-line flags override the file.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "telltale.h"
#include "cli/cli.h"
#include "cli/daemon.h"
#include "core/log.h"
#include "server/agent_listener.h"
#include "server/api_events.h"
#include "server/api_snapshot.h"
#include "server/ev_indexer.h"
#include "server/otlp_http.h"
#include "server/api_jaeger.h"
#include "server/api_spans.h"
#include "server/api_traces.h"
#include "server/span_indexer.h"
#include "server/span_metrics.h"
#include "server/api_deps.h"
#include "server/spanstore_metrics.h"
#include "store/spans/spanstore.h"
#include "server/server.h"
#include "server/store.h"
#include "query/promql/lexer.h"
#include "core/record.h"
#include "store/events/evstore.h"
#include "store/tsdb/db.h"

struct server_opts {
    struct server_config cfg;
    struct db_options db;
    int promql_experimental; /* promql_experimental_functions = true */
    enum log_level level;
    /* strings read from the config file (owned) */
    char *file_data, *file_http, *file_agents;
    const char *agents_addr;
    unsigned agents_max_conns;
    uint64_t agents_max_batch;
    unsigned agents_ping_interval, agents_idle_timeout, agents_frame_timeout, agents_send_timeout;
    int64_t events_retention_ms; /* events store (docs/design/events.md) */
    uint64_t events_retention_bytes, events_segment_bytes;
    uint64_t otlp_max_body;                  /* otlp_max_body_bytes */
    struct spanstore_options spans;          /* spans_retention, spans_retention_size */
    struct span_metrics_config span_metrics; /* spans_metrics_interval, spans_graph_* */
};

void cmd_server_usage(FILE *out)
{
    fprintf(out,
            "usage: telltale server [--config FILE] [--data DIR] [--http ADDR:PORT]\n"
            "                       [--retention DURATION] [--retention-size SIZE]\n"
            "                       [--agents ADDR:PORT] [--log-level LEVEL]\n\n"
            "Runs the Telltale server: the metric store and its Prometheus-compatible\n"
            "HTTP API, the server's own metrics at /metrics, and /-/healthy, /-/ready.\n\n"
            "Options:\n"
            "  --config FILE      read settings from FILE (key = value lines; see\n"
            "                     docs/configuration.md); flags override it\n"
            "  --data DIR         data directory, created if missing (default %s)\n"
            "  --http ADDR:PORT   listen address (default %s; ':PORT' for every\n"
            "                     interface, '[::1]:PORT' for IPv6)\n"
            "  --retention DURATION   keep this much history (default 15d; 0 keeps\n"
            "                     everything); Prometheus durations: 90d, 12h, 1w\n"
            "  --retention-size SIZE  delete the oldest blocks while blocks and WAL\n"
            "                     exceed SIZE (512MB, 20GiB; default: no limit)\n"
            "  --agents ADDR:PORT where `telltale agent`s connect (default %s;\n"
            "                     config keys agents, agents_max_connections)\n"
            "  --log-level LEVEL  debug, info, warn or error (default warn); logs go\n"
            "                     to stderr as logfmt lines\n\n"
            "SIGINT or SIGTERM stop the server cleanly (exit status 0). It exits 1 if it\n"
            "cannot start (address in use, data directory unusable or locked).\n",
            SERVER_DEFAULT_DATA_DIR, SERVER_DEFAULT_HTTP_ADDR, AGENT_LISTENER_DEFAULT_ADDR);
}

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static int parse_uint(const char *s, unsigned *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > 1000000)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* parse_duration_ms reads a Prometheus duration ("15d", "1h30m") or "0". */
static int parse_duration_ms(const char *s, int64_t *ms)
{
    char e[128];
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    return promql_parse_duration(s, strlen(s), ms, e, sizeof e) == 0 ? 0 : -1;
}

/* parse_size reads a byte size: a number with an optional unit B, KB, MB,
 * GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024); "0" is no
 * limit. */
static int parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = { { "", 1 },
                  { "B", 1 },
                  { "KB", 1000 },
                  { "MB", 1000000 },
                  { "GB", 1000000000 },
                  { "TB", 1000000000000 },
                  { "KiB", 1ull << 10 },
                  { "MiB", 1ull << 20 },
                  { "GiB", 1ull << 30 },
                  { "TiB", 1ull << 40 } };
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) == 0) {
            if (v > UINT64_MAX / units[i].mul)
                return -1;
            *out = v * units[i].mul;
            return 0;
        }
    }
    return -1;
}

/* apply_store_setting applies one store setting (retention, retention_size,
 * out_of_order_window, wal_sync, wal_sync_interval, wal_batch_window,
 * block_page_cache, promql_experimental_functions, rollup_after,
 * maintenance_interval) from the file or the command
 * line: 0, -1 (bad value), 1 (not a store setting). */
static int apply_store_setting(struct server_opts *o, const char *key, const char *val)
{
    int64_t ms;
    if (strcmp(key, "retention") == 0) {
        if (parse_duration_ms(val, &ms) != 0)
            return -1;
        o->db.retention_ms = ms;
    } else if (strcmp(key, "retention_size") == 0) {
        return parse_size(val, &o->db.retention_bytes);
    } else if (strcmp(key, "out_of_order_window") == 0) {
        if (parse_duration_ms(val, &ms) != 0)
            return -1;
        o->db.head.ooo_window_ms = ms;
    } else if (strcmp(key, "wal_sync") == 0) {
        if (strcmp(val, "always") == 0)
            o->db.head.wal.sync = WAL_SYNC_ALWAYS;
        else if (strcmp(val, "batch") == 0)
            o->db.head.wal.sync = WAL_SYNC_BATCH;
        else if (strcmp(val, "interval") == 0)
            o->db.head.wal.sync = WAL_SYNC_INTERVAL;
        else
            return -1;
    } else if (strcmp(key, "wal_sync_interval") == 0) {
        if (parse_duration_ms(val, &ms) != 0 || ms > 3600000)
            return -1;
        o->db.head.wal.interval_ms = (uint32_t)ms;
    } else if (strcmp(key, "wal_batch_window") == 0) {
        if (parse_duration_ms(val, &ms) != 0 || ms > 10000)
            return -1;
        o->db.head.wal.batch_window_ms = (uint32_t)ms;
    } else if (strcmp(key, "block_page_cache") == 0) {
        uint64_t b;
        if (parse_size(val, &b) != 0 || b > ((uint64_t)1 << 40))
            return -1;
        o->db.page_cache_bytes = (size_t)b;
    } else if (strcmp(key, "promql_experimental_functions") == 0) {
        if (strcmp(val, "true") == 0)
            o->promql_experimental = 1;
        else if (strcmp(val, "false") == 0)
            o->promql_experimental = 0;
        else
            return -1;
    } else if (strcmp(key, "rollup_after") == 0) {
        if (parse_duration_ms(val, &ms) != 0)
            return -1;
        o->db.rollup_after_ms = ms;
    } else if (strcmp(key, "events_retention") == 0) {
        if (parse_duration_ms(val, &ms) != 0)
            return -1;
        o->events_retention_ms = ms;
    } else if (strcmp(key, "events_retention_size") == 0) {
        return parse_size(val, &o->events_retention_bytes);
    } else if (strcmp(key, "events_segment_size") == 0) {
        uint64_t b;
        if (parse_size(val, &b) != 0 || b < 4096 || b > (1u << 30))
            return -1;
        o->events_segment_bytes = b;
    } else if (strcmp(key, "spans_retention") == 0) {
        if (parse_duration_ms(val, &ms) != 0)
            return -1;
        o->spans.retention_ms = ms;
    } else if (strcmp(key, "spans_retention_size") == 0) {
        return parse_size(val, &o->spans.retention_bytes);
    } else if (strcmp(key, "spans_metrics_interval") == 0) {
        if (parse_duration_ms(val, &ms) != 0 || ms < 100 || ms > 300000)
            return -1;
        o->span_metrics.interval_ms = ms;
    } else if (strcmp(key, "spans_metrics_max_age") == 0) {
        if (parse_duration_ms(val, &ms) != 0)
            return -1;
        o->span_metrics.max_age_ms = ms == 0 ? -1 : ms;
    } else if (strcmp(key, "spans_graph_wait") == 0) {
        if (parse_duration_ms(val, &ms) != 0 || ms < 100 || ms > 3600000)
            return -1;
        o->span_metrics.wait_ms = ms;
    } else if (strcmp(key, "spans_graph_max_pending") == 0) {
        unsigned n;
        if (parse_uint(val, &n) != 0 || n == 0)
            return -1;
        o->span_metrics.max_pending = n;
    } else if (strcmp(key, "maintenance_interval") == 0) {
        if (parse_duration_ms(val, &ms) != 0 || ms == 0)
            return -1;
        o->db.maintenance_ms = ms;
    } else {
        return 1;
    }
    return 0;
}

/* read_config applies the settings of path to o. Returns 0, or prints the
 * problem with file and line and returns -1. */
static int read_config(const char *path, struct server_opts *o)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int lineno = 0, rc = -1;

    if (f == NULL) {
        fprintf(stderr, "telltale server: config %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *s = trim(line), *eq, *key, *val, **dst = NULL;
        lineno++;
        if (*s == '\0' || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (eq == NULL) {
            fprintf(stderr, "telltale server: %s:%d: expected key = value\n", path, lineno);
            goto out;
        }
        *eq = '\0';
        key = trim(s);
        val = trim(eq + 1);
        if (strcmp(key, "data") == 0) {
            dst = &o->file_data;
        } else if (strcmp(key, "http") == 0) {
            dst = &o->file_http;
        } else if (strcmp(key, "agents") == 0) {
            dst = &o->file_agents;
        } else if (strcmp(key, "agents_max_connections") == 0) {
            if (parse_uint(val, &o->agents_max_conns) < 0) {
                fprintf(stderr, "telltale server: %s:%d: bad number '%s'\n", path, lineno, val);
                goto out;
            }
        } else if (strcmp(key, "agents_max_batch_bytes") == 0) {
            if (parse_size(val, &o->agents_max_batch) < 0 ||
                o->agents_max_batch < AGENT_LISTENER_MIN_MAX_BATCH ||
                o->agents_max_batch > (64u << 20)) {
                fprintf(stderr, "telltale server: %s:%d: bad size '%s' (4KiB to 64MiB)\n", path,
                        lineno, val);
                goto out;
            }
        } else if (strcmp(key, "otlp_max_body_bytes") == 0) {
            if (parse_size(val, &o->otlp_max_body) < 0 || o->otlp_max_body < 1024 ||
                o->otlp_max_body > (256u << 20)) {
                fprintf(stderr, "telltale server: %s:%d: bad size '%s' (1KiB to 256MiB)\n", path,
                        lineno, val);
                goto out;
            }
        } else if (strcmp(key, "agents_ping_interval") == 0 ||
                   strcmp(key, "agents_idle_timeout") == 0 ||
                   strcmp(key, "agents_frame_timeout") == 0 ||
                   strcmp(key, "agents_send_timeout") == 0) {
            unsigned *d = strcmp(key, "agents_ping_interval") == 0   ? &o->agents_ping_interval
                          : strcmp(key, "agents_idle_timeout") == 0  ? &o->agents_idle_timeout
                          : strcmp(key, "agents_frame_timeout") == 0 ? &o->agents_frame_timeout
                                                                     : &o->agents_send_timeout;
            if (parse_uint(val, d) < 0 || *d == 0) {
                fprintf(stderr, "telltale server: %s:%d: bad number of seconds '%s'\n", path,
                        lineno, val);
                goto out;
            }
        } else if (strcmp(key, "log_level") == 0) {
            if (log_level_parse(val, &o->level) < 0) {
                fprintf(stderr, "telltale server: %s:%d: bad log_level '%s'\n", path, lineno, val);
                goto out;
            }
        } else if (strcmp(key, "http_max_connections") == 0) {
            if (parse_uint(val, &o->cfg.http_max_connections) < 0) {
                fprintf(stderr, "telltale server: %s:%d: bad number '%s'\n", path, lineno, val);
                goto out;
            }
        } else if (strcmp(key, "http_idle_timeout") == 0) {
            if (parse_uint(val, &o->cfg.http_idle_timeout_s) < 0) {
                fprintf(stderr, "telltale server: %s:%d: bad number of seconds '%s'\n", path,
                        lineno, val);
                goto out;
            }
        } else {
            int r = apply_store_setting(o, key, val);
            if (r < 0) {
                fprintf(stderr, "telltale server: %s:%d: bad value '%s' for '%s'\n", path, lineno,
                        val, key);
                goto out;
            }
            if (r > 0) {
                fprintf(stderr, "telltale server: %s:%d: unknown setting '%s'\n", path, lineno,
                        key);
                goto out;
            }
        }
        if (dst != NULL) {
            if (*val == '\0') {
                fprintf(stderr, "telltale server: %s:%d: empty value for '%s'\n", path, lineno,
                        key);
                goto out;
            }
            free(*dst);
            *dst = strdup(val);
            if (*dst == NULL) {
                fprintf(stderr, "telltale server: out of memory\n");
                goto out;
            }
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "telltale server: config %s: read error\n", path);
        goto out;
    }
    rc = 0;
out:
    fclose(f);
    return rc;
}

/* parse_args fills o from the command line (argv[0] is "server"). Returns
 * 0 or CLI_USAGE / CLI_PROBLEMS after printing why. */
static int parse_args(int argc, char **argv, struct server_opts *o)
{
    const char *config = NULL, *data = NULL, *http = NULL, *level = NULL, *retention = NULL,
               *retention_size = NULL, *agents = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **dst = NULL;
        if (strcmp(a, "--config") == 0)
            dst = &config;
        else if (strcmp(a, "--retention") == 0)
            dst = &retention;
        else if (strcmp(a, "--retention-size") == 0)
            dst = &retention_size;
        else if (strcmp(a, "--data") == 0)
            dst = &data;
        else if (strcmp(a, "--http") == 0)
            dst = &http;
        else if (strcmp(a, "--log-level") == 0)
            dst = &level;
        else if (strcmp(a, "--agents") == 0)
            dst = &agents;
        if (dst == NULL) {
            /* --flag=value too */
            static const char *const names[] = {
                "--config=",    "--data=",           "--http=",  "--log-level=",
                "--retention=", "--retention-size=", "--agents="
            };
            const char **dsts[] = { &config,    &data,           &http,  &level,
                                    &retention, &retention_size, &agents };
            for (size_t k = 0; k < 7; k++) {
                size_t n = strlen(names[k]);
                if (strncmp(a, names[k], n) == 0) {
                    *dsts[k] = a + n;
                    dst = dsts[k];
                }
            }
            if (dst == NULL) {
                fprintf(stderr,
                        "telltale server: unknown option '%s' (see 'telltale server "
                        "--help')\n",
                        a);
                return CLI_USAGE;
            }
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "telltale server: %s needs a value\n", a);
            return CLI_USAGE;
        }
        *dst = argv[++i];
    }
    if (config != NULL && read_config(config, o) < 0)
        return CLI_PROBLEMS;
    if (o->file_data != NULL)
        o->cfg.data_dir = o->file_data;
    if (o->file_http != NULL)
        o->cfg.http_addr = o->file_http;
    if (o->file_agents != NULL)
        o->agents_addr = o->file_agents;
    if (agents != NULL)
        o->agents_addr = agents;
    if (data != NULL)
        o->cfg.data_dir = data;
    if (http != NULL)
        o->cfg.http_addr = http;
    if (retention != NULL && apply_store_setting(o, "retention", retention) != 0) {
        fprintf(stderr, "telltale server: bad --retention '%s' (a duration: 15d, 12h, 0)\n",
                retention);
        return CLI_USAGE;
    }
    if (retention_size != NULL && apply_store_setting(o, "retention_size", retention_size) != 0) {
        fprintf(stderr, "telltale server: bad --retention-size '%s' (512MB, 20GiB, 0)\n",
                retention_size);
        return CLI_USAGE;
    }
    if (level != NULL && log_level_parse(level, &o->level) < 0) {
        fprintf(stderr, "telltale server: bad --log-level '%s' (debug, info, warn, error)\n",
                level);
        return CLI_USAGE;
    }
    if (o->cfg.data_dir[0] == '\0' || o->cfg.http_addr[0] == '\0') {
        fprintf(stderr, "telltale server: --data and --http cannot be empty\n");
        return CLI_USAGE;
    }
    return 0;
}

/* WAL replay progress, shown on stderr for a WAL worth waiting for. */
struct replay_progress {
    int last_tenth;
};

static void replay_progress(void *arg, uint64_t done, uint64_t total)
{
    struct replay_progress *p = arg;
    if (total < (64u << 20) || total == 0)
        return;
    int tenth = (int)(done * 10 / total);
    if (tenth == p->last_tenth)
        return;
    p->last_tenth = tenth;
    fprintf(stderr, "telltale server: replaying the WAL: %d%% (%llu of %llu MiB)\n", tenth * 10,
            (unsigned long long)(done >> 20), (unsigned long long)(total >> 20));
}

static void events_problem(void *arg, const char *file, uint64_t off, const char *msg)
{
    char where[32];
    snprintf(where, sizeof where, "%llu", (unsigned long long)off);
    log_warn((struct log *)arg, "events store: damaged data skipped", "file", file, "offset", where,
             "err", msg);
}

/* open_events opens DATA/events (records REC_EVENT) or DATA/state (the
 * state log: REC_STATE) and starts its indexer on the record log. */
static int open_events(const struct server_opts *o, struct log *lg, struct reclog *rl,
                       uint8_t records, struct evstore **st, struct ev_indexer **ix, char *err,
                       size_t errlen)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", o->cfg.data_dir, records == REC_STATE ? "state" : "events");
    struct evstore_config c = { .dir = dir,
                                .records = records,
                                .segment_bytes = o->events_segment_bytes,
                                .retention_bytes = o->events_retention_bytes,
                                .retention_ns = o->events_retention_ms * 1000000,
                                .problem = events_problem,
                                .problem_arg = lg };
    int rc = evstore_open(st, &c, err, errlen);
    if (rc < 0)
        return rc;
    struct ev_indexer_config ic = { .rl = rl, .st = *st, .log = lg };
    rc = ev_indexer_start(ix, &ic);
    if (rc < 0) {
        snprintf(err, errlen, "indexer thread: %s", tt_strerror(rc));
        evstore_close(*st);
        *st = NULL;
    }
    return rc;
}

/* span_problem logs damaged span store data (the store never prints). */
static void span_problem(void *arg, const char *segment, uint64_t off, const char *what)
{
    char o[32];
    snprintf(o, sizeof o, "%llu", (unsigned long long)off);
    log_warn((struct log *)arg, "span store: damaged data skipped", "segment", segment, "offset", o,
             "err", what);
}

int cmd_server(int argc, char **argv)
{
    struct server_opts o;
    struct log lg;
    struct server *srv = NULL;
    struct server_store store;
    struct agent_listener *al = NULL;
    struct api_events *apiev = NULL;
    struct api_snapshot *snap = NULL;
    struct evstore *evs = NULL, *sls = NULL;
    struct ev_indexer *evix = NULL, *slix = NULL;
    struct otlp_http *oh = NULL;
    struct api_jaeger *jaeger = NULL;
    struct api_spans *spanapi = NULL;
    struct api_traces *traces = NULL;
    struct spanstore *spans = NULL;
    struct span_indexer *spanix = NULL;
    struct span_metrics *spanmx = NULL;
    struct api_deps *deps = NULL;
    sigset_t old;
    char err[512];
    int rc, sfd = -1, ret = CLI_PROBLEMS, masked = 0, sig;

    memset(&o, 0, sizeof(o));
    memset(&store, 0, sizeof(store));
    server_config_defaults(&o.cfg);
    db_options_default(&o.db);
    o.level = LOG_LEVEL_WARN;
    o.agents_addr = AGENT_LISTENER_DEFAULT_ADDR;
    o.events_retention_ms = 15ll * 24 * 3600 * 1000;
    o.spans.retention_ms = 7 * 86400000ll;
    rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        ret = rc;
        goto out;
    }
    log_init(&lg, o.level, daemon_stderr_sink, NULL);
    o.cfg.log = &lg;

    /* Block the stop signals before any thread exists, so that every thread
     * inherits the mask and they are only ever read from the signalfd. */
    if (daemon_signals_begin("telltale server", &old, &sfd) != 0)
        goto out;
    masked = 1;

    rc = server_new(&o.cfg, &srv);
    if (rc < 0) {
        fprintf(stderr, "telltale server: %s\n", tt_strerror(rc));
        goto out;
    }
    rc = server_store_init(&store, srv);
    if (rc < 0) {
        fprintf(stderr, "telltale server: %s\n", tt_strerror(rc));
        goto out;
    }
    store.query.experimental_functions = o.promql_experimental;
    struct agent_listener_config acfg = { .addr = o.agents_addr,
                                          .max_conns = o.agents_max_conns,
                                          .max_batch_bytes = (uint32_t)o.agents_max_batch,
                                          .ping_interval_s = o.agents_ping_interval,
                                          .idle_timeout_s = o.agents_idle_timeout,
                                          .frame_timeout_s = o.agents_frame_timeout,
                                          .send_timeout_s = o.agents_send_timeout,
                                          .data_dir = o.cfg.data_dir,
                                          .store = &store,
                                          .log = &lg };
    rc = agent_listener_new(&al, &acfg, srv, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "telltale server: agents: %s\n", err[0] != '\0' ? err : tt_strerror(rc));
        goto out;
    }
    rc = api_events_register(srv, &apiev);
    if (rc == 0)
        rc = api_snapshot_register(srv, &snap);
    if (rc < 0) {
        fprintf(stderr, "telltale server: events API: %s\n", tt_strerror(rc));
        goto out;
    }
    struct otlp_http_config ocfg = { .al = al, .max_body_bytes = o.otlp_max_body, .log = &lg };
    rc = otlp_http_new(&oh, &ocfg, srv, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "telltale server: otlp: %s\n", err);
        goto out;
    }
    rc = api_jaeger_register(srv, &jaeger);
    if (rc == 0)
        rc = api_spans_register(srv, &spanapi);
    if (rc == 0)
        rc = api_traces_register(srv, &traces);
    if (rc < 0) {
        fprintf(stderr, "telltale server: %s\n", tt_strerror(rc));
        goto out;
    }
    o.span_metrics.log = &lg;
    rc = span_metrics_new(&spanmx, &o.span_metrics);
    if (rc == 0)
        rc = span_metrics_register_self(spanmx, server_metrics(srv));
    if (rc == 0)
        rc = api_deps_register(srv, &store.storage, &deps);
    if (rc < 0) {
        fprintf(stderr, "telltale server: span metrics: %s\n", tt_strerror(rc));
        goto out;
    }
    rc = server_start(srv, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "telltale server: %s\n", err[0] != '\0' ? err : tt_strerror(rc));
        goto out;
    }
    /* Listening (and holding the data directory's lock): open the store,
     * replaying its WAL; /-/ready answers 503 until it is done. */
    struct replay_progress prog = { -1 };
    struct db_open_stats os;
    memset(&os, 0, sizeof os);
    o.db.head.progress = replay_progress;
    o.db.head.progress_arg = &prog;
    rc = server_store_open(&store, o.cfg.data_dir, &o.db, &os, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "telltale server: opening the metric store: %s\n",
                err[0] != '\0' ? err : tt_strerror(rc));
        server_stop(srv);
        goto out;
    }
    if (os.head.wal.problems > 0) {
        char np[32], nb[32];
        snprintf(np, sizeof np, "%llu", (unsigned long long)os.head.wal.problems);
        snprintf(nb, sizeof nb, "%llu", (unsigned long long)os.head.wal.bytes_skipped);
        log_warn(&lg, "damaged WAL data skipped at replay", "problems", np, "bytes_skipped", nb,
                 "data", o.cfg.data_dir);
    }
    char replayed[64], blocks[64];
    snprintf(replayed, sizeof replayed, "%llu", (unsigned long long)os.head.samples);
    snprintf(blocks, sizeof blocks, "%llu", (unsigned long long)os.blocks);
    /* Agents are taken once the store is open, so a batch never waits for
     * the replay and an ACK always means the head's WAL holds it. */
    rc = agent_listener_start(al, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "telltale server: agents: %s\n", err);
        server_stop(srv);
        goto out;
    }
    /* The record log is open: the events store indexes it from its cursor. */
    rc = open_events(&o, &lg, agent_listener_reclog(al), REC_EVENT, &evs, &evix, err, sizeof(err));
    if (rc == 0)
        rc = open_events(&o, &lg, agent_listener_reclog(al), REC_STATE, &sls, &slix, err,
                         sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "telltale server: %s: %s\n", evs ? "state log" : "events store", err);
        server_stop(srv);
        goto out;
    }
    api_events_attach(apiev, evs);
    api_events_attach_state(apiev, sls);
    api_snapshot_attach(snap, sls);
    /* The span store indexes the record log the agent listener opened. */
    char spans_dir[4096];
    snprintf(spans_dir, sizeof spans_dir, "%s/spans", o.cfg.data_dir);
    o.spans.problem = span_problem;
    o.spans.problem_arg = &lg;
    rc = spanstore_open(&spans, spans_dir, &o.spans, err, sizeof(err));
    if (rc == 0)
        rc = spanstore_metrics_register(server_metrics(srv), spans);
    if (rc == 0)
        rc = span_indexer_new(&spanix, spans, agent_listener_reclog(al), 0, &lg);
    if (rc == 0) {
        span_indexer_set_observer(spanix, span_metrics_observe, spanmx);
        rc = span_metrics_start(spanmx, &store);
    }
    if (rc == 0)
        rc = span_indexer_start(spanix);
    if (rc < 0) {
        fprintf(stderr, "telltale server: opening the span store: %s\n",
                err[0] != '\0' ? err : tt_strerror(rc));
        agent_listener_stop(al);
        server_stop(srv);
        goto out;
    }
    api_jaeger_set_store(jaeger, spans);
    api_spans_set_store(spanapi, spans);
    api_traces_set_store(traces, spans);
    server_set_ready(srv, 1);
    char aport[16];
    snprintf(aport, sizeof aport, "%u", (unsigned)agent_listener_port(al));
    log_info(&lg, "ready", "addr", o.cfg.http_addr, "data", o.cfg.data_dir, "replayed_samples",
             replayed, "blocks", blocks, "agents_port", aport);

    sig = daemon_wait_signal(sfd, -1);
    if (sig < 0) {
        log_error(&lg, "waiting for signals failed", "err", strerror(errno));
        server_stop(srv);
        goto out;
    }
    log_info(&lg, "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
    span_indexer_stop(spanix);
    span_metrics_stop(spanmx); /* a last flush, while the metric store is open */
    agent_listener_stop(al);
    /* The indexer stops before the data directory's lock is let go. */
    ev_indexer_stop(evix);
    ev_indexer_stop(slix);
    evix = slix = NULL;
    server_stop(srv);
    api_events_attach(apiev, NULL);
    api_events_attach_state(apiev, NULL);
    api_snapshot_attach(snap, NULL);
    evstore_close(evs);
    evstore_close(sls);
    evs = sls = NULL;
    if (server_store_close(&store) != 0) {
        log_error(&lg, "the final WAL sync failed: the last writes may not be durable");
        goto out;
    }
    log_info(&lg, "stopped");
    ret = CLI_OK;
out:
    ev_indexer_stop(evix);
    ev_indexer_stop(slix);
    span_indexer_free(spanix); /* before the listener closes the record log */
    span_metrics_stop(spanmx);
    server_stop(srv); /* the OTLP, events and Jaeger routes use what follows: no request may run */
    if (apiev != NULL) {
        api_events_attach(apiev, NULL);
        api_events_attach_state(apiev, NULL);
    }
    if (snap != NULL)
        api_snapshot_attach(snap, NULL);
    otlp_http_free(oh);
    evstore_close(evs);
    evstore_close(sls);
    agent_listener_free(al);
    server_store_close(&store);
    server_free(srv);
    spanstore_close(spans);
    api_jaeger_free(jaeger);
    api_deps_free(deps);
    span_metrics_free(spanmx); /* after server_free: /metrics reads it */
    api_spans_free(spanapi);
    api_traces_free(traces);
    api_events_free(apiev);
    api_snapshot_free(snap);
    if (masked)
        daemon_signals_end(sfd, &old);
    free(o.file_data);
    free(o.file_http);
    free(o.file_agents);
    return ret;
}
