/* SPDX-License-Identifier: MIT */
/* xorshift32: Marsaglia's sequence from a seed, and a zero state that does not stick. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "storekeeper/rand.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sequence),
            cmocka_unit_test(test_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
