/*
 * otlp_out.h - what the OTLP and Zipkin decoders (otlp_json.h, otlp_pb.h,
 * zipkin.h) produce: core records grouped by origin, one group per
 * (node, service), ready for agent_listener_ingest_local (docs/design/otlp.md).
 *
 * A decoder walks its input and, for each resource, calls otlp_out_resource
 * (which picks the group of its service and node), fills the resource and
 * scope attribute lists, then calls otlp_out_span / otlp_out_log per item.
 * Items with a bad id or time are rejected one by one (counted, the first
 * reason kept for the partialSuccess message); everything else is encoded
 * straight into the group's record body. Nothing is shared between
 * otlp_outs; an otlp_out is used by one thread.
 */
#ifndef TT_SERVER_OTLP_OUT_H
#define TT_SERVER_OTLP_OUT_H

#include <stddef.h>
#include <stdint.h>
#include "telltale.h"
#include "core/buf.h"

/* The service of a resource without service.name (the OTel SDK default). */
#define OTLP_UNKNOWN_SERVICE "unknown_service"

/* An encoded kv list being built (rec_kv_put entries) and its count. */
struct otlp_kvs {
    struct wbuf b;
    uint32_t n;
};

/* The records of one origin ("node\0service"). */
struct otlp_group {
    char *origin; /* origin_len bytes, owned */
    size_t origin_len;
    uint64_t origin_id; /* otlp_origin_id(origin) */
    struct wbuf body;   /* count records */
    uint32_t count;
};

/* Stamps records with an HLC (the listener's: agent_listener_hlc_now). */
typedef tt_hlc (*otlp_hlc_fn)(void *ctx);

struct otlp_out {
    struct otlp_group *groups;
    size_t ngroups, capgroups;
    size_t cur; /* the group otlp_out_resource chose */
    uint64_t accepted, rejected;
    char reject_msg[256]; /* the first rejection's reason ("" if none) */
    /* Filled by the decoder per resource and scope (reset by otlp_out_resource
     * and otlp_out_scope), added to every span's attributes. */
    struct otlp_kvs res_attrs;
    struct otlp_kvs scope_attrs; /* otel.scope.name, otel.scope.version */
    char *scope_name;            /* the log component; NUL-terminated, owned */
    /* Scratch for the item being decoded: reset by otlp_out_item_begin. */
    struct otlp_kvs attrs, events, links, sub; /* sub: an event's or link's attributes */
    struct wbuf comb;                          /* an item's attributes with the resource's */
    /* Config, set by otlp_out_init's caller: */
    const char *default_node; /* a resource without host.name; borrowed */
    otlp_hlc_fn hlc;          /* NULL: the HLC is the wall clock's ms << 16 */
    void *hlc_ctx;
    int64_t now_ns; /* a log record without a time gets this */
};

/* One span as a decoder found it: ids as raw bytes (the decoder turns hex
 * into bytes first), times in ns since the epoch, kind and status in OTLP's
 * numbering (SpanKind 0..5, StatusCode 0..2). attrs, events and links are
 * taken from out->attrs/events/links. */
struct otlp_span {
    const uint8_t *trace_id, *span_id, *parent_id;
    size_t trace_id_len, span_id_len, parent_id_len;
    const char *name;
    size_t name_len;
    uint32_t kind;
    uint32_t status_code;
    const char *status_msg;
    size_t status_msg_len;
    uint32_t flags; /* W3C trace flags in the low 8 bits */
    uint64_t start_ns, end_ns;
    const char *trace_state; /* W3C tracestate (may be NULL); Telltale's "tt" entry
                              * gives the record its HLC (otlp_tracestate_hlc) */
    size_t trace_state_len;
};

/* One log record: times (0: absent), SeverityNumber (0..24), the body as
 * text, trace and span ids as raw bytes (length 0: absent). attrs from
 * out->attrs. */
struct otlp_log {
    uint64_t time_ns, observed_ns;
    uint32_t severity_number;
    const char *severity_text;
    size_t severity_text_len;
    const char *body;
    size_t body_len;
    const char *event_name;
    size_t event_name_len;
    const uint8_t *trace_id, *span_id;
    size_t trace_id_len, span_id_len;
};

/* otlp_tracestate_hlc finds Telltale's entry "tt=<16 hex digits>" (what
 * libtelltale propagates: its HLC) among the members of a W3C tracestate
 * value and returns that HLC, or 0 when there is none or it is malformed
 * (a tracestate is advisory: a bad one is ignored, not rejected). */
