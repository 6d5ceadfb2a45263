/* SPDX-License-Identifier: MIT */
/* The fusion engine's durable state as JSON: what a restart or a rollback must get back. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fusion_internal.h"
#include "storekeeper/epc.h"
#include "storekeeper/ledger.h"

/*
 * Monotonic times mean nothing in another process (the clock restarts at boot), so the state
 * carries the moment it was exported on both clocks. Imported into the engine that exported
 * it (a rolled-back transaction), times are kept as they are; into another process, every
 * monotonic time is shifted so that the wall-clock time that passed since the export has
 * passed on the monotonic clock too.
 *
 * Recent camera tracks (those an undecided departure may still need) travel along, but only
 * a restarted process takes them: there they count as lost when the state was exported, the
 * sessions that followed them are lost, and the join rules pick the shoppers up again. The
 * engine that exported them keeps its own, fresher picture.
 *
 * Every record is described once, as a table of its fields (key, type, where it lies in the
 * struct), and the same table writes it and reads it back: a field added to one direction is
 * in the other. The keys are the format of persisted state (STATE_VERSION): never rename one.
 */

#define STATE_VERSION 1

enum ftype {
    F_STR = 1, /* char[size] */
    F_BOOL,
    F_U8,
    F_INT,
    F_UINT,
    F_U32,
    F_U64,
    F_I64,        /* wall times and plain numbers */
    F_MONO,       /* monotonic time: 0 unknown; shifted on import into another process */
    F_MONO_NEVER, /* the same, NEVER written as -1 */
    F_FLOAT,
    F_EPC,   /* uint8_t[SK_EPC_MAX] as hex, its length at off_len */
    F_SHELF, /* int index in cfg->shelves as its name; -1 for a name the config lacks */
    F_ZONE,  /* int index in cfg->zones as its name; the same */
    F_OBJ,   /* a nested record: sub */
    F_ARR,   /* records (sub, each size bytes) up to max, their count a uint8_t at off_len */
};

struct table;

struct field {
    const char *key;
    uint8_t type;
    size_t off, size; /* size: F_STR's buffer, F_ARR's element */
    size_t off_len;   /* F_EPC, F_ARR */
    const struct table *sub;
    bool opt;   /* may be absent (state written before the field existed): zero then */
    size_t max; /* F_ARR */
};

struct table {
    const struct field *fields;
    size_t n;
};

#define FLD(st, k, t, m)                                                              \
    {                                                                                 \
        .key = (k), .type = (t), .off = offsetof(st, m), .size = sizeof(((st *)0)->m) \
    }
#define OPT_FLD(st, k, t, m)                                                                       \
    {                                                                                              \
        .key = (k), .type = (t), .off = offsetof(st, m), .size = sizeof(((st *)0)->m), .opt = true \
    }
#define EPC_FLD(st, k, m, len_m)                                                          \
    {                                                                                     \
        .key = (k), .type = F_EPC, .off = offsetof(st, m), .off_len = offsetof(st, len_m) \
    }
#define OBJ_FLD(st, k, m, table)                                           \
    {                                                                      \
        .key = (k), .type = F_OBJ, .off = offsetof(st, m), .sub = &(table) \
    }
#define ARR_FLD(st, k, m, n_m, table)                                                       \
    {                                                                                       \
        .key = (k), .type = F_ARR, .off = offsetof(st, m), .size = sizeof(((st *)0)->m[0]), \
        .off_len = offsetof(st, n_m), .sub = &(table), .opt = true,                         \
        .max = sizeof(((st *)0)->m) / sizeof(((st *)0)->m[0])                               \
    }
