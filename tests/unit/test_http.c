/*
 * test_http.c - the HTTP layer and the server frame, over real sockets: a
 * server on 127.0.0.1 with an ephemeral port in this process, and a minimal
 * HTTP/1.1 client below (one request per connection, "Connection: close",
 * read to EOF). Checks routing (path parameters, 404, 405 with Allow), query
 * and form parameters, body limits (413 by Content-Length and chunked),
 * streaming bodies, error shapes, the status endpoints and /metrics.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit.h"
#include "http_client.h"
#include "telltale.h"
#include "server/http.h"
#include "server/json_out.h"
#include "server/server.h"

/* --- handlers under test ---------------------------------------------------- */

/* echo answers {"method":..,"path":..,"params":[[k,v],..],"name":..,"rest":..,"body":..}. */
static int echo(struct http_req *req, void *ctx)
{
    struct wbuf b;
    struct json_out j;
    size_t blen;
    const uint8_t *body = http_req_body(req, &blen);

    (void)ctx;
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_object_begin(&j);
    json_out_key(&j, "method");
    json_out_str(&j, http_req_method(req));
    json_out_key(&j, "path");
    json_out_str(&j, http_req_path(req));
    json_out_key(&j, "params");
    json_out_array_begin(&j);
    for (size_t i = 0; i < http_req_param_count(req); i++) {
        const char *k, *v;
        http_req_param_at(req, i, &k, &v);
        json_out_array_begin(&j);
        json_out_str(&j, k);
        json_out_str(&j, v);
        json_out_array_end(&j);
    }
    json_out_array_end(&j);
    json_out_key(&j, "name");
    json_out_str(&j, http_req_path_param(req, "name"));
    json_out_key(&j, "rest");
    json_out_str(&j, http_req_path_param(req, "*"));
    json_out_key(&j, "body");
    json_out_strn(&j, (const char *)body, blen);
    json_out_object_end(&j);
    return http_respond_json(req, 200, &b);
}

struct stream_state {
    uint64_t bytes;
    unsigned chunks;
};

/* on_body of /stream: counts bytes; a 'X' in the body is a "malformed line". */
static int stream_chunk(struct http_req *req, void *ctx, const uint8_t *chunk, size_t n)
{
    struct stream_state *st = http_req_state(req);

    (void)ctx;
    if (st == NULL) {
        st = calloc(1, sizeof(*st));
        if (st == NULL)
            return TT_ENOMEM;
        http_req_set_state(req, st, free);
    }
    if (memchr(chunk, 'X', n) != NULL) {
        http_respond_error(req, 400, NULL, "bad byte after %llu bytes",
                           (unsigned long long)st->bytes);
        return TT_ESYNTAX;
    }
    st->bytes += n;
    st->chunks++;
    return 0;
}

static int stream_done(struct http_req *req, void *ctx)
{
    struct stream_state *st = http_req_state(req);
    char msg[64];
    int n;

    (void)ctx;
    n = snprintf(msg, sizeof(msg), "%llu", st != NULL ? (unsigned long long)st->bytes : 0ULL);
    return http_respond(req, 200, "text/plain", msg, (size_t)n);
}

static int fails(struct http_req *req, void *ctx)
{
    (void)req;
    return (int)(intptr_t)ctx;
}

static int no_response(struct http_req *req, void *ctx)
{
    (void)req;
    (void)ctx;
    return 0;
}

struct fixture {
    char dir[64];
    struct server *srv;
    uint16_t port;
};

