/*
 * api_traces.h - Telltale's own trace views over the span store
 * (query/traces/trace_view.h), as JSON:
 *   GET /api/tt/traces/{id}                 the trace as a placed tree: per span the
 *                                           stored and placed start, the adjustment
 *                                           and why, depth, self time, whether it is
 *                                           on the critical path; per node its clock
 *                                           offset. raw=true turns placement off.
 *   GET /api/tt/traces/{id}/critical_path   the critical path's segments
 *   GET /api/tt/traces/diff?a=<id>&b=<id>   structural and timing diff of two traces
 * A bad parameter is 400 {"status":"error","errorType":"bad_data","error":
 * "<which parameter, what was wrong>"}; an unknown trace 404; 503 until the
 * store is attached.
 */
#ifndef TT_API_TRACES_H
#define TT_API_TRACES_H

struct server;
struct spanstore;
struct api_traces;

/* api_traces_register adds the routes to srv and returns the holder in *out
 * (free with api_traces_free after the server has stopped). Returns 0,
 * TT_ENOMEM, or a server_add_route error. */
int api_traces_register(struct server *srv, struct api_traces **out);

/* api_traces_set_store attaches (or, with NULL, detaches) the span store
 * the routes read; borrowed; any thread. */
void api_traces_set_store(struct api_traces *at, struct spanstore *ss);

void api_traces_free(struct api_traces *at);

#endif
