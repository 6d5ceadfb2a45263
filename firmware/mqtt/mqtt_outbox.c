/* SPDX-License-Identifier: MIT */
/* Outbox delivery: drains the ledger's outbox at QoS 1 in a bounded window, live before backlog. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_internal.h"
#include "storekeeper/bucket.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"
#include "storekeeper/mqtt.h"

/*
 * DESIGN
 * The outbox (the ledger's) is the only copy of an event until the broker acknowledges it:
 * a row is marked delivered only on its PUBACK, and whatever is still pending after a
 * reconnect or a restart is published again with the same bytes and id (consumers drop
 * duplicates by id). Rows go out at QoS 1 through a window of at most mqtt.inflight_max
 * unacknowledged messages; each PUBACK frees a slot and the window is filled again.
 *
 * Two lanes share the window, so a long backlog cannot starve what happens now:
 *  - backlog: rows that were already pending when the connection came up (seq <= floor),
 *    oldest first, at most mqtt.replay_rate_max per second (token bucket; 0: no limit);
 *  - live: rows committed after that (seq > floor), in seq order, without a rate limit.
 * Live rows go first; while backlog remains, it keeps a quarter of the window (at least one
 * slot) so it always progresses. Within each lane rows leave in seq order; across lanes a
 * live row may reach the broker before older backlog rows. Consumers order by seq and use
 * the retained high-water mark (topic `outbox`) to see which seqs are still to come.
 *
 * Some pending rows can fall behind the cursors: a PUBACK refused by the broker (MQTT 5
 * reason >= 0x80), a PUBACK that never came (lost observation, stuck connection), a delivery
 * mark undone by a rolled-back ledger batch. When the window is empty, a rescan turns all
 * published seqs back into backlog and starts again from the oldest pending row.
 */

#define INFLIGHT_TIMEOUT_MIN_US 30000000 /* a PUBACK this late means the slot is lost */

struct slot {
    bool used;
    bool live;
    int mid;
    int64_t seq;
    int64_t sent_mono_us;
};

struct sk_mqtt_outbox {
    struct sk_ledger *ledger;
    struct sk_mqtt_link *link;
    const struct sk_clock *clock;
    char prefix[SK_TOPIC_MAX];
    size_t window;
    bool ordered; /* one lane: everything pending is "live", in seq order */
    int rate;     /* backlog messages per second; 0: no limit */
    int64_t inflight_timeout_us;

    bool up;
    uint32_t gen;
    struct slot *slots;
    size_t n_inflight, n_backlog_inflight;
    int64_t floor;          /* seq <= floor: backlog */
    int64_t cursor_backlog; /* highest backlog seq handed out on this connection */
    int64_t cursor_live;    /* highest live seq handed out */
    bool backlog_done;
    bool rescan;
    struct sk_bucket bucket; /* mqtt.replay_rate_max */
    int64_t head_seq;        /* newest committed seq we know of */
    struct sk_mqtt_outbox_stats stats;
    struct sk_complain fail_complaint;
};

int mqtt_outbox_new(const struct sk_mqtt_outbox_opts *o, struct sk_mqtt_outbox **ret)
{
    struct sk_mqtt_outbox *ob = calloc(1, sizeof(*ob));
    if (!ob) {
        return -ENOMEM;
    }
    ob->window = o->inflight_max > 0 ? (size_t)o->inflight_max : 32;
    ob->slots = calloc(ob->window, sizeof(*ob->slots));
    if (!ob->slots) {
        free(ob);
        return -ENOMEM;
    }
    ob->ledger = o->ledger;
    ob->link = o->link;
    ob->clock = o->clock;
    snprintf(ob->prefix, sizeof(ob->prefix), "%s", o->prefix);
    ob->rate = o->replay_rate_max;
    ob->ordered = o->ordered;
    ob->inflight_timeout_us = o->inflight_timeout_us > INFLIGHT_TIMEOUT_MIN_US
                                      ? o->inflight_timeout_us
                                      : INFLIGHT_TIMEOUT_MIN_US;
    *ret = ob;
    return 0;
}

void mqtt_outbox_free(struct sk_mqtt_outbox *ob)
{
    if (ob) {
        free(ob->slots);
        free(ob);
    }
}

