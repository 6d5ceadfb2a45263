/* SPDX-License-Identifier: MIT */
/* The census: expected stock per shelf against the tags the readers see, as discrepancies. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ledger_internal.h"
#include "storekeeper/buf.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"

/*
 * DESIGN
 * A census maps every present tag to a shelf (its reader and antenna, through the
 * configuration's shelves) and to a sku (sk_ledger_sku_for_epc), counts what each usable
 * shelf holds per sku, and compares that with the stock the movements say it holds. Shelves
 * whose reader is not known to work are left out: their discrepancies stay as they were.
 *
 * Findings per (shelf, sku): more expected than seen is "missing"; more seen than expected
 * is "unexpected"; a sku seen on a shelf whose planogram does not list it, and which the
 * ledger does not expect there, is "misplaced" (a shelf without any planogram rows cannot
 * have misplaced items). Tags mapping to no product count as "unexpected" with an empty
 * sku.
 *
 * No double reporting: at most one open discrepancy per (kind, shelf, sku) exists (a unique
 * partial index). A finding that matches the open one exactly changes nothing; one whose
 * numbers moved updates it ("changed"); a new one opens one ("open"); an open one the census
 * no longer finds on a usable shelf is resolved ("resolved"). Each of these three writes
 * one event/discrepancy. The counting runs in SQL over two temporary tables.
 */

#define DEFAULT_MAX_EPCS 20
#define KEEP_CENSUS_ROWS 10000
#define CENSUS_ROWS_MAX  10000000 /* discrepancies or stock rows read at once */

struct shelf_map {
    const char *reader;
    int antenna; /* 0: every antenna */
    const char *shelf;
    bool usable;
};

static int map_cmp(const void *a, const void *b)
{
    const struct shelf_map *x = a, *y = b;
    int c = strcmp(x->reader, y->reader);
    if (c) {
        return c;
    }
    return y->antenna - x->antenna; /* exact antennas before the wildcard 0 */
}

static const struct shelf_map *
find_shelf(const struct shelf_map *m, size_t n, const char *reader, int antenna)
{
    /* Lower bound on reader, then the first entry whose antenna matches. */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(m[mid].reader, reader) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for (size_t i = lo; i < n && strcmp(m[i].reader, reader) == 0; i++) {
        if (m[i].antenna == antenna || m[i].antenna == 0) {
            return &m[i];
        }
    }
    return NULL;
}

struct census {
    struct sk_ledger *l;
    const struct sk_census_opts *opts;
    struct shelf_map *map;
    size_t n_map;
    sqlite3_stmt *ins_seen;
    struct sk_census_result res;
    int err;
    /* GTIN -> sku of the last lookups: most tags of a shelf share a few GTINs. */
    char last_gtin[8][15];
    char last_sku[8][SK_LEDGER_SKU_MAX];
    int last_hit[8];
    unsigned next_slot;
};

