/* SPDX-License-Identifier: MIT */
/* The bounded string builder, array growth and whole-file reads: text past the bound is
 * refused whole and sticks as an error, long printf output, JSON escapes, sk_grow's bound and
 * doubling, sk_read_bounded at, past and under its limit and on a read error; enum names from
 * a table (sk_name_of): holes, both ends and the fallback. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "storekeeper/buf.h"
#include "storekeeper/names.h"

static void test_text(void **state)
{
    (void)state;
    struct sk_buf b = SK_BUF_INIT(100000);
    sk_buf_puts(&b, "a");
    sk_buf_printf(&b, "%d-%s", 42, "b");
    assert_string_equal(b.p, "a42-b");
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sk_buf_printf(&b, "[%s]", big); /* longer than the first allocation */
    assert_int_equal(b.len, 5 + 2 + 2999);
    assert_int_equal(b.p[b.len], '\0');
    assert_int_equal(b.p[b.len - 1], ']');
    char *t = sk_buf_take(&b);
    assert_non_null(t);
    assert_int_equal(strlen(t), 5 + 2 + 2999);
    free(t);
    assert_null(b.p);
    /* nothing written: an empty string, not NULL */
    t = sk_buf_take(&b);
    assert_string_equal(t, "");
    free(t);
}

static void test_bound(void **state)
{
    (void)state;
    struct sk_buf b = SK_BUF_INIT(10);
    sk_buf_puts(&b, "0123456789");
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, 10);
    sk_buf_puts(&b, "x"); /* one past: refused whole, and every later write too */
    assert_int_equal(b.err, -E2BIG);
    sk_buf_free(&b);
    b = (struct sk_buf)SK_BUF_INIT(10);
    sk_buf_puts(&b, "0123");
    sk_buf_printf(&b, "%s", "456789a");
    assert_int_equal(b.err, -E2BIG);
    assert_string_equal(b.p, "0123");
    sk_buf_puts(&b, "4");
    assert_string_equal(b.p, "0123");
    assert_null(sk_buf_take(&b));
    assert_int_equal(b.err, -E2BIG);
    sk_buf_free(&b);
    sk_buf_free(NULL);
}

static void test_json(void **state)
{
    (void)state;
    struct sk_buf b = SK_BUF_INIT(1000);
    sk_buf_json_string(&b, "a\"b\\c\nd\te\x01");
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
    sk_buf_free(&b);
}

/* The old way, printf only: what every number must still come out as. */
static void reference_number(double d, char *out, size_t size)
{
    if (d == floor(d) && fabs(d) <= 9007199254740992.0) {
        snprintf(out, size, "%" PRId64, (int64_t)d);
        return;
    }
    snprintf(out, size, "%1.15g", d);
    if (strtod(out, NULL) != d) {
        snprintf(out, size, "%1.17g", d);
    }
}

static void check_number(double d)
{
    char want[40];
    reference_number(d, want, sizeof(want));
    cJSON *n = cJSON_CreateNumber(d);
    struct sk_buf b = SK_BUF_INIT(100);
    sk_buf_json(&b, n);
    if (strcmp(b.p, want) != 0) {
        fprintf(stderr, "%.17g: %s, want %s\n", d, b.p, want);
    }
    assert_string_equal(b.p, want);
    assert_true(strtod(b.p, NULL) == d);
    sk_buf_free(&b);
    cJSON_Delete(n);
}

/* Numbers written without printf (short decimals) are the text printf wrote, digit for digit,
 * and read back as the same double; the rest still go through printf. */
static void test_json_numbers(void **state)
{
    (void)state;
    static const double edges[] = {
            0.93,      -0.93,       0.1 + 0.2, 1.0 / 3,  0.0001,           0.00012,   0.0000999,
            1e-5,      -1.5,        2.5e-4,    123456.5, 999999999.999999, 1e9 + 0.5, 1e15 + 0.25,
            0.1,       0.7,         4.35,      1.005,    -0.000123,        5e-324,    1e300,
            0.3333335, 100.0000001, 8.675309,  12.34e3};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        check_number(edges[i]);
    }
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 50000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
        double v = (double)(x % 1000000000000ull) / p10[(x >> 40) % 9];
        check_number((x >> 63) ? -v : v);
        check_number((double)(x >> 11) * 0x1.0p-53 * p10[(x >> 50) % 9]);
    }
}

static void test_grow(void **state)
{
    (void)state;
    int *v = NULL;
    size_t cap = 0;
    for (size_t n = 1; n <= 1000; n++) {
        int *nv = sk_grow(v, &cap, n, sizeof(*v), 1000);
        assert_non_null(nv);
        v = nv;
        v[n - 1] = (int)n;
        assert_true(cap >= n && cap <= 1000);
    }
    assert_int_equal(v[999], 1000);
    errno = 0;
    assert_null(sk_grow(v, &cap, 1001, sizeof(*v), 1000));
    assert_int_equal(errno, E2BIG);
    assert_int_equal(v[999], 1000); /* untouched */
    assert_null(sk_grow(v, &cap, SIZE_MAX / 2, sizeof(*v), SIZE_MAX));
    assert_int_equal(errno, E2BIG);
    free(v);
}

static void test_read_bounded(void **state)
{
    (void)state;
    char *t;
    size_t n;
    /* at the limit: all of it; one byte past: one byte more than the limit, no more */
    FILE *f = tmpfile();
    assert_non_null(f);
    fputs("0123456789", f);
    rewind(f);
    assert_int_equal(sk_read_bounded(f, 10, &t, &n), 0);
    assert_int_equal(n, 10);
    assert_string_equal(t, "0123456789");
    free(t);
    f = tmpfile();
    assert_non_null(f);
    fputs("0123456789", f);
    rewind(f);
    assert_int_equal(sk_read_bounded(f, 4, &t, &n), 0);
    assert_int_equal(n, 5);
    assert_string_equal(t, "01234");
    free(t);
    /* empty: an empty string */
    f = tmpfile();
    assert_non_null(f);
    assert_int_equal(sk_read_bounded(f, 4, &t, &n), 0);
    assert_int_equal(n, 0);
    assert_string_equal(t, "");
    free(t);
    /* a read error (a directory) is returned, nothing kept */
    f = fopen("/", "r");
    if (f) {
        assert_int_equal(sk_read_bounded(f, 4, &t, &n), -EISDIR);
        assert_null(t);
        assert_int_equal(n, 0);
    }
}

static void test_names(void **state)
{
    (void)state;

    enum {
        A = 1,
        B,
        C = 4
    };

    static const char *const names[] = {[A] = "a", [B] = "b", [C] = "c"};
    assert_string_equal(SK_NAME_OF(names, A, "?"), "a");
    assert_string_equal(SK_NAME_OF(names, C, "?"), "c");
    assert_string_equal(SK_NAME_OF(names, 0, "?"), "?"); /* before the first */
    assert_string_equal(SK_NAME_OF(names, 3, "?"), "?"); /* a hole */
    assert_string_equal(SK_NAME_OF(names, 5, "?"), "?"); /* past the end */
    assert_string_equal(SK_NAME_OF(names, -1, "?"), "?");
    assert_null(SK_NAME_OF(names, 99, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_text),  cmocka_unit_test(test_bound),
            cmocka_unit_test(test_json),  cmocka_unit_test(test_json_numbers),
            cmocka_unit_test(test_grow),  cmocka_unit_test(test_read_bounded),
            cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