#define TABLE(name, ...)                                       \
    static const struct field name##_fields[] = {__VA_ARGS__}; \
    static const struct table name = {name##_fields,           \
                                      sizeof(name##_fields) / sizeof(name##_fields[0])}

TABLE(product_tab,
      FLD(struct sk_fusion_product, "sku", F_STR, sku),
      FLD(struct sk_fusion_product, "gtin", F_STR, gtin),
      FLD(struct sk_fusion_product, "name", F_STR, name),
      FLD(struct sk_fusion_product, "price", F_I64, price_minor),
      FLD(struct sk_fusion_product, "currency", F_STR, currency),
      FLD(struct sk_fusion_product, "threshold", F_INT, restock_threshold),
      FLD(struct sk_fusion_product, "target", F_INT, restock_target));

TABLE(candidate_tab,
      FLD(struct sk_fusion_candidate, "session", F_STR, session),
      FLD(struct sk_fusion_candidate, "track", F_U32, track),
      FLD(struct sk_fusion_candidate, "score", F_FLOAT, score),
      FLD(struct sk_fusion_candidate, "reach", F_FLOAT, reach),
      FLD(struct sk_fusion_candidate, "flags", F_U8, flags));

TABLE(evidence_tab,
      FLD(struct sk_fusion_evidence, "shelf", F_STR, shelf),
      FLD(struct sk_fusion_evidence, "reader", F_STR, reader),
      FLD(struct sk_fusion_evidence, "antenna", F_U8, antenna),
      FLD(struct sk_fusion_evidence, "camera", F_STR, camera),
      FLD(struct sk_fusion_evidence, "track", F_U32, track_id),
      FLD(struct sk_fusion_evidence, "removed", F_I64, removed_wall_us),
      FLD(struct sk_fusion_evidence, "departed", F_I64, departed_wall_us),
      FLD(struct sk_fusion_evidence, "score", F_FLOAT, score),
      FLD(struct sk_fusion_evidence, "confidence", F_FLOAT, confidence),
      FLD(struct sk_fusion_evidence, "rule", F_U8, rule),
      FLD(struct sk_fusion_evidence, "candidates", F_U8, candidates),
      FLD(struct sk_fusion_evidence, "lost", F_BOOL, lost_track),
      FLD(struct sk_fusion_evidence, "runner", F_STR, runner_session),
      FLD(struct sk_fusion_evidence, "runner_track", F_U32, runner_track),
      FLD(struct sk_fusion_evidence, "runner_score", F_FLOAT, runner_score),
      FLD(struct sk_fusion_evidence, "reads", F_U32, reads),
      FLD(struct sk_fusion_evidence, "exit_seen", F_I64, exit_seen_wall_us),
      OPT_FLD(struct sk_fusion_evidence, "missed", F_I64, missed_wall_us),
      OPT_FLD(struct sk_fusion_evidence, "reach", F_FLOAT, reach),
      OPT_FLD(struct sk_fusion_evidence, "doubt", F_U8, doubt),
      OPT_FLD(struct sk_fusion_evidence, "alike", F_U8, alike),
      ARR_FLD(struct sk_fusion_evidence, "cands", cands, n_cands, candidate_tab));

TABLE(line_tab,
      EPC_FLD(struct sk_fusion_line, "epc", epc, epc_len),
      FLD(struct sk_fusion_line, "known", F_BOOL, known),
      OBJ_FLD(struct sk_fusion_line, "product", product, product_tab),
      OBJ_FLD(struct sk_fusion_line, "ev", ev, evidence_tab));

TABLE(session_tab,
      FLD(struct session, "no", F_U64, no),
      FLD(struct session, "id", F_STR, pub.id),
      FLD(struct session, "account", F_STR, pub.account),
      FLD(struct session, "state", F_INT, pub.state),
      FLD(struct session, "review", F_UINT, pub.review),
      FLD(struct session, "camera", F_STR, pub.camera),
      FLD(struct session, "track", F_U32, pub.track_id),
      FLD(struct session, "entry_line", F_STR, pub.entry_line),
      FLD(struct session, "exit_line", F_STR, pub.exit_line),
      FLD(struct session, "opened_wall", F_I64, pub.opened_wall_us),
      FLD(struct session, "exit_wall", F_I64, pub.exit_wall_us),
      FLD(struct session, "opened_mono", F_MONO, pub.opened_mono_us),
      FLD(struct session, "exit_mono", F_MONO, pub.exit_mono_us),
      FLD(struct session, "lost_mono", F_MONO, pub.lost_mono_us),
      FLD(struct session, "last_mono", F_MONO, pub.last_mono_us),
      FLD(struct session, "x", F_FLOAT, pub.x),
      FLD(struct session, "y", F_FLOAT, pub.y),
      FLD(struct session, "has_pos", F_BOOL, pub.has_pos),
      FLD(struct session, "n_joins", F_U32, pub.n_joins));

TABLE(join_tab,
      FLD(struct sk_fusion_join, "camera", F_STR, camera),
      FLD(struct sk_fusion_join, "old", F_U32, old_track),
      FLD(struct sk_fusion_join, "new", F_U32, new_track),
      FLD(struct sk_fusion_join, "gap_ms", F_I64, gap_ms),
      FLD(struct sk_fusion_join, "distance", F_FLOAT, distance),
      FLD(struct sk_fusion_join, "late", F_BOOL, late),
      FLD(struct sk_fusion_join, "wall", F_I64, wall_us));

TABLE(track_tab,
      FLD(struct track, "camera", F_STR, camera),
      FLD(struct track, "id", F_U32, id),
      FLD(struct track, "born", F_MONO, born_us),
      FLD(struct track, "last", F_MONO, last_us),
      FLD(struct track, "lost", F_MONO, lost_us),
      FLD(struct track, "x", F_FLOAT, x),
      FLD(struct track, "y", F_FLOAT, y),
      FLD(struct track, "has_pos", F_BOOL, has_pos),
      FLD(struct track, "session", F_U64, session));

TABLE(visit_tab,
      FLD(struct zone_visit, "zone", F_ZONE, zone),
      FLD(struct zone_visit, "enter", F_MONO, enter_us),
      FLD(struct zone_visit, "leave", F_MONO_NEVER, leave_us),
      FLD(struct zone_visit, "x", F_FLOAT, x),
      FLD(struct zone_visit, "y", F_FLOAT, y),
      FLD(struct zone_visit, "has_pos", F_BOOL, has_pos),
      FLD(struct zone_visit, "by_loss", F_BOOL, by_loss));

TABLE(pending_tab,
      OBJ_FLD(struct pending, "line", line, line_tab),
      FLD(struct pending, "shelf", F_SHELF, shelf),
      FLD(struct pending, "removed", F_MONO, removed_us),
      FLD(struct pending, "departed", F_MONO, departed_us),
      FLD(struct pending, "restock", F_BOOL, restock),
      OPT_FLD(struct pending, "missed", F_MONO, missed_us),
      OPT_FLD(struct pending, "alike", F_U8, alike));

TABLE(sighting_tab,
      EPC_FLD(struct sighting, "epc", epc, epc_len),
      FLD(struct sighting, "reader", F_STR, reader),
      FLD(struct sighting, "mono", F_MONO, mono_us),
      FLD(struct sighting, "wall", F_I64, wall_us));

TABLE(memo_tab,
      EPC_FLD(struct memo, "epc", epc, epc_len),
      FLD(struct memo, "kind", F_U8, kind),
      FLD(struct memo, "session", F_STR, session),
      FLD(struct memo, "shelf", F_STR, shelf),
      FLD(struct memo, "mono", F_MONO, mono_us),
      FLD(struct memo, "wall", F_I64, wall_us),
      OPT_FLD(struct memo, "unknown", F_BOOL, unknown));

TABLE(bind_tab,
      FLD(struct bind, "token", F_STR, token),
      FLD(struct bind, "session", F_STR, session),
      FLD(struct bind, "expires", F_MONO, expires_us),
      OPT_FLD(struct bind, "persons", F_U8, persons));

/* A stock entry's persisted part: what arrived since the last restock event. */
struct stock_rec {
    int shelf;
    char sku[SK_SKU_MAX];
    int added;
};

TABLE(stock_tab,
      FLD(struct stock_rec, "shelf", F_SHELF, shelf),
      FLD(struct stock_rec, "sku", F_STR, sku),
      FLD(struct stock_rec, "added", F_INT, added));

/* A shelf's restock session. */
struct restock_rec {
    int shelf;
    int64_t until_us, start_us;
    bool implicit;
    char id[SK_NAME_MAX];
};

TABLE(restock_tab,
      FLD(struct restock_rec, "shelf", F_SHELF, shelf),
      FLD(struct restock_rec, "until", F_MONO_NEVER, until_us),
      FLD(struct restock_rec, "start", F_I64, start_us),
      FLD(struct restock_rec, "implicit", F_BOOL, implicit),
      FLD(struct restock_rec, "id", F_STR, id));

/* ---- writing ---------------------------------------------------------------------------- */

/* Fields are read and written through memcpy: the table knows their type, not the compiler. */
static double load_num(int type, const void *p)
{
    switch (type) {
    case F_U8: {
        uint8_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    case F_INT:
    case F_SHELF:
    case F_ZONE: {
        int v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    case F_UINT: {
        unsigned v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    case F_U32: {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    case F_U64: {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return (double)v;
    }
    case F_I64:
    case F_MONO:
    case F_MONO_NEVER: {
        int64_t v;
        memcpy(&v, p, sizeof(v));
        return type == F_MONO_NEVER && v == NEVER ? -1 : (double)v;
    }
    case F_FLOAT: {
        float v;
        memcpy(&v, p, sizeof(v));
        return v;
    }
    default:
        return 0;
    }
}

static void
write_field(const struct sk_fusion *f, cJSON *o, const struct field *d, const void *rec);

/* The record at rec (described by t) as a JSON object. */
static cJSON *to_json(const struct sk_fusion *f, const struct table *t, const void *rec)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < t->n; i++) {
        write_field(f, o, &t->fields[i], rec);
    }
    return o;
}

/* An optional field at its zero value is left out: reading it back gives zero. */
static bool is_zero(const struct field *d, const uint8_t *p, const void *rec)
{
    if (d->type == F_ARR) {
        return *((const uint8_t *)rec + d->off_len) == 0;
    }
    for (size_t i = 0; i < d->size; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

static void write_field(const struct sk_fusion *f, cJSON *o, const struct field *d, const void *rec)
{
    const uint8_t *p = (const uint8_t *)rec + d->off;
    if (d->opt && is_zero(d, p, rec)) {
        return;
    }
    char hex[SK_EPC_HEX_MAX];
    cJSON *v;
    bool b;
    switch (d->type) {
    case F_STR:
        v = cJSON_CreateString((const char *)p);
        break;
    case F_BOOL:
        memcpy(&b, p, sizeof(b));
        v = cJSON_CreateBool(b);
        break;
    case F_EPC:
        sk_epc_to_hex(p, *((const uint8_t *)rec + d->off_len), hex, sizeof(hex));
        v = cJSON_CreateString(hex);
        break;
    case F_SHELF:
        v = cJSON_CreateString(f->cfg->shelves[(int)load_num(F_INT, p)].name);
        break;
    case F_ZONE:
        v = cJSON_CreateString(f->cfg->zones[(int)load_num(F_INT, p)].name);
        break;
    case F_OBJ:
        v = to_json(f, d->sub, p);
        break;
    case F_ARR:
        v = cJSON_CreateArray();
        for (size_t k = 0; v && k < *((const uint8_t *)rec + d->off_len) && k < d->max; k++) {
            cJSON_AddItemToArray(v, to_json(f, d->sub, p + k * d->size));
        }
        break;
    default:
        v = cJSON_CreateNumber(load_num(d->type, p));
        break;
    }
    cJSON_AddItemToObject(o, d->key, v);
}

/* ---- reading ---------------------------------------------------------------------------- */

/* Stores v as type at p; monotonic times shifted by shift. */
static void store_num(int type, void *p, double v, int64_t shift)
{
    uint8_t u8 = (uint8_t)v;
    int i = (int)v;
    unsigned u = (unsigned)v;
    uint32_t u32 = (uint32_t)v;
    uint64_t u64 = (uint64_t)v;
    int64_t i64 = (int64_t)v;
    float fl = (float)v;
    switch (type) {
    case F_U8:
        memcpy(p, &u8, sizeof(u8));
        break;
    case F_INT:
        memcpy(p, &i, sizeof(i));
        break;
    case F_UINT:
        memcpy(p, &u, sizeof(u));
        break;
    case F_U32:
        memcpy(p, &u32, sizeof(u32));
        break;
    case F_U64:
        memcpy(p, &u64, sizeof(u64));
        break;
    case F_MONO:
        i64 = v != 0 ? i64 + shift : 0;
        memcpy(p, &i64, sizeof(i64));
        break;
    case F_MONO_NEVER:
        i64 = v < 0 ? NEVER : i64 + shift;
        memcpy(p, &i64, sizeof(i64));
        break;
    case F_I64:
        memcpy(p, &i64, sizeof(i64));
        break;
    case F_FLOAT:
        memcpy(p, &fl, sizeof(fl));
        break;
    default:
        break;
    }
}

struct rd {
    const struct sk_fusion *f;
    bool bad;
    int64_t shift; /* added to monotonic times */
};

static const cJSON *get(struct rd *r, const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v) {
        r->bad = true;
    }
    return v;
}

static double num(struct rd *r, const cJSON *o, const char *k)
{
    const cJSON *v = get(r, o, k);
    if (!cJSON_IsNumber(v)) {
        r->bad = true;
        return 0;
    }
    return v->valuedouble;
}

static void str(struct rd *r, const cJSON *o, const char *k, char *out, size_t size)
{
    const cJSON *v = get(r, o, k);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= size) {
        r->bad = true;
        out[0] = 0;
        return;
    }
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
}

static int zone_named(const struct sk_fusion *f, const char *name)
{
    for (size_t i = 0; i < f->cfg->n_zones; i++) {
        if (strcmp(f->cfg->zones[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static void read_field(struct rd *r, const cJSON *o, const struct field *d, void *rec);

/* Fills the record at rec (described by t) from o; a missing or mistyped field marks r bad. */
static void from_json(struct rd *r, const cJSON *o, const struct table *t, void *rec)
{
    for (size_t i = 0; i < t->n; i++) {
        read_field(r, o, &t->fields[i], rec);
    }
}

static void read_field(struct rd *r, const cJSON *o, const struct field *d, void *rec)
{
    uint8_t *p = (uint8_t *)rec + d->off;
    char name[SK_EPC_HEX_MAX > SK_NAME_MAX ? SK_EPC_HEX_MAX : SK_NAME_MAX];
    if (d->opt && !cJSON_GetObjectItemCaseSensitive(o, d->key)) {
        return; /* written before the field existed: it stays zero */
    }
    switch (d->type) {
    case F_STR:
        str(r, o, d->key, (char *)p, d->size);
        return;
    case F_BOOL: {
        const cJSON *v = get(r, o, d->key);
        if (!cJSON_IsBool(v)) {
            r->bad = true;
        }
        bool b = cJSON_IsTrue(v);
        memcpy(p, &b, sizeof(b));
        return;
    }
    case F_EPC: {
        str(r, o, d->key, name, sizeof(name));
        int n = sk_epc_from_hex(name, p, SK_EPC_MAX);
        if (n <= 0) {
            r->bad = true;
            n = 0;
        }
        *((uint8_t *)rec + d->off_len) = (uint8_t)n;
        return;
    }
    case F_SHELF:
    case F_ZONE:
        str(r, o, d->key, name, sizeof(name));
        store_num(F_INT, p,
                  d->type == F_SHELF ? fusion__shelf_named(r->f, name) : zone_named(r->f, name), 0);
        return;
    case F_OBJ: {
        const cJSON *sub = get(r, o, d->key);
        if (sub) {
            from_json(r, sub, d->sub, p);
        }
        return;
    }
    case F_ARR: {
        const cJSON *arr = get(r, o, d->key), *e;
        uint8_t n = 0;
        if (!cJSON_IsArray(arr)) {
            r->bad = true;
        }
        cJSON_ArrayForEach(e, arr)
        {
            if (n == d->max) {
                break;
            }
            from_json(r, e, d->sub, p + n++ * d->size);
        }
        *((uint8_t *)rec + d->off_len) = n;
        return;
    }
    default:
        store_num(d->type, p, num(r, o, d->key), r->shift);
        return;
    }
}

/* ---- export ------------------------------------------------------------------------------ */

static cJSON *session_json(const struct sk_fusion *f, const struct session *s)
{
    const struct sk_fusion_session *p = &s->pub;
    cJSON *so = to_json(f, &session_tab, s);
    cJSON *ja = cJSON_AddArrayToObject(so, "joins");
    for (size_t k = 0; k < p->n_joins && k < SK_FUSION_JOINS_MAX; k++) {
        cJSON_AddItemToArray(ja, to_json(f, &join_tab, &p->joins[k]));
    }
    cJSON *la = cJSON_AddArrayToObject(so, "lines");
    for (size_t k = 0; k < p->n_lines; k++) {
        cJSON_AddItemToArray(la, to_json(f, &line_tab, &p->lines[k]));
    }
    if (p->n_contested) {
        la = cJSON_AddArrayToObject(so, "contested");
        for (size_t k = 0; k < p->n_contested; k++) {
            cJSON_AddItemToArray(la, to_json(f, &line_tab, &p->contested[k]));
        }
    }
    return so;
}

static cJSON *core_json(const struct sk_fusion *f, bool with_memos)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    char inst[24];
    snprintf(inst, sizeof(inst), "%016llx", (unsigned long long)f->instance);
    cJSON_AddNumberToObject(o, "version", STATE_VERSION);
    cJSON_AddStringToObject(o, "instance", inst);
    cJSON_AddNumberToObject(o, "mono", (double)fusion__now(f));
    cJSON_AddNumberToObject(o, "wall", (double)fusion__wall(f));
    cJSON_AddNumberToObject(o, "next_session", (double)f->next_session_no);

    cJSON *arr;
    const struct sk_fusion_cfg *fc = &f->cfg->fusion;
    int64_t horizon = (int64_t)(fc->pick_before_ms + fc->pick_after_ms + fc->join_window_ms +
                                fc->unattributed_grace_ms) *
                              1000 +
                      f->max_hold_us;
    int64_t now = fusion__now(f);
    arr = cJSON_AddArrayToObject(o, "tracks");
    for (size_t i = 0; i < f->max_tracks; i++) {
        const struct track *t = &f->tracks[i];
        if (!t->used || !f->n_pending || now - t->last_us > horizon) {
            continue;
        }
        cJSON *to = to_json(f, &track_tab, t);
        cJSON *va = cJSON_AddArrayToObject(to, "visits");
        unsigned nv = t->n_visits < VISITS_MAX ? t->n_visits : VISITS_MAX;
        for (unsigned k = 0; k < nv; k++) {
            const struct zone_visit *v = &t->visits[(t->n_visits - nv + k) % VISITS_MAX];
            cJSON_AddItemToArray(va, to_json(f, &visit_tab, v));
        }
        cJSON_AddItemToArray(arr, to);
    }

    arr = cJSON_AddArrayToObject(o, "pending");
    for (size_t i = 0; i < f->n_pending; i++) {
        cJSON_AddItemToArray(arr, to_json(f, &pending_tab, &f->pending[i]));
    }

    arr = cJSON_AddArrayToObject(o, "sightings");
    for (size_t i = 0; i < f->n_sightings; i++) {
        cJSON_AddItemToArray(arr, to_json(f, &sighting_tab, &f->sightings[i]));
    }

    arr = cJSON_AddArrayToObject(o, "memos");
    for (size_t i = 0; i < f->n_memos; i++) {
        const struct memo *m = &f->memos[(f->memo_head + i) % f->max_pending];
        /* The durable state holds only what the ledger's movements cannot give back. */
        if (m->kind && (with_memos || m->unknown)) {
            cJSON_AddItemToArray(arr, to_json(f, &memo_tab, m));
        }
    }

    arr = cJSON_AddArrayToObject(o, "binds");
    for (size_t i = 0; i < f->n_binds; i++) {
        cJSON_AddItemToArray(arr, to_json(f, &bind_tab, &f->binds[i]));
    }

    arr = cJSON_AddArrayToObject(o, "stock");
    for (size_t b = 0; b < STOCK_BUCKETS; b++) {
        for (const struct stock *s = f->stock[b]; s; s = s->next) {
            if (!s->added) {
                continue;
            }
            struct stock_rec rec = {.shelf = s->shelf, .added = s->added};
            snprintf(rec.sku, sizeof(rec.sku), "%s", s->sku);
            cJSON_AddItemToArray(arr, to_json(f, &stock_tab, &rec));
        }
    }

    arr = cJSON_AddArrayToObject(o, "restock");
    for (size_t i = 0; i < f->cfg->n_shelves; i++) {
        const struct shelf_info *si = &f->shelves[i];
        if (!si->restock_until_us) {
            continue;
        }
        struct restock_rec rec = {.shelf = (int)i,
                                  .until_us = si->restock_until_us,
                                  .start_us = si->restock_start_us,
                                  .implicit = si->restock_implicit};
        snprintf(rec.id, sizeof(rec.id), "%s", si->restock_id);
        cJSON_AddItemToArray(arr, to_json(f, &restock_tab, &rec));
    }
    return o;
}

cJSON *sk_fusion_export(const struct sk_fusion *f)
{
    cJSON *o = core_json(f, true);
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "sessions") : NULL;
    if (!arr) {
        cJSON_Delete(o);
        return NULL;
    }
    for (size_t i = 0; i < f->n_sessions; i++) {
        cJSON_AddItemToArray(arr, session_json(f, f->sessions[i]));
    }
    return o;
}

int sk_fusion_persist(struct sk_fusion *f, bool all, sk_fusion_put_cb put, void *ctx)
{
    char key[16 + SK_FUSION_ID_LEN];
    int r = 0;
    if (all || f->dirty) {
        cJSON *c = core_json(f, false);
        r = c ? put(ctx, "core", c) : -ENOMEM;
        cJSON_Delete(c);
        if (r < 0) {
            return r;
        }
        f->dirty = false;
    }
    if (!all && !f->parts_dirty) {
        return 0;
    }
    for (size_t i = 0; i < f->n_gone; i++) {
        snprintf(key, sizeof(key), "session/%s", f->gone[i]);
        if ((r = put(ctx, key, NULL)) < 0) {
            return r;
        }
    }
    f->n_gone = 0;
    for (size_t i = 0; i < f->n_sessions; i++) {
        struct session *s = f->sessions[i];
        if (!all && !s->dirty) {
            continue;
        }
        snprintf(key, sizeof(key), "session/%s", s->pub.id);
        cJSON *j = session_json(f, s);
        r = j ? put(ctx, key, j) : -ENOMEM;
        cJSON_Delete(j);
        if (r < 0) {
            return r;
        }
        s->dirty = false;
    }
    f->parts_dirty = false;
    return 0;
}

/* ---- import -------------------------------------------------------------------------------- */

static void clear_state(struct sk_fusion *f)
{
    f->restart_lost_mono_us = 0;
    f->restart_lost_n = 0;
    for (size_t i = 0; i < f->n_sessions; i++) {
        fusion__session_free(f->sessions[i]);
    }
    f->n_sessions = 0;
    f->n_pending = 0;
    f->n_sightings = 0;
    f->n_memos = 0;
    f->memo_head = 0;
    f->n_binds = 0;
    f->next_session_no = 1;
    for (size_t b = 0; b < STOCK_BUCKETS; b++) {
        for (struct stock *s = f->stock[b]; s; s = s->next) {
            s->added = 0;
        }
    }
    for (size_t i = 0; i < f->cfg->n_shelves; i++) {
        f->shelves[i].restock_until_us = 0;
        f->shelves[i].restock_implicit = false;
        f->shelves[i].restock_id[0] = 0;
    }
}

static int
import_sessions(struct sk_fusion *f, struct rd *r, const cJSON *const *list, size_t n, bool same)
{
    int64_t now = fusion__now(f);
    for (size_t i = 0; i < n; i++) {
        const cJSON *so = list[i];
        if (!cJSON_IsObject(so)) {
            r->bad = true;
            continue;
        }
        if (f->n_sessions == f->max_sessions) {
            return -ENOSPC;
        }
        struct session *s = calloc(1, sizeof(*s));
        if (!s) {
            return -ENOMEM;
        }
        f->sessions[f->n_sessions++] = s;
        struct sk_fusion_session *p = &s->pub;
        from_json(r, so, &session_tab, s);
        const cJSON *jo;
        size_t k = 0;
        cJSON_ArrayForEach(jo, get(r, so, "joins"))
        {
            if (k == SK_FUSION_JOINS_MAX) {
                break;
            }
            from_json(r, jo, &join_tab, &p->joins[k++]);
        }
        const cJSON *lines = get(r, so, "lines");
        size_t nl = (size_t)cJSON_GetArraySize(lines);
        if (nl) {
            p->lines = calloc(nl, sizeof(*p->lines));
            if (!p->lines) {
                return -ENOMEM;
            }
            p->cap_lines = nl;
            const cJSON *lo;
            cJSON_ArrayForEach(lo, lines)
            {
                from_json(r, lo, &line_tab, &p->lines[p->n_lines++]);
            }
        }
        const cJSON *contested = cJSON_GetObjectItemCaseSensitive(so, "contested");
        size_t nc = (size_t)cJSON_GetArraySize(contested);
        if (nc) {
            p->contested = calloc(nc, sizeof(*p->contested));
            if (!p->contested) {
                return -ENOMEM;
            }
            p->cap_contested = nc;
            const cJSON *lo;
            cJSON_ArrayForEach(lo, contested)
            {
                from_json(r, lo, &line_tab, &p->contested[p->n_contested++]);
            }
        }
        if (p->state < SK_SESSION_ACTIVE || p->state > SK_SESSION_EXITING) {
            r->bad = true;
        }
        if (!same && p->state == SK_SESSION_ACTIVE) {
            /* Its track died with the old process: a new one nearby will continue it. */
            p->state = SK_SESSION_LOST;
            p->lost_mono_us = now;
            f->restart_lost_mono_us = now;
            f->restart_lost_n++;
        }
    }
    return 0;
}

/* Tracks of an earlier process: all of them ended when it did. */
static void import_tracks(struct sk_fusion *f, struct rd *r, const cJSON *arr)
{
    int64_t now = fusion__now(f);
    const cJSON *to;
    cJSON_ArrayForEach(to, arr)
    {
        struct track rec = {0};
        from_json(r, to, &track_tab, &rec);
        struct track *t = fusion__track_create(f, rec.camera, rec.id);
        rec.used = true;
        *t = rec;
        int64_t end = t->lost_us ? t->lost_us : now;
        if (!t->lost_us) {
            t->lost_us = now;
        }
        const cJSON *vo;
        cJSON_ArrayForEach(vo, get(r, to, "visits"))
        {
            struct zone_visit v = {0};
            from_json(r, vo, &visit_tab, &v);
            if (v.zone < 0) {
                continue; /* a zone this configuration lacks */
            }
            if (v.leave_us == NEVER) {
                v.leave_us = end; /* it was inside when the process ended */
                v.by_loss = true;
            }
            t->visits[t->n_visits++ % VISITS_MAX] = v;
        }
    }
}

int sk_fusion_restore(struct sk_fusion *f,
                      const cJSON *state,
                      const cJSON *const *sessions,
                      size_t n_sessions)
{
    clear_state(f);
    f->dirty = f->parts_dirty = false;
    f->n_gone = 0;
    if (!state && !n_sessions) {
        return 0;
    }
    if (!cJSON_IsObject(state)) {
        return -EINVAL;
    }
    struct rd r = {.f = f};
    char inst[24];
    snprintf(inst, sizeof(inst), "%016llx", (unsigned long long)f->instance);
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(state, "instance");
    bool same = cJSON_IsString(iv) && strcmp(iv->valuestring, inst) == 0;
    if (num(&r, state, "version") != STATE_VERSION) {
        return -EINVAL;
    }
    if (!same) {
        int64_t saved_mono = (int64_t)num(&r, state, "mono");
        int64_t saved_wall = (int64_t)num(&r, state, "wall");
        int64_t elapsed = fusion__wall(f) - saved_wall;
        if (elapsed < 0) {
            elapsed = 0; /* the wall clock went back: pretend no time passed */
        }
        r.shift = fusion__now(f) - elapsed - saved_mono;
        f->resumed_us = fusion__now(f); /* a restart: the readers start over */
        f->restarted_us = fusion__now(f);
    }
    f->next_session_no = (uint64_t)num(&r, state, "next_session");
    int rc = import_sessions(f, &r, sessions, n_sessions, same);

    const cJSON *o;
    if (!same) {
        import_tracks(f, &r, get(&r, state, "tracks"));
    }
    cJSON_ArrayForEach(o, get(&r, state, "pending"))
    {
        if (f->n_pending == f->max_pending) {
            break;
        }
        struct pending *p = &f->pending[f->n_pending];
        memset(p, 0, sizeof(*p));
        from_json(&r, o, &pending_tab, p);
        if (!p->missed_us) {
            p->missed_us = p->removed_us; /* written before intervals: one poll wide */
            p->missed_us += p->shelf >= 0 ? f->shelves[p->shelf].poll_us : 0;
        }
        if (p->shelf >= 0) {
            f->n_pending++; /* a shelf this configuration lacks: dropped */
        }
    }
    cJSON_ArrayForEach(o, get(&r, state, "sightings"))
    {
        if (f->n_sightings == f->max_pending) {
            break;
        }
        struct sighting *g = &f->sightings[f->n_sightings++];
        memset(g, 0, sizeof(*g));
        from_json(&r, o, &sighting_tab, g);
    }
    cJSON_ArrayForEach(o, get(&r, state, "memos"))
    {
        if (f->n_memos == f->max_pending) {
            break;
        }
        struct memo *m = &f->memos[f->n_memos++];
        memset(m, 0, sizeof(*m));
        from_json(&r, o, &memo_tab, m);
    }
    cJSON_ArrayForEach(o, get(&r, state, "binds"))
    {
        if (f->n_binds == BINDS_MAX) {
            break;
        }
        struct bind *b = &f->binds[f->n_binds++];
        memset(b, 0, sizeof(*b));
        from_json(&r, o, &bind_tab, b);
    }
    cJSON_ArrayForEach(o, get(&r, state, "stock"))
    {
        struct stock_rec rec = {0};
        from_json(&r, o, &stock_tab, &rec);
        struct stock *s = rec.shelf >= 0 ? fusion__stock_entry(f, rec.shelf, rec.sku, true) : NULL;
        if (s) {
            s->added = rec.added;
        }
    }
    cJSON_ArrayForEach(o, get(&r, state, "restock"))
    {
        struct restock_rec rec = {0};
        from_json(&r, o, &restock_tab, &rec);
        if (rec.shelf >= 0) {
            struct shelf_info *si = &f->shelves[rec.shelf];
            si->restock_until_us = rec.until_us;
            si->restock_start_us = rec.start_us;
            si->restock_implicit = rec.implicit;
            snprintf(si->restock_id, sizeof(si->restock_id), "%s", rec.id);
        }
    }
    if (rc < 0 || r.bad) {
        clear_state(f);
        return rc < 0 ? rc : -EINVAL;
    }
    return 0;
}

int sk_fusion_import(struct sk_fusion *f, const cJSON *state)
{
    const cJSON *arr =
            cJSON_IsObject(state) ? cJSON_GetObjectItemCaseSensitive(state, "sessions") : NULL;
    if (!cJSON_IsArray(arr)) {
        clear_state(f);
        return -EINVAL;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    const cJSON **list = calloc(n ? n : 1, sizeof(*list));
    if (!list) {
        clear_state(f);
        return -ENOMEM;
    }
    size_t k = 0;
    const cJSON *so;
    cJSON_ArrayForEach(so, arr)
    {
        list[k++] = so;
    }
    int r = sk_fusion_restore(f, state, list, n);
    free(list);
    return r;
}

int sk_fusion_remember(struct sk_fusion *f, const struct sk_movement_row *row)
{
    uint8_t epc[SK_EPC_MAX];
    int len = row->epc[0] ? sk_epc_from_hex(row->epc, epc, sizeof(epc)) : 0;
    if (len <= 0) {
        return 0;
    }
    int what = strcmp(row->type, "sale") == 0     ? MEMO_SOLD
               : strcmp(row->type, "shrink") == 0 ? MEMO_REMOVED
                                                  : 0;
    if (what == 0) {
        fusion__memo_forget(f, epc, (size_t)len);
        return 0;
    }
    int64_t mono = fusion__now(f) - (fusion__wall(f) - row->time_us);
    fusion__memo_add(f, true, what, epc, (size_t)len, row->session, row->shelf, mono, row->time_us);
    return 1;
}
