/* SPDX-License-Identifier: MIT */
/* Token buckets (see include/storekeeper/bucket.h). */
#include "storekeeper/bucket.h"

void sk_bucket_start(struct sk_bucket *b, double tokens, int64_t now_us)
{
    b->tokens = tokens;
    b->refilled_us = now_us;
    b->started = true;
}

double sk_bucket_peek(const struct sk_bucket *b, int64_t now_us, double per, double period_us)
{
    /* A clock that did not move (or a test clock set back) brings nothing. */
    if (!b->started || now_us <= b->refilled_us) {
        return b->tokens;
    }
    return b->tokens + (double)(now_us - b->refilled_us) * per / period_us;
}

double
sk_bucket_refill(struct sk_bucket *b, int64_t now_us, double per, double period_us, double cap)
{
    if (!b->started) {
        sk_bucket_start(b, cap, now_us);
        return b->tokens;
    }
    b->tokens = sk_bucket_peek(b, now_us, per, period_us);
    if (b->tokens > cap) {
        b->tokens = cap;
    }
    b->refilled_us = now_us;
    return b->tokens;
}

bool sk_bucket_take(struct sk_bucket *b, int64_t now_us, double per, double period_us, double cap)
{
    if (sk_bucket_refill(b, now_us, per, period_us, cap) < 1.0) {
        return false;
    }
    b->tokens -= 1.0;
    return true;
}
