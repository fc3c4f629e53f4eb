/*
 * entry.c - serialization of strings, values and key/value lists inside ring
 * entries (lib/entry.h). Writers run on the hot path: plain memcpy, no
 * varints; readers run on the flusher and check every length against the end.
 */
#include <string.h>
#include "lib/entry.h"
#include "core/record.h"

size_t entry_str_size(size_t len)
{
    return 4 + len;
}

size_t entry_value_size(const tt_value *v)
{
    switch (v->type) {
    case TT_VAL_STR:
        return 1 + entry_str_size(v->u.s ? strlen(v->u.s) : 0);
    case TT_VAL_INT:
    case TT_VAL_DOUBLE:
        return 9;
    case TT_VAL_BOOL:
        return 2;
    default:
        return 1;
    }
}

size_t entry_kvs_size(const tt_kv *kvs, size_t n)
{
    size_t sz = 4;
    for (size_t i = 0; i < n; i++)
        sz += entry_str_size(kvs[i].key ? strlen(kvs[i].key) : 0) + entry_value_size(&kvs[i].value);
    return sz;
}

uint8_t *entry_put_str(uint8_t *p, const char *s, size_t len)
{
    uint32_t n = (uint32_t)len;
    memcpy(p, &n, 4);
    if (len)
        memcpy(p + 4, s, len);
    return p + 4 + len;
}

uint8_t *entry_put_value(uint8_t *p, const tt_value *v)
{
    switch (v->type) {
    case TT_VAL_STR:
        *p = TT_VAL_STR;
        return entry_put_str(p + 1, v->u.s, v->u.s ? strlen(v->u.s) : 0);
    case TT_VAL_INT:
        *p = TT_VAL_INT;
        memcpy(p + 1, &v->u.i, 8);
        return p + 9;
    case TT_VAL_DOUBLE:
        *p = TT_VAL_DOUBLE;
        memcpy(p + 1, &v->u.d, 8);
        return p + 9;
    case TT_VAL_BOOL:
        p[0] = TT_VAL_BOOL;
        p[1] = v->u.b ? 1 : 0;
        return p + 2;
    default:
        *p = TT_VAL_NONE;
        return p + 1;
    }
}

uint8_t *entry_put_kvs(uint8_t *p, const tt_kv *kvs, size_t n)
{
    uint32_t cnt = (uint32_t)n;
    memcpy(p, &cnt, 4);
    p += 4;
    for (size_t i = 0; i < n; i++) {
        p = entry_put_str(p, kvs[i].key, kvs[i].key ? strlen(kvs[i].key) : 0);
        p = entry_put_value(p, &kvs[i].value);
    }
    return p;
}

const uint8_t *entry_get_str(const uint8_t *p, const uint8_t *end, struct entry_str *out)
{
    uint32_t n;
    if (!p || end - p < 4)
        return NULL;
    memcpy(&n, p, 4);
    if ((size_t)(end - p - 4) < n)
        return NULL;
    out->p = (const char *)p + 4;
    out->len = n;
    return p + 4 + n;
}

const uint8_t *entry_get_value(const uint8_t *p, const uint8_t *end, struct rec_value *out)
{
    struct entry_str s = { NULL, 0 };
    if (!p || p >= end)
        return NULL;
    out->type = *p++;
    switch (out->type) {
    case TT_VAL_STR:
        p = entry_get_str(p, end, &s);
        out->u.s.p = s.p;
        out->u.s.len = s.len;
        return p;
    case TT_VAL_INT:
        if (end - p < 8)
            return NULL;
        memcpy(&out->u.i, p, 8);
        return p + 8;
    case TT_VAL_DOUBLE:
        if (end - p < 8)
            return NULL;
        memcpy(&out->u.d, p, 8);
        return p + 8;
    case TT_VAL_BOOL:
        if (end - p < 1)
            return NULL;
        out->u.b = *p;
        return p + 1;
    case TT_VAL_NONE:
        return p;
    default:
        return NULL;
    }
}
