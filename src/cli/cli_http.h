/*
 * cli_http.h - the CLI's HTTP GET of a JSON answer (libcurl, jansson), shared
 * by the subcommands that read a server's query APIs.
 */
#ifndef TT_CLI_HTTP_H
#define TT_CLI_HTTP_H

#include <jansson.h>
#include <stddef.h>

/* cli_http_get_json GETs url (60 s timeout) and parses the body as JSON,
 * reading at most max_body bytes. Returns the parsed answer (the caller
 * owns it: json_decref) with the HTTP status in *status, whatever the
 * status; NULL after printing "WHO: GET URL: problem" to stderr when the
 * request failed or the body is not JSON (or is longer than max_body). */
json_t *cli_http_get_json(const char *who, const char *url, size_t max_body, long *status);

#endif
