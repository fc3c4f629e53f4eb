/*
 * server.c - the server process's frame (see server.h): owns the HTTP
 * daemon, the self-metrics registry and the data directory lock, and wires
 * request accounting (metrics, access log) into the HTTP layer.
 *
 * Invariants: while started, the data directory holds a file "lock" on
 * which this process has an exclusive flock(2), so two servers never share
 * a directory; the lock goes with the process, even after kill -9. The
 * metric families used per request are registered in server_new and never
 * change afterwards, so request threads use them without locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "telltale.h"
#include "server/server.h"

struct server {
    char *data_dir;
    char *http_addr;
    struct server_config cfg;
    struct http_server *http;
    struct metrics_registry *metrics;
    struct metric_family *requests; /* counter {handler, code} */
    struct metric_family *duration; /* histogram {handler} */
    atomic_int ready;
    int lock_fd;
};

static const char *const request_labels[] = { "handler", "code" };
static const char *const duration_labels[] = { "handler" };

void server_config_defaults(struct server_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->data_dir = SERVER_DEFAULT_DATA_DIR;
    cfg->http_addr = SERVER_DEFAULT_HTTP_ADDR;
}

/* observe counts and times each request, and logs it at debug level. */
static void observe(void *ctx, const struct http_req *req, const char *route, int status,
                    int64_t duration_ns)
{
    struct server *srv = ctx;
    char code[8], client[64];
    const char *handler = route != NULL ? route : "unmatched";
    const char *rv[2] = { handler, code };
    struct log_line l;

    snprintf(code, sizeof(code), "%d", status);
    metric_inc(metrics_child(srv->requests, rv));
    metric_observe(metrics_child(srv->duration, rv), (double)duration_ns / 1e9);
    if (log_begin(srv->cfg.log, LOG_LEVEL_DEBUG, "http request", &l)) {
        log_str(&l, "method", http_req_method(req));
        log_str(&l, "path", http_req_path(req));
        log_i64(&l, "code", status);
        log_f64(&l, "seconds", (double)duration_ns / 1e9);
        log_i64(&l, "body_bytes", (int64_t)http_req_body_bytes(req));
        log_str(&l, "client", http_req_client_str(req, client, sizeof(client)));
        log_end(&l);
    }
}

static int metrics_handler(struct http_req *req, void *ctx)
{
    struct server *srv = ctx;
    struct wbuf b;

    wbuf_init(&b, 0);
    metrics_render(srv->metrics, &b);
    return http_respond_wbuf(req, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}

static int register_metrics(struct server *srv)
{
    static const char *const bi_labels[] = { "version", "revision", "branch" };
    const struct server_build_info *bi = server_build_info();
    const char *bi_values[] = { bi->version, bi->revision, bi->branch };
    const struct metric_desc requests = {
        .type = METRIC_COUNTER,
        .name = "telltale_http_requests_total",
        .help = "HTTP requests answered, by route and status code.",
        .label_names = request_labels,
        .nlabels = 2,
    };
    const struct metric_desc duration = {
        .type = METRIC_HISTOGRAM,
        .name = "telltale_http_request_duration_seconds",
        .help = "Time from the request's headers to its response being queued.",
        .label_names = duration_labels,
        .nlabels = 1,
    };
    const struct metric_desc build = {
        .type = METRIC_GAUGE,
        .name = "telltale_build_info",
        .help = "Build information of the running server; the value is always 1.",
        .label_names = bi_labels,
        .nlabels = 3,
    };
    struct metric_family *bf;
    struct metric *m;
    int rc;

    rc = metrics_register(srv->metrics, &requests, &srv->requests);
    if (rc == 0)
        rc = metrics_register(srv->metrics, &duration, &srv->duration);
    if (rc == 0)
        rc = metrics_register(srv->metrics, &build, &bf);
    if (rc < 0)
        return rc;
    m = metrics_child(bf, bi_values);
    if (m == NULL)
        return TT_ENOMEM;
    metric_set(m, 1);
    return metrics_add_process_collector(srv->metrics);
}

int server_new(const struct server_config *cfg, struct server **out)
{
    struct server *srv;
    struct http_config hc = { 0 };
    const struct http_route metrics_route = { .method = "GET",
                                              .pattern = "/metrics",
                                              .handler = metrics_handler };
    struct http_route r = metrics_route;
    int rc;

    *out = NULL;
    if (cfg == NULL || cfg->data_dir == NULL || cfg->http_addr == NULL || cfg->data_dir[0] == '\0')
        return TT_EINVAL;
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return TT_ENOMEM;
    srv->lock_fd = -1;
    atomic_init(&srv->ready, 0);
    srv->cfg = *cfg;
    srv->data_dir = strdup(cfg->data_dir);
    srv->http_addr = strdup(cfg->http_addr);
    rc = TT_ENOMEM;
    if (srv->data_dir == NULL || srv->http_addr == NULL)
        goto fail;
    srv->cfg.data_dir = srv->data_dir;
    srv->cfg.http_addr = srv->http_addr;
    rc = metrics_registry_new(&srv->metrics);
    if (rc < 0)
        goto fail;
    rc = register_metrics(srv);
    if (rc < 0)
        goto fail;
    hc.addr = srv->http_addr;
    hc.max_connections = cfg->http_max_connections;
    hc.idle_timeout_s = cfg->http_idle_timeout_s;
    hc.log = cfg->log;
    hc.observe = observe;
    hc.observe_ctx = srv;
    rc = http_server_new(&hc, &srv->http);
    if (rc < 0)
        goto fail;
    r.ctx = srv;
    rc = server_add_route(srv, &r);
    if (rc == 0)
        rc = api_status_register(srv);
    if (rc < 0)
        goto fail;
    *out = srv;
    return 0;
fail:
    server_free(srv);
    return rc;
}

int server_add_route(struct server *srv, const struct http_route *route)
{
    return http_server_add_route(srv->http, route);
}

/* mkdir_p creates dir and its missing parents (mode 0755). */
static int mkdir_p(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return -1;
        path[i] = c;
    }
    return 0;
}

