/*
 * test_api_snapshot.c - the T of /api/tt/snapshot and /api/tt/cuts
 * (src/server/api_snapshot.c): an HLC as 16 hex digits or L.C, or a time
 * (RFC 3339, Unix seconds, Unix milliseconds) meaning the HLC (ms, 0);
 * anything else refused.
 */
#include <stdint.h>
#include "unit.h"
#include "telltale.h"
#include "core/hlc.h"
#include "server/api_snapshot.h"

static void test_parse_at(void **state)
{
    (void)state;
    uint64_t h = 0;
    assert_int_equal(api_snapshot_parse_at("018bcfe568000003", &h), 0);
    assert_int_equal(h, 0x018bcfe568000003ull);
    assert_int_equal(api_snapshot_parse_at("1700000000000.7", &h), 0);
    assert_int_equal(h, hlc_pack(1700000000000ull, 7));
    assert_int_equal(api_snapshot_parse_at("1700000000", &h), 0);
    assert_int_equal(h, hlc_pack(1700000000000ull, 0));
    assert_int_equal(api_snapshot_parse_at("1700000000123", &h), 0);
    assert_int_equal(h, hlc_pack(1700000000123ull, 0));
    assert_int_equal(api_snapshot_parse_at("2023-11-14T22:13:20.5Z", &h), 0);
    assert_int_equal(h, hlc_pack(1700000000500ull, 0));
    assert_int_equal(api_snapshot_parse_at("", &h), TT_ESYNTAX);
    assert_int_equal(api_snapshot_parse_at("soon", &h), TT_ESYNTAX);
    assert_int_equal(api_snapshot_parse_at("12.x", &h), TT_ESYNTAX);
    assert_int_equal(api_snapshot_parse_at("-5", &h), TT_ESYNTAX);
}

UNIT_TESTS(cmocka_unit_test(test_parse_at))
