/* SPDX-License-Identifier: MIT */
/* The status document's shape, built in one place for the daemon and for `diag` without one. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sk_build_info.h"
#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/obs.h"
#include "storekeeper/report.h"
#include "storekeeper/rfid.h"

/*
 * DESIGN
 * The document (docs/technician.md, "Status document") has one shape whichever way it was
 * made: the daemon fills it from what its core and threads know (svc_status.c), `diag` without
 * a daemon from a few seconds of polling and a few frames (cmd_diag_status.c). The fields
 * that describe the same things are written here only, so the checks (report.c) judge both
 * alike and a field added for one way cannot be forgotten in the other.
 */

const char *sk_status_version(void)
{
    static char v[96];
    if (!v[0]) {
        snprintf(v, sizeof(v), "%s%s%s", SK_VERSION, SK_GIT_DESCRIBE[0] ? "-" : "",
                 SK_GIT_DESCRIBE);
    }
    return v;
}

void sk_status_add_time(cJSON *o, const char *key, int64_t wall_us)
{
    char t[40];
    if (wall_us > 0) {
        sk_format_time_utc(wall_us, t, sizeof(t));
        cJSON_AddStringToObject(o, key, t);
    }
}

cJSON *sk_status_doc_new(const struct sk_config *cfg, const char *mode, const char *config_path)
{
    cJSON *d = cJSON_CreateObject();
    if (!d) {
        return NULL;
    }
    cJSON_AddStringToObject(d, "schema", "storekeeper/status/v1");
    cJSON_AddStringToObject(d, "mode", mode);
    cJSON_AddStringToObject(d, "version", sk_status_version());
    cJSON_AddStringToObject(d, "store_id", cfg->store_id);
    cJSON_AddStringToObject(d, "device_id", cfg->device_id);
    cJSON_AddStringToObject(d, "board", cfg->board.name);
    cJSON_AddStringToObject(d, "role", cfg->role == SK_ROLE_SATELLITE ? "satellite" : "hub");
    sk_status_add_time(d, "time", sk_now_wall_us());
    cJSON *c = cJSON_AddObjectToObject(d, "config");
    if (c) {
        cJSON_AddStringToObject(c, "path", config_path);
        cJSON_AddStringToObject(c, "hash", cfg->hash);
    }
    return d;
}

static void add_health(cJSON *o, const struct sk_status_health *h)
{
    cJSON_AddStringToObject(o, "state", sk_health_state_name(h->state));
    if (h->reason) {
        cJSON_AddStringToObject(o, "reason", sk_health_reason_name(h->reason));
    }
    if (h->detail && h->detail[0] && h->state != SK_HEALTH_UP) {
        cJSON_AddStringToObject(o, "detail", h->detail);
    }
    sk_status_add_time(o, "since", h->since_wall_us);
}

cJSON *sk_status_reader_new(const struct sk_config *cfg,
                            const struct sk_reader_cfg *rc,
                            const struct sk_status_health *h,
                            const struct sk_rfid_reader_stats *rs)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    cJSON_AddStringToObject(o, "name", rc->name);
    cJSON_AddStringToObject(o, "bus", rc->bus);
    const struct sk_bus_cfg *bus = sk_config_bus(cfg, rc->bus);
    if (bus) {
        char url[SK_URL_MAX + SK_PATH_MAX];
        bool rs485 = false;
        if (sk_rfid_bus_url(cfg, bus, url, sizeof(url), &rs485) < 0) {
            snprintf(url, sizeof(url), "%s", bus->url);
        }
        cJSON_AddStringToObject(o, "bus_url", url);
    }
    cJSON_AddNumberToObject(o, "unit", rc->unit);
    cJSON_AddStringToObject(o, "profile", rc->profile);
    cJSON_AddStringToObject(o, "role", rc->role == SK_READER_EXIT ? "exit" : "shelf");
    add_health(o, h);
    if (rs) {
        cJSON_AddNumberToObject(o, "polls", (double)rs->polls);
        cJSON_AddNumberToObject(o, "poll_errors", (double)rs->poll_errors);
        cJSON_AddNumberToObject(o, "tag_reads", (double)rs->tag_reads);
        cJSON_AddNumberToObject(o, "requests", (double)rs->requests);
        cJSON_AddNumberToObject(o, "rtt_ms", (double)rs->last_rtt_us / 1000.0);
        cJSON_AddNumberToObject(o, "rtt_avg_ms", (double)rs->rtt_avg_us / 1000.0);
        cJSON_AddNumberToObject(o, "present", rs->present);
        if (rs->last_ok_mono_us) {
            cJSON_AddNumberToObject(o, "last_ok_age_s",
                                    (double)(sk_now_mono_us() - rs->last_ok_mono_us) / 1e6);
        }
    }
    cJSON *shelves = cJSON_AddArrayToObject(o, "shelves");
    for (size_t k = 0; shelves && k < cfg->n_shelves; k++) {
        if (strcmp(cfg->shelves[k].reader, rc->name) == 0) {
            cJSON_AddItemToArray(shelves, cJSON_CreateString(cfg->shelves[k].name));
        }
    }
    return o;
}

cJSON *sk_status_camera_new(const struct sk_config *cfg,
                            const struct sk_camera_cfg *cc,
                            const struct sk_status_health *h)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    cJSON_AddStringToObject(o, "name", cc->name);
    cJSON_AddStringToObject(o, "backend", cc->backend[0] ? cc->backend : cfg->board.camera_backend);
    cJSON_AddStringToObject(o, "device", cc->device);
    add_health(o, h);
    return o;
}

void sk_status_add_outbox(cJSON *ledger, const struct sk_outbox_stats *os, int64_t now_wall_us)
{
    cJSON *o = cJSON_AddObjectToObject(ledger, "outbox");
    if (!o) {
        return;
    }
    cJSON_AddNumberToObject(o, "pending", (double)os->pending);
    cJSON_AddNumberToObject(o, "delivered_kept", (double)os->delivered);
    cJSON_AddNumberToObject(
            o, "oldest_pending_age_s",
            os->oldest_pending_us ? (double)(now_wall_us - os->oldest_pending_us) / 1e6 : 0);
    cJSON_AddNumberToObject(o, "last_seq", (double)os->last_seq);
    cJSON_AddNumberToObject(o, "last_delivered_seq", (double)os->last_delivered_seq);
    cJSON_AddBoolToObject(o, "overflow", os->overflow);
}
