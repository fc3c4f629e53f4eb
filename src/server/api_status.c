/*
 * api_status.c - GET /api/v1/status/buildinfo in Prometheus's JSON shape,
 * and the health endpoints /-/healthy and /-/ready (as Prometheus answers
 * them: plain text, 200, or 503 for /-/ready while the server is not ready).
 *
 * Build facts come from compile definitions when the build passes them
 * (TT_GIT_REVISION, TT_GIT_BRANCH, TT_BUILD_USER, TT_BUILD_DATE); what is not
 * known is "unknown", and goVersion is "none": nothing is made up.
 */
#include <stdio.h>
#include "telltale.h"
#include "server/json_out.h"
#include "server/server.h"

#define STR2(x) #x
#define STR(x)  STR2(x)

#ifndef TT_GIT_REVISION
#define TT_GIT_REVISION "unknown"
#endif
#ifndef TT_GIT_BRANCH
#define TT_GIT_BRANCH "unknown"
#endif
#ifndef TT_BUILD_USER
#define TT_BUILD_USER "unknown"
#endif
#ifndef TT_BUILD_DATE
#define TT_BUILD_DATE "unknown"
#endif

static const struct server_build_info build_info = {
    .version = STR(TT_VERSION_MAJOR) "." STR(TT_VERSION_MINOR) "." STR(TT_VERSION_PATCH),
    .revision = TT_GIT_REVISION,
    .branch = TT_GIT_BRANCH,
    .build_user = TT_BUILD_USER,
    .build_date = TT_BUILD_DATE,
};

const struct server_build_info *server_build_info(void)
{
    return &build_info;
}

static int buildinfo(struct http_req *req, void *ctx)
{
    const struct server_build_info *bi = server_build_info();
    struct wbuf b;
    struct json_out j;

    (void)ctx;
    wbuf_init(&b, 0);
    json_out_init(&j, &b);
    json_out_success_begin(&j);
    json_out_object_begin(&j);
    json_out_key(&j, "version");
    json_out_str(&j, bi->version);
    json_out_key(&j, "revision");
    json_out_str(&j, bi->revision);
    json_out_key(&j, "branch");
    json_out_str(&j, bi->branch);
    json_out_key(&j, "buildUser");
    json_out_str(&j, bi->build_user);
    json_out_key(&j, "buildDate");
    json_out_str(&j, bi->build_date);
    json_out_key(&j, "goVersion");
    json_out_str(&j, "none");
    json_out_object_end(&j);
    json_out_success_end(&j);
    return http_respond_json(req, 200, &b);
}

static int healthy(struct http_req *req, void *ctx)
{
    static const char msg[] = "Telltale Server is Healthy.\n";

    (void)ctx;
    return http_respond(req, 200, "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
}

static int ready(struct http_req *req, void *ctx)
{
    static const char yes[] = "Telltale Server is Ready.\n";
    static const char no[] = "Service Unavailable\n";
    struct server *srv = ctx;

    if (server_is_ready(srv))
        return http_respond(req, 200, "text/plain; charset=utf-8", yes, sizeof(yes) - 1);
    return http_respond(req, 503, "text/plain; charset=utf-8", no, sizeof(no) - 1);
}

int api_status_register(struct server *srv)
{
    const struct http_route routes[] = {
        { .method = "GET", .pattern = "/api/v1/status/buildinfo", .handler = buildinfo },
        { .method = "GET", .pattern = "/-/healthy", .handler = healthy },
        { .method = "GET", .pattern = "/-/ready", .handler = ready, .ctx = srv },
    };
    int rc;

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        rc = server_add_route(srv, &routes[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}
