/* SPDX-License-Identifier: MIT */
/* Health of the readers and cameras over time: was a shelf's view whole for an interval. */
#include "fusion_internal.h"

/*
 * The core passes every reader and camera health change to the engine; each source keeps its
 * last HEALTH_MARKS changes. Attribution asks whether a reader was down while a tag could
 * have left (the removal interval is then wide and its confidence capped) and whether the
 * camera watching a shelf was up for the whole interval (else nothing rules out a shopper the
 * camera missed). Unknown counts as up: a source that never reported is judged as before.
 */

static int state_at(const struct health_log *h, int64_t t)
{
    int state = SK_HEALTH_UNKNOWN;
    for (size_t k = 0; k < h->n; k++) {
        const struct health_mark *m = &h->marks[(h->head + k) % HEALTH_MARKS];
        if (m->t > t) {
            break;
        }
        state = m->state;
    }
    return state;
}

static bool is_up(int state)
{
    return state == SK_HEALTH_UP || state == SK_HEALTH_UNKNOWN;
}

void fusion__health_note(struct health_log *h, int64_t t, int state)
{
    if (h->n && h->marks[(h->head + h->n - 1) % HEALTH_MARKS].state == state) {
        return;
    }
    if (h->n == HEALTH_MARKS) {
        h->head = (h->head + 1) % HEALTH_MARKS;
        h->n--;
    }
    h->marks[(h->head + h->n++) % HEALTH_MARKS] = (struct health_mark){t, (uint8_t)state};
}

bool fusion__health_up_over(const struct health_log *h, int64_t t0, int64_t t1)
{
    if (!is_up(state_at(h, t0))) {
        return false;
    }
    for (size_t k = 0; k < h->n; k++) {
        const struct health_mark *m = &h->marks[(h->head + k) % HEALTH_MARKS];
        if (m->t > t0 && m->t <= t1 && !is_up(m->state)) {
            return false;
        }
    }
    return true;
}

int64_t fusion__health_down_since(const struct health_log *h)
{
    if (!h->n || is_up(h->marks[(h->head + h->n - 1) % HEALTH_MARKS].state)) {
        return 0;
    }
    int64_t since = h->marks[(h->head + h->n - 1) % HEALTH_MARKS].t;
    for (size_t k = h->n; k-- > 0;) {
        const struct health_mark *m = &h->marks[(h->head + k) % HEALTH_MARKS];
        if (is_up(m->state)) {
            break;
        }
        since = m->t;
    }
    return since;
}