static int sku_of(struct census *c, const struct sk_tag_key *k, char *sku, size_t size)
{
    /* An explicit mapping wins; only then the GTIN. */
    sqlite3_stmt *s = ledger_stmt(c->l, ST_TAG_GET);
    if (!s) {
        return ledger_err(c->l);
    }
    sqlite3_bind_blob(s, 1, k->epc, k->epc_len, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        snprintf(sku, size, "%s", (const char *)sqlite3_column_text(s, 0));
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        return ledger_fail(c->l, rc, "census: reading tags");
    }
    struct sk_epc e;
    if (sk_epc_decode(k->epc, k->epc_len, &e) != 1) {
        return 0;
    }
    for (int i = 0; i < 8; i++) {
        if (c->last_hit[i] && strcmp(c->last_gtin[i], e.gtin14) == 0) {
            snprintf(sku, size, "%s", c->last_sku[i]);
            return c->last_hit[i] > 0;
        }
    }
    s = ledger_stmt(c->l, ST_PRODUCT_BY_GTIN);
    if (!s) {
        return ledger_err(c->l);
    }
    sqlite3_bind_text(s, 1, e.gtin14, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(s);
    int found = rc == SQLITE_ROW;
    if (found) {
        snprintf(sku, size, "%s", (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(c->l, rc, "census: reading products");
    }
    unsigned slot = c->next_slot++ % 8;
    snprintf(c->last_gtin[slot], sizeof(c->last_gtin[slot]), "%s", e.gtin14);
    snprintf(c->last_sku[slot], sizeof(c->last_sku[slot]), "%s", found ? sku : "");
    c->last_hit[slot] = found ? 1 : -1;
    return found;
}

static int add_tag(const struct sk_tag_key *k, int64_t since, void *ctx)
{
    (void)since;
    struct census *c = ctx;
    const struct shelf_map *m = find_shelf(c->map, c->n_map, k->reader, k->antenna);
    if (!m) {
        c->res.tags_elsewhere++;
        return 0;
    }
    if (!m->usable) {
        return 0;
    }
    c->res.tags++;
    char sku[SK_LEDGER_SKU_MAX];
    int r = sku_of(c, k, sku, sizeof(sku));
    if (r < 0) {
        return r;
    }
    if (r == 0) {
        c->res.unknown_tags++;
    }
    sqlite3_stmt *s = c->ins_seen;
    sqlite3_bind_text(s, 1, m->shelf, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, r > 0 ? sku : "", -1, SQLITE_TRANSIENT); /* "": no product */
    sqlite3_bind_blob(s, 3, k->epc, k->epc_len, SQLITE_STATIC);
    return ledger_step_done(c->l, s, "census: counting tags");
}

static int exec_prepared(struct sk_ledger *l, const char *sql, sqlite3_stmt **ret)
{
    int rc = sqlite3_prepare_v2(l->db, sql, -1, ret, NULL);
    return rc == SQLITE_OK ? 0 : ledger_fail(l, rc, "census: prepare");
}

/* Adds the EPCs (and for misplaced, the planned shelves) to an event. */
static int
add_detail(struct census *c, cJSON *f, const char *kind, const char *shelf, const char *sku)
{
    size_t max = c->opts && c->opts->max_epcs ? c->opts->max_epcs : DEFAULT_MAX_EPCS;
    if (strcmp(kind, "missing") != 0) {
        sqlite3_stmt *s;
        if (exec_prepared(c->l,
                          "SELECT hex(epc) FROM temp.census_seen WHERE shelf = ?1 AND "
                          "sku = ?2 ORDER BY epc LIMIT ?3",
                          &s) < 0) {
            return ledger_err(c->l);
        }
        sqlite3_bind_text(s, 1, shelf, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, sku, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, (int64_t)max);
        cJSON *arr = cJSON_AddArrayToObject(f, "epcs");
        while (arr && sqlite3_step(s) == SQLITE_ROW) {
            cJSON_AddItemToArray(arr, cJSON_CreateString((const char *)sqlite3_column_text(s, 0)));
        }
        sqlite3_finalize(s);
    }
    if (strcmp(kind, "misplaced") == 0) {
        sqlite3_stmt *s;
        if (exec_prepared(c->l, "SELECT shelf FROM planogram WHERE sku = ?1 ORDER BY shelf", &s) <
            0) {
            return ledger_err(c->l);
        }
        sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
        cJSON *arr = cJSON_AddArrayToObject(f, "home_shelves");
        while (arr && sqlite3_step(s) == SQLITE_ROW) {
            cJSON_AddItemToArray(arr, cJSON_CreateString((const char *)sqlite3_column_text(s, 0)));
        }
        sqlite3_finalize(s);
    }
    return 0;
}

static int discrepancy_event(struct census *c,
                             const struct sk_discrepancy *d,
                             int64_t opened_us,
                             int64_t *ret_seq)
{
    cJSON *f = cJSON_CreateObject();
    char opened[40];
    sk_format_time_utc(opened_us, opened, sizeof(opened));
    bool ok = f && cJSON_AddNumberToObject(f, "discrepancy_id", (double)d->id) &&
              cJSON_AddStringToObject(f, "state", d->state) &&
              cJSON_AddStringToObject(f, "kind", d->kind) &&
              cJSON_AddStringToObject(f, "shelf", d->shelf) &&
              (d->sku[0] ? cJSON_AddStringToObject(f, "sku", d->sku) != NULL
                         : cJSON_AddBoolToObject(f, "unknown_tags", 1) != NULL) &&
              cJSON_AddNumberToObject(f, "expected", (double)d->expected) &&
              cJSON_AddNumberToObject(f, "seen", (double)d->seen) &&
              cJSON_AddNumberToObject(f, "quantity", (double)d->quantity) &&
              cJSON_AddStringToObject(f, "opened", opened) &&
              cJSON_AddNumberToObject(f, "census_id", (double)c->res.census_id);
    int r = ok ? 0 : ledger_failf(c->l, -ENOMEM, "census: building an event");
    struct sk_product p;
    if (r == 0 && d->sku[0] && sk_ledger_product_get(c->l, d->sku, &p) == 1 && p.gtin[0] &&
        !cJSON_AddStringToObject(f, "gtin", p.gtin)) {
        r = ledger_failf(c->l, -ENOMEM, "census: building an event");
    }
    if (r == 0 && strcmp(d->state, "resolved") != 0) {
        r = add_detail(c, f, d->kind, d->shelf, d->sku);
    }
    if (r == 0) {
        r = ledger_event_insert(c->l, "event/discrepancy", NULL, f, 0, ret_seq);
    }
    cJSON_Delete(f);
    return r;
}

/* Applies one finding: open, change or confirm the open discrepancy. */
static int finding(struct census *c,
                   const char *kind,
                   const char *shelf,
                   const char *sku,
                   int64_t expected,
                   int64_t seen,
                   int64_t qty,
                   sk_discrepancy_cb cb,
                   void *ctx)
{
    struct sk_ledger *l = c->l;
    int64_t now = ledger_now_us(l);
    sqlite3_stmt *s;
    if (exec_prepared(l,
                      "SELECT id, quantity, expected, seen, opened_us FROM discrepancies "
                      "WHERE kind = ?1 AND shelf = ?2 AND sku = ?3 AND resolved_us IS NULL",
                      &s) < 0) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, shelf, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, sku, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int64_t id = 0, opened = now;
    bool same = false;
    if (rc == SQLITE_ROW) {
        id = sqlite3_column_int64(s, 0);
        same = sqlite3_column_int64(s, 1) == qty && sqlite3_column_int64(s, 2) == expected &&
               sqlite3_column_int64(s, 3) == seen;
        opened = sqlite3_column_int64(s, 4);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "census: reading discrepancies");
    }
    const char *state = id == 0 ? "open" : same ? "unchanged" : "changed";
    const char *sql = id == 0 ? "INSERT INTO discrepancies (kind, shelf, sku, quantity, expected, "
                                "seen, opened_us, updated_us, census) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)"
                              : "UPDATE discrepancies SET quantity = ?4, expected = ?5, seen = ?6, "
                                "updated_us = CASE WHEN ?10 THEN updated_us ELSE ?7 END, "
                                "census = ?8 WHERE id = ?9";
    if (exec_prepared(l, sql, &s) < 0) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, shelf, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, sku, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, qty);
    sqlite3_bind_int64(s, 5, expected);
    sqlite3_bind_int64(s, 6, seen);
    sqlite3_bind_int64(s, 7, now);
    sqlite3_bind_int64(s, 8, c->res.census_id);
    if (id) {
        sqlite3_bind_int64(s, 9, id);
        sqlite3_bind_int(s, 10, same);
    }
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "census: writing a discrepancy");
    }
    if (id == 0) {
        id = sqlite3_last_insert_rowid(l->db);
    }
    struct sk_discrepancy d = {.id = id,
                               .kind = kind,
                               .shelf = shelf,
                               .sku = sku,
                               .expected = expected,
                               .seen = seen,
                               .quantity = qty,
                               .state = state,
                               .opened_us = opened};
    c->res.open++;
    if (!same) {
        if (strcmp(state, "open") == 0) {
            c->res.opened++;
        } else {
            c->res.changed++;
        }
        int64_t seq = 0;
        int r = discrepancy_event(c, &d, opened, &seq);
        if (r < 0) {
            return r;
        }
        if (exec_prepared(l, "UPDATE discrepancies SET event_seq = ?2 WHERE id = ?1", &s) < 0) {
            return ledger_err(l);
        }
        sqlite3_bind_int64(s, 1, id);
        sqlite3_bind_int64(s, 2, seq);
        rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) {
            return ledger_fail(l, rc, "census: writing a discrepancy");
        }
    }
    return cb ? cb(&d, ctx) : 0;
}

