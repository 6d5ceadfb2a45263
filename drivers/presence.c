/* SPDX-License-Identifier: MIT */
/* Presence filter: k-of-n arrival windows and hold-time departures per (antenna, EPC). */
#include "storekeeper/presence.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * DESIGN
 * Entries live in a dense array (so an update walks them without touching empty slots) and
 * are found through an open-addressing index of dense positions (linear probing, backward
 * shift on removal: no tombstones, so months of arrivals and departures never degrade it).
 * Removing entry i moves the last entry into i and repoints its index slot.
 *
 * Each entry keeps a bit window of the last n polls (bit 0 = this poll). An update first
 * marks the tags read in this poll (seen_gen == generation), then walks every entry once:
 * shift the window in, promote candidates with popcount >= k, retire present tags unseen
 * for hold, forget candidates whose window emptied. Cost: O(reads + entries) per poll.
 */

#define GAP_WINDOW      16 /* gaps whose median is the typical poll gap */
#define GAP_MIN_SAMPLES 8  /* before this many, no gap is judged a stall */

struct entry {
    uint8_t antenna, epc_len;
    bool present;
    uint8_t epc[SK_EPC_MAX];
    int16_t rssi;
    uint64_t window;
    uint64_t seen_gen;
    int64_t last_seen_us;  /* when it was really last read (reported in events) */
    int64_t missed_us;     /* the first successful poll after that which did not read it; 0 */
    int64_t hold_from_us;  /* where its unseen time starts: last read, moved past stalls and outages
                            */
    int64_t first_seen_us; /* a candidate's first read; its arrival is reported with it */
    int64_t absent_us;     /* the successful poll before that, which did not read it; 0 unknown */
    uint32_t reads;
};

struct sk_presence {
    struct entry *e;
    size_t n, max;
    uint32_t *index;  /* dense position + 1; 0 empty */
    size_t index_cap; /* power of two, >= 2 * max */
    uint64_t gen;
    struct sk_presence_params params[256]; /* [0] default */
    bool has_params[256];
    struct sk_presence_stats stats;
    int64_t last_update_us;   /* 0 before the first update */
    int64_t gaps[GAP_WINDOW]; /* recent gaps between updates, a ring */
    size_t n_gaps, gap_pos;
};

static bool params_ok(const struct sk_presence_params *sp)
{
    return sp && sp->arrive_k >= 1 && sp->arrive_n >= sp->arrive_k && sp->arrive_n <= 64 &&
           sp->hold_us >= 0;
}

int sk_presence_new(size_t max_tags, const struct sk_presence_params *def, struct sk_presence **ret)
{
    if (max_tags == 0 || max_tags > (1u << 24) || !params_ok(def)) {
        return -EINVAL;
    }
    struct sk_presence *p = calloc(1, sizeof(*p));
    if (!p) {
        return -ENOMEM;
    }
    p->max = max_tags;
    p->index_cap = 16;
    while (p->index_cap < 2 * max_tags) {
        p->index_cap *= 2;
    }
    p->e = calloc(max_tags, sizeof(*p->e));
    p->index = calloc(p->index_cap, sizeof(*p->index));
    if (!p->e || !p->index) {
        sk_presence_free(p);
        return -ENOMEM;
    }
    p->params[0] = *def;
    p->has_params[0] = true;
    *ret = p;
    return 0;
}

void sk_presence_free(struct sk_presence *p)
{
    if (p) {
        free(p->e);
        free(p->index);
        free(p);
    }
}

int sk_presence_set_params(struct sk_presence *p, int antenna, const struct sk_presence_params *sp)
{
    if (antenna < 0 || antenna > 255 || !params_ok(sp)) {
        return -EINVAL;
    }
    p->params[antenna] = *sp;
    p->has_params[antenna] = true;
    return 0;
}

static const struct sk_presence_params *params_for(const struct sk_presence *p, uint8_t antenna)
{
    return p->has_params[antenna] ? &p->params[antenna] : &p->params[0];
}

static uint64_t hash(uint8_t antenna, const uint8_t *epc, size_t len)
{
    uint64_t h = 1469598103934665603ULL ^ antenna;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ epc[i]) * 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static bool same(const struct entry *e, uint8_t antenna, const uint8_t *epc, size_t len)
{
    return e->antenna == antenna && e->epc_len == len && memcmp(e->epc, epc, len) == 0;
}

