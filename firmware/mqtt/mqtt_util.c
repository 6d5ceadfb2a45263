/* SPDX-License-Identifier: MIT */
/* MQTT helpers without a connection: topics, client id, UUIDs, stamping. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <mqtt_protocol.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/random.h>
#include <sys/stat.h>

#include <mosquitto.h>

#include "mqtt_internal.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/mqtt.h"
#include "storekeeper/uuid.h"

int sk_mqtt_topic(const struct sk_config *cfg, const char *suffix, char *buf, size_t size)
{
    int n = snprintf(buf, size, SK_MQTT_PREFIX "%s/%s/%s", cfg->store_id, cfg->device_id,
                     suffix ? suffix : "");
    if (n < 0 || (size_t)n >= size) {
        if (size) {
            buf[0] = '\0';
        }
        return -ENAMETOOLONG;
    }
    return n;
}

void sk_mqtt_client_id(const struct sk_config *cfg, const char *suffix, char *buf, size_t size)
{
    if (cfg->mqtt.client_id[0]) {
        snprintf(buf, size, "%s%s%s", cfg->mqtt.client_id, suffix ? "-" : "", suffix ? suffix : "");
    } else {
        snprintf(buf, size, "%s-%s%s%s", cfg->store_id, cfg->device_id, suffix ? "-" : "",
                 suffix ? suffix : "");
    }
}

void sk_mqtt_uuid(char out[37])
{
    uint8_t b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        /* getrandom does not fail for 16 bytes once the pool is initialised; be safe anyway */
        int64_t t = sk_now_mono_us() ^ sk_now_wall_us();
        for (size_t i = 0; i < sizeof(b); i++) {
            t = t * 6364136223846793005LL + 1442695040888963407LL;
            b[i] = (uint8_t)(t >> 56);
        }
    }
    b[6] = (uint8_t)((b[6] & 0x0F) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);
    sk_uuid_format(b, out);
}

int sk_mqtt_stamp(const char *payload,
                  size_t len,
                  int64_t published_wall_us,
                  char **ret_payload,
                  size_t *ret_len)
{
    size_t start = 0, end = len;
    while (start < end && isspace((unsigned char)payload[start])) {
        start++;
    }
    while (end > start && isspace((unsigned char)payload[end - 1])) {
        end--;
    }
    if (end - start < 2 || payload[start] != '{' || payload[end - 1] != '}') {
        return -EINVAL;
    }
    /* "{}" gets no separating comma. */
    size_t inner = start + 1;
    while (inner < end - 1 && isspace((unsigned char)payload[inner])) {
        inner++;
    }
    bool empty = inner == end - 1;
    char ts[32];
    sk_format_time_utc(published_wall_us, ts, sizeof(ts));
    char extra[64];
    int n = snprintf(extra, sizeof(extra), "%s\"publish_time\":\"%s\"}", empty ? "" : ",", ts);
    size_t body = empty ? 1 : end - 1 - start; /* without the closing brace */
    char *out = malloc(body + (size_t)n + 1);
    if (!out) {
        return -ENOMEM;
    }
    memcpy(out, payload + start, body);
    memcpy(out + body, extra, (size_t)n + 1);
    *ret_payload = out;
    *ret_len = body + (size_t)n;
    return 0;
}

const char *sk_mqtt_reason_text(int protocol, int code)
{
    if (protocol == 5) {
        switch (code) {
        case MQTT_RC_BAD_USERNAME_OR_PASSWORD:
            return "bad user name or password";
        case MQTT_RC_NOT_AUTHORIZED:
            return "not authorized (bad credentials, or not allowed)";
        case MQTT_RC_CLIENTID_NOT_VALID:
            return "client id refused";
        case MQTT_RC_SERVER_UNAVAILABLE:
            return "broker unavailable";
        case MQTT_RC_SERVER_BUSY:
            return "broker busy";
        case MQTT_RC_BANNED:
            return "client banned";
        case MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION:
            return "broker does not speak MQTT 5";
        default:
            return mosquitto_reason_string(code);
        }
    }
    switch (code) {
    case 1:
        return "broker does not speak this MQTT version";
    case 2:
        return "client id refused";
    case 3:
        return "broker unavailable";
    case 4:
        return "bad user name or password";
    case 5:
        return "not authorized (bad credentials, or not allowed)";
    default:
        return mosquitto_connack_string(code);
    }
}

/* printf into a short detail field (SK_TEXT_MAX: it travels in an observation). A library
 * message (OpenSSL's are long) that does not fit is cut at the last space before the end and
 * marked with "...", never in the middle of a word. */
void mqtt_detailf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n < size || size < 16) {
        return;
    }
    size_t cut = size - 4; /* room for "..." and the NUL */
    while (cut > size / 2 && buf[cut] != ' ') {
        cut--;
    }
    while (cut > 0 && (buf[cut - 1] == ' ' || buf[cut - 1] == ',' || buf[cut - 1] == ':' ||
                       buf[cut - 1] == ';')) {
        cut--;
    }
    memcpy(buf + cut, "...", 4);
}
