/* SPDX-License-Identifier: MIT */
/* Test helper: writes checkout events into a ledger's outbox, dumps payloads, prints stats. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/ledger.h"

/*
 * The MQTT tests need events in the outbox before the fusion logic (which writes real
 * checkouts) exists. This program writes them through the ledger's own API, as the core
 * will, from a second process: the daemon may be running (the ledger is in WAL mode with a
 * busy timeout, and the link polls for rows other processes commit).
 *
 *   outbox_tool fill LEDGER STORE DEVICE N [BATCH [RATE_PER_S [REVIEW_EVERY]]]
 *                                               every REVIEW_EVERY-th checkout is for review
 *   outbox_tool dump LEDGER STORE DEVICE        payload per line, pending rows, seq order
 *   outbox_tool stats LEDGER STORE DEVICE       pending last_seq first_pending_seq
 */

static struct sk_ledger *open_ledger(const char *path, const char *store, const char *device)
{
    struct sk_ledger_opts o = {.path = path,
                               .store_id = store,
                               .device_id = device,
                               .busy_timeout_ms = 20000,
                               .flags = SK_LEDGER_CREATE | SK_LEDGER_MIGRATE};
    char msg[512];
    struct sk_ledger *l = NULL;
    int r = sk_ledger_open(&o, msg, sizeof(msg), &l);
    if (r < 0) {
        fprintf(stderr, "outbox_tool: %s\n", msg);
        exit(1);
    }
    return l;
}

static cJSON *checkout_fields(long n, bool review)
{
    cJSON *f = cJSON_CreateObject();
    char sid[32];
    snprintf(sid, sizeof(sid), "s-%ld", n);
    cJSON_AddStringToObject(f, "session_id", sid);
    cJSON_AddNullToObject(f, "account_token");
    cJSON *items = cJSON_AddArrayToObject(f, "items");
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "sku", "cola-330");
    cJSON_AddNumberToObject(it, "quantity", 1 + n % 3);
    cJSON_AddNumberToObject(it, "unit_price_minor", 150);
    cJSON_AddItemToArray(items, it);
    cJSON_AddNumberToObject(f, "total_minor", 150 * (1 + n % 3));
    cJSON_AddStringToObject(f, "currency", "EUR");
    char ts[32];
    sk_format_time_utc(sk_now_wall_us(), ts, sizeof(ts));
    cJSON_AddStringToObject(f, "opened", ts);
    cJSON_AddStringToObject(f, "closed", ts);
    cJSON_AddNumberToObject(f, "confidence", 0.99);
    cJSON_AddBoolToObject(f, "review", review);
    cJSON *reasons = cJSON_AddArrayToObject(f, "review_reasons");
    if (review) {
        cJSON_AddItemToArray(reasons, cJSON_CreateString("low_confidence"));
    }
    return f;
}

static int fill(struct sk_ledger *l, long n, long batch, double rate, long review_every)
{
    int64_t first = 0, last = 0;
    int64_t t0 = sk_now_mono_us();
    for (long i = 0; i < n;) {
        int r = sk_ledger_begin(l);
        for (long k = 0; r >= 0 && k < batch && i < n; k++, i++) {
            cJSON *f = checkout_fields(i, review_every > 0 && i % review_every == review_every - 1);
            r = sk_ledger_event(l, "event/checkout", NULL, f, 0, &last);
            cJSON_Delete(f);
            if (!first) {
                first = last;
            }
        }
        if (r < 0 || (r = sk_ledger_commit(l)) < 0) {
            fprintf(stderr, "outbox_tool: %s (%s)\n", sk_strerror(r), sk_ledger_errmsg(l));
            return 1;
        }
        if (rate > 0) {
            int64_t due = t0 + (int64_t)((double)i / rate * 1e6);
            int64_t wait = due - sk_now_mono_us();
            if (wait > 0) {
                struct timespec ts = {wait / 1000000, (wait % 1000000) * 1000};
                nanosleep(&ts, NULL);
            }
        }
    }
    printf("%lld %lld\n", (long long)first, (long long)last);
    return 0;
}

static int dump_row(const struct sk_outbox_row *row, void *ctx)
{
    int64_t *last = ctx;
    fwrite(row->payload, 1, row->payload_len, stdout);
    fputc('\n', stdout);
    *last = row->seq;
    return 0;
}

static int dump(struct sk_ledger *l)
{
    int64_t after = 0;
    for (;;) {
        int64_t last = after;
        int r = sk_ledger_outbox_pending(l, after, 1000, dump_row, &last);
        if (r < 0) {
            return 1;
        }
        if (r == 0) {
            return 0;
        }
        after = last;
    }
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr,
                "usage: outbox_tool fill|dump|stats LEDGER STORE DEVICE [N [BATCH [RATE]]]\n");
        return 2;
    }
    struct sk_ledger *l = open_ledger(argv[2], argv[3], argv[4]);
    int rc = 2;
    if (strcmp(argv[1], "fill") == 0 && argc >= 6) {
        rc = fill(l, atol(argv[5]), argc > 6 ? atol(argv[6]) : 500, argc > 7 ? atof(argv[7]) : 0,
                  argc > 8 ? atol(argv[8]) : 0);
    } else if (strcmp(argv[1], "dump") == 0) {
        rc = dump(l);
    } else if (strcmp(argv[1], "stats") == 0) {
        struct sk_outbox_stats st;
        rc = sk_ledger_outbox_stats(l, &st) < 0;
        printf("%lld %lld %lld\n", (long long)st.pending, (long long)st.last_seq,
               (long long)st.first_pending_seq);
    }
    sk_ledger_close(l);
    return rc;
}