void mqtt_outbox_set_rate(struct sk_mqtt_outbox *ob, int replay_rate_max)
{
    ob->rate = replay_rate_max;
}

void mqtt_outbox_get_stats(const struct sk_mqtt_outbox *ob, struct sk_mqtt_outbox_stats *ret)
{
    *ret = ob->stats;
    ret->inflight = ob->n_inflight;
    ret->head_seq = ob->head_seq;
    ret->floor = ob->floor;
    ret->backlog_done = ob->backlog_done;
}

void mqtt_outbox_note_head(struct sk_mqtt_outbox *ob, int64_t seq)
{
    if (seq > ob->head_seq) {
        ob->head_seq = seq;
    }
}

int64_t mqtt_outbox_head(const struct sk_mqtt_outbox *ob)
{
    return ob->head_seq;
}

static void clear_window(struct sk_mqtt_outbox *ob)
{
    memset(ob->slots, 0, ob->window * sizeof(*ob->slots));
    ob->n_inflight = ob->n_backlog_inflight = 0;
}

/* Everything handed out so far becomes backlog again; the backlog starts from the oldest. */
static void restart_lanes(struct sk_mqtt_outbox *ob, int64_t head)
{
    if (ob->ordered) {
        ob->floor = ob->cursor_live = ob->cursor_backlog = 0;
        ob->backlog_done = true;
        ob->rescan = false;
        return;
    }
    ob->floor = head > ob->cursor_live ? head : ob->cursor_live;
    ob->cursor_live = ob->floor;
    ob->cursor_backlog = 0;
    ob->backlog_done = false;
    ob->rescan = false;
}

void mqtt_outbox_connected(struct sk_mqtt_outbox *ob, uint32_t gen)
{
    /* The floor is the newest *committed* seq we know of (commit listener, rows seen): a
     * batch transaction may be open right now, and its rows, invisible until it commits, must
     * land above the floor, in the live lane, or the backlog could end without them. */
    clear_window(ob);
    ob->up = true;
    ob->gen = gen;
    ob->cursor_live = 0;
    restart_lanes(ob, ob->head_seq);
    sk_bucket_start(&ob->bucket, ob->rate > 0 ? (double)ob->rate / 10.0 : 0,
                    sk_clock_mono_us(ob->clock));
}

void mqtt_outbox_disconnected(struct sk_mqtt_outbox *ob)
{
    ob->up = false;
    clear_window(ob);
}

struct fill_ctx {
    struct sk_mqtt_outbox *ob;
    bool live;
    size_t budget;    /* rows to visit at most */
    size_t visited;   /* rows seen in the lane */
    int64_t last_seq; /* highest seq visited */
    size_t sent;
    bool stopped_at_floor;
    int err;
};

static struct slot *free_slot(struct sk_mqtt_outbox *ob)
{
    for (size_t i = 0; i < ob->window; i++) {
        if (!ob->slots[i].used) {
            return &ob->slots[i];
        }
    }
    return NULL;
}

/* A message of the window is done (acknowledged, refused or given up on): its slot is free. */
static void release_slot(struct sk_mqtt_outbox *ob, struct slot *s)
{
    s->used = false;
    ob->n_inflight--;
    if (!s->live) {
        ob->n_backlog_inflight--;
    }
}

/* Given up on without an acknowledgement: it stays pending and comes back in a rescan. */
static void time_out_slot(struct sk_mqtt_outbox *ob, struct slot *s)
{
    release_slot(ob, s);
    ob->stats.timeouts++;
    ob->rescan = true;
}