static void rm_rf(const char *dir)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void fixture_up(struct fixture *f)
{
    struct server_config cfg;
    char err[256] = "";
    const struct http_route routes[] = {
        { .method = "GET", .pattern = "/echo", .handler = echo, .flags = HTTP_ROUTE_FORM },
        { .method = "POST", .pattern = "/echo", .handler = echo, .flags = HTTP_ROUTE_FORM },
        { .method = "POST", .pattern = "/raw", .handler = echo, .max_body_bytes = 100 },
        { .method = "GET", .pattern = "/api/v1/label/{name}/values", .handler = echo },
        { .method = "GET", .pattern = "/static/*", .handler = echo },
        { .method = "POST",
          .pattern = "/stream",
          .handler = stream_done,
          .on_body = stream_chunk,
          .max_body_bytes = HTTP_UNLIMITED_BODY },
        { .method = "GET",
          .pattern = "/fail/syntax",
          .handler = fails,
          .ctx = (void *)(intptr_t)TT_ESYNTAX },
        { .method = "GET",
          .pattern = "/fail/state",
          .handler = fails,
          .ctx = (void *)(intptr_t)TT_ESTATE },
        { .method = "GET", .pattern = "/fail/none", .handler = no_response },
    };

    snprintf(f->dir, sizeof(f->dir), "/tmp/tt-test-http.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    server_config_defaults(&cfg);
    cfg.data_dir = f->dir;
    cfg.http_addr = "127.0.0.1:0";
    assert_int_equal(server_new(&cfg, &f->srv), 0);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        assert_int_equal(server_add_route(f->srv, &routes[i]), 0);
    assert_int_equal(server_start(f->srv, err, sizeof(err)), 0);
    f->port = server_port(f->srv);
    assert_true(f->port > 0);
}

static void fixture_down(struct fixture *f)
{
    server_free(f->srv);
    rm_rf(f->dir);
}

static json_t *parse(const struct resp *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->body_len, 0, &e);

    if (j == NULL)
        fail_msg("not JSON (%s): %s", e.text, r->body);
    return j;
}

/* check_error checks Prometheus's error shape and the errorType. */
static void check_error(const struct resp *r, int status, const char *errtype)
{
    json_t *j = parse(r);

    assert_int_equal(r->status, status);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "error");
    assert_string_equal(json_string_value(json_object_get(j, "errorType")), errtype);
    assert_non_null(json_string_value(json_object_get(j, "error")));
    assert_int_equal(json_object_size(j), 3);
    json_decref(j);
}

/* --- tests -------------------------------------------------------------------- */

static void test_http_get_params(void **state)
{
    struct fixture f;
    struct resp r;
    json_t *j, *p;

    (void)state;
    fixture_up(&f);
    assert_int_equal(http_do(f.port, "GET",
                             "/echo?query=up%7Bjob%3D%22a%22%7D&m[]=1&m[]=2&flag&sp=a+b", NULL,
                             NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    j = parse(&r);
    p = json_object_get(j, "params");
    assert_int_equal(json_array_size(p), 5);
    assert_string_equal(json_string_value(json_array_get(json_array_get(p, 0), 0)), "query");
    assert_string_equal(json_string_value(json_array_get(json_array_get(p, 0), 1)),
                        "up{job=\"a\"}");
    assert_string_equal(json_string_value(json_array_get(json_array_get(p, 2), 1)), "2");
    assert_string_equal(json_string_value(json_array_get(json_array_get(p, 3), 0)), "flag");
    assert_string_equal(json_string_value(json_array_get(json_array_get(p, 3), 1)), "");
    assert_string_equal(json_string_value(json_array_get(json_array_get(p, 4), 1)), "a b");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/echo");
    json_decref(j);
    resp_free(&r);
    fixture_down(&f);
}

static void test_http_post_form(void **state)
{
    struct fixture f;
    struct resp r;
    json_t *j, *p;

    (void)state;
    fixture_up(&f);
    /* URL parameters first, then the form's, repeated names kept. */
    assert_int_equal(http_do(f.port, "POST", "/echo?time=5",
                             "application/x-www-form-urlencoded; charset=utf-8",
                             "query=rate(x%5B5m%5D)&match%5B%5D=a&match[]=b+c&bad=%zz", &r),
                     0);
    assert_int_equal(r.status, 200);
    j = parse(&r);
    p = json_object_get(j, "params");
    assert_int_equal(json_array_size(p), 5);
    assert_string_equal(json_string_value(json_array_get(json_array_get(p, 0), 0)), "time");
    assert_string_equal(json_string_value(json_array_get(json_array_get(p, 1), 1)), "rate(x[5m])");
    assert_string_equal(json_string_value(json_array_get(json_array_get(p, 2), 0)), "match[]");
    assert_string_equal(json_string_value(json_array_get(json_array_get(p, 3), 1)), "b c");
    assert_string_equal(json_string_value(json_array_get(json_array_get(p, 4), 1)), "%zz");
    json_decref(j);
    resp_free(&r);

    /* Another content type: the body stays a body. */
    assert_int_equal(http_do(f.port, "POST", "/echo", "text/plain", "query=up", &r), 0);
    j = parse(&r);
    assert_int_equal(json_array_size(json_object_get(j, "params")), 0);
    assert_string_equal(json_string_value(json_object_get(j, "body")), "query=up");
    json_decref(j);
    resp_free(&r);
    fixture_down(&f);
}

static void test_http_path_params(void **state)
{
    struct fixture f;
    struct resp r;
    json_t *j;

    (void)state;
    fixture_up(&f);
    assert_int_equal(http_do(f.port, "GET", "/api/v1/label/job/values", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "job");
    assert_true(json_is_null(json_object_get(j, "rest")));
    json_decref(j);
    resp_free(&r);

    assert_int_equal(http_do(f.port, "GET", "/static/js/app.js", NULL, NULL, &r), 0);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "rest")), "js/app.js");
    json_decref(j);
    resp_free(&r);

    /* An empty segment does not match a parameter. */
    assert_int_equal(http_do(f.port, "GET", "/api/v1/label//values", NULL, NULL, &r), 0);
    check_error(&r, 404, "not_found");
    resp_free(&r);
    fixture_down(&f);
}