static int resolve_stale(struct census *c, sk_discrepancy_cb cb, void *ctx)
{
    struct sk_ledger *l = c->l;
    sqlite3_stmt *s;
    if (exec_prepared(l,
                      "SELECT id, kind, shelf, sku, quantity, expected, seen, opened_us "
                      "FROM discrepancies WHERE resolved_us IS NULL AND census != ?1 AND "
                      "shelf IN (SELECT name FROM temp.census_shelves) ORDER BY id",
                      &s) < 0) {
        return ledger_err(l);
    }
    sqlite3_bind_int64(s, 1, c->res.census_id);
    int rc, r = 0;

    /* Collect first: the rows are updated below. */
    struct item {
        struct sk_discrepancy d;
        char kind[16], shelf[64], sku[SK_LEDGER_SKU_MAX];
    } *items = NULL;

    size_t n = 0, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct item *v = sk_grow(items, &cap, n + 1, sizeof(*v), CENSUS_ROWS_MAX);
        if (!v) {
            r = -errno;
            break;
        }
        items = v;
        struct item *it = &items[n++];
        memset(it, 0, sizeof(*it));
        snprintf(it->kind, sizeof(it->kind), "%s", (const char *)sqlite3_column_text(s, 1));
        snprintf(it->shelf, sizeof(it->shelf), "%s", (const char *)sqlite3_column_text(s, 2));
        snprintf(it->sku, sizeof(it->sku), "%s", (const char *)sqlite3_column_text(s, 3));
        it->d.id = sqlite3_column_int64(s, 0);
        it->d.quantity = sqlite3_column_int64(s, 4);
        it->d.expected = sqlite3_column_int64(s, 5);
        it->d.seen = sqlite3_column_int64(s, 6);
        it->d.opened_us = sqlite3_column_int64(s, 7);
    }
    sqlite3_finalize(s);
    if (r == 0 && rc != SQLITE_DONE) {
        r = ledger_fail(l, rc, "census: reading discrepancies");
    }
    int64_t now = ledger_now_us(l);
    for (size_t i = 0; r == 0 && i < n; i++) {
        struct item *it = &items[i];
        it->d.kind = it->kind;
        it->d.shelf = it->shelf;
        it->d.sku = it->sku;
        it->d.state = "resolved";
        int64_t seq = 0;
        r = discrepancy_event(c, &it->d, it->d.opened_us, &seq);
        if (r == 0 && exec_prepared(l,
                                    "UPDATE discrepancies SET resolved_us = ?2, updated_us = ?2, "
                                    "census = ?3, event_seq = ?4 WHERE id = ?1",
                                    &s) == 0) {
            sqlite3_bind_int64(s, 1, it->d.id);
            sqlite3_bind_int64(s, 2, now);
            sqlite3_bind_int64(s, 3, c->res.census_id);
            sqlite3_bind_int64(s, 4, seq);
            rc = sqlite3_step(s);
            sqlite3_finalize(s);
            r = rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, "census: resolving");
        } else if (r == 0) {
            r = ledger_err(l);
        }
        if (r == 0) {
            c->res.resolved++;
            r = cb ? cb(&it->d, ctx) : 0;
        }
    }
    free(items);
    return r;
}

