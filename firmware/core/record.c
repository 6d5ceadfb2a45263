/* SPDX-License-Identifier: MIT */
/* Observation logs: writing what the core handles (`run --record`), reading it back (`replay`). */
#include "storekeeper/record.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "storekeeper/epc.h"
#include "storekeeper/error.h"

/*
 * One JSON object per line: easy to grep, to cut and to read for a person who asks "what did
 * the store see at 10:42?", and every field is named. Numbers are integers (microseconds,
 * counts) or floats that print back to the same value, so a line read back is the observation
 * that was written, bit for bit where it matters to the core.
 */

struct sk_record {
    FILE *f;
    int64_t bytes;
    bool full;
};

static void add_int(cJSON *o, const char *k, double v)
{
    cJSON_AddItemToObject(o, k, cJSON_CreateNumber(v));
}

int sk_record_open(const char *path,
                   const struct sk_config *cfg,
                   struct sk_ledger *ledger,
                   int64_t loaded_mono_us,
                   int64_t loaded_wall_us,
                   char *err,
                   size_t err_size,
                   struct sk_record **ret)
{
    struct sk_record *r = calloc(1, sizeof(*r));
    if (!r) {
        return -ENOMEM;
    }
    char lpath[SK_PATH_MAX * 2 + 16];
    snprintf(lpath, sizeof(lpath), "%s.ledger", path);
    /* "x": never overwrite an earlier recording */
    r->f = fopen(path, "wx");
    if (!r->f) {
        int e = errno;
        snprintf(err, err_size, "%s: %s", path, strerror(e));
        free(r);
        return -e;
    }
    int rc = sk_ledger_backup(ledger, lpath);
    if (rc < 0) {
        snprintf(err, err_size, "%s", sk_ledger_errmsg(ledger));
        fclose(r->f);
        unlink(path);
        free(r);
        return rc;
    }
    struct sk_outbox_stats st;
    int64_t last_seq = sk_ledger_outbox_stats(ledger, &st) == 0 ? st.last_seq : 0;
    const char *base = strrchr(lpath, '/');
    cJSON *h = cJSON_CreateObject();
    add_int(h, "storekeeper_record", SK_RECORD_VERSION);
    cJSON_AddStringToObject(h, "store_id", cfg->store_id);
    cJSON_AddStringToObject(h, "device_id", cfg->device_id);
    cJSON_AddStringToObject(h, "config_hash", cfg->hash);
    add_int(h, "mono", (double)loaded_mono_us);
    add_int(h, "wall", (double)loaded_wall_us);
    add_int(h, "last_seq", (double)last_seq);
    cJSON_AddStringToObject(h, "ledger", base ? base + 1 : lpath);
    char *text = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!text || fprintf(r->f, "%s\n", text) < 0 || fflush(r->f) != 0) {
        int e = errno ? errno : ENOMEM;
        snprintf(err, err_size, "%s: %s", path, strerror(e));
        free(text);
        sk_record_close(r);
        return -e;
    }
    r->bytes = (int64_t)strlen(text) + 1;
    free(text);
    *ret = r;
    return 0;
}

static int write_line(struct sk_record *r, cJSON *o)
{
    if (r->full) {
        cJSON_Delete(o);
        return -EFBIG;
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) {
        return -ENOMEM;
    }
    size_t n = strlen(text);
    if (n + 1 > SK_RECORD_LINE_MAX || r->bytes + (int64_t)n + 1 > SK_RECORD_MAX_BYTES) {
        free(text);
        r->full = true;
        return -EFBIG;
    }
    int rc = fprintf(r->f, "%s\n", text) < 0 ? -errno : 0;
    r->bytes += (int64_t)n + 1;
    free(text);
    return rc;
}

static void hex_field(cJSON *o, const char *k, const uint8_t *b, size_t n)
{
    char hex[2 * SK_EPC_MAX + 1];
    if (n <= SK_EPC_MAX) {
        sk_epc_to_hex(b, n, hex, sizeof(hex));
        cJSON_AddStringToObject(o, k, hex);
        return;
    }
    char *big = malloc(2 * n + 1);
    if (big && sk_epc_to_hex(b, n, big, 2 * n + 1) >= 0) {
        cJSON_AddStringToObject(o, k, big);
    }
    free(big);
}