static int publish_row(const struct sk_outbox_row *row, void *ctx)
{
    struct fill_ctx *f = ctx;
    struct sk_mqtt_outbox *ob = f->ob;
    if (!f->live && row->seq > ob->floor) {
        f->stopped_at_floor = true;
        return 1; /* the rest is live */
    }
    f->visited++;
    char topic[SK_TOPIC_MAX];
    int n = snprintf(topic, sizeof(topic), "%s%s", ob->prefix, row->topic);
    char *payload = NULL;
    size_t len = 0;
    int r = n < 0 || (size_t)n >= sizeof(topic) ? -ENAMETOOLONG : 0;
    if (r == 0) {
        r = sk_mqtt_stamp(row->payload, row->payload_len, sk_clock_wall_us(ob->clock), &payload,
                          &len);
    }
    if (r < 0) {
        /* Not publishable as it stands (the ledger checks topics and payloads, so this is
         * a bug or damage): skip it in this pass, say so, never drop it. */
        ob->stats.unpublishable++;
        sk_complain(&ob->fail_complaint, sk_clock_mono_us(ob->clock), SK_LOG_ERR, "mqtt", NULL,
                    "outbox event seq %lld (%s) cannot be published: %s", (long long)row->seq,
                    row->topic, sk_strerror(r));
        f->last_seq = row->seq;
        return f->visited == f->budget ? 3 : 0;
    }
    int mid = 0;
    struct sk_mqtt_pub pub = {.qos = 1};
    r = sk_mqtt_link_publish(ob->link, ob->gen, topic, payload, len, &pub, &mid);
    free(payload);
    if (r < 0) {
        /* Connection gone, or libmosquitto refused: stop this pass. The cursor stays before
         * this row, so the next pass (or connection) tries it again. */
        f->err = r;
        if (r != -ENOTCONN) {
            sk_complain(&ob->fail_complaint, sk_clock_mono_us(ob->clock), SK_LOG_ERR, "mqtt", NULL,
                        "cannot publish outbox event seq %lld: %s", (long long)row->seq,
                        sk_strerror(r));
        }
        return 2;
    }
    f->last_seq = row->seq;
    /* Message ids wrap at 65,535: a slot still waiting on this id lost its PUBACK long ago
     * (a full queue); it must not be credited with this message's acknowledgement. */
    for (size_t i = 0; i < ob->window; i++) {
        struct slot *old = &ob->slots[i];
        if (old->used && old->mid == mid) {
            time_out_slot(ob, old);
        }
    }
    struct slot *s = free_slot(ob);
    s->used = true;
    s->live = f->live;
    s->mid = mid;
    s->seq = row->seq;
    s->sent_mono_us = sk_clock_mono_us(ob->clock);
    ob->n_inflight++;
    if (!f->live) {
        ob->n_backlog_inflight++;
        ob->stats.backlog_sent++;
    } else {
        ob->stats.live_sent++;
    }
    f->sent++;
    return f->visited == f->budget ? 3 : 0;
}

static size_t refill_tokens(struct sk_mqtt_outbox *ob)
{
    if (ob->rate <= 0) {
        return SIZE_MAX;
    }
    /* A burst of at most a tenth of a second's worth (at least one message). */
    double cap = ob->rate / 10.0 > 1.0 ? ob->rate / 10.0 : 1.0;
    double tokens = sk_bucket_refill(&ob->bucket, sk_clock_mono_us(ob->clock), ob->rate, 1e6, cap);
    return tokens >= 1.0 ? (size_t)tokens : 0;
}

int mqtt_outbox_fill(struct sk_mqtt_outbox *ob)
{
    if (!ob->up || !ob->ledger) {
        return 0;
    }
    size_t sent = 0;
    /* Live first, leaving the backlog its share while it lasts. */
    size_t reserve = 0;
    if (!ob->backlog_done) {
        reserve = ob->window / 4 > 0 ? ob->window / 4 : 1;
        reserve = reserve > ob->n_backlog_inflight ? reserve - ob->n_backlog_inflight : 0;
    }
    size_t free_slots = ob->window - ob->n_inflight;
    if (free_slots > reserve) {
        struct fill_ctx f = {.ob = ob, .live = true, .budget = free_slots - reserve};
        int r = sk_ledger_outbox_pending(ob->ledger, ob->cursor_live, f.budget, publish_row, &f);
        if (f.last_seq > ob->cursor_live) {
            ob->cursor_live = f.last_seq;
            mqtt_outbox_note_head(ob, f.last_seq);
        }
        sent += f.sent;
        if (r < 0) {
            return r;
        }
        if (f.err) {
            return f.err;
        }
    }
    free_slots = ob->window - ob->n_inflight;
    if (!ob->backlog_done && free_slots > 0) {
        size_t tokens = refill_tokens(ob);
        size_t budget = free_slots < tokens ? free_slots : tokens;
        if (budget > 0) {
            struct fill_ctx f = {.ob = ob, .live = false, .budget = budget};
            int r = sk_ledger_outbox_pending(ob->ledger, ob->cursor_backlog, budget, publish_row,
                                             &f);
            if (f.last_seq > ob->cursor_backlog) {
                ob->cursor_backlog = f.last_seq;
            }
            if (ob->rate > 0) {
                ob->bucket.tokens -= (double)f.sent;
            }
            sent += f.sent;
            if (r < 0) {
                return r;
            }
            if (f.err) {
                return f.err;
            }
            /* A live row reached, or fewer rows than asked: nothing older is left. */
            if (f.stopped_at_floor || f.visited < budget) {
                ob->backlog_done = true;
            }
        }
    }
    return (int)sent;
}

