/*
 * fuzz_zipkin.c - fuzz target for the Zipkin v2 JSON span decoder;
 * fuzz_otlp_check.h checks what came out.
 */
#include <stdint.h>
#include <stdio.h>
#include "telltale.h"
#include "fuzz_otlp_check.h"
#include "server/zipkin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct otlp_out o;
    char err[512] = "";
    fuzz_otlp_begin(&o);
    fuzz_otlp_check(&o, zipkin_json_spans(&o, data, size, err, sizeof err), err);
    return 0;
}
