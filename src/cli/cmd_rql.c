/*
 * cmd_rql.c - `telltale rql --file CHANGES.jsonl 'QUERY'`: evaluates an RQL
 * query (docs/rql.md) over the cuts of a file of state changes, without a
 * server. Each input line is one change, in HLC order:
 *   {"hlc":N, "node":"n1", "log":"kv", "var":"r1", "value":"tst1"}
 * (value a JSON string, integer, real or bool). The cut at HLC t holds every
 * node's latest change with hlc <= t, so the changes of one HLC are applied
 * together and the cut after them is examined; each matching cut is printed
 * as one JSON line: {"hlc":..,"hlc_ms":..,"rows":[{"nodes":[..],
 * "values":[..]}],"vars":{"NODE":{"log.var":value,...}}}.
 * Exit status: 0, 1 (bad input, or the query refused), 2 (usage).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "cli/cli.h"
#include "core/buf.h"
#include "query/rql/eval.h"
#include "query/rql/memcut.h"
#include "query/rql/rql.h"

#define MAX_LINE (1u << 20)

void cmd_rql_usage(FILE *out)
{
    fprintf(out,
            "usage: telltale rql --file CHANGES.jsonl [--max-combinations N]\n"
            "                    [--max-rows N] 'QUERY'\n\n"
            "Evaluates an RQL query (docs/rql.md) over the consistent cuts of a file\n"
            "of state changes, one JSON object a line, in HLC order:\n"
            "  {\"hlc\":N,\"node\":\"n1\",\"log\":\"kv\",\"var\":\"r1\",\"value\":\"tst1\"}\n"
            "and prints each matching cut as a JSON line (hlc, hlc_ms, rows, vars).\n\n"
            "Options:\n"
            "  --file F               the changes (- for stdin)\n"
            "  --max-combinations N   bindings one cut may need (default %u)\n"
            "  --max-rows N           rows printed per cut (default %u)\n",
            RQL_DEFAULT_MAX_COMBINATIONS, RQL_DEFAULT_MAX_ROWS);
}

static json_t *value_json(const struct rql_value *v)
{
    switch (v->type) {
    case RQL_V_INT:
        return json_integer(v->u.i);
    case RQL_V_FLOAT:
        return json_real(v->u.f);
    case RQL_V_BOOL:
        return json_boolean(v->u.b);
    case RQL_V_STR:
        return json_stringn_nocheck(v->u.s.p, v->u.s.len);
    default:
        return json_null();
    }
}

struct run {
    const struct rql_query *q;
    struct rql_eval_opts opts;
    struct memcut *mc;
    struct rql_eval *ev;
    int64_t printed;
    const char *file;
};

/* print_cut writes the cut at hlc as one JSON line. Returns 0 or -1 (message printed). */
static int print_cut(struct run *r, uint64_t hlc)
{
    const struct rql_row *rows;
    uint32_t n;
    char err[512];
    if (rql_eval_rows(r->ev, &rows, &n, err, sizeof err) != 0) {
        fprintf(stderr, "telltale rql: %s\n", err);
        return -1;
    }
    json_t *o = json_object(), *jr = json_array(), *vars = json_object();
    json_object_set_new(o, "hlc", json_integer((json_int_t)hlc));
    json_object_set_new(o, "hlc_ms", json_integer((json_int_t)(hlc >> 16)));
    for (uint32_t k = 0; k < n; k++) {
        json_t *row = json_object(), *nodes = json_array(), *vals = json_array();
        for (uint32_t j = 0; j < r->q->nocc; j++)
            json_array_append_new(nodes,
                                  json_string(memcut_ops.node_name(r->mc, rows[k].nodes[j])));
        for (uint32_t j = 0; j < r->q->nselect; j++)
            json_array_append_new(vals, value_json(&rows[k].values[j]));
        json_object_set_new(row, "nodes", nodes);
        json_object_set_new(row, "values", vals);
        json_array_append_new(jr, row);
    }
    json_object_set_new(o, "rows", jr);
    uint32_t nn = memcut_ops.node_count(r->mc);
    for (uint32_t node = 0; node < nn; node++) {
        json_t *nv = json_object();
        for (uint32_t v = 0; v < r->q->nvars; v++) {
            struct rql_value val;
            char name[512];
            if (!memcut_ops.value(r->mc, node, rql_eval_key(r->ev, v), &val))
                continue;
            snprintf(name, sizeof name, "%s.%s", r->q->vars[v].log, r->q->vars[v].name);
            json_object_set_new(nv, name, value_json(&val));
        }
        json_object_set_new(vars, memcut_ops.node_name(r->mc, node), nv);
    }
    json_object_set_new(o, "vars", vars);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s == NULL)
        return -1;
    printf("%s\n", s);
    free(s);
    r->printed++;
    return 0;
}