/*
 * The fields of each kind of observation, in one table that both directions read: the writer
 * names every field, the reader checks its range on the way back (a recording is outside
 * input). Commands carry owned strings and stay written out by hand below.
 */
enum field_kind {
    F_INT,   /* an integer member: off, size; read back within [lo, hi] (signed when lo < 0) */
    F_FLOAT, /* a float member, within [lo, hi] */
    F_TEXT,  /* a char array of size bytes */
    F_HEX,   /* a byte array of size bytes, its uint8_t length at len_off */
};

struct field {
    const char *key;
    enum field_kind kind;
    size_t off, size;
    bool is_signed;
    double lo, hi;
    size_t len_off;
    bool optional; /* absent in recordings made before it existed */
};

#define U32_MAX_D 4294967295.0
#define I32_MIN_D -2147483648.0
#define I32_MAX_D 2147483647.0
/* clang-format off */
#define F_INT_(T, m, k, lo, hi, opt) \
    {k, F_INT, offsetof(T, m), sizeof(((T *)0)->m), (lo) < 0, lo, hi, 0, opt}
#define INT(T, m, k, lo, hi) F_INT_(T, m, k, lo, hi, false)
#define FLT(T, m, k, lo, hi) {k, F_FLOAT, offsetof(T, m), sizeof(float), true, lo, hi, 0, false}
#define TXT(T, m, k) {k, F_TEXT, offsetof(T, m), sizeof(((T *)0)->m), false, 0, 0, 0, false}
#define HEX(T, m, len, k) \
    {k, F_HEX, offsetof(T, m), sizeof(((T *)0)->m), false, 0, 0, offsetof(T, len), false}
/* clang-format on */

static const struct field tag_fields[] = {
        INT(struct sk_obs_tag, antenna, "ant", 0, 255),
        HEX(struct sk_obs_tag, epc, epc_len, "epc"),
        INT(struct sk_obs_tag, rssi_cdbm, "rssi", -32768, 32767),
        INT(struct sk_obs_tag, reads, "reads", 0, U32_MAX_D),
        INT(struct sk_obs_tag, last_seen_us, "seen", 0, 9e15),
        /* the removal interval's end; absent in recordings made before it existed */
        F_INT_(struct sk_obs_tag, first_missed_us, "missed", 0, 9e15, true),
        /* the arrival interval; absent in recordings made before it existed */
        F_INT_(struct sk_obs_tag, first_seen_us, "first", 0, 9e15, true),
        F_INT_(struct sk_obs_tag, absent_us, "absent", 0, 9e15, true),
        {NULL},
};

static const struct field health_fields[] = {
        INT(struct sk_obs_health, state, "state", 0, 255),
        INT(struct sk_obs_health, reason, "reason", 0, 255),
        INT(struct sk_obs_health, errors, "errors", 0, U32_MAX_D),
        INT(struct sk_obs_health, rtt_us, "rtt", 0, U32_MAX_D),
        TXT(struct sk_obs_health, detail, "detail"),
        {NULL},
};

static const struct field track_fields[] = {
        INT(struct sk_obs_track, track_id, "id", 0, U32_MAX_D),
        FLT(struct sk_obs_track, x, "x", -1e6, 1e6),
        FLT(struct sk_obs_track, y, "y", -1e6, 1e6),
        TXT(struct sk_obs_track, zone, "zone"),
        INT(struct sk_obs_track, dir, "dir", 0, 255),
        INT(struct sk_obs_track, role, "role", 0, 255),
        INT(struct sk_obs_track, dwell_ms, "dwell", 0, U32_MAX_D),
        {NULL},
};

/* A reach is a track observation with how deep it went. */
static const struct field reach_fields[] = {
        INT(struct sk_obs_track, track_id, "id", 0, U32_MAX_D),
        FLT(struct sk_obs_track, x, "x", -1e6, 1e6),
        FLT(struct sk_obs_track, y, "y", -1e6, 1e6),
        TXT(struct sk_obs_track, zone, "zone"),
        INT(struct sk_obs_track, dwell_ms, "dwell", 0, U32_MAX_D),
        FLT(struct sk_obs_track, reach, "reach", 0, 1),
        /* whether another's arm could have been there; absent in older recordings */
        F_INT_(struct sk_obs_track, sole, "sole", 0, 2, true),
        {NULL},
};

