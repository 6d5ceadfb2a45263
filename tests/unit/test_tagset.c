/* SPDX-License-Identifier: MIT */
/* Tag set tests: add/remove/contains against a reference model under random operations,
 * growth, the bound, per-reader iteration. Seed from SK_TEST_SEED, printed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "storekeeper/tagset.h"

#define UNIVERSE 3000

static void key_for(int i, struct sk_tag_key *k)
{
    uint8_t epc[12] = {0x30, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, (uint8_t)(i >> 8), (uint8_t)i};
    char reader[16];
    snprintf(reader, sizeof(reader), "r%d", i % 7);
    sk_tag_key_set(k, reader, (uint8_t)(i % 4), epc, sizeof(epc));
}

static void test_random_against_model(void **state)
{
    (void)state;
    const char *env = getenv("SK_TEST_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : 12345u;
    print_message("seed %u (set SK_TEST_SEED to repeat)\n", seed);
    srand(seed);
    struct sk_tagset *s;
    assert_int_equal(sk_tagset_new(100000, &s), 0);
    static bool model[UNIVERSE];
    memset(model, 0, sizeof(model));
    size_t count = 0;
    for (int op = 0; op < 200000; op++) {
        int i = rand() % UNIVERSE;
        struct sk_tag_key k;
        key_for(i, &k);
        if (rand() % 3) {
            int r = sk_tagset_add(s, &k, op);
            assert_int_equal(r, model[i] ? 0 : 1);
            count += !model[i];
            model[i] = true;
        } else {
            int r = sk_tagset_remove(s, &k);
            assert_int_equal(r, model[i] ? 1 : 0);
            count -= model[i];
            model[i] = false;
        }
        if (op % 1000 == 0) {
            for (int j = 0; j < UNIVERSE; j++) {
                struct sk_tag_key q;
                key_for(j, &q);
                assert_int_equal(sk_tagset_contains(s, &q, NULL), model[j]);
            }
        }
        assert_int_equal(sk_tagset_count(s), count);
    }
    sk_tagset_free(s);
}

struct per_reader {
    int n;
};

static int count_cb(const struct sk_tag_key *k, int64_t since, void *ctx)
{
    (void)since;
    assert_string_equal(k->reader, "r3");
    ((struct per_reader *)ctx)->n++;
    return 0;
}

static void test_bound_and_iteration(void **state)
{
    (void)state;
    struct sk_tagset *s;
    assert_int_equal(sk_tagset_new(0, &s), -EINVAL);
    assert_int_equal(sk_tagset_new(70, &s), 0);
    for (int i = 0; i < 70; i++) {
        struct sk_tag_key k;
        key_for(i, &k);
        assert_int_equal(sk_tagset_add(s, &k, 1000 + i), 1);
    }
    struct sk_tag_key k;
    key_for(70, &k);
    assert_int_equal(sk_tagset_add(s, &k, 0), -ENOSPC);
    key_for(10, &k);
    int64_t since = 0;
    assert_true(sk_tagset_contains(s, &k, &since));
    assert_int_equal(since, 1010);
    struct per_reader pr = {0};
    assert_int_equal(sk_tagset_foreach(s, "r3", count_cb, &pr), 0);
    assert_int_equal(pr.n, 10); /* i % 7 == 3 for i in 0..69 */
    sk_tagset_clear(s);
    assert_int_equal(sk_tagset_count(s), 0);
    assert_false(sk_tagset_contains(s, &k, NULL));
    sk_tagset_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_random_against_model),
            cmocka_unit_test(test_bound_and_iteration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
