/*
 * otlp_json.h - the OTLP/JSON decoder (OTLP 1.x, "JSON Protobuf Encoding"):
 * ExportTraceServiceRequest and ExportLogsServiceRequest bodies into an
 * otlp_out (core records by origin). Parsed with jansson; ids are hex; 64-bit
 * integers are taken as JSON strings or numbers and never pass through a
 * double; keys are lowerCamelCase or the proto's snake_case; unknown fields
 * are ignored. Mapping in docs/design/otlp.md.
 */
#ifndef TT_SERVER_OTLP_JSON_H
#define TT_SERVER_OTLP_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "server/otlp_out.h"

/* otlp_json_traces / otlp_json_logs decode a request body p[0..n) into o.
 * Returns 0 (spans or log records with bad ids or times are rejected one by
 * one into o->rejected); TT_ESYNTAX when the body is not JSON or a field has
 * the wrong type or an impossible value (err names the line and column, or
 * the field's path, e.g. "resourceSpans[0].scopeSpans[0].spans[3].kind:
 * expected an integer"); TT_ENOMEM. After an error o holds what was decoded
 * before it (the caller ingests nothing). */
int otlp_json_traces(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen);
int otlp_json_logs(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen);
/* otlp_json_metrics decodes an ExportMetricsServiceRequest: gauge and sum
 * data points and histograms (classic buckets) into REC_METRIC records
 * (otlp_out_metric); delta temporality, other metric types and points
 * without a value are rejected one by one. Errors as above. */
int otlp_json_metrics(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen);

#endif