static const struct field flow_fields[] = {
        INT(struct sk_obs_flow, entries, "entries", 0, U32_MAX_D),
        INT(struct sk_obs_flow, exits, "exits", 0, U32_MAX_D),
        INT(struct sk_obs_flow, occupancy, "occ", 0, U32_MAX_D),
        FLT(struct sk_obs_flow, fps, "fps", 0, 1e6),
        INT(struct sk_obs_flow, dropped, "dropped", 0, U32_MAX_D),
        FLT(struct sk_obs_flow, proc_ms, "proc", 0, 1e9),
        INT(struct sk_obs_flow, processed, "processed", 0, U32_MAX_D),
        INT(struct sk_obs_flow, obs_dropped, "obs_dropped", 0, U32_MAX_D),
        /* without it a replay uses the configured interval */
        F_INT_(struct sk_obs_flow, span_ms, "span", 0, U32_MAX_D, true),
        {NULL},
};

static const struct field mqtt_fields[] = {
        INT(struct sk_obs_mqtt, event, "event", 0, 255),
        INT(struct sk_obs_mqtt, mid, "mid", I32_MIN_D, I32_MAX_D),
        INT(struct sk_obs_mqtt, reason_code, "rc", I32_MIN_D, I32_MAX_D),
        INT(struct sk_obs_mqtt, generation, "gen", 0, U32_MAX_D),
        INT(struct sk_obs_mqtt, protocol, "proto", 0, 255),
        INT(struct sk_obs_mqtt, flags, "flags", 0, 255),
        INT(struct sk_obs_mqtt, retry_ms, "retry", I32_MIN_D, I32_MAX_D),
        TXT(struct sk_obs_mqtt, detail, "detail"),
        {NULL},
};

static const struct field *fields_of(int type)
{
    if (sk_obs_of_track(type)) {
        return track_fields;
    }
    switch (type) {
    case SK_OBS_TAG_ARRIVED:
    case SK_OBS_TAG_DEPARTED:
        return tag_fields;
    case SK_OBS_READER_HEALTH:
    case SK_OBS_CAMERA_HEALTH:
        return health_fields;
    case SK_OBS_REACH:
        return reach_fields;
    case SK_OBS_FLOW:
        return flow_fields;
    case SK_OBS_MQTT_LINK:
        return mqtt_fields;
    default:
        return NULL;
    }
}

static double get_int(const void *p, size_t size, bool is_signed)
{
    if (is_signed) {
        return size == 1   ? *(const int8_t *)p
               : size == 2 ? *(const int16_t *)p
               : size == 4 ? *(const int32_t *)p
                           : (double)*(const int64_t *)p;
    }
    return size == 1   ? *(const uint8_t *)p
           : size == 2 ? *(const uint16_t *)p
           : size == 4 ? *(const uint32_t *)p
                       : (double)*(const uint64_t *)p;
}

static void set_int(void *p, size_t size, bool is_signed, double v)
{
    if (size == 1 && is_signed) {
        *(int8_t *)p = (int8_t)v;
    } else if (size == 1) {
        *(uint8_t *)p = (uint8_t)v;
    } else if (size == 2 && is_signed) {
        *(int16_t *)p = (int16_t)v;
    } else if (size == 2) {
        *(uint16_t *)p = (uint16_t)v;
    } else if (size == 4 && is_signed) {
        *(int32_t *)p = (int32_t)v;
    } else if (size == 4) {
        *(uint32_t *)p = (uint32_t)v;
    } else if (is_signed) {
        *(int64_t *)p = (int64_t)v;
    } else {
        *(uint64_t *)p = (uint64_t)v;
    }
}

static void write_fields(cJSON *o, const void *base, const struct field *f)
{
    const char *b = base;
    for (; f->key; f++) {
        switch (f->kind) {
        case F_INT:
            add_int(o, f->key, get_int(b + f->off, f->size, f->is_signed));
            break;
        case F_FLOAT:
            add_int(o, f->key, *(const float *)(const void *)(b + f->off));
            break;
        case F_TEXT:
            cJSON_AddStringToObject(o, f->key, b + f->off);
            break;
        case F_HEX: {
            size_t n = *(const uint8_t *)(b + f->len_off);
            hex_field(o, f->key, (const uint8_t *)(b + f->off), n <= f->size ? n : 0);
            break;
        }
        }
    }
}

