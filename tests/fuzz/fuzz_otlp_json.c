/*
 * fuzz_otlp_json.c - fuzz target for the OTLP/JSON decoder: the input is
 * decoded as a trace, a log and a metric request; fuzz_otlp_check.h checks
 * what came out (well-formed records only, or a syntax error with a message).
 */
#include <stdint.h>
#include <stdio.h>
#include "telltale.h"
#include "fuzz_otlp_check.h"
#include "server/otlp_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct otlp_out o;
    char err[512] = "";
    fuzz_otlp_begin(&o);
    fuzz_otlp_check(&o, otlp_json_traces(&o, data, size, err, sizeof err), err);
    err[0] = '\0';
    fuzz_otlp_begin(&o);
    fuzz_otlp_check(&o, otlp_json_logs(&o, data, size, err, sizeof err), err);
    err[0] = '\0';
    fuzz_otlp_begin(&o);
    fuzz_otlp_check(&o, otlp_json_metrics(&o, data, size, err, sizeof err), err);
    return 0;
}