static int run(struct census *c,
               const struct sk_config *cfg,
               const struct sk_tagset *present,
               sk_discrepancy_cb cb,
               void *ctx)
{
    struct sk_ledger *l = c->l;
    int r = ledger_exec(l,
                        "CREATE TEMP TABLE IF NOT EXISTS census_seen (shelf TEXT, sku TEXT, "
                        "epc BLOB);"
                        "CREATE INDEX IF NOT EXISTS temp.census_seen_key ON census_seen "
                        "(shelf, sku, epc);"
                        "CREATE TEMP TABLE IF NOT EXISTS census_shelves (name TEXT PRIMARY KEY);"
                        "DELETE FROM temp.census_seen; DELETE FROM temp.census_shelves;",
                        "census: temporary tables");
    if (r < 0) {
        return r;
    }
    /* The census row first: its id stamps the discrepancies it confirms. */
    sqlite3_stmt *s;
    if ((r = exec_prepared(l,
                           "INSERT INTO census (time_us, duration_us, shelves, shelves_skipped, "
                           "tags, unknown_tags, opened, changed, resolved) "
                           "VALUES (?1, 0, 0, 0, 0, 0, 0, 0, 0)",
                           &s)) < 0) {
        return r;
    }
    sqlite3_bind_int64(s, 1, ledger_now_us(l));
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "census: writing the census row");
    }
    c->res.census_id = sqlite3_last_insert_rowid(l->db);

    c->map = calloc(cfg->n_shelves ? cfg->n_shelves : 1, sizeof(*c->map));
    if (!c->map) {
        return -ENOMEM;
    }
    if ((r = exec_prepared(l, "INSERT OR IGNORE INTO temp.census_shelves VALUES (?1)", &s)) < 0) {
        return r;
    }
    for (size_t i = 0; i < cfg->n_shelves; i++) {
        const struct sk_shelf_cfg *sh = &cfg->shelves[i];
        struct shelf_map *m = &c->map[c->n_map++];
        m->reader = sh->reader;
        m->antenna = sh->antenna;
        m->shelf = sh->name;
        m->usable = !c->opts || !c->opts->usable || c->opts->usable(sh, c->opts->ctx);
        if (m->usable) {
            c->res.shelves++;
            sqlite3_bind_text(s, 1, sh->name, -1, SQLITE_STATIC);
            r = ledger_step_done(l, s, "census: shelves");
            if (r < 0) {
                sqlite3_finalize(s);
                return r;
            }
        } else {
            c->res.shelves_skipped++;
        }
    }
    sqlite3_finalize(s);
    qsort(c->map, c->n_map, sizeof(*c->map), map_cmp);

    if ((r = exec_prepared(l, "INSERT INTO temp.census_seen VALUES (?1, ?2, ?3)", &c->ins_seen)) <
        0) {
        return r;
    }
    r = sk_tagset_foreach(present, NULL, add_tag, c);
    sqlite3_finalize(c->ins_seen);
    c->ins_seen = NULL;
    if (r < 0) {
        return r;
    }

    static const char *const compare =
            "WITH seen AS (SELECT shelf, sku, count(*) AS n "
            "  FROM temp.census_seen GROUP BY 1, 2), "
            "exp AS (SELECT s.shelf, s.sku, s.quantity AS q FROM stock s "
            "  JOIN temp.census_shelves c ON c.name = s.shelf), "
            "keys AS (SELECT shelf, sku FROM seen UNION SELECT shelf, sku FROM exp) "
            "SELECT k.shelf, k.sku, coalesce(e.q, 0), coalesce(z.n, 0), "
            "  EXISTS (SELECT 1 FROM planogram g WHERE g.shelf = k.shelf AND g.sku = k.sku), "
            "  EXISTS (SELECT 1 FROM planogram g WHERE g.shelf = k.shelf) "
            "FROM keys k LEFT JOIN exp e ON e.shelf = k.shelf AND e.sku = k.sku "
            "LEFT JOIN seen z ON z.shelf = k.shelf AND z.sku = k.sku ORDER BY 1, 2";
    if ((r = exec_prepared(l, compare, &s)) < 0) {
        return r;
    }

    /* The findings are applied after the scan: writing discrepancies while stepping this
     * statement would be fine in SQLite, but collecting keeps the read consistent. */
    struct f {
        char shelf[64], sku[SK_LEDGER_SKU_MAX];
        int64_t expected, seen;
        bool planned, has_plan;
    } *fs = NULL;

    size_t n = 0, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct f *v = sk_grow(fs, &cap, n + 1, sizeof(*v), CENSUS_ROWS_MAX);
        if (!v) {
            r = -errno;
            break;
        }
        fs = v;
        struct f *x = &fs[n++];
        snprintf(x->shelf, sizeof(x->shelf), "%s", (const char *)sqlite3_column_text(s, 0));
        snprintf(x->sku, sizeof(x->sku), "%s", (const char *)sqlite3_column_text(s, 1));
        x->expected = sqlite3_column_int64(s, 2);
        x->seen = sqlite3_column_int64(s, 3);
        x->planned = sqlite3_column_int(s, 4) != 0;
        x->has_plan = sqlite3_column_int(s, 5) != 0;
    }
    sqlite3_finalize(s);
    if (r == 0 && rc != SQLITE_DONE) {
        r = ledger_fail(l, rc, "census: comparing");
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        struct f *x = &fs[i];
        int64_t e = x->expected > 0 ? x->expected : 0;
        if (!x->sku[0]) {
            r = finding(c, "unexpected", x->shelf, "", 0, x->seen, x->seen, cb, ctx);
        } else if (x->seen > 0 && x->has_plan && !x->planned && e == 0) {
            r = finding(c, "misplaced", x->shelf, x->sku, x->expected, x->seen, x->seen, cb, ctx);
        } else if (x->seen < e) {
            r = finding(c, "missing", x->shelf, x->sku, x->expected, x->seen, e - x->seen, cb, ctx);
        } else if (x->seen > e) {
            r = finding(c, "unexpected", x->shelf, x->sku, x->expected, x->seen, x->seen - e, cb,
                        ctx);
        }
    }
    free(fs);
    if (r < 0) {
        return r;
    }
    return resolve_stale(c, cb, ctx);
}

