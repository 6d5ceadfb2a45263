/* SPDX-License-Identifier: MIT */
/* SHA-256 (sha256.h): the FIPS 180-2 vectors, and any split of the input into updates (small
 * ones are gathered before they reach libcrypto) giving the digest of the whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "storekeeper/rand.h"
#include "storekeeper/sha256.h"

static void hex(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    }
}

static void test_vectors(void **state)
{
    (void)state;
    uint8_t d[32];
    char h[65];
    sk_sha256("abc", 3, d);
    hex(d, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sk_sha256("", 0, d);
    hex(d, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sk_sha256(two, strlen(two), d);
    hex(d, h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* 4,000 bytes cut into random pieces of 0 to 300 bytes: always the digest of the whole. */
static void test_any_split(void **state)
{
    (void)state;
    uint8_t data[4000];
    uint32_t r = 7;
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)sk_xorshift32(&r);
    }
    uint8_t whole[32];
    sk_sha256(data, sizeof(data), whole);
    for (int round = 0; round < 200; round++) {
        struct sk_sha256 c;
        sk_sha256_init(&c);
        size_t at = 0;
        while (at < sizeof(data)) {
            size_t n = sk_xorshift32(&r) % (round % 2 ? 20 : 300);
            n = n > sizeof(data) - at ? sizeof(data) - at : n;
            sk_sha256_update(&c, data + at, n);
            at += n;
        }
        uint8_t d[32];
        sk_sha256_final(&c, d);
        assert_memory_equal(d, whole, 32);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_vectors),
            cmocka_unit_test(test_any_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
