/*
 * statewriter.c - a libtelltale program that changes state variables, for
 * the snapshot integration test (tests/integration/snapshot.sh) and as an
 * example of tt_state_set_*:
 *
 *   statewriter SPOOL_DIR STEPS SLEEP_MS
 *
 * sets app/step to 1..STEPS (an int), app/phase to "even" or "odd" with it
 * and, once at the start, app/started to true, sleeping SLEEP_MS between
 * steps so several writers interleave; node and service from TELLTALE_*.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "telltale.h"

int main(int argc, char **argv)
{
    tt_config cfg;
    char err[256] = "";
    if (argc != 4) {
        fprintf(stderr, "usage: %s SPOOL_DIR STEPS SLEEP_MS\n", argv[0]);
        return 2;
    }
    char *end = NULL;
    long steps = strtol(argv[2], &end, 10);
    if (*end != '\0' || steps < 1 || steps > 1000000) {
        fprintf(stderr, "statewriter: STEPS: expected 1..1000000, got %s\n", argv[2]);
        return 2;
    }
    long sleep_ms = strtol(argv[3], &end, 10);
    if (*end != '\0' || sleep_ms < 0 || sleep_ms > 10000) {
        fprintf(stderr, "statewriter: SLEEP_MS: expected 0..10000, got %s\n", argv[3]);
        return 2;
    }
    tt_config_default(&cfg);
    snprintf(cfg.service, sizeof(cfg.service), "statewriter");
    int rc = tt_config_from_env(&cfg, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "statewriter: %s\n", err[0] ? err : tt_strerror(rc));
        return 1;
    }
    if ((size_t)snprintf(cfg.spool_dir, sizeof(cfg.spool_dir), "%s", argv[1]) >=
        sizeof(cfg.spool_dir)) {
        fprintf(stderr, "statewriter: spool directory name too long\n");
        return 1;
    }
    rc = tt_init(&cfg);
    if (rc < 0) {
        fprintf(stderr, "statewriter: tt_init(%s): %s\n", cfg.spool_dir, tt_strerror(rc));
        return 1;
    }
    tt_state_set("app", "started", (tt_value){ TT_VAL_BOOL, { .b = 1 } });
    struct timespec ts = { sleep_ms / 1000, (sleep_ms % 1000) * 1000000 };
    for (long i = 1; i <= steps; i++) {
        tt_state_set_int("app", "step", i);
        tt_state_set_str("app", "phase", i % 2 ? "odd" : "even");
        if (sleep_ms)
            nanosleep(&ts, NULL);
    }
    tt_stats st;
    tt_stats_get(&st);
    tt_shutdown();
    printf("statewriter: %ld steps, %llu records dropped\n", steps,
           (unsigned long long)st.records_dropped_full);
    return 0;
}
