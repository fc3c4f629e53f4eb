/*
 * zipkin.h - the Zipkin v2 span decoder (POST /api/v2/spans, JSON): a JSON
 * array of spans into an otlp_out, grouped by localEndpoint.serviceName.
 * Mapping in docs/design/otlp.md.
 */
#ifndef TT_SERVER_ZIPKIN_H
#define TT_SERVER_ZIPKIN_H

#include <stddef.h>
#include <stdint.h>
#include "server/otlp_out.h"

/* zipkin_json_spans decodes p[0..n) into o. Returns 0 (spans with bad ids
 * or no timestamp rejected into o->rejected); TT_ESYNTAX when the body is
 * not a JSON array of span objects or a field has the wrong type (err names
 * line and column, or the span's index and field, e.g. "[2].duration:
 * expected an integer"); TT_ENOMEM. */
int zipkin_json_spans(struct otlp_out *o, const uint8_t *p, size_t n, char *err, size_t errlen);

#endif
