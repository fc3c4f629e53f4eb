/*
 * hello.c - a small program instrumented with libtelltale: a tour of the API.
 *
 * Usage: hello [SPOOL_DIR]
 * The spool directory comes from argv[1], else TELLTALE_SPOOL_DIR (every other
 * TELLTALE_* variable applies too). The program records nested spans with
 * attributes, a span event and a link, a client span whose headers are
 * injected and a server span extracted from them (as if the call had crossed a
 * process boundary), counters, a gauge and a histogram with labels, events of
 * each severity, state changes of a few variables and an error span, then
 * shuts the library down (which flushes everything to the spool), prints one
 * line saying what it did and exits 0. Read the result with
 * `telltale spool dump SPOOL_DIR`.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "telltale.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* What the program did, for the summary line. */
struct tally {
    int spans;
    int metrics;
    int observations;
    int events;
    int states;
};

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

/* The "server" side of a call: continues the trace from the headers it got. */
static void serve_request(const tt_headers *hdr, struct tally *t)
{
    tt_span srv;
    tt_server_span_start(&srv, "GET /greeting", hdr->traceparent, hdr->tracestate);
    tt_span_set_str(&srv, "http.method", "GET");
    tt_span_set_str(&srv, "http.route", "/greeting");
    tt_span_set_int(&srv, "http.status_code", 200);
    sleep_us(200);
    tt_span_set_status(&srv, TT_STATUS_OK, NULL);
    tt_span_end(&srv);
    t->spans++;
}

/* Nested spans with attributes of each type, a span event and a link, and a
 * client call whose context travels in headers to serve_request. */
static void do_traces(struct tally *t)
{
    tt_span root, child, call;

    tt_span_start(&root, "hello.main", TT_SPAN_INTERNAL, NULL);
    tt_span_set_str(&root, "greeting", "hello, world");
    tt_span_set_int(&root, "attempt", 1);
    tt_span_set_double(&root, "ratio", 0.75);
    tt_span_set_bool(&root, "cached", 0);
    tt_span_set_attr(&root, "user", (tt_value){ TT_VAL_STR, { .s = "alice" } });

    tt_span_start(&child, "hello.prepare", TT_SPAN_INTERNAL, &root.ctx);
    tt_span_set_int(&child, "items", 3);
    tt_kv ev[] = { TT_STR("phase", "warm-up"), TT_INT("items", 3) };
    tt_span_add_event(&child, "cache.miss", ev, ARRAY_LEN(ev));
    sleep_us(100);

    /* A separate trace (say, the batch job that queued this work), linked. */
    tt_span batch;
    tt_span_start(&batch, "hello.batch", TT_SPAN_PRODUCER, NULL);
    tt_span_end(&batch);
    t->spans++;
    tt_kv lk[] = { TT_STR("link.reason", "queued-by") };
    tt_span_add_link(&child, &batch.ctx, lk, ARRAY_LEN(lk));
    tt_span_end(&child);
    t->spans++;

    /* A call "across a process boundary": only the headers go over. */
    tt_headers hdr;
    memset(&hdr, 0, sizeof(hdr));
    tt_client_span_start(&call, "GET /greeting", &root.ctx, &hdr);
    tt_span_set_str(&call, "peer.service", "greeter");
    serve_request(&hdr, t);
    tt_span_end(&call);
    t->spans++;

    tt_span_set_status(&root, TT_STATUS_OK, NULL);
    tt_span_end(&root);
    t->spans++;
}

static void do_metrics(struct tally *t)
{
    const char *const get_ok[] = { "method", "GET", "code", "200", NULL };
    const char *const get_nf[] = { "method", "GET", "code", "404", NULL };
    const char *const pool[] = { "pool", "main", NULL };
    const char *const route[] = { "route", "/greeting", NULL };

    tt_counter *ok = tt_counter_new("hello_requests_total", "Requests served.", get_ok);
    tt_counter *nf = tt_counter_new("hello_requests_total", "Requests served.", get_nf);
    tt_gauge *conns = tt_gauge_new("hello_connections", "Open connections.", pool);
    tt_histogram *lat = tt_histogram_new("hello_request_seconds", "Request latency.", route, 0);
    t->metrics += 4;

    for (int i = 0; i < 10; i++)
        tt_counter_inc(ok);
    tt_counter_add(nf, 2);
    tt_gauge_set(conns, 5);
    tt_gauge_add(conns, -1);
    for (int i = 1; i <= 20; i++) {
        tt_histogram_observe(lat, 0.001 * i);
        t->observations++;
    }
}

