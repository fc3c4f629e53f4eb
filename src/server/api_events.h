/*
 * api_events.h - GET /api/tt/events: search the events store
 * (store/events/evstore.h) by node, component, severity, name, key=value,
 * text and time, newest first, a page at a time; GET /api/tt/state: the
 * state log's changes (store/statelog/statelog.h) by node, log, variable,
 * time and HLC range (docs/configuration.md lists the parameters).
 * The route is registered before the server starts; the store is attached
 * once the data directory is open, and until then the route answers 503.
 */
#ifndef TT_SERVER_API_EVENTS_H
#define TT_SERVER_API_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include "server/server.h"
#include "store/events/evstore.h"

struct api_events;

/* api_events_register adds the two routes to srv. Returns 0 with *out (free with
 * api_events_free after the server stopped), TT_ENOMEM, or a route error. */
int api_events_register(struct server *srv, struct api_events **out);

/* api_events_attach makes searches use st (borrowed; NULL detaches: call
 * it before closing st). Any thread. */
void api_events_attach(struct api_events *a, struct evstore *st);
/* api_events_attach_state does the same for the state log's route. */
void api_events_attach_state(struct api_events *a, struct evstore *state);

void api_events_free(struct api_events *a);

/* Page tokens: 32 hex digits of (time_ns, id). api_events_token_parse
 * returns 0 or TT_ESYNTAX. out has room for 33 bytes. */
void api_events_token_format(int64_t time_ns, uint64_t id, char out[33]);
int api_events_token_parse(const char *s, int64_t *time_ns, uint64_t *id);

/* api_events_severity_parse reads a severity name (debug, info, notice,
 * warning, error, critical; case-insensitive) or number 1..6. Returns the
 * number or TT_ESYNTAX. api_events_severity_name is the reverse ("" for an
 * unknown number). */
int api_events_severity_parse(const char *s);
const char *api_events_severity_name(int sev);

#endif
