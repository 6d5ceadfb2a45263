/* SPDX-License-Identifier: MIT */
/* Exports of the ledger's tables as CSV (the catalog ones re-importable) or JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ledger_internal.h"
#include "storekeeper/currency.h"
#include "storekeeper/error.h"

enum coltype {
    COL_TEXT,  /* text; NULL as empty */
    COL_INT,   /* integer; NULL as empty (CSV) or null (JSON) */
    COL_TIME,  /* microseconds since the epoch -> RFC 3339; NULL/0 as empty */
    COL_PRICE, /* minor units, formatted with the currency in the next column */
    COL_JSON,  /* JSON text embedded as JSON (CSV: the text) */
    COL_BOOL,
};

struct col {
    const char *name;
    enum coltype type;
};

struct table {
    const char *name;
    const char *sql; /* ?1: since_us */
    struct col cols[14];
};

static const struct table tables[] = {
        {"products",
         "SELECT sku, coalesce(gtin, ''), name, price_minor, currency, restock_threshold, "
         "restock_target FROM products ORDER BY sku",
         {{"sku", COL_TEXT},
          {"gtin", COL_TEXT},
          {"name", COL_TEXT},
          {"price", COL_PRICE},
          {"currency", COL_TEXT},
          {"restock_threshold", COL_INT},
          {"restock_target", COL_INT}}},
        {"tags",
         "SELECT hex(epc), sku FROM tags ORDER BY epc",
         {{"epc", COL_TEXT}, {"sku", COL_TEXT}}},
        {"planogram",
         "SELECT shelf, sku, capacity FROM planogram ORDER BY shelf, sku",
         {{"shelf", COL_TEXT}, {"sku", COL_TEXT}, {"capacity", COL_INT}}},
        {"shelves",
         "SELECT name, reader, antenna, zone, active FROM shelves ORDER BY name",
         {{"shelf", COL_TEXT},
          {"reader", COL_TEXT},
          {"antenna", COL_INT},
          {"zone", COL_TEXT},
          {"active", COL_BOOL}}},
        {"stock",
         "SELECT k.shelf, k.sku, coalesce(s.quantity, 0), coalesce(g.capacity, 0), "
         "g.sku IS NOT NULL, s.updated_us "
         "FROM (SELECT shelf, sku FROM stock UNION SELECT shelf, sku FROM planogram) k "
         "LEFT JOIN stock s ON s.shelf = k.shelf AND s.sku = k.sku "
         "LEFT JOIN planogram g ON g.shelf = k.shelf AND g.sku = k.sku ORDER BY 1, 2",
         {{"shelf", COL_TEXT},
          {"sku", COL_TEXT},
          {"quantity", COL_INT},
          {"capacity", COL_INT},
          {"planned", COL_BOOL},
          {"updated", COL_TIME}}},
        {"movements",
         "SELECT id, time_us, type, sku, quantity, shelf, to_shelf, session, hex(epc), evidence, "
         "event_seq, lower(hex(prev_hash)), lower(hex(hash)), recorded_us FROM movements "
         "WHERE time_us >= ?1 ORDER BY id",
         {{"id", COL_INT},
          {"time", COL_TIME},
          {"type", COL_TEXT},
          {"sku", COL_TEXT},
          {"quantity", COL_INT},
          {"shelf", COL_TEXT},
          {"to_shelf", COL_TEXT},
          {"session", COL_TEXT},
          {"epc", COL_TEXT},
          {"evidence", COL_JSON},
          {"event_seq", COL_INT},
          {"prev_hash", COL_TEXT},
          {"hash", COL_TEXT},
          {"recorded", COL_TIME}}},
        {"sessions",
         "SELECT id, opened_us, closed_us, state, detail FROM sessions WHERE opened_us >= ?1 "
         "ORDER BY opened_us",
         {{"id", COL_TEXT},
          {"opened", COL_TIME},
          {"closed", COL_TIME},
          {"state", COL_TEXT},
          {"detail", COL_JSON}}},
        {"discrepancies",
         "SELECT id, kind, shelf, sku, quantity, expected, seen, opened_us, updated_us, "
         "resolved_us FROM discrepancies WHERE updated_us >= ?1 ORDER BY id",
         {{"id", COL_INT},
          {"kind", COL_TEXT},
          {"shelf", COL_TEXT},
          {"sku", COL_TEXT},
          {"quantity", COL_INT},
          {"expected", COL_INT},
          {"seen", COL_INT},
          {"opened", COL_TIME},
          {"updated", COL_TIME},
          {"resolved", COL_TIME}}},
        {"census",
         "SELECT id, time_us, duration_us, shelves, shelves_skipped, tags, unknown_tags, opened, "
         "changed, resolved FROM census WHERE time_us >= ?1 ORDER BY id",
         {{"id", COL_INT},
          {"time", COL_TIME},
          {"duration_us", COL_INT},
          {"shelves", COL_INT},
          {"shelves_skipped", COL_INT},
          {"tags", COL_INT},
          {"unknown_tags", COL_INT},
          {"opened", COL_INT},
          {"changed", COL_INT},
          {"resolved", COL_INT}}},
        {"outbox",
         "SELECT seq, id, topic, created_us, delivered_us, payload FROM outbox "
         "WHERE created_us >= ?1 ORDER BY seq",
         {{"seq", COL_INT},
          {"id", COL_TEXT},
          {"topic", COL_TEXT},
          {"created", COL_TIME},
          {"delivered", COL_TIME},
          {"payload", COL_JSON}}},
        {"present",
         "SELECT reader, antenna, hex(epc), since_us FROM present ORDER BY reader, antenna, epc",
         {{"reader", COL_TEXT}, {"antenna", COL_INT}, {"epc", COL_TEXT}, {"since", COL_TIME}}},
};

