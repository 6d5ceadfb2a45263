/* SPDX-License-Identifier: MIT */
/* The presence filter: per (antenna, EPC) hysteresis from raw reads to arrivals and departures. */
#ifndef STOREKEEPER_PRESENCE_H
#define STOREKEEPER_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/obs.h"
#include "storekeeper/reader.h"

/*
 * One filter per reader, covering all of its antennas. RF reads are noisy: a tag on a shelf
 * is missed in some polls, a tag carried past is seen in one or two. The filter turns reads
 * into facts with hysteresis:
 *   - a tag ARRIVES at (antenna, EPC) once it was seen in arrive_k of the last arrive_n
 *     successful polls;
 *   - a present tag DEPARTS once it was unseen for hold_ms (measured on the clock passed in,
 *     at successful polls).
 * Polls that fail (reader down) are not fed in, so an outage never ages a tag; after one,
 * sk_presence_resume() gives every present tag a fresh hold_ms. A gap between two successful
 * polls longer than twice the typical gap (the median of the last 16) counts as twice the
 * typical gap: a bus thread that was not scheduled for a while (a loaded board, a slow SD
 * card) did not watch the shelf, and one RF miss right after such a stall must not turn
 * every tag it missed into a departure, that is, a phantom pickup. Settings are per antenna
 * (shelf presets); antenna 0 holds the default.
 *
 * The filter is pure computation on its own memory (no threads, no I/O, injected time), so it
 * runs the same under the bus thread, in diagnostics and in tests. Bounded: at most max_tags
 * entries (present plus candidates); reads of further tags are counted and dropped.
 */
struct sk_presence;

struct sk_presence_params {
    int arrive_k, arrive_n; /* 1 <= k <= n <= 64 */
    int64_t hold_us;
};

enum sk_presence_event_type {
    SK_PRESENCE_ARRIVED = 1,
    SK_PRESENCE_DEPARTED = 2,
};

struct sk_presence_event {
    int type; /* enum sk_presence_event_type */
    uint8_t antenna;
    uint8_t epc_len;
    uint8_t epc[SK_EPC_MAX];
    int16_t rssi_cdbm; /* last RSSI seen, INT16_MIN when none */
    uint32_t reads;    /* arrival: polls seen in the window; departure: reads while present */
    int64_t last_seen_us;
    /* DEPARTED: the first successful poll after last_seen_us that did not read it (a poll that
     * failed, in an outage, is no such poll): the tag left between the two. */
    int64_t first_missed_us;
    /* ARRIVED: its first read, and the successful poll before that, which did not read it (0
     * unknown; across an outage, the last poll before it): the tag came between the two. */
    int64_t first_seen_us, absent_us;
};

/* Called for every transition, in the order they happen; return value ignored. */
typedef void (*sk_presence_cb)(const struct sk_presence_event *ev, void *ctx);

struct sk_presence_stats {
    size_t present, candidates;
    size_t seen_present;     /* present tags seen in the last update */
    uint64_t updates, reads; /* polls fed in, tag reads fed in */
    uint64_t arrivals, departures;
    uint64_t overflow; /* reads dropped because max_tags entries were in use */
    uint64_t stalls;   /* poll gaps longer than twice the typical one (counted as twice) */
};

int sk_presence_new(size_t max_tags,
                    const struct sk_presence_params *def,
                    struct sk_presence **ret);
void sk_presence_free(struct sk_presence *p);

/* Settings for one antenna (1..255), or the default (antenna 0). Takes effect at the next
 * update; a shorter window drops history beyond it. Returns 0 or -EINVAL. */
int sk_presence_set_params(struct sk_presence *p, int antenna, const struct sk_presence_params *sp);

/* Enters a tag as already present (state kept across restarts), last seen at now_us.
 * Returns 1 when added, 0 when it was present, -ENOSPC when full. No event. */
int sk_presence_seed(
        struct sk_presence *p, uint8_t antenna, const uint8_t *epc, size_t epc_len, int64_t now_us);

/* Feeds one successful poll's reads at now_us; emits transitions through cb. */
void sk_presence_update(struct sk_presence *p,
                        int64_t now_us,
                        const struct sk_tag_read *reads,
                        size_t n,
                        sk_presence_cb cb,
                        void *ctx);

/* After an outage: present tags' unseen time restarts at now_us (no departures from the gap;
 * events still report when each tag was really last read). */
void sk_presence_resume(struct sk_presence *p, int64_t now_us);

void sk_presence_get_stats(const struct sk_presence *p, struct sk_presence_stats *ret);

/* Calls cb for every present tag (type SK_PRESENCE_ARRIVED, reads = reads while present). */
void sk_presence_foreach(const struct sk_presence *p, sk_presence_cb cb, void *ctx);

#endif
