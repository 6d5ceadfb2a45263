/* SPDX-License-Identifier: MIT */
/* JSON payload builders shared by the MQTT link thread and the core-side service. */
#include <stdio.h>
#include <stdlib.h>

#include "mqtt_internal.h"
#include "storekeeper/clock.h"
#include "storekeeper/mqtt.h"

void sk_mqtt_add_time(cJSON *obj, const char *key, int64_t wall_us)
{
    char ts[32];
    sk_format_time_utc(wall_us, ts, sizeof(ts));
    cJSON_AddStringToObject(obj, key, ts);
}

cJSON *sk_mqtt_env_new(const struct sk_mqtt_env *env)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    char id[37];
    sk_mqtt_uuid(id);
    cJSON_AddStringToObject(o, "schema", env->schema);
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddNumberToObject(o, "seq", (double)env->seq);
    if (env->ledger_id && env->ledger_id[0]) {
        cJSON_AddStringToObject(o, "ledger_id", env->ledger_id);
    }
    cJSON_AddStringToObject(o, "store_id", env->store_id);
    cJSON_AddStringToObject(o, "device_id", env->device_id);
    sk_mqtt_add_time(o, "time", env->time_us);
    sk_mqtt_add_time(o, "publish_time", env->published_us);
    return o;
}

char *sk_mqtt_print_free(cJSON *obj)
{
    if (!obj) {
        return NULL;
    }
    char *s = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    return s;
}

char *sk_mqtt_reply_json(const struct sk_mqtt_env *env,
                         const char *cmd_name,
                         const char *request_id,
                         enum sk_cmd_status status,
                         const struct sk_cmd_error *err,
                         cJSON *result,
                         int64_t repeat_of_us)
{
    cJSON *o = sk_mqtt_env_new(env);
    if (!o) {
        cJSON_Delete(result);
        return NULL;
    }
    if (cmd_name) {
        cJSON_AddStringToObject(o, "command", cmd_name);
    } else {
        cJSON_AddNullToObject(o, "command");
    }
    if (request_id && request_id[0]) {
        cJSON_AddStringToObject(o, "request_id", request_id);
    }
    cJSON_AddBoolToObject(o, "ok", status != SK_CMD_REJECTED);
    cJSON_AddStringToObject(o, "status", sk_cmd_status_name(status));
    if (repeat_of_us > 0) {
        cJSON_AddBoolToObject(o, "repeat", true);
        sk_mqtt_add_time(o, "first_reply", repeat_of_us);
    }
    if (status == SK_CMD_REJECTED && err) {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        if (e) {
            cJSON_AddStringToObject(e, "code", sk_cmd_error_name(err->code));
            if (err->field[0]) {
                cJSON_AddStringToObject(e, "field", err->field);
            }
            cJSON_AddStringToObject(e, "message", err->message);
            if (cJSON_IsArray(result)) {
                cJSON_AddItemToObject(e, "details", result);
                result = NULL;
            }
        }
        cJSON_Delete(result);
    } else if (result) {
        cJSON_AddItemToObject(o, "result", result);
    }
    return sk_mqtt_print_free(o);
}

char *sk_mqtt_will_json(const struct sk_mqtt_env *env, uint32_t bd_seq, int64_t started_us)
{
    cJSON *o = sk_mqtt_env_new(env);
    if (!o) {
        return NULL;
    }
    cJSON_AddStringToObject(o, "state", "offline");
    cJSON_AddNumberToObject(o, "bd_seq", bd_seq);
    sk_mqtt_add_time(o, "started", started_us);
    cJSON_AddStringToObject(o, "reason", "connection lost (last will)");
    return sk_mqtt_print_free(o);
}
