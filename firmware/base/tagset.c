/* SPDX-License-Identifier: MIT */
/* Open-addressing hash set of (reader, antenna, EPC) keys, bounded, growing on demand. */
#include "storekeeper/tagset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * DESIGN
 * Linear probing over a power-of-two table kept at most 70 % full; removal uses backward
 * shift deletion (no tombstones), so a long-running store that adds and removes tags all day
 * never degrades. The table starts small and doubles up to the size max_tags needs, so a
 * small shop does not pay for the bound of a large one.
 */

struct entry {
    struct sk_tag_key key;
    int64_t since;
    bool used;
};

struct sk_tagset {
    struct entry *tab;
    size_t cap; /* power of two */
    size_t count;
    size_t max;
};

void sk_tag_key_set(struct sk_tag_key *k,
                    const char *reader,
                    uint8_t antenna,
                    const uint8_t *epc,
                    size_t epc_len)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->reader, sizeof(k->reader), "%s", reader ? reader : "");
    k->antenna = antenna;
    k->epc_len = (uint8_t)(epc_len > SK_EPC_MAX ? SK_EPC_MAX : epc_len);
    if (epc && k->epc_len) {
        memcpy(k->epc, epc, k->epc_len);
    }
}

/* FNV-1a over the meaningful bytes of the key. */
static uint64_t hash_key(const struct sk_tag_key *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = k->reader; *p; p++) {
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    }
    h = (h ^ k->antenna) * 1099511628211ULL;
    h = (h ^ k->epc_len) * 1099511628211ULL;
    for (size_t i = 0; i < k->epc_len; i++) {
        h = (h ^ k->epc[i]) * 1099511628211ULL;
    }
    return h;
}

static bool key_equal(const struct sk_tag_key *a, const struct sk_tag_key *b)
{
    return a->antenna == b->antenna && a->epc_len == b->epc_len &&
           memcmp(a->epc, b->epc, a->epc_len) == 0 && strcmp(a->reader, b->reader) == 0;
}

int sk_tagset_new(size_t max_tags, struct sk_tagset **ret_set)
{
    if (max_tags == 0) {
        return -EINVAL;
    }
    struct sk_tagset *s = calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->cap = 64;
    s->max = max_tags;
    s->tab = calloc(s->cap, sizeof(*s->tab));
    if (!s->tab) {
        free(s);
        return -ENOMEM;
    }
    *ret_set = s;
    return 0;
}

void sk_tagset_free(struct sk_tagset *set)
{
    if (set) {
        free(set->tab);
        free(set);
    }
}

static size_t find_slot(const struct sk_tagset *s, const struct sk_tag_key *k, bool *found)
{
    size_t mask = s->cap - 1;
    size_t i = (size_t)hash_key(k) & mask;
    while (s->tab[i].used) {
        if (key_equal(&s->tab[i].key, k)) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = false;
    return i;
}

static int grow(struct sk_tagset *s)
{
    size_t ncap = s->cap * 2;
    struct entry *old = s->tab;
    size_t ocap = s->cap;
    struct entry *tab = calloc(ncap, sizeof(*tab));
    if (!tab) {
        return -ENOMEM;
    }
    s->tab = tab;
    s->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].used) {
            bool found;
            size_t j = find_slot(s, &old[i].key, &found);
            s->tab[j] = old[i];
        }
    }
    free(old);
    return 0;
}

int sk_tagset_add(struct sk_tagset *set, const struct sk_tag_key *key, int64_t since_wall_us)
{
    bool found;
    size_t i = find_slot(set, key, &found);
    if (found) {
        return 0;
    }
    if (set->count >= set->max) {
        return -ENOSPC;
    }
    if ((set->count + 1) * 10 > set->cap * 7) {
        int r = grow(set);
        if (r < 0) {
            return r;
        }
        i = find_slot(set, key, &found);
    }
    set->tab[i].key = *key;
    set->tab[i].since = since_wall_us;
    set->tab[i].used = true;
    set->count++;
    return 1;
}

int sk_tagset_remove(struct sk_tagset *set, const struct sk_tag_key *key)
{
    bool found;
    size_t i = find_slot(set, key, &found);
    if (!found) {
        return 0;
    }
    size_t mask = set->cap - 1;
    /* Backward shift: move later members of the probe run into the hole when their home
     * slot does not lie cyclically between the hole and their position. */
    size_t hole = i;
    size_t j = (i + 1) & mask;
    while (set->tab[j].used) {
        size_t home = (size_t)hash_key(&set->tab[j].key) & mask;
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            set->tab[hole] = set->tab[j];
            hole = j;
        }
        j = (j + 1) & mask;
    }
    memset(&set->tab[hole], 0, sizeof(set->tab[hole]));
    set->count--;
    return 1;
}

bool sk_tagset_contains(const struct sk_tagset *set,
                        const struct sk_tag_key *key,
                        int64_t *ret_since_wall_us)
{
    bool found;
    size_t i = find_slot(set, key, &found);
    if (found && ret_since_wall_us) {
        *ret_since_wall_us = set->tab[i].since;
    }
    return found;
}

size_t sk_tagset_count(const struct sk_tagset *set)
{
    return set->count;
}

void sk_tagset_clear(struct sk_tagset *set)
{
    memset(set->tab, 0, set->cap * sizeof(*set->tab));
    set->count = 0;
}

int sk_tagset_foreach(const struct sk_tagset *set, const char *reader, sk_tagset_cb cb, void *ctx)
{
    for (size_t i = 0; i < set->cap; i++) {
        if (!set->tab[i].used || (reader && strcmp(set->tab[i].key.reader, reader) != 0)) {
            continue;
        }
        int r = cb(&set->tab[i].key, set->tab[i].since, ctx);
        if (r) {
            return r;
        }
    }
    return 0;
}
