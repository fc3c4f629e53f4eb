/*
 * entry.h - the entries application threads write into their ring (lib/ring.h)
 * and the flusher (lib/flush.c) turns into records. This is a private,
 * in-memory format: fixed-layout structs written with plain stores, so the hot
 * path does no encoding; the flusher does the varint work on its own thread.
 *
 * A span with attributes, events, links or a status message gets those as
 * separate entries keyed by span id (they may even be in another thread's
 * ring); the span entry says how many to expect.
 */
#ifndef TT_LIB_ENTRY_H
#define TT_LIB_ENTRY_H

#include <stddef.h>
#include <stdint.h>
#include "telltale.h"
#include "lib/ring.h"

enum entry_tag {
    E_PAD = RING_PAD,
    E_SPAN = 1,
    E_ATTR = 2,
    E_SPAN_EVENT = 3,
    E_LINK = 4,
    E_STATUS_MSG = 5,
    E_DISCARD = 6, /* a span with extras was filtered at its end */
    E_EVENT = 7,
    E_STATE = 8,
};

/* E_SPAN: h.a = kind, h.b = status, h.c = flags; then the name, NUL-terminated. */
struct e_span {
    struct ring_entry h;
    uint8_t trace_id[16];
    uint64_t span_id;
    uint64_t parent_id;
    int64_t start_ns;
    int64_t end_ns;
    tt_hlc hlc;
    char name[]; /* NUL-terminated */
};
_Static_assert(sizeof(struct e_span) == 64, "span entry is one cache line");

/* When h.c has E_SPAN_HAS_EXTRAS, a u32 count of the span's extras follows the
 * name's NUL (unaligned), keeping the common entry at 64 bytes plus the name. */
#define E_SPAN_HAS_EXTRAS 0x80

/* Extras (E_ATTR, E_SPAN_EVENT, E_LINK, E_STATUS_MSG, E_DISCARD): span_id
 * then a tag-specific body of serialized values (kv_* below). */
struct e_extra {
    struct ring_entry h;
    uint64_t span_id;
    int64_t time_ns;        /* span events */
    uint8_t link_trace[16]; /* links */
    uint64_t link_span;
    uint8_t body[]; /* E_ATTR: one kv; E_SPAN_EVENT: name str + kv list;
                       E_LINK: kv list; E_STATUS_MSG: str */
};

/* E_EVENT: h.a = severity; body: name str, message str, kv list. */
struct e_event {
    struct ring_entry h;
    tt_hlc hlc;
    int64_t time_ns;
    uint8_t body[];
};

/* E_STATE: body: log str, var str, one value. */
struct e_state {
    struct ring_entry h;
    tt_hlc hlc;
    int64_t time_ns;
    uint8_t body[];
};

/* Serialized strings and values inside entry bodies:
 *   str:   u32 length, bytes (unaligned, no NUL)
 *   value: u8 type, then STR: str; INT: i64; DOUBLE: f64; BOOL: u8
 *   kv:    str key, value
 *   kv list: u32 count, kvs
 * entry_*_size compute the bytes needed, entry_put_* write and return the
 * position after, entry_get_* read with bounds (end) and return NULL on a
 * malformed body (which can only be a library bug: entries are ours). */
size_t entry_str_size(size_t len);
size_t entry_value_size(const tt_value *v);
size_t entry_kvs_size(const tt_kv *kvs, size_t n);
uint8_t *entry_put_str(uint8_t *p, const char *s, size_t len);
uint8_t *entry_put_value(uint8_t *p, const tt_value *v);
uint8_t *entry_put_kvs(uint8_t *p, const tt_kv *kvs, size_t n);

struct entry_str {
    const char *p;
    uint32_t len;
};
const uint8_t *entry_get_str(const uint8_t *p, const uint8_t *end, struct entry_str *out);
/* Reads a value into a record value (strings borrowed from the entry). */
struct rec_value;
const uint8_t *entry_get_value(const uint8_t *p, const uint8_t *end, struct rec_value *out);

#endif