static void obs_fields(cJSON *o, const struct sk_obs *obs)
{
    cJSON_AddStringToObject(o, "type", sk_obs_type_name(obs->type));
    add_int(o, "m", (double)obs->mono_us);
    add_int(o, "ow", (double)obs->wall_us);
    cJSON_AddStringToObject(o, "src", obs->source);
    if (obs->origin[0]) {
        cJSON_AddStringToObject(o, "org", obs->origin);
        cJSON_AddStringToObject(o, "orgl", obs->origin_ledger);
        add_int(o, "orgs", (double)obs->origin_seq);
        add_int(o, "orgm", (double)obs->origin_mark);
    }
    const struct field *fields = fields_of(obs->type);
    if (fields) {
        write_fields(o, &obs->u, fields);
    }
    if (obs->type == SK_OBS_MQTT_COMMAND || obs->type == SK_OBS_SATELLITE) {
        const struct sk_obs_command *c = &obs->u.command;
        cJSON_AddStringToObject(o, "name", c->name);
        if (c->payload) {
            cJSON_AddStringToObject(o, "payload", c->payload);
        } else {
            cJSON_AddNullToObject(o, "payload");
        }
        add_int(o, "plen", (double)c->payload_len);
        if (c->response_topic) {
            cJSON_AddStringToObject(o, "rt", c->response_topic);
        }
        if (c->correlation) {
            hex_field(o, "corr", c->correlation, c->correlation_len);
        }
        add_int(o, "gen", c->generation);
        add_int(o, "flags", c->flags);
        if (c->identity[0]) {
            cJSON_AddStringToObject(o, "from", c->identity);
        }
    }
}

cJSON *sk_record_obs_json(const struct sk_obs *obs)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        obs_fields(o, obs);
    }
    return o;
}

int sk_record_obs(struct sk_record *r, int64_t mono_us, int64_t wall_us, const struct sk_obs *obs)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return -ENOMEM;
    }
    add_int(o, "t", (double)mono_us);
    add_int(o, "w", (double)wall_us);
    obs_fields(o, obs);
    return write_line(r, o);
}

int sk_record_tick(struct sk_record *r, int64_t mono_us, int64_t wall_us)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return -ENOMEM;
    }
    add_int(o, "t", (double)mono_us);
    add_int(o, "w", (double)wall_us);
    cJSON_AddBoolToObject(o, "tick", true);
    int rc = write_line(r, o);
    /* a tick is the moment to flush: a crash loses a tick's worth at most */
    if (rc == 0 && fflush(r->f) != 0) {
        rc = -errno;
    }
    return rc;
}

void sk_record_close(struct sk_record *r)
{
    if (r) {
        if (r->f) {
            fclose(r->f);
        }
        free(r);
    }
}

/* ---- reading --------------------------------------------------------------------------------- */

struct sk_record_reader {
    FILE *f;
    char path[SK_PATH_MAX * 2];
    int line;
    char *buf;
    struct sk_record_header h;
};

struct rd {
    const char *path;
    int line;
    char *err;
    size_t err_size;
    bool bad;
};

static void problem(struct rd *r, const char *what, const char *key)
{
    if (!r->bad) {
        snprintf(r->err, r->err_size, "%s:%d: %s%s%s", r->path, r->line, what, key ? ": " : "",
                 key ? key : "");
    }
    r->bad = true;
}

static double num(struct rd *r, const cJSON *o, const char *k, double lo, double hi)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi) {
        problem(r, "missing or out-of-range number", k);
        return 0;
    }
    return v->valuedouble;
}

static void str(struct rd *r, const cJSON *o, const char *k, char *out, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= size) {
        problem(r, "missing or too long text", k);
        out[0] = 0;
        return;
    }
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
}

/* Reads one line (without its newline) into rd->buf. 1, 0 at the end, < 0. */
static int read_line(struct sk_record_reader *rd, struct rd *r)
{
    size_t n = 0;
    int c;
    while ((c = fgetc(rd->f)) != EOF && c != '\n') {
        if (n + 1 >= SK_RECORD_LINE_MAX) {
            rd->line++;
            r->line = rd->line;
            problem(r, "line longer than the limit", NULL);
            return SK_ERECORD;
        }
        rd->buf[n++] = (char)c;
    }
    if (c == EOF && n == 0) {
        return 0;
    }
    rd->buf[n] = 0;
    rd->line++;
    r->line = rd->line;
    return 1;
}

