/*
 * fuzz_fileparse.c - fuzz target for the file sanity collector's hand-written
 * parsers (src/agent/fileparse.c): the first byte picks the checker (INI,
 * key=value, the invisible-character scanner, and for reach JSON and YAML
 * through their libraries), the rest is the file. Checks: no crash, a
 * verdict of 0 or 1, an invalid verdict with a position inside the input
 * and a message, findings with positions inside the input and in order.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/fileparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static uint32_t count_lines(const uint8_t *p, size_t n)
{
    uint32_t lines = 1;
    for (size_t i = 0; i < n; i++)
        lines += p[i] == '\n';
    return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    uint32_t lines = count_lines(p, n);
    struct fileparse_error e;
    memset(&e, 0, sizeof e);
    switch (data[0] % 5) {
    case 0:
    case 1: {
        int rc = data[0] % 5 == 0 ? fileparse_ini(p, n, &e) : fileparse_kv(p, n, &e);
        CHECK(rc == 0 || rc == 1);
        if (rc == 0) {
            CHECK(e.line >= 1 && e.line <= lines);
            CHECK(e.col >= 1 && e.col <= n + 1);
            CHECK(e.msg[0] != '\0' && strlen(e.msg) < sizeof e.msg);
        }
        break;
    }
    case 2: {
        struct fileparse_finding f[16];
        size_t total = fileparse_scan_controls(p, n, f, 16);
        CHECK(total <= n);
        for (size_t i = 0; i < total && i < 16; i++) {
            CHECK(f[i].line >= 1 && f[i].line <= lines);
            CHECK(f[i].col >= 1 && f[i].col <= n);
            CHECK(f[i].what != NULL);
            if (i > 0)
                CHECK(f[i].line > f[i - 1].line ||
                      (f[i].line == f[i - 1].line && f[i].col > f[i - 1].col));
        }
        break;
    }
    default: {
        int rc = fileparse_check(data[0] % 5 == 3 ? FILEPARSE_JSON : FILEPARSE_YAML, p, n, &e);
        CHECK(rc == 0 || rc == 1);
        if (rc == 0)
            CHECK(e.msg[0] != '\0');
        break;
    }
    }
    return 0;
}
