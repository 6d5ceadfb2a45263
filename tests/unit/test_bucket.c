/* SPDX-License-Identifier: MIT */
/* Token buckets: the first refill fills to the cap, time refills up to the cap and no
 * further, an empty bucket refuses, a started bucket begins with what it was given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "storekeeper/bucket.h"

static void test_take(void **state)
{
    (void)state;
    struct sk_bucket b = {0};
    /* 2 per second, holding 3 */
    int64_t t = 1000000;
    for (int i = 0; i < 3; i++) {
        assert_true(sk_bucket_take(&b, t, 2, 1e6, 3));
    }
    assert_false(sk_bucket_take(&b, t, 2, 1e6, 3));
    assert_false(sk_bucket_take(&b, t + 400000, 2, 1e6, 3)); /* 0.8 of a token */
    assert_true(sk_bucket_take(&b, t + 500000, 2, 1e6, 3));  /* the whole one */
    assert_false(sk_bucket_take(&b, t + 500000, 2, 1e6, 3));
    /* an hour later: the cap, not 7200 */
    t += 3600 * 1000000LL;
    assert_true(sk_bucket_peek(&b, t, 2, 1e6) > 7000);
    assert_true(sk_bucket_refill(&b, t, 2, 1e6, 3) == 3.0);
    for (int i = 0; i < 3; i++) {
        assert_true(sk_bucket_take(&b, t, 2, 1e6, 3));
    }
    assert_false(sk_bucket_take(&b, t, 2, 1e6, 3));
    /* a token given back is there at once */
    b.tokens += 1;
    assert_true(sk_bucket_take(&b, t, 2, 1e6, 3));
    /* a clock that went back brings nothing and takes nothing */
    assert_true(sk_bucket_peek(&b, t - 5000000, 2, 1e6) == b.tokens);
}

static void test_start(void **state)
{
    (void)state;
    struct sk_bucket b = {0};
    assert_false(b.started);
    sk_bucket_start(&b, 0.5, 100);
    assert_true(b.started);
    assert_false(sk_bucket_take(&b, 100, 12, 60e6, 12));
    /* 12 per minute: one more every 5 s */
    assert_true(sk_bucket_refill(&b, 100 + 5000000, 12, 60e6, 12) == 1.5);
    assert_true(sk_bucket_take(&b, 100 + 5000000, 12, 60e6, 12));
    assert_false(sk_bucket_take(&b, 100 + 5000000, 12, 60e6, 12));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_take),
            cmocka_unit_test(test_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
