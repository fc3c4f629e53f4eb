/*
 * fuzz_promql.c - fuzz target for the PromQL parser. Any input is parsed;
 * when it parses, the tree is printed, the printed text is parsed again and
 * must succeed and print identically (the printer's round-trip promise).
 * When it fails, the error must be a syntax error with a message and a
 * position inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "core/buf.h"
#include "query/promql/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct promql_ast *ast = NULL, *ast2 = NULL;
    struct promql_error err;
    if (size > 1 << 16)
        return 0;
    int rc = promql_parse((const char *)data, size, NULL, &ast, &err);
    if (rc != 0) {
        if (rc != TT_ESYNTAX || err.msg[0] == 0 || err.offset > size || ast)
            abort();
        return 0;
    }
    struct wbuf a, b;
    wbuf_init(&a, 0);
    wbuf_init(&b, 0);
    if (promql_print(ast->root, &a) != 0)
        abort();
    rc = promql_parse((const char *)a.data, a.len, NULL, &ast2, &err);
    if (rc != 0)
        abort(); /* the printed form of a valid query must parse */
    if (promql_print(ast2->root, &b) != 0)
        abort();
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort(); /* and print the same */
    if (ast2->root->type != ast->root->type)
        abort();
    wbuf_release(&a);
    wbuf_release(&b);
    promql_ast_free(ast);
    promql_ast_free(ast2);
    return 0;
}
