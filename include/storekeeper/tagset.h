/* SPDX-License-Identifier: MIT */
/* A bounded set of tags keyed by (reader, antenna, EPC): which tags are where. */
#ifndef STOREKEEPER_TAGSET_H
#define STOREKEEPER_TAGSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/obs.h"

struct sk_tagset;

struct sk_tag_key {
    char reader[SK_NAME_MAX];
    uint8_t antenna;
    uint8_t epc_len;
    uint8_t epc[SK_EPC_MAX];
};

/* Fills a key; reader is truncated to SK_NAME_MAX - 1, epc_len to SK_EPC_MAX. */
void sk_tag_key_set(struct sk_tag_key *k,
                    const char *reader,
                    uint8_t antenna,
                    const uint8_t *epc,
                    size_t epc_len);

/* max_tags bounds the set; memory grows with use. Returns 0, -EINVAL or -ENOMEM. */
int sk_tagset_new(size_t max_tags, struct sk_tagset **ret_set);
void sk_tagset_free(struct sk_tagset *set);

/* Returns 1 when added, 0 when already present, -ENOSPC at max_tags, -ENOMEM. */
int sk_tagset_add(struct sk_tagset *set, const struct sk_tag_key *key, int64_t since_wall_us);
/* Returns 1 when removed, 0 when absent. */
int sk_tagset_remove(struct sk_tagset *set, const struct sk_tag_key *key);
/* Returns true and the time it was added (if ret_since) when present. */
bool sk_tagset_contains(const struct sk_tagset *set,
                        const struct sk_tag_key *key,
                        int64_t *ret_since_wall_us);
size_t sk_tagset_count(const struct sk_tagset *set);
void sk_tagset_clear(struct sk_tagset *set);

/* Calls cb for every tag (of reader, or all when reader is NULL), in no particular order; stops
 * early and returns cb's value when it is non-zero. Do not modify the set from cb. */
typedef int (*sk_tagset_cb)(const struct sk_tag_key *key, int64_t since_wall_us, void *ctx);
int sk_tagset_foreach(const struct sk_tagset *set, const char *reader, sk_tagset_cb cb, void *ctx);

#endif
