/* SPDX-License-Identifier: MIT */
/* Minimum-cost assignment: hand-made cases (greedy fails, tall and wide matrices, forbidden
 * pairs, empty sides), then random matrices against exhaustive search. Seed from
 * SK_TEST_SEED, printed. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "storekeeper/assign.h"

#define FORBID 100.0
#define MAXK   7

static double work[SK_ASSIGN_WORK_SIZE(64) / sizeof(double) + 1];

static void test_hand_made(void **state)
{
    (void)state;
    /* Greedy would take (0,0) = 1 and leave row 1 with 10; optimal is 2 + 2. */
    const double square[] = {1, 2, 2, 10};
    int rows[3];
    sk_assign(square, 2, 2, FORBID, work, rows);
    assert_int_equal(rows[0], 1);
    assert_int_equal(rows[1], 0);
    /* More rows than columns, and a forbidden pair. */
    const double tall[] = {5, 1, 100};
    sk_assign(tall, 3, 1, FORBID, work, rows);
    assert_int_equal(rows[0], -1);
    assert_int_equal(rows[1], 0);
    assert_int_equal(rows[2], -1);
    /* Wide: one row, the cheaper of three columns. */
    const double wide[] = {7, 3, 9};
    sk_assign(wide, 1, 3, FORBID, work, rows);
    assert_int_equal(rows[0], 1);
    /* Everything forbidden: nobody is matched, rather than a forced bad pair. */
    const double forbidden[] = {100, 150};
    sk_assign(forbidden, 1, 2, FORBID, work, rows);
    assert_int_equal(rows[0], -1);
    /* No columns: every row unmatched; no rows: nothing written. */
    rows[0] = rows[1] = 5;
    sk_assign(NULL, 2, 0, FORBID, work, rows);
    assert_int_equal(rows[0], -1);
    assert_int_equal(rows[1], -1);
    rows[0] = 5;
    sk_assign(NULL, 0, 3, FORBID, work, rows);
    assert_int_equal(rows[0], 5);
}

/* The best total over every way of giving each row a distinct column or none, counting an
 * unmatched row as cost FORBID (what a forced forbidden pair costs the solver too). */
static double best(const double *c, int n, int m, int row, unsigned used)
{
    if (row == n) {
        return 0;
    }
    double b = FORBID + best(c, n, m, row + 1, used);
    for (int j = 0; j < m; j++) {
        if (!(used & (1u << j)) && c[row * m + j] < FORBID) {
            double t = c[row * m + j] + best(c, n, m, row + 1, used | (1u << j));
            b = t < b ? t : b;
        }
    }
    return b;
}

static void test_random_against_exhaustive(void **state)
{
    (void)state;
    const char *env = getenv("SK_TEST_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : 20261122u;
    printf("seed %u (SK_TEST_SEED)\n", seed);
    srand(seed);
    for (int round = 0; round < 3000; round++) {
        int n = rand() % (MAXK + 1), m = rand() % (MAXK + 1);
        double c[MAXK * MAXK];
        for (int i = 0; i < n * m; i++) {
            /* small integers: ties are common; one in five pairs forbidden */
            c[i] = rand() % 5 == 0 ? FORBID : (double)(rand() % 20);
        }
        int rows[MAXK];
        sk_assign(c, (size_t)n, (size_t)m, FORBID, work, rows);
        unsigned seen = 0;
        double total = 0;
        for (int i = 0; i < n; i++) {
            if (rows[i] < 0) {
                total += FORBID;
                continue;
            }
            assert_in_range(rows[i], 0, m - 1);
            assert_false(seen & (1u << rows[i])); /* each column at most once */
            seen |= 1u << rows[i];
            assert_true(c[i * m + rows[i]] < FORBID);
            total += c[i * m + rows[i]];
        }
        double want = best(c, n, m, 0, 0);
        if (fabs(total - want) > 1e-9) {
            fail_msg("round %d (%dx%d): total %.1f, optimum %.1f", round, n, m, total, want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_hand_made),
            cmocka_unit_test(test_random_against_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
