/* test_crc32c.c - CRC-32C: published vectors, a bitwise reference, chaining,
 * and the hardware path against the table path. */
#include <string.h>
#include "unit.h"
#include "core/crc32c.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The definition, one bit at a time: the reference the tables must match. */
static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
    uint32_t c = ~crc;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    }
    return ~c;
}

static void test_known_vectors(void **state)
{
    (void)state;
    uint8_t buf[32];
    assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    memset(buf, 0, sizeof buf);
    assert_int_equal(crc32c(0, buf, 32), 0x8A9136AAu);
    assert_int_equal(crc32c_sw(0, buf, 32), 0x8A9136AAu);
    /* RFC 3720 (iSCSI) B.4 vectors. */
    memset(buf, 0xff, sizeof buf);
    assert_int_equal(crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    assert_int_equal(crc32c_sw(0, buf, 32), 0x113FDB5Cu);
    assert_int_equal(crc32c(0, NULL, 0), 0);
    assert_int_equal(crc32c(0x12345678u, NULL, 0), 0x12345678u);
    assert_int_equal(crc32c_sw(0xdeadbeefu, NULL, 0), 0xdeadbeefu);
}

static void test_table_matches_bitwise(void **state)
{
    (void)state;
    static uint8_t buf[4096 + 16];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rng();
    /* Every length up to 64 at every alignment, then long runs. */
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len <= 64; len++)
            assert_int_equal(crc32c_sw(0, buf + off, len), crc_bitwise(0, buf + off, len));
    for (size_t off = 0; off < 16; off += 5)
        assert_int_equal(crc32c_sw(7, buf + off, 4096), crc_bitwise(7, buf + off, 4096));
}

static void test_chaining(void **state)
{
    (void)state;
    uint8_t buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rng();
    uint32_t whole = crc32c(0, buf, sizeof buf);
    for (size_t cut = 0; cut <= sizeof buf; cut += 37) {
        assert_int_equal(crc32c(crc32c(0, buf, cut), buf + cut, sizeof buf - cut), whole);
        assert_int_equal(crc32c_sw(crc32c_sw(0, buf, cut), buf + cut, sizeof buf - cut), whole);
    }
    buf[500] ^= 1;
    assert_int_not_equal(crc32c(0, buf, sizeof buf), whole);
}

static void test_hw_equals_sw(void **state)
{
    (void)state;
    static uint8_t buf[70000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rng();
    /* crc32c_hw_available is 0 or 1 and stable; without the instruction this
     * still checks that the dispatch gives the table's answer. */
    int hw = crc32c_hw_available();
    assert_true(hw == 0 || hw == 1);
    assert_int_equal(crc32c_hw_available(), hw);
    for (int i = 0; i < 2000; i++) {
        size_t off = rng() % 64;
        size_t len = i < 200 ? (size_t)i : rng() % (sizeof buf - 64);
        uint32_t seed = (uint32_t)rng();
        assert_int_equal(crc32c(seed, buf + off, len), crc32c_sw(seed, buf + off, len));
    }
}

UNIT_TESTS(cmocka_unit_test(test_known_vectors), cmocka_unit_test(test_table_matches_bitwise),
           cmocka_unit_test(test_chaining), cmocka_unit_test(test_hw_equals_sw))
