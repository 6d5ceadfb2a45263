/* SPDX-License-Identifier: MIT */
/* SHA-256 through libcrypto's low-level interface (storekeeper/sha256.h says why not EVP). */
#include "storekeeper/sha256.h"

/* SHA256_Init and friends are deprecated in OpenSSL 3.0 in favour of EVP, whose start-up and
 * per-call costs this file exists to avoid; they remain in 3.x with the same code. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <string.h>

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((struct sk_sha256 *)0)->opaque),
               "struct sk_sha256 too small for SHA256_CTX");

void sk_sha256_init(struct sk_sha256 *c)
{
    SHA256_Init((SHA256_CTX *)(void *)c->opaque);
    c->staged = 0;
}

static void flush(struct sk_sha256 *c)
{
    if (c->staged) {
        SHA256_Update((SHA256_CTX *)(void *)c->opaque, c->stage, c->staged);
        c->staged = 0;
    }
}

/* The same bytes reach SHA-256 in the same order, small ones a stage at a time. */
void sk_sha256_update(struct sk_sha256 *c, const void *data, size_t len)
{
    if (len == 0) {
        return;
    }
    if (len >= sizeof(c->stage) / 2) {
        flush(c);
        SHA256_Update((SHA256_CTX *)(void *)c->opaque, data, len);
        return;
    }
    if (len > sizeof(c->stage) - c->staged) {
        flush(c);
    }
    memcpy(c->stage + c->staged, data, len);
    c->staged += len;
}

void sk_sha256_final(struct sk_sha256 *c, uint8_t out[32])
{
    flush(c);
    SHA256_Final(out, (SHA256_CTX *)(void *)c->opaque);
}

void sk_sha256(const void *data, size_t len, uint8_t out[32])
{
    struct sk_sha256 c;
    sk_sha256_init(&c);
    sk_sha256_update(&c, data, len);
    sk_sha256_final(&c, out);
}
