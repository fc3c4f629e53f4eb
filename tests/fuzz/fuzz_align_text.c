/*
 * fuzz_align_text.c - fuzz target for the plain text alignment log
 * (src/query/causal/align_text.c): the input is parsed as one file; a parse
 * must end without crashing, fill the error message when it fails, keep
 * every stored event in range, and the events it kept must align (shift
 * >= l - pt for every event, the merged log sorted by HLC with aligned times
 * that never go backwards and never fall below the event's own pt + shift).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "query/causal/align.h"
#include "query/causal/align_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct align_set s;
    char err[256] = "";
    align_set_init(&s);
    int rc = align_text_parse(&s, "fuzz", (const char *)data, size, err, sizeof(err));
    CHECK(rc == 0 || err[0] != '\0');
    for (size_t i = 0; i < s.nev; i++) {
        const struct align_event *e = &s.ev[i];
        CHECK(e->node < s.nnodes);
        CHECK(e->pt_ms >= 0 && e->l_ms >= 0 && e->c <= 0xffff);
        CHECK(e->msg_off + e->msg_len <= s.msgs_len);
    }
    CHECK(align_run(&s, size & 1 ? 2 : 1, 100) == 0);
    for (size_t i = 0; i < s.nev; i++) {
        const struct align_event *e = &s.ev[i];
        const struct align_node *n = &s.nodes[e->node];
        CHECK(n->shift_ms >= e->l_ms - e->pt_ms);
        CHECK(e->aligned_ms >= e->pt_ms + n->shift_ms);
        CHECK(n->lo_ms <= n->hi_ms);
        if (i > 0) {
            const struct align_event *p = &s.ev[i - 1];
            CHECK(p->l_ms < e->l_ms || (p->l_ms == e->l_ms && p->c <= e->c));
            CHECK(p->aligned_ms <= e->aligned_ms);
        }
    }
    align_set_release(&s);
    return 0;
}