int sk_ledger_census(struct sk_ledger *l,
                     const struct sk_config *cfg,
                     const struct sk_tagset *present,
                     const struct sk_census_opts *opts,
                     struct sk_census_result *ret)
{
    if (l->aborted) {
        return l->abort_err;
    }
    int64_t t0 = sk_now_mono_us();
    struct census c;
    memset(&c, 0, sizeof(c));
    c.l = l;
    c.opts = opts;
    int r = sk_ledger_begin(l);
    if (r < 0) {
        return r;
    }
    r = run(&c, cfg, present, opts ? opts->seen : NULL, opts ? opts->seen_ctx : NULL);
    free(c.map);
    c.res.duration_us = sk_now_mono_us() - t0;
    if (r == 0) {
        sqlite3_stmt *s;
        r = exec_prepared(l,
                          "UPDATE census SET duration_us = ?2, shelves = ?3, shelves_skipped = ?4, "
                          "tags = ?5, unknown_tags = ?6, opened = ?7, changed = ?8, "
                          "resolved = ?9 WHERE id = ?1",
                          &s);
        if (r == 0) {
            sqlite3_bind_int64(s, 1, c.res.census_id);
            sqlite3_bind_int64(s, 2, c.res.duration_us);
            sqlite3_bind_int64(s, 3, (int64_t)c.res.shelves);
            sqlite3_bind_int64(s, 4, (int64_t)c.res.shelves_skipped);
            sqlite3_bind_int64(s, 5, (int64_t)c.res.tags);
            sqlite3_bind_int64(s, 6, (int64_t)c.res.unknown_tags);
            sqlite3_bind_int64(s, 7, (int64_t)c.res.opened);
            sqlite3_bind_int64(s, 8, (int64_t)c.res.changed);
            sqlite3_bind_int64(s, 9, (int64_t)c.res.resolved);
            int rc = sqlite3_step(s);
            sqlite3_finalize(s);
            r = rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, "census: writing the census row");
        }
    }
    if (r == 0) {
        char sql[160];
        snprintf(sql, sizeof(sql), "DELETE FROM census WHERE id <= %" PRId64,
                 c.res.census_id - KEEP_CENSUS_ROWS);
        r = ledger_exec(l, sql, "census: pruning old census rows");
    }
    if (r < 0 || (opts && opts->dry_run)) {
        sk_ledger_rollback(l);
    } else {
        r = sk_ledger_commit(l);
    }
    if (r == 0 && ret) {
        *ret = c.res;
    }
    return r;
}

