/* SPDX-License-Identifier: MIT */
/* EPC decoding tests: GS1 TDS examples, impossible SGTIN fields, hex and encode round trips.
 * The random round trip takes its seed from SK_TEST_SEED and prints it. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "storekeeper/epc.h"

static void decode_hex(const char *hex, struct sk_epc *e, int expect_rc)
{
    uint8_t b[SK_EPC_MAX];
    int n = sk_epc_from_hex(hex, b, sizeof(b));
    assert_true(n > 0);
    assert_int_equal(sk_epc_decode(b, (size_t)n, e), expect_rc);
}

/* TDS E.3: urn:epc:tag:sgtin-96:3.0614141.812345.6789 */
static void test_tds_example(void **state)
{
    (void)state;
    struct sk_epc e;
    decode_hex("3074257BF7194E4000001A85", &e, 1);
    assert_int_equal(e.scheme, SK_EPC_SGTIN96);
    assert_int_equal(e.filter, 3);
    assert_int_equal(e.partition, 5);
    assert_string_equal(e.company_prefix, "0614141");
    assert_string_equal(e.gtin14, "80614141123458");
    assert_true(e.serial == 6789);
    assert_string_equal(e.uri, "urn:epc:id:sgtin:0614141.812345.6789");
    assert_string_equal(e.hex, "3074257BF7194E4000001A85");
}

/* Published by other decoders' test suites; fields cross-checked by hand. */
static void test_more_examples(void **state)
{
    (void)state;

    static const struct {
        const char *hex;
        int filter, partition;
        const char *prefix, *gtin, *uri;
        uint64_t serial;
    } cases[] = {
            {"301800004000004000000001", 0, 6, "000001", "00000010000014",
             "urn:epc:id:sgtin:000001.0000001.1", 1},
            {"3034007D00011C400000000B", 1, 5, "0008000", "00008000011378",
             "urn:epc:id:sgtin:0008000.001137.11", 11},
            /* lower case input decodes the same */
            {"3034007d00011c400000000b", 1, 5, "0008000", "00008000011378",
             "urn:epc:id:sgtin:0008000.001137.11", 11},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sk_epc e;
        decode_hex(cases[i].hex, &e, 1);
        assert_int_equal(e.filter, cases[i].filter);
        assert_int_equal(e.partition, cases[i].partition);
        assert_string_equal(e.company_prefix, cases[i].prefix);
        assert_string_equal(e.gtin14, cases[i].gtin);
        assert_string_equal(e.uri, cases[i].uri);
        assert_true(e.serial == cases[i].serial);
    }
}

static void test_check_digits(void **state)
{
    (void)state;
    /* GS1's own examples and the ones above */
    assert_int_equal(sk_gtin_check_digit("0950600013435"), 2);
    assert_int_equal(sk_gtin_check_digit("8061414112345"), 8);
    assert_int_equal(sk_gtin_check_digit("0000001000001"), 4);
    assert_int_equal(sk_gtin_check_digit("0000000000000"), 0);
    assert_int_equal(sk_gtin_check_digit("00000000000x0"), -EINVAL);
}

static void test_pass_through(void **state)
{
    (void)state;
    struct sk_epc e;
    /* other headers: SSCC-96 (0x31), GRAI-96 (0x33), a TID-like E2 number */
    decode_hex("31AC16465751CCD0C2000000", &e, 0);
    assert_int_equal(e.scheme, SK_EPC_RAW);
    assert_string_equal(e.hex, "31AC16465751CCD0C2000000");
    assert_string_equal(e.gtin14, "");
    decode_hex("E2000019060C02090690D3C2", &e, 0);
    assert_string_equal(e.hex, "E2000019060C02090690D3C2");
    /* an SGTIN header in an EPC of the wrong length (PC says 8 words) */
    decode_hex("3074257BF7194E4000001A850000", &e, 0);
    assert_int_equal(e.scheme, SK_EPC_RAW);
    /* a 4-byte HF UID */
    decode_hex("04A1B2C3", &e, 0);
    assert_string_equal(e.hex, "04A1B2C3");
}