/* Index slot holding the key, or the empty slot where it would go. */
static size_t
find_slot(const struct sk_presence *p, uint8_t antenna, const uint8_t *epc, size_t len)
{
    size_t mask = p->index_cap - 1;
    size_t i = (size_t)hash(antenna, epc, len) & mask;
    while (p->index[i] && !same(&p->e[p->index[i] - 1], antenna, epc, len)) {
        i = (i + 1) & mask;
    }
    return i;
}

static struct entry *lookup_or_add(
        struct sk_presence *p, uint8_t antenna, const uint8_t *epc, size_t len, bool *ret_added)
{
    size_t slot = find_slot(p, antenna, epc, len);
    *ret_added = false;
    if (p->index[slot]) {
        return &p->e[p->index[slot] - 1];
    }
    if (p->n == p->max) {
        return NULL;
    }
    struct entry *e = &p->e[p->n];
    memset(e, 0, sizeof(*e));
    e->antenna = antenna;
    e->epc_len = (uint8_t)len;
    memcpy(e->epc, epc, len);
    e->rssi = INT16_MIN;
    p->index[slot] = (uint32_t)(++p->n);
    *ret_added = true;
    return e;
}

/* Removes dense entry i: backward-shift its index slot out, move the last entry into i. */
static void remove_at(struct sk_presence *p, size_t i)
{
    size_t mask = p->index_cap - 1;
    struct entry *e = &p->e[i];
    size_t slot = find_slot(p, e->antenna, e->epc, e->epc_len);
    p->index[slot] = 0;
    for (size_t j = (slot + 1) & mask; p->index[j]; j = (j + 1) & mask) {
        const struct entry *o = &p->e[p->index[j] - 1];
        size_t home = (size_t)hash(o->antenna, o->epc, o->epc_len) & mask;
        /* move j back to the hole unless its home lies cyclically in (slot, j] */
        bool stays = slot <= j ? (home > slot && home <= j) : (home > slot || home <= j);
        if (!stays) {
            p->index[slot] = p->index[j];
            p->index[j] = 0;
            slot = j;
        }
    }
    size_t last = p->n - 1;
    if (i != last) {
        struct entry *l = &p->e[last];
        size_t ls = find_slot(p, l->antenna, l->epc, l->epc_len);
        p->e[i] = *l;
        p->index[ls] = (uint32_t)(i + 1);
    }
    p->n--;
}

int sk_presence_seed(
        struct sk_presence *p, uint8_t antenna, const uint8_t *epc, size_t epc_len, int64_t now_us)
{
    if (!epc || epc_len == 0 || epc_len > SK_EPC_MAX) {
        return -EINVAL;
    }
    bool added;
    struct entry *e = lookup_or_add(p, antenna, epc, epc_len, &added);
    if (!e) {
        return -ENOSPC;
    }
    if (e->present) {
        return 0;
    }
    e->present = true;
    e->window = ~0ULL; /* as if seen throughout its window */
    e->last_seen_us = now_us;
    e->hold_from_us = now_us;
    p->stats.present++;
    return 1;
}

static void
fill_event(struct sk_presence_event *ev, int type, const struct entry *e, uint32_t reads)
{
    ev->type = type;
    ev->antenna = e->antenna;
    ev->epc_len = e->epc_len;
    memcpy(ev->epc, e->epc, e->epc_len);
    ev->rssi_cdbm = e->rssi;
    ev->reads = reads;
    ev->last_seen_us = e->last_seen_us;
    ev->first_missed_us = e->missed_us;
    ev->first_seen_us = e->first_seen_us;
    ev->absent_us = e->absent_us;
}

