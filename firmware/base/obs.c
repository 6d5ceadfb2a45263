/* SPDX-License-Identifier: MIT */
/* Observation helpers: releasing owned blobs and naming enum values for logs and payloads. */
#include "storekeeper/obs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storekeeper/names.h"

void sk_obs_release(struct sk_obs *obs)
{
    if (!obs || (obs->type != SK_OBS_MQTT_COMMAND && obs->type != SK_OBS_SATELLITE)) {
        return;
    }
    free(obs->u.command.payload);
    free(obs->u.command.response_topic);
    free(obs->u.command.correlation);
    obs->u.command.payload = NULL;
    obs->u.command.response_topic = NULL;
    obs->u.command.correlation = NULL;
}

const char *sk_obs_type_name(int type)
{
    static const char *const names[SK_OBS_TYPE_COUNT] = {
            [SK_OBS_NONE] = "none",
            [SK_OBS_TAG_ARRIVED] = "tag_arrived",
            [SK_OBS_TAG_DEPARTED] = "tag_departed",
            [SK_OBS_READER_HEALTH] = "reader_health",
            [SK_OBS_TRACK_NEW] = "track_new",
            [SK_OBS_TRACK_LOST] = "track_lost",
            [SK_OBS_ZONE_ENTER] = "zone_enter",
            [SK_OBS_ZONE_LEAVE] = "zone_leave",
            [SK_OBS_LINE_CROSS] = "line_cross",
            [SK_OBS_FLOW] = "flow",
            [SK_OBS_CAMERA_HEALTH] = "camera_health",
            [SK_OBS_MQTT_COMMAND] = "mqtt_command",
            [SK_OBS_MQTT_LINK] = "mqtt_link",
            [SK_OBS_TIMER] = "timer",
            [SK_OBS_REACH] = "reach",
            [SK_OBS_SATELLITE] = "satellite",
            [SK_OBS_TRACK_MOVE] = "track_move",
    };
    return SK_NAME_OF(names, type, "unknown");
}

bool sk_obs_of_track(int type)
{
    switch (type) {
    case SK_OBS_TRACK_NEW:
    case SK_OBS_TRACK_LOST:
    case SK_OBS_TRACK_MOVE:
    case SK_OBS_ZONE_ENTER:
    case SK_OBS_ZONE_LEAVE:
    case SK_OBS_LINE_CROSS:
        return true;
    default:
        return false;
    }
}

bool sk_obs_forwarded(int type)
{
    if (sk_obs_of_track(type)) {
        return true;
    }
    switch (type) {
    case SK_OBS_TAG_ARRIVED:
    case SK_OBS_TAG_DEPARTED:
    case SK_OBS_READER_HEALTH:
    case SK_OBS_FLOW:
    case SK_OBS_CAMERA_HEALTH:
    case SK_OBS_REACH:
        return true;
    default:
        return false;
    }
}

const char *sk_health_state_name(int state)
{
    static const char *const names[] = {"unknown", "up", "degraded", "down"};
    return state >= 0 && state < 4 ? names[state] : "unknown";
}

const char *sk_health_reason_name(int reason)
{
    static const char *const names[] = {"none",         "timeout",      "exception", "crc",
                                        "read_rate",    "disconnected", "bad_reply", "no_frames",
                                        "black_frames", "overload"};
    return reason >= 0 && reason < (int)(sizeof(names) / sizeof(names[0])) ? names[reason]
                                                                           : "unknown";
}

void sk_obs_set_source(struct sk_obs *obs, const char *src)
{
    snprintf(obs->source, sizeof(obs->source), "%s", src ? src : "");
}
