/*
 * http_client.h - a minimal HTTP/1.1 client for tests that talk to a server
 * in the same process over a real socket on 127.0.0.1: one request per
 * connection ("Connection: close"), the answer read to EOF. Header-only
 * (static functions), included by each test that needs it.
 */
#ifndef TT_TEST_HTTP_CLIENT_H
#define TT_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include "unit.h"

struct resp {
    int status;
    char *head; /* status line and headers */
    char *body;
    size_t body_len;
};

static inline void resp_free(struct resp *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* http_raw sends req as is to 127.0.0.1:port and parses the answer. */
static inline int http_raw(uint16_t port, const char *req, size_t reqlen, struct resp *r)
{
    struct sockaddr_in a = { 0 };
    char *buf = NULL, *sep;
    size_t len = 0, cap = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(r, 0, sizeof(*r));
    if (fd < 0)
        return -1;
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    for (size_t off = 0; off < reqlen;) {
        ssize_t n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer early (413) and close */
        off += (size_t)n;
    }
    for (;;) {
        ssize_t n;
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
        n = recv(fd, buf + len, cap - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (buf == NULL)
        return -1;
    buf[len] = '\0';
    sep = strstr(buf, "\r\n\r\n");
    if (sep == NULL || sscanf(buf, "HTTP/1.1 %d", &r->status) != 1) {
        free(buf);
        return -1;
    }
    r->head = strndup(buf, (size_t)(sep - buf) + 2);
    r->body_len = len - (size_t)(sep + 4 - buf);
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, sep + 4, r->body_len);
    r->body[r->body_len] = '\0';
    free(buf);
    return 0;
}

static inline int http_do(uint16_t port, const char *method, const char *target, const char *ctype,
                          const char *body, struct resp *r)
{
    char req[8192];
    size_t blen = body != NULL ? strlen(body) : 0;
    int n;

    if (body != NULL)
        n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                     "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
                     method, target, ctype, blen, body);
    else
        n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", method,
                     target);
    assert_true(n > 0 && (size_t)n < sizeof(req));
    return http_raw(port, req, (size_t)n, r);
}

static inline const char *header(const struct resp *r, const char *name, char *out, size_t outlen)
{
    const char *p = r->head;
    size_t n = strlen(name);

    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1, *e;
            while (*v == ' ')
                v++;
            e = strstr(v, "\r\n");
            snprintf(out, outlen, "%.*s", (int)(e - v), v);
            return out;
        }
    }
    return NULL;
}

#endif