static void do_events(struct tally *t)
{
    static const struct {
        tt_severity sev;
        const char *name;
        const char *msg;
    } evs[] = {
        { TT_SEV_DEBUG, "hello.debug", "cache primed" },
        { TT_SEV_INFO, "hello.started", "service is up" },
        { TT_SEV_NOTICE, "hello.config", "configuration reloaded" },
        { TT_SEV_WARNING, "hello.slow", "request slower than 100 ms" },
        { TT_SEV_ERROR, "hello.failed", "upstream refused connection" },
        { TT_SEV_CRITICAL, "hello.disk", "spool disk almost full" },
    };
    for (size_t i = 0; i < ARRAY_LEN(evs); i++) {
        tt_kv kv[] = { TT_STR("component", "hello"), TT_INT("seq", (int64_t)i),
                       TT_DOUBLE("load", 0.5 * (double)i), TT_BOOL("retry", (int)(i & 1)) };
        tt_event(evs[i].sev, evs[i].name, evs[i].msg, kv, ARRAY_LEN(kv));
        t->events++;
    }
}

static void do_state(struct tally *t)
{
    tt_state_set_str("hello", "mode", "starting");
    tt_state_set_int("hello", "workers", 2);
    tt_state_set_double("hello", "temperature", 21.5);
    tt_state_set_int("hello", "workers", 4);
    tt_state_set_str("hello", "mode", "serving");
    tt_state_set_double("hello", "temperature", 22.25);
    tt_state_set("hello", "healthy", (tt_value){ TT_VAL_BOOL, { .b = 1 } });
    t->states += 7;
}

static void do_error(struct tally *t)
{
    tt_span sp;
    tt_span_start(&sp, "hello.fetch_quote", TT_SPAN_CLIENT, NULL);
    tt_span_set_str(&sp, "peer.address", "quotes.invalid:443");
    tt_kv kv[] = { TT_STR("exception.type", "ECONNREFUSED"), TT_INT("attempt", 3) };
    tt_span_add_event(&sp, "exception", kv, ARRAY_LEN(kv));
    tt_span_set_status(&sp, TT_STATUS_ERROR, "connection refused after 3 attempts");
    tt_span_end(&sp);
    t->spans++;
}

int main(int argc, char **argv)
{
    tt_config cfg;
    char err[256] = "";
    struct tally t = { 0 };
    int rc;

    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: %s [SPOOL_DIR]\n", argv[0]);
        return 2;
    }
    tt_config_default(&cfg);
    snprintf(cfg.service, sizeof(cfg.service), "hello");
    rc = tt_config_from_env(&cfg, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "hello: %s\n", err[0] ? err : tt_strerror(rc));
        return 1;
    }
    if (argc == 2 && (size_t)snprintf(cfg.spool_dir, sizeof(cfg.spool_dir), "%s", argv[1]) >=
                         sizeof(cfg.spool_dir)) {
        fprintf(stderr, "hello: spool directory name too long\n");
        return 1;
    }
    rc = tt_init(&cfg);
    if (rc < 0) {
        fprintf(stderr, "hello: tt_init(%s): %s\n", cfg.spool_dir, tt_strerror(rc));
        return 1;
    }

    do_traces(&t);
    do_metrics(&t);
    do_events(&t);
    do_state(&t);
    do_error(&t);

    tt_stats st;
    tt_stats_get(&st);
    tt_shutdown();
    printf("hello: %d spans, %d metrics (%d observations), %d events, %d state changes "
           "-> %s (%llu records buffered, %llu dropped)\n",
           t.spans, t.metrics, t.observations, t.events, t.states, cfg.spool_dir,
           (unsigned long long)st.records_buffered,
           (unsigned long long)(st.records_dropped_full + st.records_dropped_spool));
    return 0;
}
