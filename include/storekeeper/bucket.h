/* SPDX-License-Identifier: MIT */
/* Token buckets: how often something may happen, with bursts, on a caller's clock. */
#ifndef STOREKEEPER_BUCKET_H
#define STOREKEEPER_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

/*
 * One bucket serves every rate limit of the daemon (commands per second, outbox_resend per
 * minute, reader health changes, backlog messages per second): it holds at most cap tokens
 * and gains per tokens every period_us microseconds of the caller's monotonic clock. The
 * rates are passed at each call, so a reloaded configuration applies at once. The first
 * refill of a bucket that was not started (zeroed) fills it to cap; sk_bucket_start() begins
 * it with another amount instead. Not thread-safe: a bucket belongs to its caller.
 */
struct sk_bucket {
    double tokens;       /* held; may be spent below zero by the caller, or given back */
    int64_t refilled_us; /* when the tokens were last counted */
    bool started;
};

/* Begins the bucket at now_us holding tokens. */
void sk_bucket_start(struct sk_bucket *b, double tokens, int64_t now_us);

/* Adds what time brought since the last refill (up to cap) and returns the tokens held. */
double
sk_bucket_refill(struct sk_bucket *b, int64_t now_us, double per, double period_us, double cap);

/* Refills, then takes one token; false (nothing taken) when less than one is held. */
bool sk_bucket_take(struct sk_bucket *b, int64_t now_us, double per, double period_us, double cap);

/* What a refill at now_us would hold, before the cap, leaving the bucket alone. */
double sk_bucket_peek(const struct sk_bucket *b, int64_t now_us, double per, double period_us);

#endif