struct discrepancy_visit {
    sk_discrepancy_cb cb;
    void *ctx;
};

static int discrepancy_row(sqlite3_stmt *s, void *arg)
{
    const struct discrepancy_visit *v = arg;
    int64_t resolved = sqlite3_column_int64(s, 9);
    struct sk_discrepancy d = {.id = sqlite3_column_int64(s, 0),
                               .kind = (const char *)sqlite3_column_text(s, 1),
                               .shelf = (const char *)sqlite3_column_text(s, 2),
                               .sku = (const char *)sqlite3_column_text(s, 3),
                               .expected = sqlite3_column_int64(s, 4),
                               .seen = sqlite3_column_int64(s, 5),
                               .quantity = sqlite3_column_int64(s, 6),
                               .opened_us = sqlite3_column_int64(s, 7),
                               .updated_us = sqlite3_column_int64(s, 8),
                               .resolved_us = resolved,
                               .state = resolved ? "resolved" : "open"};
    return v->cb ? v->cb(&d, v->ctx) : 0;
}

int sk_ledger_discrepancies(struct sk_ledger *l,
                            bool include_resolved,
                            sk_discrepancy_cb cb,
                            void *ctx)
{
    sqlite3_stmt *s;
    int r = exec_prepared(l,
                          "SELECT id, kind, shelf, sku, expected, seen, quantity, opened_us, "
                          "updated_us, coalesce(resolved_us, 0) FROM discrepancies "
                          "WHERE ?1 OR resolved_us IS NULL ORDER BY id",
                          &s);
    if (r < 0) {
        return r;
    }
    sqlite3_bind_int(s, 1, include_resolved);
    struct discrepancy_visit v = {cb, ctx};
    r = ledger_each_row(l, s, discrepancy_row, &v, "reading discrepancies");
    sqlite3_finalize(s);
    return r;
}