const char *sk_ledger_export_tables(void)
{
    return "products, tags, planogram, shelves, stock, movements, sessions, discrepancies, "
           "census, outbox, present";
}

int sk_ledger_format_price(int64_t minor, const char *currency, char *buf, size_t size)
{
    int e = sk_currency_exponent(currency);
    e = e < 0 ? 2 : e;
    int64_t scale = e == 0 ? 1 : e == 3 ? 1000 : 100;
    const char *sign = minor < 0 ? "-" : "";
    uint64_t v = minor < 0 ? (uint64_t)(-(minor + 1)) + 1 : (uint64_t)minor;
    if (e == 0) {
        return snprintf(buf, size, "%s%" PRIu64, sign, v);
    }
    return snprintf(buf, size, "%s%" PRIu64 ".%0*" PRIu64, sign, v / (uint64_t)scale, e,
                    v % (uint64_t)scale);
}

static void csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n") && s[0] != ' ' && s[0] != '#' &&
        (s[0] == '\0' || s[strlen(s) - 1] != ' ')) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') {
            fputc('"', out);
        }
        fputc(*s, out);
    }
    fputc('"', out);
}

int sk_ledger_export(struct sk_ledger *l,
                     const char *table,
                     enum sk_export_format format,
                     int64_t since_us,
                     FILE *out)
{
    const struct table *t = NULL;
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        if (strcmp(tables[i].name, table) == 0) {
            t = &tables[i];
        }
    }
    if (!t) {
        return ledger_failf(l, -EINVAL, "no table \"%s\" to export (%s)", table,
                            sk_ledger_export_tables());
    }
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(l->db, t->sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "export");
    }
    if (sqlite3_bind_parameter_count(s) > 0) {
        sqlite3_bind_int64(s, 1, since_us);
    }
    size_t ncols = 0;
    while (ncols < 14 && t->cols[ncols].name) {
        ncols++;
    }
    if (format == SK_EXPORT_CSV) {
        for (size_t c = 0; c < ncols; c++) {
            fprintf(out, "%s%s", c ? "," : "", t->cols[c].name);
        }
        fputc('\n', out);
    } else {
        fputs("[", out);
    }
    int n = 0, r = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ledger_progress(l, "export", n + 1, 0);
        cJSON *obj = format == SK_EXPORT_JSON ? cJSON_CreateObject() : NULL;
        if (format == SK_EXPORT_JSON && !obj) {
            r = -ENOMEM;
            break;
        }
        for (size_t c = 0; c < ncols; c++) {
            const struct col *col = &t->cols[c];
            bool null = sqlite3_column_type(s, (int)c) == SQLITE_NULL;
            const char *text = (const char *)sqlite3_column_text(s, (int)c);
            int64_t v = sqlite3_column_int64(s, (int)c);
            char buf[64] = "";
            cJSON *item = NULL;
            switch (col->type) {
            case COL_TEXT:
                text = text ? text : "";
                item = cJSON_CreateString(text);
                break;
            case COL_INT:
                if (!null) {
                    snprintf(buf, sizeof(buf), "%" PRId64, v);
                }
                text = buf;
                item = null ? cJSON_CreateNull() : cJSON_CreateNumber((double)v);
                break;
            case COL_BOOL:
                text = v ? "true" : "false";
                item = cJSON_CreateBool(v != 0);
                break;
            case COL_TIME:
                if (!null && v > 0) {
                    sk_format_time_utc(v, buf, sizeof(buf));
                }
                text = buf;
                item = buf[0] ? cJSON_CreateString(buf) : cJSON_CreateNull();
                break;
            case COL_PRICE: {
                const char *cur = (const char *)sqlite3_column_text(s, (int)c + 1);
                sk_ledger_format_price(v, cur, buf, sizeof(buf));
                text = buf;
                int e = sk_currency_exponent(cur);
                item = cJSON_CreateNumber((double)v / (e == 0 ? 1 : e == 3 ? 1000 : 100));
                if (obj) {
                    cJSON_AddNumberToObject(obj, "price_minor", (double)v);
                }
                break;
            }
            case COL_JSON:
                text = text ? text : "";
                item = text[0] ? cJSON_Parse(text) : cJSON_CreateNull();
                if (!item) {
                    item = cJSON_CreateString(text); /* stored text that is not JSON */
                }
                break;
            }
            if (format == SK_EXPORT_CSV) {
                if (c) {
                    fputc(',', out);
                }
                csv_field(out, text);
                cJSON_Delete(item);
            } else if (!item || !cJSON_AddItemToObject(obj, col->name, item)) {
                cJSON_Delete(item);
                r = -ENOMEM;
            }
        }
        if (format == SK_EXPORT_CSV) {
            fputc('\n', out);
        } else if (r == 0) {
            char *j = cJSON_PrintUnformatted(obj);
            if (!j) {
                r = -ENOMEM;
            } else {
                fprintf(out, "%s\n%s", n ? "," : "", j);
                cJSON_free(j);
            }
        }
        cJSON_Delete(obj);
        n++;
        if (r < 0) {
            break;
        }
    }
    sqlite3_finalize(s);
    if (r < 0) {
        return ledger_failf(l, r, "export: out of memory");
    }
    if (rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "export");
    }
    if (format == SK_EXPORT_JSON) {
        fputs(n ? "\n]\n" : "]\n", out);
    }
    if (ferror(out)) {
        return ledger_failf(l, -EIO, "export: write error");
    }
    return n;
}

