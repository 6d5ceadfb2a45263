/* SPDX-License-Identifier: MIT */
/* The producer services `storekeeper run` starts, in start order (stopped in reverse). */
#include "storekeeper/services.h"

#include <errno.h>
#include <stddef.h>

#include "status_http.h"
#include "storekeeper/config.h"
#include "storekeeper/core.h"
#include "storekeeper/error.h"
#include "storekeeper/log.h"
#include "storekeeper/mqtt.h"
#include "storekeeper/rfid.h"
#include "svc_camera.h"
#include "svc_status.h"

/*
 * Each issue that adds a producer or consumer around the core (bus threads, cameras, the
 * MQTT link) adds its struct sk_service here. This file is part of the executable, not of
 * sk_firmware, because it is the one place that knows every library.
 */

/* ---- RFID: one thread per Modbus bus (firmware/services/svc_rfid.c)
 * ----------------------------------- */

static int rfid_start(struct sk_runtime *rt, void **ret_state)
{
    struct sk_diag diag;
    sk_diag_init(&diag);
    /* on the core thread, before any bus thread exists: the core's present set seeds the
     * presence filters, so a restart neither re-announces nor forgets what is on the shelves */
    struct sk_rfid_opts o = {
            .cfg = sk_runtime_config(rt),
            .queue = sk_runtime_queue(rt),
            .present = sk_core_present(sk_runtime_core(rt)),
            .clock = sk_runtime_clock(rt),
    };
    struct sk_rfid *r = NULL;
    int rc = sk_rfid_start(&o, &diag, &r);
    for (size_t i = 0; i < diag.n; i++) {
        sk_log(SK_LOG_ERR, "rfid", NULL, "%s", diag.lines[i]);
    }
    sk_diag_free(&diag);
    if (rc < 0) {
        return rc;
    }
    *ret_state = r;
    return 0;
}

static void rfid_stop(void *state)
{
    struct sk_rfid *r = state;
    if (r) {
        struct sk_rfid_stats st;
        sk_rfid_get_stats(r, &st);
        if (st.push_waits || st.push_failed) {
            sk_log(SK_LOG_NOTICE, "rfid", NULL,
                   "back-pressure: %llu push wait(s), %llu observation(s) not delivered at stop",
                   (unsigned long long)st.push_waits, (unsigned long long)st.push_failed);
        }
    }
    sk_rfid_stop(r);
}

static int rfid_reload(void *state, const struct sk_config *new_cfg)
{
    return sk_rfid_reload(state, new_cfg);
}

static const struct sk_service rfid_service = {
        .name = "rfid",
        .start = rfid_start,
        .stop = rfid_stop,
        .reload = rfid_reload,
};

const struct sk_service *const sk_services[] = {
        /* first: answers `diag` while the others start and stop, and sees every observation */
        &sk_status_service, &sk_mqtt_service, /* before producers: started before them, stopped
                                                 after them */
        &rfid_service,      &sk_camera_service, NULL,
};

int sk_services_check(const struct sk_config *cfg, struct sk_diag *diag)
{
    char err[600];
    if (cfg->http.enabled && status_http_check(err, sizeof(err)) < 0) {
        sk_diag_add(diag, "%s: %s", cfg->path, err);
        return -EINVAL;
    }
    return 0;
}