/* examine: the cut after every change of hlc is complete. Returns 1 to stop
 * (LIMIT reached), 0, or -1. */
static int examine(struct run *r, uint64_t hlc, int match)
{
    int64_t ms = (int64_t)(hlc >> 16);
    if (!match || (r->q->has_between && (ms < r->q->between_lo || ms > r->q->between_hi)))
        return 0;
    if (print_cut(r, hlc) != 0)
        return -1;
    return r->q->has_limit && r->printed >= r->q->limit;
}

/* apply one change line; sets *hlc. Returns 0 or -1 (message printed). */
static int apply(struct run *r, const char *line, size_t len, uint64_t lineno, uint64_t *hlc,
                 int *match)
{
    json_error_t je;
    json_t *o = json_loadb(line, len, 0, &je);
    int rc = -1;
    if (o == NULL || !json_is_object(o)) {
        fprintf(stderr, "telltale rql: %s:%" PRIu64 ": %s\n", r->file, lineno,
                o ? "not a JSON object" : je.text);
        goto out;
    }
    json_t *jh = json_object_get(o, "hlc"), *jv = json_object_get(o, "value");
    const char *node = json_string_value(json_object_get(o, "node"));
    const char *log = json_string_value(json_object_get(o, "log"));
    const char *var = json_string_value(json_object_get(o, "var"));
    if (!json_is_integer(jh) || json_integer_value(jh) < 0 || !node || !log || !var || !jv) {
        fprintf(stderr,
                "telltale rql: %s:%" PRIu64 ": a change needs \"hlc\" (an integer >= 0), "
                "\"node\", \"log\", \"var\" (strings) and \"value\"\n",
                r->file, lineno);
        goto out;
    }
    struct rql_value v;
    if (json_is_string(jv)) {
        v.type = RQL_V_STR;
        v.u.s.p = json_string_value(jv);
        v.u.s.len = json_string_length(jv);
    } else if (json_is_integer(jv)) {
        v.type = RQL_V_INT;
        v.u.i = json_integer_value(jv);
    } else if (json_is_real(jv)) {
        v.type = RQL_V_FLOAT;
        v.u.f = json_real_value(jv);
    } else if (json_is_boolean(jv)) {
        v.type = RQL_V_BOOL;
        v.u.b = json_is_true(jv);
    } else {
        fprintf(stderr,
                "telltale rql: %s:%" PRIu64 ": \"value\" must be a string, number or bool\n",
                r->file, lineno);
        goto out;
    }
    *hlc = (uint64_t)json_integer_value(jh);
    uint32_t key, nid;
    int e = memcut_set(r->mc, node, log, var, &v, &key, &nid);
    if (e != 0) {
        fprintf(stderr, "telltale rql: %s:%" PRIu64 ": %s\n", r->file, lineno,
                e == TT_EINVAL ? "empty node, log or var" : tt_strerror(e));
        goto out;
    }
    char err[512];
    if (r->ev == NULL) {
        /* the evaluator starts once every variable of the query has been seen */
        e = rql_eval_new(r->q, &r->opts, &memcut_ops, r->mc, &r->ev, err, sizeof err);
        if (e == TT_ENOTFOUND) {
            *match = 0;
            rc = 0;
            goto out;
        }
        if (e == 0)
            e = rql_eval_cut(r->ev, match, err, sizeof err);
    } else {
        e = rql_eval_change(r->ev, key, nid, match, err, sizeof err);
    }
    if (e != 0) {
        fprintf(stderr, "telltale rql: %s:%" PRIu64 ": %s\n", r->file, lineno,
                e == TT_ENOMEM ? "out of memory" : err);
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}

static void show_parse_error(const char *text, const struct rql_error *e)
{
    fprintf(stderr, "telltale rql: %s\n", e->msg);
    /* the offending line with a caret under the column */
    const char *ls = text;
    for (unsigned l = 1; l < e->line && strchr(ls, '\n'); l++)
        ls = strchr(ls, '\n') + 1;
    const char *le = strchr(ls, '\n');
    size_t n = le ? (size_t)(le - ls) : strlen(ls);
    if (n > 200)
        return;
    fprintf(stderr, "  %.*s\n  %*s^\n", (int)n, ls, (int)(e->col - 1), "");
}

static int parse_count(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != 0 || errno != 0 || v == 0 || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

int cmd_rql(int argc, char **argv)
{
    const char *file = NULL, *text = NULL;
    struct run r;
    memset(&r, 0, sizeof r);
    for (int i = 1; i < argc; i++) {
        uint64_t v = 0;
        if (cli_is_help(argv[i])) {
            cmd_rql_usage(stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else if (strcmp(argv[i], "--max-combinations") == 0 && i + 1 < argc) {
            if (parse_count(argv[++i], &v) != 0)
                goto usage;
            r.opts.max_combinations = v;
        } else if (strcmp(argv[i], "--max-rows") == 0 && i + 1 < argc) {
            if (parse_count(argv[++i], &v) != 0 || v > UINT32_MAX)
                goto usage;
            r.opts.max_rows = (uint32_t)v;
        } else if (argv[i][0] == '-' && argv[i][1] != 0) {
            fprintf(stderr, "telltale rql: unknown option %s\n", argv[i]);
            goto usage;
        } else if (text == NULL) {
            text = argv[i];
        } else {
            goto usage;
        }
    }
    if (file == NULL || text == NULL) {
        fprintf(stderr, "telltale rql: needs --file (streaming from a server is not there yet) "
                        "and a query\n");
        goto usage;
    }
    struct rql_query *q = NULL;
    struct rql_error pe;
    if (rql_parse(text, strlen(text), &q, &pe) != 0) {
        show_parse_error(text, &pe);
        return CLI_PROBLEMS;
    }
    r.q = q;
    r.file = file;
    int status = CLI_PROBLEMS;
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0, hlc = 0, cur = 0;
    int have = 0, match = 0, stop = 0;
    if (f == NULL) {
        fprintf(stderr, "telltale rql: %s: %s\n", file, strerror(errno));
        goto out;
    }
    if ((r.mc = memcut_new()) == NULL)
        goto out;
    while (!stop && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        if ((size_t)n > MAX_LINE) {
            fprintf(stderr, "telltale rql: %s:%" PRIu64 ": line longer than %u bytes\n", file,
                    lineno, MAX_LINE);
            goto out;
        }
        /* peek the HLC first: a new HLC completes the previous cut */
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)n, 0, &je);
        json_t *jh = o ? json_object_get(o, "hlc") : NULL;
        if (json_is_integer(jh) && json_integer_value(jh) >= 0) {
            uint64_t h = (uint64_t)json_integer_value(jh);
            if (have && h < cur) {
                fprintf(stderr,
                        "telltale rql: %s:%" PRIu64 ": hlc %" PRIu64 " is before the previous "
                        "line's %" PRIu64 ": changes must be in HLC order\n",
                        file, lineno, h, cur);
                json_decref(o);
                goto out;
            }
            if (have && h > cur && (stop = examine(&r, cur, match)) < 0) {
                json_decref(o);
                goto out;
            }
        }
        json_decref(o);
        if (stop)
            break;
        if (apply(&r, line, (size_t)n, lineno, &hlc, &match) != 0)
            goto out;
        cur = hlc;
        have = 1;
    }
    if (!stop && have && examine(&r, cur, match) < 0)
        goto out;
    if (r.ev == NULL && have) {
        char err[512];
        rql_eval_new(q, &r.opts, &memcut_ops, r.mc, &r.ev, err, sizeof err);
        fprintf(stderr, "telltale rql: %s: %s\n", file, err);
        goto out;
    }
    if (r.ev && rql_eval_stats(r.ev)->runtime_errors)
        fprintf(stderr,
                "telltale rql: %" PRIu64 " bindings skipped on run-time errors; the first: %s\n",
                rql_eval_stats(r.ev)->runtime_errors, rql_eval_stats(r.ev)->first_error);
    status = CLI_OK;
out:
    free(line);
    if (f && f != stdin)
        fclose(f);
    rql_eval_free(r.ev);
    memcut_free(r.mc);
    rql_query_free(q);
    return status;
usage:
    cmd_rql_usage(stderr);
    return CLI_USAGE;
}
