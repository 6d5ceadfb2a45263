/* SPDX-License-Identifier: MIT */
/* Fuzz target: the MQTT command parser (cJSON, field validation, limits) and its replies. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "storekeeper/command.h"
#include "storekeeper/error.h"
#include "storekeeper/mqtt_payload.h"

/*
 * Anyone who may publish to the device's cmd/ topics chooses these bytes. Byte 0 picks the
 * command name (every known one and an unknown one), the rest is the payload, parsed with the
 * limits the runtime uses (mqtt.command_max_bytes 64 KiB) against the example store's
 * configuration (restock_done names its shelves). A refused payload must name a known error
 * code; an accepted one must be of the command its topic named. The reply the device would
 * send echoes strings of the input (request_id, the error's field and message): it must parse
 * back as JSON with the same request_id, and be valid UTF-8 (JSON's encoding).
 */

/* RFC 3629 UTF-8: what a strict JSON consumer in the cloud accepts. */
static bool utf8_valid(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s;
        size_t n = c < 0x80             ? 0
                   : (c & 0xE0) == 0xC0 ? 1
                   : (c & 0xF0) == 0xE0 ? 2
                   : (c & 0xF8) == 0xF0 ? 3
                                        : 9;
        if (n == 9 || (n == 1 && c < 0xC2) || (n == 3 && c > 0xF4)) {
            return false;
        }
        unsigned cp = n == 0 ? c : c & (0x3F >> n);
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80) {
                return false;
            }
            cp = cp << 6 | (s[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        s += n + 1;
    }
    return true;
}

static void
check_reply(const char *name, const struct sk_cmd *cmd, const struct sk_cmd_error *err, bool ok)
{
    struct sk_mqtt_env env = {"storekeeper/v1/reply", "store", "dev", "ledger", 7, 1, 2};
    char *json = sk_mqtt_reply_json(&env, name, cmd->request_id, ok ? SK_CMD_DONE : SK_CMD_REJECTED,
                                    err, NULL, 0);
    if (!json) {
        return; /* out of memory */
    }
    cJSON *back = cJSON_Parse(json);
    if (!back || !utf8_valid((const unsigned char *)json)) {
        abort();
    }
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(back, "request_id");
    if (cmd->request_id[0] && (!cJSON_IsString(rid) || strcmp(rid->valuestring, cmd->request_id))) {
        abort();
    }
    cJSON_Delete(back);
    free(json);
}

static struct sk_config *cfg;

/* New names go at the end: the corpus picks a name by its index. */
static const char *const names[] = {
        "ping",         "diag",          "rebirth",         "catalog_upsert", "session_bind",
        "restock_done", "config_reload", "no_such_command", "outbox_resend"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[1100], data_dir[1024];
    const char *env = getenv("STOREKEEPER_DATADIR");
    snprintf(data_dir, sizeof(data_dir), "%s", env && env[0] ? env : SK_TEST_DATADIR);
    snprintf(path, sizeof(path), "%s/examples/demo-store.cfg", fuzz_source_dir());
    struct sk_config_opts opts = {.data_dir = data_dir};
    struct sk_diag d;
    sk_diag_init(&d);
    if (sk_config_load(path, &opts, &d, &cfg) < 0) {
        sk_diag_print(&d, stderr);
        abort();
    }
    sk_diag_free(&d);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const char *name = names[data[0] % (sizeof(names) / sizeof(names[0]))];
    const char *payload = size > 1 ? (const char *)data + 1 : NULL;
    struct sk_cmd cmd;
    struct sk_cmd_error err;
    memset(&err, 0, sizeof(err));
    int r = sk_cmd_parse(name, payload, size - 1, 64 * 1024, cfg, &cmd, &err);
    if (r == 0) {
        if (cmd.kind != sk_cmd_kind_from_name(name)) {
            abort();
        }
        if (cmd.kind == SK_CMD_CATALOG_UPSERT &&
            (cmd.u.catalog.n == 0 || cmd.u.catalog.n > SK_CMD_PRODUCTS)) {
            abort();
        }
        if (cmd.kind == SK_CMD_OUTBOX_RESEND &&
            (cmd.u.resend.from_seq < 1 || cmd.u.resend.to_seq < cmd.u.resend.from_seq ||
             cmd.u.resend.to_seq - cmd.u.resend.from_seq >= SK_CMD_RESEND_MAX)) {
            abort();
        }
        (void)sk_cmd_changes_state(cmd.kind);
    } else {
        if (r != SK_EMQTT_COMMAND || err.code == SK_CMD_ERR_NONE ||
            (unsigned)err.code > SK_CMD_ERR_TIMEOUT) {
            abort();
        }
        if (!memchr(err.message, '\0', sizeof(err.message)) ||
            !memchr(err.field, '\0', sizeof(err.field))) {
            abort();
        }
    }
    check_reply(sk_cmd_name(cmd.kind), &cmd, &err, r == 0);
    sk_cmd_clear(&cmd);
    return 0;
}