int sk_record_reader_open(const char *path,
                          char *err,
                          size_t err_size,
                          struct sk_record_reader **ret)
{
    struct sk_record_reader *rd = calloc(1, sizeof(*rd));
    if (!rd) {
        return -ENOMEM;
    }
    rd->buf = malloc(SK_RECORD_LINE_MAX);
    rd->f = fopen(path, "r");
    if (!rd->buf || !rd->f) {
        int e = rd->buf ? errno : ENOMEM;
        snprintf(err, err_size, "%s: %s", path, strerror(e));
        sk_record_reader_close(rd);
        return -e;
    }
    snprintf(rd->path, sizeof(rd->path), "%s", path);
    struct rd r = {.path = path, .err = err, .err_size = err_size};
    int rc = read_line(rd, &r);
    cJSON *h = rc == 1 ? cJSON_Parse(rd->buf) : NULL;
    if (rc == 0 || (rc == 1 && !h)) {
        r.line = 1;
        problem(&r, "not a storekeeper recording (no header line)", NULL);
    } else if (h) {
        struct sk_record_header *hd = &rd->h;
        hd->version = (int)num(&r, h, "storekeeper_record", 1, 1000);
        if (!r.bad && hd->version != SK_RECORD_VERSION) {
            problem(&r, "a recording of another version", NULL);
        }
        str(&r, h, "store_id", hd->store_id, sizeof(hd->store_id));
        str(&r, h, "device_id", hd->device_id, sizeof(hd->device_id));
        str(&r, h, "config_hash", hd->config_hash, sizeof(hd->config_hash));
        hd->mono_us = (int64_t)num(&r, h, "mono", 0, 9e15);
        hd->wall_us = (int64_t)num(&r, h, "wall", 0, 9e15);
        hd->last_seq = (int64_t)num(&r, h, "last_seq", 0, 9e15);
        char base[SK_PATH_MAX];
        str(&r, h, "ledger", base, sizeof(base));
        if (!r.bad && (strchr(base, '/') || !base[0])) {
            problem(&r, "the ledger copy must be a file name", "ledger");
        }
        const char *slash = strrchr(path, '/');
        snprintf(hd->ledger, sizeof(hd->ledger), "%.*s%s", slash ? (int)(slash - path + 1) : 0,
                 path, base);
    }
    cJSON_Delete(h);
    if (r.bad || rc < 0) {
        sk_record_reader_close(rd);
        return SK_ERECORD;
    }
    *ret = rd;
    return 0;
}

const struct sk_record_header *sk_record_header(const struct sk_record_reader *rd)
{
    return &rd->h;
}

static int type_of(const char *name)
{
    for (int t = SK_OBS_NONE + 1; t < SK_OBS_TYPE_COUNT; t++) {
        if (strcmp(sk_obs_type_name(t), name) == 0) {
            return t;
        }
    }
    return -1;
}

static size_t hex_bytes(struct rd *r, const cJSON *o, const char *k, uint8_t *out, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    int n = cJSON_IsString(v) ? sk_epc_from_hex(v->valuestring, out, size) : -EINVAL;
    if (n < 0) {
        problem(r, "missing or malformed hex", k);
        return 0;
    }
    return (size_t)n;
}

static void read_fields(struct rd *r, const cJSON *o, void *base, const struct field *f)
{
    char *b = base;
    for (; f->key; f++) {
        if (f->optional && !cJSON_GetObjectItemCaseSensitive(o, f->key)) {
            continue;
        }
        switch (f->kind) {
        case F_INT:
            set_int(b + f->off, f->size, f->is_signed, num(r, o, f->key, f->lo, f->hi));
            break;
        case F_FLOAT:
            *(float *)(void *)(b + f->off) = (float)num(r, o, f->key, f->lo, f->hi);
            break;
        case F_TEXT:
            str(r, o, f->key, b + f->off, f->size);
            break;
        case F_HEX:
            *(uint8_t *)(b + f->len_off) =
                    (uint8_t)hex_bytes(r, o, f->key, (uint8_t *)(b + f->off), f->size);
            break;
        }
    }
}

