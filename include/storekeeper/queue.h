/* SPDX-License-Identifier: MIT */
/* The bounded multi-producer queue that carries observations to the core thread. */
#ifndef STOREKEEPER_QUEUE_H
#define STOREKEEPER_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/obs.h"

/*
 * Many producers, one consumer. The consumer sleeps in epoll on sk_queue_fd() (an eventfd)
 * and drains with sk_queue_pop(). Capacity is fixed at creation.
 *
 * Back-pressure has two levels (collectd's high/low marks): above the high mark, producers
 * that push with SK_QUEUE_DROP_ABOVE_HIGH (cameras) lose the observation, counted as dropped;
 * producers that push with SK_QUEUE_WAIT (RFID, which must not lose a departure) block until
 * the consumer has brought the depth under the low mark or the timeout passes. At capacity
 * every push fails with SK_EQUEUE_FULL.
 */
struct sk_queue;

enum sk_queue_mode {
    SK_QUEUE_WAIT,            /* block while above the high mark, up to timeout_ms */
    SK_QUEUE_DROP_ABOVE_HIGH, /* fail at once with SK_EQUEUE_FULL above the high mark */
    SK_QUEUE_ANY,             /* fail only at capacity (MQTT link events, timers) */
};

struct sk_queue_stats {
    size_t capacity, high_mark, low_mark;
    size_t depth;     /* now */
    size_t max_depth; /* highest depth seen */
    uint64_t pushed;  /* accepted */
    uint64_t popped;
    uint64_t dropped;    /* refused: full, above high mark, or timed out */
    uint64_t waits;      /* pushes that had to wait for the low mark */
    uint64_t above_high; /* times the depth crossed the high mark upwards */
};

/* capacity >= 2; 0 < low_mark < high_mark <= capacity. Returns 0 or -EINVAL/-ENOMEM/-errno. */
int sk_queue_new(size_t capacity, size_t high_mark, size_t low_mark, struct sk_queue **ret_q);
/* Accepts NULL. Releases observations still queued. No producer may use q any more. */
void sk_queue_free(struct sk_queue *q);

/*
 * Copies *obs into the queue; on success the queue owns what obs owned (command blobs).
 * On failure the caller still owns it. Returns 0, SK_EQUEUE_FULL or SK_EQUEUE_CLOSED.
 */
int sk_queue_push(struct sk_queue *q,
                  const struct sk_obs *obs,
                  enum sk_queue_mode mode,
                  int timeout_ms);
/* Takes the oldest observation into *ret_obs. Returns 1, or 0 when empty. */
int sk_queue_pop(struct sk_queue *q, struct sk_obs *ret_obs);
/* The eventfd the consumer polls for readability; sk_queue_pop clears it when empty. */
int sk_queue_fd(const struct sk_queue *q);
/* Wakes waiting producers and makes further pushes fail with SK_EQUEUE_CLOSED. */
void sk_queue_close(struct sk_queue *q);
void sk_queue_get_stats(struct sk_queue *q, struct sk_queue_stats *ret_stats);

#endif
