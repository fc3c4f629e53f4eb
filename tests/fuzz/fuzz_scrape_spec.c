/*
 * fuzz_scrape_spec.c - fuzz target for the agent's scrape spec parser
 * (agent_scrape_spec_parse in src/agent/agent_config.c): the first byte
 * picks the collection interval (none, or 100 ms .. 25.5 s), the rest is
 * the spec. Checks: no crash; on success an http(s) URL, a non-empty job,
 * valid, unreserved, distinct label names with non-empty values, timeout
 * at most the interval, and with a collection interval both filled in and
 * the interval not below it; on failure a message naming the spec and
 * nothing left to free.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/agent_config.h"
#include "telltale.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static int label_name_ok(const char *n)
{
    if (!(isalpha((unsigned char)*n) || *n == '_'))
        return 0;
    for (n++; *n; n++)
        if (!(isalnum((unsigned char)*n) || *n == '_'))
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 4096)
        return 0;
    int64_t collection_ms = data[0] == 0 ? 0 : (int64_t)data[0] * 100;
    char *spec = malloc(size);
    CHECK(spec != NULL);
    memcpy(spec, data + 1, size - 1);
    spec[size - 1] = '\0';

    struct agent_scrape_spec s;
    char err[512] = "";
    int rc = agent_scrape_spec_parse(&s, spec, collection_ms, err, sizeof err);
    if (rc == 0) {
        CHECK(strncmp(s.url, "http://", 7) == 0 || strncmp(s.url, "https://", 8) == 0);
        CHECK(s.job[0] != '\0' && strlen(s.job) <= 127);
        CHECK(s.nlabels <= AGENT_SCRAPE_MAX_LABELS);
        for (size_t i = 0; i < s.nlabels; i++) {
            const char *n = s.labels[i].name;
            CHECK(label_name_ok(n));
            CHECK(strncmp(n, "__", 2) != 0 && strcmp(n, "job") != 0 && strcmp(n, "instance") != 0 &&
                  strcmp(n, "interval") != 0 && strcmp(n, "timeout") != 0);
            CHECK(s.labels[i].value[0] != '\0' && strpbrk(s.labels[i].value, " \t") == NULL);
            for (size_t j = 0; j < i; j++)
                CHECK(strcmp(s.labels[j].name, n) != 0);
        }
        CHECK(s.interval_ms >= 0 && s.timeout_ms >= 0);
        if (s.interval_ms > 0 && s.timeout_ms > 0)
            CHECK(s.timeout_ms <= s.interval_ms);
        if (collection_ms > 0) {
            CHECK(s.interval_ms >= collection_ms);
            CHECK(s.timeout_ms > 0 && s.timeout_ms <= s.interval_ms);
        }
        agent_scrape_spec_release(&s);
    } else {
        CHECK(rc == TT_EINVAL || rc == TT_ENOMEM);
        CHECK(s.buf == NULL);
        if (rc == TT_EINVAL)
            CHECK(strncmp(err, "scrape '", 8) == 0);
    }
    free(spec);
    return 0;
}