/* Median of the recorded gaps, or 0 while there are too few to judge. */
static int64_t typical_gap(const struct sk_presence *p)
{
    if (p->n_gaps < GAP_MIN_SAMPLES) {
        return 0;
    }
    int64_t v[GAP_WINDOW];
    memcpy(v, p->gaps, p->n_gaps * sizeof(v[0]));
    for (size_t i = 1; i < p->n_gaps; i++) { /* insertion sort: at most 16 values */
        int64_t x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    return v[p->n_gaps / 2];
}

/*
 * A gap longer than twice the typical one means this filter was not fed for a while although
 * the reader did not fail (the thread was not scheduled). Only twice the typical gap of it
 * counts as unseen time: present tags' last-seen times move forward by the rest.
 */
static void discount_stall(struct sk_presence *p, int64_t now_us)
{
    if (p->last_update_us != 0) {
        int64_t gap = now_us - p->last_update_us;
        int64_t typical = typical_gap(p);
        if (typical > 0 && gap > 2 * typical) {
            int64_t excess = gap - 2 * typical;
            for (size_t i = 0; i < p->n; i++) {
                if (p->e[i].present) {
                    int64_t moved = p->e[i].hold_from_us + excess;
                    p->e[i].hold_from_us = moved < now_us ? moved : now_us;
                }
            }
            p->stats.stalls++;
        }
        if (gap > 0) {
            p->gaps[p->gap_pos] = gap;
            p->gap_pos = (p->gap_pos + 1) % GAP_WINDOW;
            if (p->n_gaps < GAP_WINDOW) {
                p->n_gaps++;
            }
        }
    }
    p->last_update_us = now_us;
}

void sk_presence_update(struct sk_presence *p,
                        int64_t now_us,
                        const struct sk_tag_read *reads,
                        size_t n,
                        sk_presence_cb cb,
                        void *ctx)
{
    int64_t previous_us = p->last_update_us; /* across an outage: the last poll before it */
    discount_stall(p, now_us);
    uint64_t gen = ++p->gen;
    p->stats.updates++;
    for (size_t i = 0; i < n; i++) {
        const struct sk_tag_read *t = &reads[i];
        if (t->epc_len == 0 || t->epc_len > SK_EPC_MAX) {
            continue;
        }
        bool added;
        struct entry *e = lookup_or_add(p, t->antenna, t->epc, t->epc_len, &added);
        p->stats.reads++;
        if (!e) {
            p->stats.overflow++;
            continue;
        }
        if (added) {
            p->stats.candidates++;
            e->first_seen_us = now_us;
            e->absent_us = previous_us;
        }
        e->seen_gen = gen;
        e->last_seen_us = now_us;
        e->missed_us = 0;
        e->hold_from_us = now_us;
        e->reads += t->reads ? t->reads : 1;
        if (t->rssi_cdbm != INT16_MIN) {
            e->rssi = t->rssi_cdbm;
        }
    }
    size_t seen_present = 0;
    for (size_t i = 0; i < p->n;) {
        struct entry *e = &p->e[i];
        const struct sk_presence_params *sp = params_for(p, e->antenna);
        uint64_t mask = sp->arrive_n >= 64 ? ~0ULL : (1ULL << sp->arrive_n) - 1;
        bool seen = e->seen_gen == gen;
        e->window = ((e->window << 1) | (seen ? 1u : 0u)) & mask;
        struct sk_presence_event ev;
        if (e->present) {
            seen_present += seen;
            if (!seen && !e->missed_us) {
                e->missed_us = now_us; /* the removal lies between the last read and this poll */
            }
            if (!seen && now_us - e->hold_from_us >= sp->hold_us) {
                fill_event(&ev, SK_PRESENCE_DEPARTED, e, e->reads);
                p->stats.present--;
                p->stats.departures++;
                remove_at(p, i);
                if (cb) {
                    cb(&ev, ctx);
                }
                continue; /* entry i is now the former last one */
            }
        } else if (__builtin_popcountll(e->window) >= sp->arrive_k) {
            e->present = true;
            p->stats.candidates--;
            p->stats.present++;
            p->stats.arrivals++;
            fill_event(&ev, SK_PRESENCE_ARRIVED, e, (uint32_t)__builtin_popcountll(e->window));
            e->reads = 0; /* from now on: reads while present */
            if (cb) {
                cb(&ev, ctx);
            }
        } else if (e->window == 0) {
            p->stats.candidates--;
            remove_at(p, i);
            continue;
        }
        i++;
    }
    p->stats.seen_present = seen_present;
}

void sk_presence_resume(struct sk_presence *p, int64_t now_us)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->e[i].present) {
            p->e[i].hold_from_us = now_us;
            /* A miss before the outage may have been RF: the tag may have left during it. */
            p->e[i].missed_us = 0;
        }
    }
}

void sk_presence_get_stats(const struct sk_presence *p, struct sk_presence_stats *ret)
{
    *ret = p->stats;
}

void sk_presence_foreach(const struct sk_presence *p, sk_presence_cb cb, void *ctx)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->e[i].present) {
            struct sk_presence_event ev;
            fill_event(&ev, SK_PRESENCE_ARRIVED, &p->e[i], p->e[i].reads);
            cb(&ev, ctx);
        }
    }
}
