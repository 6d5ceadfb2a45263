/* SPDX-License-Identifier: MIT */
/* SHA-256 for the ledger's hash chain, the outbox digests and the config hash. */
#ifndef STOREKEEPER_SHA256_H
#define STOREKEEPER_SHA256_H

#include <stddef.h>
#include <stdint.h>

/*
 * libcrypto's SHA-256 block function, called directly rather than through EVP: EVP's first
 * digest loads OpenSSL's configuration and providers (2 MB of a small daemon's resident
 * memory) and every EVP digest fetches the algorithm again (a hot path cost per ledger
 * movement). The result is the same SHA-256. The context is plain memory, no allocation;
 * one context belongs to one thread.
 */
struct sk_sha256 {
    _Alignas(8) unsigned char opaque[128];
    /* Small updates gathered before they reach libcrypto: a movement's hash is some thirty
     * fields of a few bytes, and each call there has its own cost. */
    unsigned char stage[128];
    size_t staged;
};

void sk_sha256_init(struct sk_sha256 *c);
void sk_sha256_update(struct sk_sha256 *c, const void *data, size_t len);
void sk_sha256_final(struct sk_sha256 *c, uint8_t out[32]);
/* One call: the digest of len bytes. */
void sk_sha256(const void *data, size_t len, uint8_t out[32]);

#endif
