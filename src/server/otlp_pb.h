/*
 * otlp_pb.h - the OTLP/protobuf decoder: ExportTraceServiceRequest and
 * ExportLogsServiceRequest in the protobuf wire format into an otlp_out.
 * Hand-written for just these messages (docs/design/otlp.md says why):
 * fields are read by number and wire type, in any order, unknown fields
 * skipped, repeated fields as they come; a message is a length-delimited
 * slice of its parent, never read past.
 */
#ifndef TT_SERVER_OTLP_PB_H
#define TT_SERVER_OTLP_PB_H

#include <stddef.h>
#include <stdint.h>
#include "server/otlp_out.h"

/* otlp_pb_traces / otlp_pb_logs decode a request body p[0..n) into o.
 * Returns 0 (items with bad ids or times rejected into o->rejected);
 * TT_ESYNTAX for malformed protobuf (a truncated varint or field, a length
 * past its message, a wire type a known field cannot have, nesting too
 * deep): err names the byte offset and the field path; TT_ENOMEM. */
int otlp_pb_traces(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen);
int otlp_pb_logs(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen);
/* otlp_pb_metrics: an ExportMetricsServiceRequest, as otlp_json_metrics
 * (otlp_json.h); bucket counts and bounds packed or not. */
int otlp_pb_metrics(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen);

#endif
