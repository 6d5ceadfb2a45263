/* SPDX-License-Identifier: MIT */
/* Bounded multi-producer, single-consumer observation queue with eventfd wake-up. */
#include "storekeeper/queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include "storekeeper/error.h"

/*
 * DESIGN
 * A ring of fixed-size slots under one mutex. Observations are small values, so a copy under
 * the lock costs less than the allocation a linked queue would make per push, and the bound
 * is exact. The consumer is woken through an eventfd written only on the empty -> non-empty
 * transition, which keeps the wake-up cost off the common path of a busy queue. Producers
 * held back by the high mark wait on a condition variable that the consumer signals when the
 * depth falls under the low mark (hysteresis, so they do not wake on every pop).
 */

struct sk_queue {
    pthread_mutex_t lock;
    pthread_cond_t below_low;
    struct sk_obs *slots;
    size_t capacity, high, low;
    size_t head, count; /* head: next to pop */
    bool held;          /* depth crossed the high mark; waiters wait for the low mark */
    bool closed;
    int efd;
    struct sk_queue_stats stats;
};

int sk_queue_new(size_t capacity, size_t high_mark, size_t low_mark, struct sk_queue **ret_q)
{
    if (capacity < 2 || low_mark == 0 || low_mark >= high_mark || high_mark > capacity) {
        return -EINVAL;
    }
    struct sk_queue *q = calloc(1, sizeof(*q));
    if (!q) {
        return -ENOMEM;
    }
    q->slots = calloc(capacity, sizeof(*q->slots));
    if (!q->slots) {
        free(q);
        return -ENOMEM;
    }
    q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->efd < 0) {
        int err = -errno;
        free(q->slots);
        free(q);
        return err;
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->below_low, &ca);
    pthread_condattr_destroy(&ca);
    q->capacity = capacity;
    q->high = high_mark;
    q->low = low_mark;
    *ret_q = q;
    return 0;
}

void sk_queue_free(struct sk_queue *q)
{
    if (!q) {
        return;
    }
    for (size_t i = 0; i < q->count; i++) {
        sk_obs_release(&q->slots[(q->head + i) % q->capacity]);
    }
    pthread_cond_destroy(&q->below_low);
    pthread_mutex_destroy(&q->lock);
    close(q->efd);
    free(q->slots);
    free(q);
}

static void wake_consumer(struct sk_queue *q)
{
    uint64_t one = 1;
    /* EAGAIN only when the counter would overflow, which means the consumer is awake. */
    ssize_t r = write(q->efd, &one, sizeof(one));
    (void)r;
}

int sk_queue_push(struct sk_queue *q,
                  const struct sk_obs *obs,
                  enum sk_queue_mode mode,
                  int timeout_ms)
{
    pthread_mutex_lock(&q->lock);
    if (mode == SK_QUEUE_WAIT && (q->held || q->count >= q->high) && !q->closed) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        q->stats.waits++;
        q->held = true;
        while (q->held && !q->closed) {
            if (pthread_cond_timedwait(&q->below_low, &q->lock, &deadline) == ETIMEDOUT) {
                break;
            }
        }
    }
    int r = 0;
    if (q->closed) {
        r = SK_EQUEUE_CLOSED;
    } else if (q->count >= q->capacity ||
               (mode == SK_QUEUE_DROP_ABOVE_HIGH && q->count >= q->high) ||
               (mode == SK_QUEUE_WAIT && q->held && q->count >= q->high)) {
        r = SK_EQUEUE_FULL; /* full, above the mark for droppers, or waited the whole timeout */
    }
    if (r < 0) {
        if (r == SK_EQUEUE_FULL) {
            q->stats.dropped++;
        }
        pthread_mutex_unlock(&q->lock);
        return r;
    }
    q->slots[(q->head + q->count) % q->capacity] = *obs;
    q->count++;
    q->stats.pushed++;
    if (q->count > q->stats.max_depth) {
        q->stats.max_depth = q->count;
    }
    if (q->count == q->high) {
        q->stats.above_high++;
        q->held = true;
    }
    bool was_empty = q->count == 1;
    pthread_mutex_unlock(&q->lock);
    if (was_empty) {
        wake_consumer(q);
    }
    return 0;
}

int sk_queue_pop(struct sk_queue *q, struct sk_obs *ret_obs)
{
    pthread_mutex_lock(&q->lock);
    if (q->count == 0) {
        /* Clear the eventfd while holding the lock: a producer that pushes after this
         * sees count == 0 -> 1 and writes it again, so no wake-up is lost. */
        uint64_t v;
        ssize_t r = read(q->efd, &v, sizeof(v));
        (void)r;
        pthread_mutex_unlock(&q->lock);
        return 0;
    }
    *ret_obs = q->slots[q->head];
    memset(&q->slots[q->head], 0, sizeof(q->slots[q->head]));
    q->head = (q->head + 1) % q->capacity;
    q->count--;
    q->stats.popped++;
    if (q->held && q->count <= q->low) {
        q->held = false;
        pthread_cond_broadcast(&q->below_low);
    }
    pthread_mutex_unlock(&q->lock);
    return 1;
}

int sk_queue_fd(const struct sk_queue *q)
{
    return q->efd;
}

void sk_queue_close(struct sk_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->below_low);
    pthread_mutex_unlock(&q->lock);
}

void sk_queue_get_stats(struct sk_queue *q, struct sk_queue_stats *ret_stats)
{
    pthread_mutex_lock(&q->lock);
    *ret_stats = q->stats;
    ret_stats->capacity = q->capacity;
    ret_stats->high_mark = q->high;
    ret_stats->low_mark = q->low;
    ret_stats->depth = q->count;
    pthread_mutex_unlock(&q->lock);
}
