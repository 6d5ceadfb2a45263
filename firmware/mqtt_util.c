/* SPDX-License-Identifier: MIT */
/* MQTT helpers without a connection: credentials file, topics, client id, UUIDs, stamping. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/random.h>
#include <sys/stat.h>

#include <mosquitto.h>

#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/mqtt.h"

#define CRED_FILE_MAX 4096

void sk_mqtt_credentials_wipe(struct sk_mqtt_credentials *c)
{
    if (c) {
        explicit_bzero(c, sizeof(*c));
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) {
        s[--n] = '\0';
    }
    return s;
}

int sk_mqtt_secret_file_ok(
        const char *path, const struct stat *st, const char *holds, char *err, size_t err_size)
{
    if (st->st_mode & (S_IRWXO | S_IWGRP | S_IXGRP)) {
        snprintf(err, err_size,
                 "%s: holds %s but others may access it%s (mode %04o); chmod 0640 it with group "
                 "storekeeper and owner root, or 0600",
                 path, holds, st->st_mode & S_IWGRP ? " or its group may change it" : "",
                 (unsigned)(st->st_mode & 07777));
        return SK_ECONFIG;
    }
    uid_t me = geteuid();
    if (st->st_uid != 0 && st->st_uid != me) {
        snprintf(err, err_size,
                 "%s: holds %s but belongs to uid %u, neither root nor the user storekeeper runs "
                 "as (uid %u), who could replace it; chown it",
                 path, holds, (unsigned)st->st_uid, (unsigned)me);
        return SK_ECONFIG;
    }
    return 0;
}

int sk_mqtt_credentials_load(const char *path,
                             struct sk_mqtt_credentials *ret,
                             char *err,
                             size_t err_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_size, "%s: not a regular file", path);
        close(fd);
        return SK_ECONFIG;
    }
    if (sk_mqtt_secret_file_ok(path, &st, "a password", err, err_size) < 0) {
        close(fd);
        return SK_ECONFIG;
    }
    if (st.st_size > CRED_FILE_MAX) {
        snprintf(err, err_size, "%s: %lld bytes; a credentials file has at most %d", path,
                 (long long)st.st_size, CRED_FILE_MAX);
        close(fd);
        return SK_ECONFIG;
    }
    char buf[CRED_FILE_MAX + 1];
    ssize_t n = read(fd, buf, CRED_FILE_MAX);
    int e = errno;
    close(fd);
    if (n < 0) {
        snprintf(err, err_size, "%s: cannot read: %s", path, strerror(e));
        return -e;
    }
    int r = sk_mqtt_credentials_parse(path, buf, (size_t)n, ret, err, err_size);
    explicit_bzero(buf, sizeof(buf));
    return r;
}

int sk_mqtt_credentials_parse(const char *path,
                              const char *text,
                              size_t len,
                              struct sk_mqtt_credentials *ret,
                              char *err,
                              size_t err_size)
{
    if (len > CRED_FILE_MAX) {
        snprintf(err, err_size, "%s: %zu bytes; a credentials file has at most %d", path, len,
                 CRED_FILE_MAX);
        return SK_ECONFIG;
    }
    if (memchr(text, '\0', len)) {
        snprintf(err, err_size, "%s: contains a NUL byte (not a text file)", path);
        return SK_ECONFIG;
    }
    char buf[CRED_FILE_MAX + 1];
    memcpy(buf, text, len);
    buf[len] = '\0';

    struct sk_mqtt_credentials c;
    memset(&c, 0, sizeof(c));
    bool have_user = false, have_pass = false;
    int line_no = 0;
    int r = 0;
    /* strtok_r would merge empty lines and lose the numbering: split by hand. */
    char *line = buf;
    while (line && r == 0) {
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
        }
        line_no++;
        char *t = trim(line);
        if (t[0] && t[0] != '#') {
            char *eq = strchr(t, '=');
            if (!eq) {
                snprintf(err, err_size, "%s:%d: expected `username = NAME` or `password = SECRET`",
                         path, line_no);
                r = SK_ECONFIG;
                break;
            }
            *eq = '\0';
            char *key = trim(t);
            char *val = trim(eq + 1);
            char *field;
            size_t size;
            bool *seen;
            if (strcmp(key, "username") == 0) {
                field = c.username;
                size = sizeof(c.username);
                seen = &have_user;
            } else if (strcmp(key, "password") == 0) {
                field = c.password;
                size = sizeof(c.password);
                seen = &have_pass;
            } else {
                snprintf(err, err_size, "%s:%d: unknown key \"%.32s\" (username, password)", path,
                         line_no, key);
                r = SK_ECONFIG;
                break;
            }
            if (*seen) {
                snprintf(err, err_size, "%s:%d: %s is given twice", path, line_no, key);
                r = SK_ECONFIG;
            } else if (!val[0]) {
                snprintf(err, err_size, "%s:%d: %s is empty", path, line_no, key);
                r = SK_ECONFIG;
            } else if (strlen(val) >= size) {
                snprintf(err, err_size, "%s:%d: %s is longer than %zu bytes", path, line_no, key,
                         size - 1);
                r = SK_ECONFIG;
            } else {
                memcpy(field, val, strlen(val) + 1);
                *seen = true;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    if (r == 0 && !have_user) {
        snprintf(err, err_size, "%s: no `username = NAME` line", path);
        r = SK_ECONFIG;
    }
    explicit_bzero(buf, sizeof(buf));
    if (r < 0) {
        sk_mqtt_credentials_wipe(&c);
        return r;
    }
    *ret = c;
    sk_mqtt_credentials_wipe(&c);
    return 0;
}

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
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
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
