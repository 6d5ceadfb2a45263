/* SPDX-License-Identifier: MIT */
/* xorshift32: Marsaglia's sequence from a seed, and a zero state that does not stick; UUID text
 * (uuid.h), the ids made from random or derived bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "storekeeper/rand.h"
#include "storekeeper/uuid.h"

static void test_sequence(void **state)
{
    (void)state;
    uint32_t st = 1;
    assert_int_equal(sk_xorshift32(&st), 270369u);
    assert_int_equal(st, 270369u);
    assert_int_equal(sk_xorshift32(&st), 67634689u);
    /* the same seed, the same numbers */
    uint32_t a = 12345, b = 12345;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = sk_xorshift32(&a);
        assert_int_equal(x, sk_xorshift32(&b));
        assert_int_not_equal(x, 0);
    }
}

static void test_zero(void **state)
{
    (void)state;
    uint32_t st = 0;
    uint32_t x = sk_xorshift32(&st);
    assert_int_not_equal(x, 0);
    assert_int_not_equal(sk_xorshift32(&st), x);
}

static void test_format(void **state)
{
    (void)state;
    const uint8_t b[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                           0xf0, 0x0f, 0x10, 0x32, 0x54, 0x76, 0x98, 0xba};
    char out[SK_UUID_LEN + 1];
    memset(out, 'x', sizeof(out));
    sk_uuid_format(b, out);
    assert_string_equal(out, "01234567-89ab-cdef-f00f-1032547698ba");
    assert_int_equal(strlen(out), SK_UUID_LEN);
}

static void test_v7(void **state)
{
    (void)state;
    uint8_t rest[10];
    memset(rest, 0xff, sizeof(rest));
    char out[SK_UUID_LEN + 1];
    /* 2021-01-01T00:00:00.123Z = 1609459200123 ms = 0x0176bb3e707b */
    sk_uuid7(1609459200123000, rest, out);
    assert_string_equal(out, "0176bb3e-707b-7fff-bfff-ffffffffffff");
    memset(rest, 0, sizeof(rest));
    sk_uuid7(1609459200123999, rest, out); /* microseconds below the millisecond are dropped */
    assert_string_equal(out, "0176bb3e-707b-7000-8000-000000000000");
    /* no time before 1970 */
    sk_uuid7(-5, rest, out);
    assert_string_equal(out, "00000000-0000-7000-8000-000000000000");
}

static void test_v7_order(void **state)
{
    (void)state;
    uint8_t hi[10], lo[10];
    memset(hi, 0xff, sizeof(hi));
    memset(lo, 0, sizeof(lo));
    char a[SK_UUID_LEN + 1], b[SK_UUID_LEN + 1];
    sk_uuid7(1700000000000000, hi, a);
    sk_uuid7(1700000000001000, lo, b); /* one millisecond later, whatever the rest */
    assert_true(strcmp(a, b) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sequence), cmocka_unit_test(test_zero),
            cmocka_unit_test(test_format),   cmocka_unit_test(test_v7),
            cmocka_unit_test(test_v7_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
