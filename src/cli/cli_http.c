/*
 * cli_http.c - the CLI's HTTP GET of a JSON answer (cli_http.h).
 */
#include "cli/cli_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include "core/buf.h"

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct wbuf *b = arg;
    wbuf_put(b, p, size * n);
    return b->err ? 0 : size * n;
}

json_t *cli_http_get_json(const char *who, const char *url, size_t max_body, long *status)
{
    CURL *c = curl_easy_init();
    struct wbuf b;
    char cerr[CURL_ERROR_SIZE] = "";
    json_t *j = NULL;
    *status = 0;
    if (c == NULL) {
        fprintf(stderr, "%s: cannot start libcurl\n", who);
        return NULL;
    }
    wbuf_init(&b, max_body);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        fprintf(stderr, "%s: GET %s: %s\n", who, url, cerr[0] ? cerr : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    json_error_t je;
    j = json_loadb(b.len ? (const char *)b.data : "", b.len, 0, &je);
    if (j == NULL)
        fprintf(stderr, "%s: GET %s: status %ld, not JSON: %s\n", who, url, *status, je.text);
out:
    curl_easy_cleanup(c);
    wbuf_release(&b);
    return j;
}