uint64_t otlp_tracestate_hlc(const char *ts, size_t len);

/* otlp_out_init / otlp_out_release: an empty otlp_out; release frees
 * everything it holds (groups included). */
void otlp_out_init(struct otlp_out *o);
void otlp_out_release(struct otlp_out *o);

/* otlp_origin_id: the origin id of a server-side ingest origin, a hash of
 * "otlp\0" and origin: stable, so one service's batches continue one
 * sequence across requests and restarts. */
uint64_t otlp_origin_id(const char *origin, size_t origin_len);

/* otlp_out_resource starts a resource: its service (NULL/0: unknown_service)
 * and node (NULL/0: default_node) choose the group, and res_attrs and the
 * scope are reset. Returns 0 or TT_ENOMEM. */
int otlp_out_resource(struct otlp_out *o, const char *service, size_t service_len, const char *node,
                      size_t node_len);

/* otlp_out_scope sets the scope of the items that follow (name may be
 * NULL). Returns 0 or TT_ENOMEM. */
int otlp_out_scope(struct otlp_out *o, const char *name, size_t name_len, const char *version,
                   size_t version_len);

/* otlp_out_item_begin empties the per-item scratch lists. */
void otlp_out_item_begin(struct otlp_out *o);

/* Appending to a kv list (attrs, res_attrs, sub): one entry each. */
void otlp_kv_str(struct otlp_kvs *k, const char *key, size_t keylen, const char *s, size_t n);
void otlp_kv_int(struct otlp_kvs *k, const char *key, size_t keylen, int64_t v);
void otlp_kv_double(struct otlp_kvs *k, const char *key, size_t keylen, double v);
void otlp_kv_bool(struct otlp_kvs *k, const char *key, size_t keylen, int v);

/* otlp_out_event appends a span event to out->events, with out->sub as its
 * attributes (then emptied). */
void otlp_out_event(struct otlp_out *o, uint64_t time_ns, const char *name, size_t name_len);

/* otlp_out_link appends a link to out->links with out->sub's attributes
 * (then emptied). Returns 0, or TT_EINVAL with a reason in err when an id
 * has the wrong length or is all zero (the decoder rejects the span). */
int otlp_out_link(struct otlp_out *o, const uint8_t *trace_id, size_t trace_id_len,
                  const uint8_t *span_id, size_t span_id_len, uint32_t flags, char *err,
                  size_t errlen);

/* otlp_out_span encodes s into the current group as a REC_SPAN: attributes
 * are out->attrs then the resource's and the scope's. Returns 1 (stored),
 * 0 (rejected: counted, and where (the decoder's path of the item, e.g.
 * "resourceSpans[0].scopeSpans[1].spans[2]") and why kept when it is the
 * first), or TT_ENOMEM. */
int otlp_out_span(struct otlp_out *o, const struct otlp_span *s, const char *where);

/* otlp_out_log encodes l as a REC_EVENT (severity from severity_number:
 * docs/design/otlp.md; component the scope name; name event_name or "log";
 * message the body; attributes out->attrs, trace_id and span_id in hex,
 * then the resource's). Returns as otlp_out_span. */
int otlp_out_log(struct otlp_out *o, const struct otlp_log *l, const char *where);

/* otlp_out_metric encodes one sample as a REC_METRIC record (counter when
 * counter != 0, else gauge), which the agent listener's apply turns into a
 * TSDB sample (metric_route.h): the name is name (nlen bytes) then suffix
 * (NULL: none), with every byte outside [a-zA-Z0-9_:] made '_' (and a '_'
 * before a leading digit), as Prometheus's OTLP translation does; the labels
 * are out->attrs with their keys made valid label names the same way (a key
 * starting with "__" gets a "key" prefix), plus le when not NULL (an
 * attribute named le is then left out). Returns as otlp_out_span. */
int otlp_out_metric(struct otlp_out *o, const char *name, size_t nlen, const char *suffix,
                    int counter, uint64_t time_ns, double v, const char *le, const char *where);

/* otlp_out_reject counts an item rejected by the decoder (what and where,
 * kept when first). */
void otlp_out_reject(struct otlp_out *o, const char *where, const char *why);

/* otlp_severity maps an OTLP SeverityNumber (1..24; 0 unspecified) to a
 * tt_severity; severity_text decides when the number is 0. */
uint8_t otlp_severity(uint32_t number, const char *text, size_t text_len);

#endif
