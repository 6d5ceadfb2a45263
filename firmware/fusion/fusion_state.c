/* SPDX-License-Identifier: MIT */
/* The fusion engine's durable state as JSON: what a restart or a rollback must get back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fusion_internal.h"
#include "storekeeper/epc.h"
#include "storekeeper/log.h"

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
 */

#define STATE_VERSION 1

static void add_num(cJSON *o, const char *k, double v)
{
    cJSON_AddItemToObject(o, k, cJSON_CreateNumber(v));
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    cJSON_AddItemToObject(o, k, cJSON_CreateString(v ? v : ""));
}

static void add_bool(cJSON *o, const char *k, bool v)
{
    cJSON_AddItemToObject(o, k, cJSON_CreateBool(v));
}

static cJSON *line_json(const struct sk_fusion_line *l)
{
    cJSON *o = cJSON_CreateObject();
    char hex[SK_EPC_HEX_MAX];
    sk_epc_to_hex(l->epc, l->epc_len, hex, sizeof(hex));
    add_str(o, "epc", hex);
    add_bool(o, "known", l->known);
    const struct sk_fusion_product *p = &l->product;
    cJSON *po = cJSON_AddObjectToObject(o, "product");
    add_str(po, "sku", p->sku);
    add_str(po, "gtin", p->gtin);
    add_str(po, "name", p->name);
    add_num(po, "price", (double)p->price_minor);
    add_str(po, "currency", p->currency);
    add_num(po, "threshold", p->restock_threshold);
    add_num(po, "target", p->restock_target);
    const struct sk_fusion_evidence *e = &l->ev;
    cJSON *eo = cJSON_AddObjectToObject(o, "ev");
    add_str(eo, "shelf", e->shelf);
    add_str(eo, "reader", e->reader);
    add_num(eo, "antenna", e->antenna);
    add_str(eo, "camera", e->camera);
    add_num(eo, "track", e->track_id);
    add_num(eo, "removed", (double)e->removed_wall_us);
    add_num(eo, "departed", (double)e->departed_wall_us);
    add_num(eo, "score", e->score);
    add_num(eo, "confidence", e->confidence);
    add_num(eo, "rule", e->rule);
    add_num(eo, "candidates", e->candidates);
    add_bool(eo, "lost", e->lost_track);
    add_str(eo, "runner", e->runner_session);
    add_num(eo, "runner_track", e->runner_track);
    add_num(eo, "runner_score", e->runner_score);
    add_num(eo, "reads", e->reads);
    add_num(eo, "exit_seen", (double)e->exit_seen_wall_us);
    return o;
}

