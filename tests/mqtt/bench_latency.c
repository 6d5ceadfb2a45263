/* SPDX-License-Identifier: MIT */
/* Benchmark helper: the real runtime and MQTT service plus a producer of ledger events. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"
#include "storekeeper/mqtt.h"
#include "storekeeper/runtime.h"

/*
 * Commit-to-receipt latency needs events committed inside the daemon, where the ledger's
 * commit listener cues the link (events other processes write are found by polling). Until
 * the fusion logic writes real events, this program runs sk_runtime_main() with the real
 * MQTT service and one more service that commits one checkout event per timer tick in its
 * own transaction, and notes when each seq's commit returned (its own commit listener, so an
 * event that joined the runtime's open batch gets the batch's commit time).
 *
 *   bench_latency STORE.cfg EVENTS RATE_PER_S OUT
 * OUT receives "seq commit_wall_us" lines. The runtime stops itself 2 s after the last one.
 */

struct producer {
    struct sk_runtime *rt;
    struct sk_ledger *ledger;
    struct sk_loop_timer *timer;
    long total, made;
    int64_t *seqs, *commit_us;
    long first_uncommitted;
    const char *out;
    int64_t done_mono_us;
};

static struct producer P;

static void on_commit(int64_t last_seq, void *ctx)
{
    struct producer *p = ctx;
    int64_t now = sk_now_wall_us();
    while (p->first_uncommitted < p->made && p->seqs[p->first_uncommitted] <= last_seq) {
        p->commit_us[p->first_uncommitted++] = now;
    }
}

static void tick(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)expirations;
    struct producer *p = ctx;
    if (p->made >= p->total) {
        if (!p->done_mono_us) {
            p->done_mono_us = sk_now_mono_us();
        } else if (sk_now_mono_us() - p->done_mono_us > 2000000) {
            sk_loop_stop(loop);
        }
        return;
    }
    cJSON *f = cJSON_CreateObject();
    char sid[32];
    snprintf(sid, sizeof(sid), "bench-%ld", p->made);
    cJSON_AddStringToObject(f, "session_id", sid);
    cJSON *items = cJSON_AddArrayToObject(f, "items");
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "sku", "cola-330");
    cJSON_AddNumberToObject(it, "quantity", 1);
    cJSON_AddItemToArray(items, it);
    char ts[32];
    sk_format_time_utc(sk_now_wall_us(), ts, sizeof(ts));
    cJSON_AddStringToObject(f, "closed", ts);
    cJSON_AddNullToObject(f, "total_minor");
    cJSON_AddBoolToObject(f, "review", 0);
    int64_t seq = 0;
    int r = sk_ledger_begin(p->ledger);
    if (r >= 0) {
        r = sk_ledger_event(p->ledger, "event/checkout", NULL, f, 0, &seq);
    }
    if (r >= 0) {
        p->seqs[p->made++] = seq; /* before the commit: the listener runs inside it */
        r = sk_ledger_commit(p->ledger);
    } else {
        sk_ledger_rollback(p->ledger);
    }
    cJSON_Delete(f);
    if (r < 0) {
        fprintf(stderr, "bench_latency: %s (%s)\n", sk_strerror(r), sk_ledger_errmsg(p->ledger));
        sk_loop_stop(loop);
    }
}

static int producer_start(struct sk_runtime *rt, void **ret_state)
{
    P.rt = rt;
    P.ledger = sk_runtime_ledger(rt);
    int r = sk_ledger_add_commit_listener(P.ledger, on_commit, &P);
    if (r < 0) {
        return r;
    }
    const char *rate = getenv("SK_BENCH_RATE");
    int64_t ms = 1000 / (rate ? atol(rate) : 200);
    r = sk_loop_timer_add(sk_runtime_loop(rt), 1000, ms > 0 ? ms : 1, tick, &P, &P.timer);
    *ret_state = &P;
    return r;
}

static void producer_stop(void *state)
{
    struct producer *p = state;
    sk_ledger_remove_commit_listener(p->ledger, on_commit, p);
    FILE *f = fopen(p->out, "w");
    if (f) {
        for (long i = 0; i < p->first_uncommitted; i++) {
            fprintf(f, "%lld %lld\n", (long long)p->seqs[i], (long long)p->commit_us[i]);
        }
        fclose(f);
    }
}

static const struct sk_service producer = {
        .name = "bench-producer",
        .start = producer_start,
        .stop = producer_stop,
};

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_latency STORE.cfg EVENTS RATE_PER_S OUT\n");
        return 2;
    }
    sk_block_signals();
    P.total = atol(argv[2]);
    setenv("SK_BENCH_RATE", argv[3], 1);
    P.out = argv[4];
    P.seqs = calloc((size_t)P.total + 1, sizeof(*P.seqs));
    P.commit_us = calloc((size_t)P.total + 1, sizeof(*P.commit_us));
    if (!P.seqs || !P.commit_us) {
        return 1;
    }
    /* The MQTT service first: started before the producer, stopped after it. */
    static const struct sk_service *const services[] = {&sk_mqtt_service, &producer, NULL};
    struct sk_runtime_opts opts = {.config_path = argv[1], .services = services};
    int rc = sk_runtime_main(&opts);
    free(P.seqs);
    free(P.commit_us);
    return rc;
}