int sk_ledger_counts(struct sk_ledger *l, struct sk_ledger_counts *ret)
{
    static const char *const sql =
            "SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM tags), "
            "(SELECT count(*) FROM shelves), (SELECT count(*) FROM shelves WHERE active), "
            "(SELECT count(*) FROM planogram), (SELECT count(*) FROM movements), "
            "(SELECT count(*) FROM sessions), (SELECT count(*) FROM present), "
            "(SELECT count(*) FROM discrepancies WHERE resolved_us IS NULL), "
            "(SELECT coalesce(sum(quantity), 0) FROM stock), "
            "(SELECT coalesce(max(time_us), 0) FROM census), "
            "(SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()), "
            "(SELECT freelist_count * page_size FROM pragma_freelist_count(), "
            "pragma_page_size())";
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(l->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "counting");
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        struct sk_ledger_counts c = {
                .products = sqlite3_column_int64(s, 0),
                .tags = sqlite3_column_int64(s, 1),
                .shelves = sqlite3_column_int64(s, 2),
                .shelves_active = sqlite3_column_int64(s, 3),
                .planogram = sqlite3_column_int64(s, 4),
                .movements = sqlite3_column_int64(s, 5),
                .sessions = sqlite3_column_int64(s, 6),
                .present = sqlite3_column_int64(s, 7),
                .discrepancies_open = sqlite3_column_int64(s, 8),
                .stock_total = sqlite3_column_int64(s, 9),
                .last_census_us = sqlite3_column_int64(s, 10),
                .file_bytes = sqlite3_column_int64(s, 11),
                .free_bytes = sqlite3_column_int64(s, 12),
        };
        *ret = c;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : ledger_fail(l, rc, "counting");
}

int sk_ledger_integrity_check(struct sk_ledger *l, char *buf, size_t size)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(l->db, "PRAGMA integrity_check(10)", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        return ledger_fail(l, rc, "integrity_check");
    }
    size_t used = 0;
    int r = 0;
    buf[0] = '\0';
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        if (t && strcmp(t, "ok") != 0) {
            r = SK_ELEDGER_CORRUPT;
        }
        int n = snprintf(buf + used, size - used, "%s%s", used ? "; " : "", t ? t : "");
        if (n > 0 && (size_t)n < size - used) {
            used += (size_t)n;
        }
    }
    sqlite3_finalize(s);
    ledger_one_line(buf, size);
    if (rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "integrity_check");
    }
    return r;
}