static cJSON *session_json(const struct session *s)
{
    const struct sk_fusion_session *p = &s->pub;
    cJSON *so = cJSON_CreateObject();
    add_num(so, "no", (double)s->no);
    add_str(so, "id", p->id);
    add_str(so, "account", p->account);
    add_num(so, "state", p->state);
    add_num(so, "review", p->review);
    add_str(so, "camera", p->camera);
    add_num(so, "track", p->track_id);
    add_str(so, "entry_line", p->entry_line);
    add_str(so, "exit_line", p->exit_line);
    add_num(so, "opened_wall", (double)p->opened_wall_us);
    add_num(so, "exit_wall", (double)p->exit_wall_us);
    add_num(so, "opened_mono", (double)p->opened_mono_us);
    add_num(so, "exit_mono", (double)p->exit_mono_us);
    add_num(so, "lost_mono", (double)p->lost_mono_us);
    add_num(so, "last_mono", (double)p->last_mono_us);
    add_num(so, "x", p->x);
    add_num(so, "y", p->y);
    add_bool(so, "has_pos", p->has_pos);
    add_num(so, "n_joins", p->n_joins);
    cJSON *ja = cJSON_AddArrayToObject(so, "joins");
    for (size_t k = 0; k < p->n_joins && k < SK_FUSION_JOINS_MAX; k++) {
        const struct sk_fusion_join *j = &p->joins[k];
        cJSON *jo = cJSON_CreateObject();
        add_str(jo, "camera", j->camera);
        add_num(jo, "old", j->old_track);
        add_num(jo, "new", j->new_track);
        add_num(jo, "gap_ms", (double)j->gap_ms);
        add_num(jo, "distance", j->distance);
        add_bool(jo, "late", j->late);
        add_num(jo, "wall", (double)j->wall_us);
        cJSON_AddItemToArray(ja, jo);
    }
    cJSON *la = cJSON_AddArrayToObject(so, "lines");
    for (size_t k = 0; k < p->n_lines; k++) {
        cJSON_AddItemToArray(la, line_json(&p->lines[k]));
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
    add_num(o, "version", STATE_VERSION);
    add_str(o, "instance", inst);
    add_num(o, "mono", (double)sk_fusion_now(f));
    add_num(o, "wall", (double)sk_fusion_wall(f));
    add_num(o, "next_session", (double)f->next_session_no);

    cJSON *arr;
    const struct sk_fusion_cfg *fc = &f->cfg->fusion;
    int64_t horizon = (int64_t)(fc->pick_before_ms + fc->pick_after_ms + fc->join_window_ms +
                                fc->unattributed_grace_ms) *
                              1000 +
                      f->max_hold_us;
    int64_t now = sk_fusion_now(f);
    arr = cJSON_AddArrayToObject(o, "tracks");
    for (size_t i = 0; i < f->max_tracks; i++) {
        const struct track *t = &f->tracks[i];
        if (!t->used || !f->n_pending || now - t->last_us > horizon) {
            continue;
        }
        cJSON *to = cJSON_CreateObject();
        add_str(to, "camera", t->camera);
        add_num(to, "id", t->id);
        add_num(to, "born", (double)t->born_us);
        add_num(to, "last", (double)t->last_us);
        add_num(to, "lost", (double)t->lost_us);
        add_num(to, "x", t->x);
        add_num(to, "y", t->y);
        add_bool(to, "has_pos", t->has_pos);
        add_num(to, "session", (double)t->session);
        cJSON *va = cJSON_AddArrayToObject(to, "visits");
        unsigned nv = t->n_visits < VISITS_MAX ? t->n_visits : VISITS_MAX;
        for (unsigned k = 0; k < nv; k++) {
            const struct zone_visit *v = &t->visits[(t->n_visits - nv + k) % VISITS_MAX];
            cJSON *vo = cJSON_CreateObject();
            add_str(vo, "zone", f->cfg->zones[v->zone].name);
            add_num(vo, "enter", (double)v->enter_us);
            add_num(vo, "leave", v->leave_us == NEVER ? -1 : (double)v->leave_us);
            add_num(vo, "x", v->x);
            add_num(vo, "y", v->y);
            add_bool(vo, "has_pos", v->has_pos);
            add_bool(vo, "by_loss", v->by_loss);
            cJSON_AddItemToArray(va, vo);
        }
        cJSON_AddItemToArray(arr, to);
    }

    arr = cJSON_AddArrayToObject(o, "pending");
    for (size_t i = 0; i < f->n_pending; i++) {
        const struct pending *p = &f->pending[i];
        cJSON *po = cJSON_CreateObject();
        cJSON_AddItemToObject(po, "line", line_json(&p->line));
        add_str(po, "shelf", f->cfg->shelves[p->shelf].name);
        add_num(po, "removed", (double)p->removed_us);
        add_num(po, "departed", (double)p->departed_us);
        add_bool(po, "restock", p->restock);
        cJSON_AddItemToArray(arr, po);
    }

    arr = cJSON_AddArrayToObject(o, "sightings");
    for (size_t i = 0; i < f->n_sightings; i++) {
        const struct sighting *g = &f->sightings[i];
        cJSON *go = cJSON_CreateObject();
        char hex[SK_EPC_HEX_MAX];
        sk_epc_to_hex(g->epc, g->epc_len, hex, sizeof(hex));
        add_str(go, "epc", hex);
        add_str(go, "reader", g->reader);
        add_num(go, "mono", (double)g->mono_us);
        add_num(go, "wall", (double)g->wall_us);
        cJSON_AddItemToArray(arr, go);
    }

    arr = cJSON_AddArrayToObject(o, "memos");
    for (size_t i = 0; with_memos && i < f->n_memos; i++) {
        const struct memo *m = &f->memos[(f->memo_head + i) % f->max_pending];
        if (!m->kind) {
            continue;
        }
        cJSON *mo = cJSON_CreateObject();
        char hex[SK_EPC_HEX_MAX];
        sk_epc_to_hex(m->epc, m->epc_len, hex, sizeof(hex));
        add_str(mo, "epc", hex);
        add_num(mo, "kind", m->kind);
        add_str(mo, "session", m->session);
        add_str(mo, "shelf", m->shelf);
        add_num(mo, "mono", (double)m->mono_us);
        add_num(mo, "wall", (double)m->wall_us);
        cJSON_AddItemToArray(arr, mo);
    }

    arr = cJSON_AddArrayToObject(o, "binds");
    for (size_t i = 0; i < f->n_binds; i++) {
        cJSON *bo = cJSON_CreateObject();
        add_str(bo, "token", f->binds[i].token);
        add_str(bo, "session", f->binds[i].session);
        add_num(bo, "expires", (double)f->binds[i].expires_us);
        cJSON_AddItemToArray(arr, bo);
    }

    arr = cJSON_AddArrayToObject(o, "stock");
    for (size_t b = 0; b < STOCK_BUCKETS; b++) {
        for (const struct stock *s = f->stock[b]; s; s = s->next) {
            if (!s->added) {
                continue;
            }
            cJSON *so = cJSON_CreateObject();
            add_str(so, "shelf", f->cfg->shelves[s->shelf].name);
            add_str(so, "sku", s->sku);
            add_num(so, "added", s->added);
            cJSON_AddItemToArray(arr, so);
        }
    }

    arr = cJSON_AddArrayToObject(o, "restock");
    for (size_t i = 0; i < f->cfg->n_shelves; i++) {
        const struct shelf_info *si = &f->shelves[i];
        if (!si->restock_until_us) {
            continue;
        }
        cJSON *ro = cJSON_CreateObject();
        add_str(ro, "shelf", f->cfg->shelves[i].name);
        add_num(ro, "until", si->restock_until_us == NEVER ? -1 : (double)si->restock_until_us);
        add_num(ro, "start", (double)si->restock_start_us);
        add_bool(ro, "implicit", si->restock_implicit);
        add_str(ro, "id", si->restock_id);
        cJSON_AddItemToArray(arr, ro);
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
        cJSON_AddItemToArray(arr, session_json(f->sessions[i]));
    }
    return o;
}

void sk_fusion_session_gone(struct sk_fusion *f, const struct session *s)
{
    /* At most max_sessions can close between two persists (a call closes only sessions that
     * exist); without persists the list simply wraps. */
    if (f->n_gone == f->max_sessions) {
        f->n_gone = 0;
    }
    snprintf(f->gone[f->n_gone++], sizeof(f->gone[0]), "%s", s->pub.id);
    f->parts_dirty = true;
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
        cJSON *j = session_json(s);
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

struct rd {
    const cJSON *o;
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

static int64_t mono(struct rd *r, const cJSON *o, const char *k)
{
    int64_t v = (int64_t)num(r, o, k);
    return v ? v + r->shift : 0;
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

static bool boolean(struct rd *r, const cJSON *o, const char *k)
{
    const cJSON *v = get(r, o, k);
    if (!cJSON_IsBool(v)) {
        r->bad = true;
    }
    return cJSON_IsTrue(v);
}

static int epc_of(struct rd *r, const cJSON *o, const char *k, uint8_t *epc)
{
    char hex[SK_EPC_HEX_MAX];
    str(r, o, k, hex, sizeof(hex));
    int n = sk_epc_from_hex(hex, epc, SK_EPC_MAX);
    if (n <= 0) {
        r->bad = true;
        return 0;
    }
    return n;
}

static int shelf_named(const struct sk_fusion *f, const char *name)
{
    for (size_t i = 0; i < f->cfg->n_shelves; i++) {
        if (strcmp(f->cfg->shelves[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static void read_line(struct rd *r, const cJSON *o, struct sk_fusion_line *l)
{
    memset(l, 0, sizeof(*l));
    l->epc_len = (uint8_t)epc_of(r, o, "epc", l->epc);
    l->known = boolean(r, o, "known");
    const cJSON *po = get(r, o, "product");
    struct sk_fusion_product *p = &l->product;
    if (po) {
        str(r, po, "sku", p->sku, sizeof(p->sku));
        str(r, po, "gtin", p->gtin, sizeof(p->gtin));
        str(r, po, "name", p->name, sizeof(p->name));
        p->price_minor = (int64_t)num(r, po, "price");
        str(r, po, "currency", p->currency, sizeof(p->currency));
        p->restock_threshold = (int)num(r, po, "threshold");
        p->restock_target = (int)num(r, po, "target");
    }
    const cJSON *eo = get(r, o, "ev");
    struct sk_fusion_evidence *e = &l->ev;
    if (eo) {
        str(r, eo, "shelf", e->shelf, sizeof(e->shelf));
        str(r, eo, "reader", e->reader, sizeof(e->reader));
        e->antenna = (uint8_t)num(r, eo, "antenna");
        str(r, eo, "camera", e->camera, sizeof(e->camera));
        e->track_id = (uint32_t)num(r, eo, "track");
        e->removed_wall_us = (int64_t)num(r, eo, "removed");
        e->departed_wall_us = (int64_t)num(r, eo, "departed");
        e->score = (float)num(r, eo, "score");
        e->confidence = (float)num(r, eo, "confidence");
        e->rule = (uint8_t)num(r, eo, "rule");
        e->candidates = (uint8_t)num(r, eo, "candidates");
        e->lost_track = boolean(r, eo, "lost");
        str(r, eo, "runner", e->runner_session, sizeof(e->runner_session));
        e->runner_track = (uint32_t)num(r, eo, "runner_track");
        e->runner_score = (float)num(r, eo, "runner_score");
        e->reads = (uint32_t)num(r, eo, "reads");
        e->exit_seen_wall_us = (int64_t)num(r, eo, "exit_seen");
    }
}

static void clear_state(struct sk_fusion *f)
{
    f->restart_lost_mono_us = 0;
    f->restart_lost_n = 0;
    for (size_t i = 0; i < f->n_sessions; i++) {
        sk_fusion_session_free(f->sessions[i]);
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
    int64_t now = sk_fusion_now(f);
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
        s->no = (uint64_t)num(r, so, "no");
        str(r, so, "id", p->id, sizeof(p->id));
        str(r, so, "account", p->account, sizeof(p->account));
        p->state = (int)num(r, so, "state");
        p->review = (unsigned)num(r, so, "review");
        str(r, so, "camera", p->camera, sizeof(p->camera));
        p->track_id = (uint32_t)num(r, so, "track");
        str(r, so, "entry_line", p->entry_line, sizeof(p->entry_line));
        str(r, so, "exit_line", p->exit_line, sizeof(p->exit_line));
        p->opened_wall_us = (int64_t)num(r, so, "opened_wall");
        p->exit_wall_us = (int64_t)num(r, so, "exit_wall");
        p->opened_mono_us = mono(r, so, "opened_mono");
        p->exit_mono_us = mono(r, so, "exit_mono");
        p->lost_mono_us = mono(r, so, "lost_mono");
        p->last_mono_us = mono(r, so, "last_mono");
        p->x = (float)num(r, so, "x");
        p->y = (float)num(r, so, "y");
        p->has_pos = boolean(r, so, "has_pos");
        p->n_joins = (uint32_t)num(r, so, "n_joins");
        const cJSON *jo;
        size_t k = 0;
        cJSON_ArrayForEach(jo, get(r, so, "joins"))
        {
            if (k == SK_FUSION_JOINS_MAX) {
                break;
            }
            struct sk_fusion_join *j = &p->joins[k++];
            str(r, jo, "camera", j->camera, sizeof(j->camera));
            j->old_track = (uint32_t)num(r, jo, "old");
            j->new_track = (uint32_t)num(r, jo, "new");
            j->gap_ms = (int64_t)num(r, jo, "gap_ms");
            j->distance = (float)num(r, jo, "distance");
            j->late = boolean(r, jo, "late");
            j->wall_us = (int64_t)num(r, jo, "wall");
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
                read_line(r, lo, &p->lines[p->n_lines++]);
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

static int zone_named(const struct sk_fusion *f, const char *name)
{
    for (size_t i = 0; i < f->cfg->n_zones; i++) {
        if (strcmp(f->cfg->zones[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Tracks of an earlier process: all of them ended when it did. */
static void import_tracks(struct sk_fusion *f, struct rd *r, const cJSON *arr)
{
    int64_t now = sk_fusion_now(f);
    const cJSON *to;
    cJSON_ArrayForEach(to, arr)
    {
        char camera[SK_NAME_MAX];
        str(r, to, "camera", camera, sizeof(camera));
        struct track *t = sk_fusion_track(f, camera, (uint32_t)num(r, to, "id"), true);
        t->born_us = mono(r, to, "born");
        t->last_us = mono(r, to, "last");
        t->lost_us = mono(r, to, "lost");
        t->x = (float)num(r, to, "x");
        t->y = (float)num(r, to, "y");
        t->has_pos = boolean(r, to, "has_pos");
        t->session = (uint64_t)num(r, to, "session");
        int64_t end = t->lost_us ? t->lost_us : now;
        if (!t->lost_us) {
            t->lost_us = now;
        }
        const cJSON *vo;
        cJSON_ArrayForEach(vo, get(r, to, "visits"))
        {
            char zone[SK_NAME_MAX];
            str(r, vo, "zone", zone, sizeof(zone));
            int z = zone_named(f, zone);
            if (z < 0) {
                continue;
            }
            struct zone_visit *v = &t->visits[t->n_visits++ % VISITS_MAX];
            v->zone = z;
            v->enter_us = mono(r, vo, "enter");
            double leave = num(r, vo, "leave");
            v->leave_us = leave < 0 ? end : (int64_t)leave + r->shift;
            v->by_loss = leave < 0 || boolean(r, vo, "by_loss");
            v->x = (float)num(r, vo, "x");
            v->y = (float)num(r, vo, "y");
            v->has_pos = boolean(r, vo, "has_pos");
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
    struct rd r = {.o = state};
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
        int64_t elapsed = sk_fusion_wall(f) - saved_wall;
        if (elapsed < 0) {
            elapsed = 0; /* the wall clock went back: pretend no time passed */
        }
        r.shift = sk_fusion_now(f) - elapsed - saved_mono;
        f->resumed_us = sk_fusion_now(f); /* a restart: the readers start over */
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
        read_line(&r, get(&r, o, "line"), &p->line);
        char shelf[SK_NAME_MAX];
        str(&r, o, "shelf", shelf, sizeof(shelf));
        p->shelf = shelf_named(f, shelf);
        p->removed_us = mono(&r, o, "removed");
        p->departed_us = mono(&r, o, "departed");
        p->restock = boolean(&r, o, "restock");
        if (p->shelf >= 0) {
            f->n_pending++;
        }
    }
    cJSON_ArrayForEach(o, get(&r, state, "sightings"))
    {
        if (f->n_sightings == f->max_pending) {
            break;
        }
        struct sighting *g = &f->sightings[f->n_sightings++];
        memset(g, 0, sizeof(*g));
        g->epc_len = (uint8_t)epc_of(&r, o, "epc", g->epc);
        str(&r, o, "reader", g->reader, sizeof(g->reader));
        g->mono_us = mono(&r, o, "mono");
        g->wall_us = (int64_t)num(&r, o, "wall");
    }
    cJSON_ArrayForEach(o, get(&r, state, "memos"))
    {
        if (f->n_memos == f->max_pending) {
            break;
        }
        struct memo *m = &f->memos[f->n_memos++];
        memset(m, 0, sizeof(*m));
        m->epc_len = (uint8_t)epc_of(&r, o, "epc", m->epc);
        m->kind = (uint8_t)num(&r, o, "kind");
        str(&r, o, "session", m->session, sizeof(m->session));
        str(&r, o, "shelf", m->shelf, sizeof(m->shelf));
        m->mono_us = mono(&r, o, "mono");
        m->wall_us = (int64_t)num(&r, o, "wall");
    }
    cJSON_ArrayForEach(o, get(&r, state, "binds"))
    {
        if (f->n_binds == BINDS_MAX) {
            break;
        }
        struct bind *b = &f->binds[f->n_binds++];
        str(&r, o, "token", b->token, sizeof(b->token));
        str(&r, o, "session", b->session, sizeof(b->session));
        b->expires_us = mono(&r, o, "expires");
    }
    cJSON_ArrayForEach(o, get(&r, state, "stock"))
    {
        char shelf[SK_NAME_MAX], sku[SK_SKU_MAX];
        str(&r, o, "shelf", shelf, sizeof(shelf));
        str(&r, o, "sku", sku, sizeof(sku));
        int si = shelf_named(f, shelf);
        struct stock *s = si >= 0 ? sk_fusion_stock_entry(f, si, sku, true) : NULL;
        if (s) {
            s->added = (int)num(&r, o, "added");
        }
    }
    cJSON_ArrayForEach(o, get(&r, state, "restock"))
    {
        char shelf[SK_NAME_MAX];
        str(&r, o, "shelf", shelf, sizeof(shelf));
        int si = shelf_named(f, shelf);
        if (si >= 0) {
            double until = num(&r, o, "until");
            f->shelves[si].restock_until_us = until < 0 ? NEVER : (int64_t)until + r.shift;
            f->shelves[si].restock_start_us = (int64_t)num(&r, o, "start");
            f->shelves[si].restock_implicit = boolean(&r, o, "implicit");
            str(&r, o, "id", f->shelves[si].restock_id, sizeof(f->shelves[si].restock_id));
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

int sk_fusion_remember(struct sk_fusion *f,
                       int what,
                       const uint8_t *epc,
                       size_t epc_len,
                       const char *session,
                       const char *shelf,
                       int64_t wall_us)
{
    if (epc_len == 0 || epc_len > SK_EPC_MAX ||
        (what != 0 && what != MEMO_SOLD && what != MEMO_REMOVED)) {
        return -EINVAL;
    }
    if (what == 0) {
        sk_fusion_memo_forget(f, epc, epc_len);
        return 0;
    }
    int64_t mono = sk_fusion_now(f) - (sk_fusion_wall(f) - wall_us);
    sk_fusion_memo_add(f, what, epc, epc_len, session, shelf, mono, wall_us);
    return 0;
}