static void test_impossible_sgtin(void **state)
{
    (void)state;
    struct sk_epc e;
    /* partition 7: bits 11..13 all set */
    decode_hex("303C257BF7194E4000001A85", &e, 0);
    assert_int_equal(e.scheme, SK_EPC_RAW);
    assert_string_equal(e.hex, "303C257BF7194E4000001A85");
    /* partition 0 with a 40-bit company prefix of all ones (> 12 digits) */
    decode_hex("3003FFFFFFFFFC0000000001", &e, 0);
    assert_int_equal(e.scheme, SK_EPC_RAW);
    /* partition 6 (item reference 24 bits, 7 digits) with item 0xFFFFFF = 16777215 (8 digits) */
    decode_hex("301800003FFFFFC000000001", &e, 0);
    assert_int_equal(e.scheme, SK_EPC_RAW);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct sk_epc e;
    memset(&e, 0x5a, sizeof(e));
    uint8_t b[SK_EPC_MAX + 1] = {0x30};
    assert_int_equal(sk_epc_decode(NULL, 12, &e), -EINVAL);
    assert_int_equal(sk_epc_decode(b, 0, &e), -EINVAL);
    assert_int_equal(sk_epc_decode(b, SK_EPC_MAX + 1, &e), -EINVAL);
    assert_int_equal(e.scheme, 0x5a5a5a5a); /* untouched on failure */
    /* the longest EPC still decodes (as hex) */
    memset(b, 0xAB, sizeof(b));
    assert_int_equal(sk_epc_decode(b, SK_EPC_MAX, &e), 0);
    assert_int_equal(strlen(e.hex), 2 * SK_EPC_MAX);

    uint8_t out[4];
    assert_int_equal(sk_epc_from_hex("0", out, sizeof(out)), -EINVAL);
    assert_int_equal(sk_epc_from_hex("0G", out, sizeof(out)), -EINVAL);
    assert_int_equal(sk_epc_from_hex("30 74", out, sizeof(out)), -EINVAL);
    assert_int_equal(sk_epc_from_hex("0102030405", out, sizeof(out)), -ENOSPC);
    assert_int_equal(sk_epc_from_hex("", out, sizeof(out)), 0);
    char hex[5];
    assert_int_equal(sk_epc_to_hex(out, 3, hex, sizeof(hex)), -ENOSPC);
    assert_string_equal(hex, "");
    assert_int_equal(sk_epc_to_hex((const uint8_t *)"\x01\xfe", 2, hex, sizeof(hex)), 4);
    assert_string_equal(hex, "01FE");
}

static void test_encode_examples(void **state)
{
    (void)state;
    uint8_t b[12];
    char hex[25];
    assert_int_equal(sk_epc_encode_sgtin96("80614141123458", 7, 6789, 3, b), 0);
    sk_epc_to_hex(b, 12, hex, sizeof(hex));
    assert_string_equal(hex, "3074257BF7194E4000001A85");
    /* wrong check digit, bad partition length, serial too large, bad filter */
    memset(b, 0, sizeof(b));
    assert_int_equal(sk_epc_encode_sgtin96("80614141123459", 7, 1, 3, b), -EINVAL);
    assert_int_equal(sk_epc_encode_sgtin96("80614141123458", 5, 1, 3, b), -EINVAL);
    assert_int_equal(sk_epc_encode_sgtin96("80614141123458", 13, 1, 3, b), -EINVAL);
    assert_int_equal(sk_epc_encode_sgtin96("80614141123458", 7, 1ULL << 38, 3, b), -EINVAL);
    assert_int_equal(sk_epc_encode_sgtin96("80614141123458", 7, 1, 8, b), -EINVAL);
    assert_int_equal(sk_epc_encode_sgtin96("8061414112345", 7, 1, 3, b), -EINVAL);
    assert_int_equal(b[0], 0); /* untouched */
}

/* Any GTIN-14, any partition, any serial: encode then decode gives the same fields back. */
static void test_random_round_trip(void **state)
{
    (void)state;
    const char *env = getenv("SK_TEST_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : 20260101u;
    print_message("seed %u (set SK_TEST_SEED to repeat)\n", seed);
    srand(seed);
    for (int i = 0; i < 20000; i++) {
        char gtin[15];
        for (int d = 0; d < 13; d++) {
            gtin[d] = (char)('0' + rand() % 10);
        }
        gtin[13] = (char)('0' + sk_gtin_check_digit(gtin));
        gtin[14] = '\0';
        int pdigits = 6 + rand() % 7;
        uint64_t serial = (((uint64_t)rand() << 31) ^ (uint64_t)rand()) & ((1ULL << 38) - 1);
        int filter = rand() % 8;
        uint8_t b[12];
        assert_int_equal(sk_epc_encode_sgtin96(gtin, pdigits, serial, filter, b), 0);
        struct sk_epc e;
        assert_int_equal(sk_epc_decode(b, sizeof(b), &e), 1);
        assert_string_equal(e.gtin14, gtin);
        assert_true(e.serial == serial);
        assert_int_equal(e.filter, filter);
        assert_int_equal(e.partition, 12 - pdigits);
        assert_int_equal((int)strlen(e.company_prefix), pdigits);
        assert_memory_equal(e.company_prefix, gtin + 1, (size_t)pdigits);
        uint8_t back[12];
        assert_int_equal(sk_epc_from_hex(e.hex, back, sizeof(back)), 12);
        assert_memory_equal(back, b, 12);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_tds_example),      cmocka_unit_test(test_more_examples),
            cmocka_unit_test(test_check_digits),     cmocka_unit_test(test_pass_through),
            cmocka_unit_test(test_impossible_sgtin), cmocka_unit_test(test_bad_arguments),
            cmocka_unit_test(test_encode_examples),  cmocka_unit_test(test_random_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