static void read_obs(struct rd *r, const cJSON *o, struct sk_obs *obs)
{
    char type[32];
    str(r, o, "type", type, sizeof(type));
    int t = type_of(type);
    if (!r->bad && t < 0) {
        problem(r, "unknown observation type", type);
        return;
    }
    obs->type = (uint16_t)t;
    obs->mono_us = (int64_t)num(r, o, "m", 0, 9e15);
    obs->wall_us = (int64_t)num(r, o, "ow", 0, 9e15);
    str(r, o, "src", obs->source, sizeof(obs->source));
    if (cJSON_GetObjectItemCaseSensitive(o, "org")) {
        str(r, o, "org", obs->origin, sizeof(obs->origin));
        str(r, o, "orgl", obs->origin_ledger, sizeof(obs->origin_ledger));
        obs->origin_seq = (int64_t)num(r, o, "orgs", 1, 9e15);
        obs->origin_mark = (int64_t)num(r, o, "orgm", 0, 9e15);
    }
    const struct field *fields = fields_of(t);
    if (fields) {
        read_fields(r, o, &obs->u, fields);
    }
    if (t == SK_OBS_MQTT_COMMAND || t == SK_OBS_SATELLITE) {
        struct sk_obs_command *c = &obs->u.command;
        str(r, o, "name", c->name, sizeof(c->name));
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "payload");
        if (cJSON_IsString(p)) {
            c->payload = strdup(p->valuestring);
            c->payload_len = strlen(p->valuestring);
        } else if (!cJSON_IsNull(p)) {
            problem(r, "missing payload", "payload");
        }
        if (!c->payload) {
            c->payload_len = (size_t)num(r, o, "plen", 0, 1e9);
        }
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(o, "rt");
        if (cJSON_IsString(rt)) {
            c->response_topic = strdup(rt->valuestring);
        }
        const cJSON *corr = cJSON_GetObjectItemCaseSensitive(o, "corr");
        if (cJSON_IsString(corr)) {
            size_t max = strlen(corr->valuestring) / 2 + 1;
            c->correlation = malloc(max);
            if (c->correlation) {
                c->correlation_len = hex_bytes(r, o, "corr", c->correlation, max);
            }
        }
        c->generation = (uint32_t)num(r, o, "gen", 0, 4294967295.0);
        c->flags = (uint8_t)num(r, o, "flags", 0, 255);
        const cJSON *from = cJSON_GetObjectItemCaseSensitive(o, "from");
        if (cJSON_IsString(from)) {
            snprintf(c->identity, sizeof(c->identity), "%s", from->valuestring);
        }
    }
}

int sk_record_obs_parse(const cJSON *o, struct sk_obs *ret, char *err, size_t err_size)
{
    struct rd r = {.path = "observation", .err = err, .err_size = err_size};
    memset(ret, 0, sizeof(*ret));
    if (!cJSON_IsObject(o)) {
        problem(&r, "not a JSON object", NULL);
        return SK_ERECORD;
    }
    read_obs(&r, o, ret);
    if (r.bad) {
        sk_obs_release(ret);
        memset(ret, 0, sizeof(*ret));
        return SK_ERECORD;
    }
    return 0;
}

int sk_record_next(struct sk_record_reader *rd,
                   struct sk_record_entry *ret,
                   char *err,
                   size_t err_size)
{
    struct rd r = {.path = rd->path, .err = err, .err_size = err_size};
    int rc;
    do {
        rc = read_line(rd, &r);
    } while (rc == 1 && rd->buf[0] == 0); /* blank lines are fine */
    if (rc <= 0) {
        return rc;
    }
    memset(ret, 0, sizeof(*ret));
    ret->line = rd->line;
    cJSON *o = cJSON_Parse(rd->buf);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        problem(&r, "not a JSON object", NULL);
        return SK_ERECORD;
    }
    ret->mono_us = (int64_t)num(&r, o, "t", 0, 9e15);
    ret->wall_us = (int64_t)num(&r, o, "w", 0, 9e15);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "tick"))) {
        ret->kind = SK_RECORD_TICK;
    } else {
        ret->kind = SK_RECORD_OBS;
        read_obs(&r, o, &ret->obs);
    }
    cJSON_Delete(o);
    if (r.bad) {
        sk_obs_release(&ret->obs);
        return SK_ERECORD;
    }
    return 1;
}

void sk_record_reader_close(struct sk_record_reader *rd)
{
    if (rd) {
        if (rd->f) {
            fclose(rd->f);
        }
        free(rd->buf);
        free(rd);
    }
}