int mqtt_outbox_puback(struct sk_mqtt_outbox *ob, uint32_t gen, int mid, int reason)
{
    if (!ob->up || gen != ob->gen) {
        return 0;
    }
    struct slot *s = NULL;
    for (size_t i = 0; i < ob->window && !s; i++) {
        if (ob->slots[i].used && ob->slots[i].mid == mid) {
            s = &ob->slots[i];
        }
    }
    if (!s) {
        return 0; /* not an event: status, health, a reply */
    }
    release_slot(ob, s);
    if (reason >= 0x80) {
        /* Refused (MQTT 5): not delivered. It stays pending and comes back in a rescan. */
        ob->stats.refused++;
        ob->rescan = true;
        sk_complain(&ob->fail_complaint, sk_clock_mono_us(ob->clock), SK_LOG_ERR, "mqtt", NULL,
                    "the broker refused event seq %lld (reason 0x%02x: %s); it stays in the "
                    "outbox",
                    (long long)s->seq, (unsigned)reason, sk_mqtt_reason_text(5, reason));
        return 1;
    }
    int r = sk_ledger_outbox_delivered(ob->ledger, s->seq, 0);
    if (r < 0) {
        ob->stats.mark_errors++;
        ob->rescan = true;
        sk_complain(&ob->fail_complaint, sk_clock_mono_us(ob->clock), SK_LOG_ERR, "mqtt", NULL,
                    "cannot mark event seq %lld delivered: %s (%s); it will be sent again",
                    (long long)s->seq, sk_strerror(r), sk_ledger_errmsg(ob->ledger));
    } else {
        ob->stats.delivered++;
        if (s->seq > ob->stats.last_acked_seq) {
            ob->stats.last_acked_seq = s->seq;
        }
    }
    return 1;
}

void mqtt_outbox_tick(struct sk_mqtt_outbox *ob)
{
    if (!ob->up) {
        return;
    }
    int64_t now = sk_clock_mono_us(ob->clock);
    for (size_t i = 0; i < ob->window; i++) {
        struct slot *s = &ob->slots[i];
        if (s->used && now - s->sent_mono_us > ob->inflight_timeout_us) {
            time_out_slot(ob, s);
        }
    }
    if (ob->rescan && ob->n_inflight == 0) {
        ob->stats.rescans++;
        restart_lanes(ob, ob->head_seq);
    }
}

void mqtt_outbox_rewind(struct sk_mqtt_outbox *ob, int64_t from_seq)
{
    if (ob->ordered) {
        if (ob->cursor_live > from_seq - 1) {
            ob->cursor_live = from_seq - 1; /* after what is in flight, in order again */
        }
        return;
    }
    /* Everything handed out so far goes below the floor (what is in flight keeps its slot and
     * lane), and the backlog lane restarts before from_seq: it finds the rows made pending
     * again there, oldest first, while live rows keep their own lane. */
    if (ob->cursor_live > ob->floor) {
        ob->floor = ob->cursor_live;
    }
    if (ob->backlog_done || ob->cursor_backlog > from_seq - 1) {
        ob->cursor_backlog = from_seq - 1;
    }
    ob->backlog_done = false;
}

/* A cheap check, when the window is idle, for pending rows behind the cursors (delivery
 * marks rolled back with a failed ledger batch). */
void mqtt_outbox_audit(struct sk_mqtt_outbox *ob, int64_t first_pending_seq)
{
    if (ob->up && ob->n_inflight == 0 && ob->backlog_done && first_pending_seq > 0 &&
        first_pending_seq <= ob->cursor_live) {
        ob->rescan = true;
        mqtt_outbox_tick(ob);
    }
}