static void test_http_404_405(void **state)
{
    struct fixture f;
    struct resp r;
    char allow[128];

    (void)state;
    fixture_up(&f);
    assert_int_equal(http_do(f.port, "GET", "/nope", NULL, NULL, &r), 0);
    check_error(&r, 404, "not_found");
    resp_free(&r);

    assert_int_equal(http_do(f.port, "DELETE", "/echo", NULL, NULL, &r), 0);
    check_error(&r, 405, "bad_data");
    assert_non_null(header(&r, "Allow", allow, sizeof(allow)));
    assert_string_equal(allow, "GET, HEAD, POST");
    resp_free(&r);

    /* HEAD answers like GET, without a body. */
    assert_int_equal(http_do(f.port, "HEAD", "/-/healthy", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    resp_free(&r);
    fixture_down(&f);
}

static void test_http_body_limit(void **state)
{
    struct fixture f;
    struct resp r;
    char big[256], req[1024];
    json_t *j;
    int n;

    (void)state;
    fixture_up(&f);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    /* Announced too long: refused before the body is read. */
    assert_int_equal(http_do(f.port, "POST", "/raw", "text/plain", big, &r), 0);
    check_error(&r, 413, "bad_data");
    resp_free(&r);

    /* Chunked, no length: refused once the limit is passed. */
    n = snprintf(req, sizeof(req),
                 "POST /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n50\r\n%.80s\r\n50\r\n%.80s\r\n0\r\n\r\n",
                 big, big);
    assert_int_equal(http_raw(f.port, req, (size_t)n, &r), 0);
    check_error(&r, 413, "bad_data");
    resp_free(&r);

    /* Within the limit, chunked: collected whole. */
    n = snprintf(req, sizeof(req),
                 "POST /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_int_equal(http_raw(f.port, req, (size_t)n, &r), 0);
    assert_int_equal(r.status, 200);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "body")), "hello world");
    json_decref(j);
    resp_free(&r);

    /* Exactly at the limit passes. */
    big[100] = '\0';
    assert_int_equal(http_do(f.port, "POST", "/raw", "text/plain", big, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    fixture_down(&f);
}

static void test_http_streaming_body(void **state)
{
    struct fixture f;
    struct resp r;
    size_t size = 3u << 20; /* beyond the default limit, in many chunks */
    char *body = malloc(size + 1);
    char *req = malloc(size + 256);
    int n;

    (void)state;
    assert_non_null(body);
    assert_non_null(req);
    fixture_up(&f);
    memset(body, 'y', size);
    body[size] = '\0';
    n = snprintf(req, 256,
                 "POST /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 size);
    memcpy(req + n, body, size);
    assert_int_equal(http_raw(f.port, req, (size_t)n + size, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "3145728");
    resp_free(&r);

    /* A bad byte midway: the handler's error, not the handler's success. */
    body[size / 2] = 'X';
    memcpy(req + n, body, size);
    assert_int_equal(http_raw(f.port, req, (size_t)n + size, &r), 0);
    check_error(&r, 400, "bad_data");
    resp_free(&r);
    free(body);
    free(req);
    fixture_down(&f);
}

static void test_http_handler_errors(void **state)
{
    struct fixture f;
    struct resp r;

    (void)state;
    fixture_up(&f);
    assert_int_equal(http_do(f.port, "GET", "/fail/syntax", NULL, NULL, &r), 0);
    check_error(&r, 400, "bad_data");
    resp_free(&r);
    assert_int_equal(http_do(f.port, "GET", "/fail/state", NULL, NULL, &r), 0);
    check_error(&r, 503, "unavailable");
    resp_free(&r);
    assert_int_equal(http_do(f.port, "GET", "/fail/none", NULL, NULL, &r), 0);
    check_error(&r, 500, "internal");
    resp_free(&r);
    assert_int_equal(http_status_for_err(TT_ETOOBIG), 413);
    assert_int_equal(http_status_for_err(TT_ENOTFOUND), 404);
    assert_string_equal(http_errtype_for_status(422), "execution");
    fixture_down(&f);
}

static void test_http_status_endpoints(void **state)
{
    struct fixture f;
    struct resp r;
    json_t *j, *d;
    static const char *const keys[] = { "version",   "revision",  "branch",
                                        "buildUser", "buildDate", "goVersion" };

    (void)state;
    fixture_up(&f);
    assert_int_equal(http_do(f.port, "GET", "/api/v1/status/buildinfo", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "success");
    d = json_object_get(j, "data");
    assert_int_equal(json_object_size(d), 6);
    for (size_t i = 0; i < 6; i++)
        assert_true(json_is_string(json_object_get(d, keys[i])));
    assert_string_equal(json_string_value(json_object_get(d, "version")), "0.1.0");
    assert_string_equal(json_string_value(json_object_get(d, "goVersion")), "none");
    json_decref(j);
    resp_free(&r);

    assert_int_equal(http_do(f.port, "GET", "/-/healthy", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(http_do(f.port, "GET", "/-/ready", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 503);
    resp_free(&r);
    server_set_ready(f.srv, 1);
    assert_int_equal(http_do(f.port, "GET", "/-/ready", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    fixture_down(&f);
}

/* sample finds the value of the exposition line that starts with prefix
 * followed by a space; -1 when absent. Also checks every line's shape. */
static double sample(const char *text, const char *prefix)
{
    double found = -1;
    char *copy = strdup(text), *save = NULL;

    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *sp, *end;
        double v;
        if (line[0] == '#') {
            assert_true(strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0);
            continue;
        }
        sp = strrchr(line, ' ');
        assert_non_null(sp);
        v = strtod(sp + 1, &end);
        if (*end != '\0')
            fail_msg("bad value in line: %s", line);
        if ((size_t)(sp - line) == strlen(prefix) && strncmp(line, prefix, strlen(prefix)) == 0)
            found = v;
    }
    free(copy);
    return found;
}

static void test_http_metrics(void **state)
{
    struct fixture f;
    struct resp r;
    char ct[128];

    (void)state;
    fixture_up(&f);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(http_do(f.port, "GET", "/-/healthy", NULL, NULL, &r), 0);
        resp_free(&r);
    }
    assert_int_equal(http_do(f.port, "GET", "/nope", NULL, NULL, &r), 0);
    resp_free(&r);
    assert_int_equal(http_do(f.port, "GET", "/metrics", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(header(&r, "Content-Type", ct, sizeof(ct)));
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert_true(
        sample(r.body, "telltale_http_requests_total{handler=\"/-/healthy\",code=\"200\"}") == 3);
    assert_true(
        sample(r.body, "telltale_http_requests_total{handler=\"unmatched\",code=\"404\"}") == 1);
    assert_true(sample(r.body, "telltale_http_request_duration_seconds_count{handler=\"/-/"
                               "healthy\"}") == 3);
    assert_true(sample(r.body, "telltale_http_request_duration_seconds_bucket{handler=\"/-/"
                               "healthy\",le=\"+Inf\"}") == 3);
    assert_true(sample(r.body, "process_resident_memory_bytes") > 0);
    assert_true(sample(r.body, "process_open_fds") > 0);
    assert_true(sample(r.body, "process_start_time_seconds") > 1e9);
    assert_true(sample(r.body, "telltale_uptime_seconds") >= 0);
    /* The revision and branch depend on how the tree was built. */
    assert_non_null(strstr(r.body, "\ntelltale_build_info{version=\"0.1.0\",revision=\""));
    resp_free(&r);
    fixture_down(&f);
}

static void test_server_start_failures(void **state)
{
    struct fixture f;
    struct server_config cfg;
    struct server *srv;
    char err[256], addr[32], file[96];
    FILE *fp;

    (void)state;
    fixture_up(&f);
    server_config_defaults(&cfg);

    /* The same data directory: locked. */
    cfg.data_dir = f.dir;
    cfg.http_addr = "127.0.0.1:0";
    assert_int_equal(server_new(&cfg, &srv), 0);
    assert_int_equal(server_start(srv, err, sizeof(err)), TT_EEXIST);
    assert_non_null(strstr(err, "in use by another telltale server"));
    server_free(srv);

    /* The same port: in use. */
    snprintf(file, sizeof(file), "%s/other", f.dir);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", f.port);
    cfg.data_dir = file;
    cfg.http_addr = addr;
    assert_int_equal(server_new(&cfg, &srv), 0);
    assert_int_equal(server_start(srv, err, sizeof(err)), TT_EEXIST);
    assert_non_null(strstr(err, "address already in use"));
    server_free(srv);

    /* A data "directory" that is a file. */
    snprintf(file, sizeof(file), "%s/afile", f.dir);
    fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    cfg.data_dir = file;
    cfg.http_addr = "127.0.0.1:0";
    assert_int_equal(server_new(&cfg, &srv), 0);
    assert_int_equal(server_start(srv, err, sizeof(err)), TT_EIO);
    assert_non_null(strstr(err, "afile"));
    server_free(srv);

    /* Addresses that do not parse. */
    cfg.data_dir = f.dir;
    cfg.http_addr = "localhost";
    assert_int_equal(server_new(&cfg, &srv), 0);
    server_stop(f.srv); /* frees the lock so the address is what fails */
    assert_int_equal(server_start(srv, err, sizeof(err)), TT_EINVAL);
    server_free(srv);
    fixture_down(&f);
}

static void test_http_route_table(void **state)
{
    struct http_server *hs;
    struct http_config cfg = { .addr = "127.0.0.1:0" };
    struct http_route r = { .method = "GET", .pattern = "/a/{x}/b", .handler = echo };

    (void)state;
    assert_int_equal(http_server_new(&cfg, &hs), 0);
    assert_int_equal(http_server_add_route(hs, &r), 0);
    assert_int_equal(http_server_add_route(hs, &r), TT_EEXIST);
    r.pattern = "no-slash";
    assert_int_equal(http_server_add_route(hs, &r), TT_EINVAL);
    r.pattern = "/a/*/b";
    assert_int_equal(http_server_add_route(hs, &r), TT_EINVAL);
    r.pattern = "/a/{}";
    assert_int_equal(http_server_add_route(hs, &r), TT_EINVAL);
    r.pattern = "/ok";
    r.method = "get";
    assert_int_equal(http_server_add_route(hs, &r), TT_EINVAL);
    r.method = "GET";
    r.handler = NULL;
    assert_int_equal(http_server_add_route(hs, &r), TT_EINVAL);
    http_server_free(hs);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Starting and stopping leaves no socket, lock file or thread behind. */
static void test_http_no_fd_leak(void **state)
{
    struct fixture f;
    struct resp r;
    int before = count_fds();

    (void)state;
    for (int i = 0; i < 3; i++) {
        fixture_up(&f);
        assert_int_equal(http_do(f.port, "GET", "/metrics", NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        resp_free(&r);
        fixture_down(&f);
    }
    assert_int_equal(count_fds(), before);
}

UNIT_TESTS(cmocka_unit_test(test_http_get_params), cmocka_unit_test(test_http_post_form),
           cmocka_unit_test(test_http_path_params), cmocka_unit_test(test_http_404_405),
           cmocka_unit_test(test_http_body_limit), cmocka_unit_test(test_http_streaming_body),
           cmocka_unit_test(test_http_handler_errors), cmocka_unit_test(test_http_status_endpoints),
           cmocka_unit_test(test_http_metrics), cmocka_unit_test(test_server_start_failures),
           cmocka_unit_test(test_http_route_table), cmocka_unit_test(test_http_no_fd_leak))