static int open_data_dir(struct server *srv, char *errbuf, size_t errlen)
{
    char path[4200], pid[32];
    struct stat st;
    int fd, n;

    if (mkdir_p(srv->data_dir) < 0) {
        snprintf(errbuf, errlen, "data directory %s: cannot create it: %s", srv->data_dir,
                 strerror(errno));
        return TT_EIO;
    }
    if (stat(srv->data_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(errbuf, errlen, "data directory %s: not a directory", srv->data_dir);
        return TT_EIO;
    }
    snprintf(path, sizeof(path), "%s/lock", srv->data_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(errbuf, errlen, "data directory %s: not writable (%s: %s)", srv->data_dir, path,
                 strerror(errno));
        return TT_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        ssize_t got = read(fd, pid, sizeof(pid) - 1);
        pid[got > 0 ? got : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK) {
            snprintf(errbuf, errlen,
                     "data directory %s is in use by another telltale server (pid %s)",
                     srv->data_dir, pid[0] != '\0' ? pid : "unknown");
            return TT_EEXIST;
        }
        snprintf(errbuf, errlen, "data directory %s: cannot lock %s: %s", srv->data_dir, path,
                 strerror(e));
        return TT_EIO;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        snprintf(errbuf, errlen, "data directory %s: cannot write %s: %s", srv->data_dir, path,
                 strerror(errno));
        close(fd);
        return TT_EIO;
    }
    srv->lock_fd = fd;
    return 0;
}

int server_start(struct server *srv, char *errbuf, size_t errlen)
{
    char dummy[8];
    int rc;

    if (errbuf == NULL || errlen == 0) {
        errbuf = dummy;
        errlen = sizeof(dummy);
    }
    errbuf[0] = '\0';
    rc = open_data_dir(srv, errbuf, errlen);
    if (rc < 0)
        return rc;
    rc = http_server_start(srv->http, errbuf, errlen);
    if (rc < 0) {
        close(srv->lock_fd);
        srv->lock_fd = -1;
        return rc;
    }
    if (log_enabled(srv->cfg.log, LOG_LEVEL_INFO)) {
        struct log_line l;
        log_begin(srv->cfg.log, LOG_LEVEL_INFO, "server listening", &l);
        log_str(&l, "addr", srv->http_addr);
        log_i64(&l, "port", http_server_port(srv->http));
        log_str(&l, "data", srv->data_dir);
        log_end(&l);
    }
    return 0;
}

void server_set_ready(struct server *srv, int ready)
{
    atomic_store(&srv->ready, ready ? 1 : 0);
}

int server_is_ready(const struct server *srv)
{
    return atomic_load(&((struct server *)srv)->ready);
}

uint16_t server_port(const struct server *srv)
{
    return http_server_port(srv->http);
}

struct metrics_registry *server_metrics(struct server *srv)
{
    return srv->metrics;
}

struct log *server_log(struct server *srv)
{
    return srv->cfg.log;
}

const char *server_data_dir(const struct server *srv)
{
    return srv->data_dir;
}

void server_stop(struct server *srv)
{
    if (srv == NULL)
        return;
    server_set_ready(srv, 0);
    http_server_stop(srv->http);
    if (srv->lock_fd >= 0) {
        close(srv->lock_fd); /* releases the flock */
        srv->lock_fd = -1;
    }
}

void server_free(struct server *srv)
{
    if (srv == NULL)
        return;
    if (srv->http != NULL)
        server_stop(srv);
    http_server_free(srv->http);
    metrics_registry_free(srv->metrics);
    free(srv->data_dir);
    free(srv->http_addr);
    free(srv);
}
