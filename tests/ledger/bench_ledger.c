/* SPDX-License-Identifier: MIT */
/*
 * Ledger benchmark: movements per second with their outbox events in the production pragmas
 * (WAL, synchronous=FULL) at batch sizes 1, 10 and 100, next to plain SQLite inserts of rows
 * of the same sizes with the same pragmas, in this same program (the ratio is the cost of
 * the ledger's bookkeeping: chain hashing, stock upserts, envelope, ids, checks); and the
 * time a census takes for 20,000 tags on 200 shelves.
 *
 *   bench_ledger [--quick] [--dir DIR]     (DIR: where the files go, default $TMPDIR or /tmp)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "ledger_internal.h" /* ledger_test_db: the CPU-only row */
#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/epc.h"
#include "storekeeper/ledger.h"
#include "storekeeper/tagset.h"

static void die(const char *what, int r)
{
    fprintf(stderr, "bench_ledger: %s: %d\n", what, r);
    exit(1);
}

/* The GTIN-14 of product p of the benchmark catalog (company prefix 4099999). */
static void gtin_of(int p, char out[15])
{
    char d13[24];
    snprintf(d13, sizeof(d13), "0409999%06d", p % 1000000);
    memcpy(out, d13, 13);
    out[13] = (char)('0' + sk_gtin_check_digit(d13));
    out[14] = '\0';
}

/* As the daemon opens it: with the anchor file (docs/ledger.md, "Rollback"), written after
 * every commit that adds events: its fdatasync is part of the cost per commit. */
static struct sk_ledger *open_ledger(const char *path)
{
    unlink(path);
    char anchor[600];
    snprintf(anchor, sizeof(anchor), "%s.anchor", path);
    unlink(anchor);
    struct sk_ledger_opts o = {.path = path,
                               .store_id = "bench",
                               .device_id = "bench-01",
                               .flags = SK_LEDGER_CREATE | SK_LEDGER_OWNER | SK_LEDGER_ANCHOR};
    struct sk_ledger *l;
    char msg[512];
    if (sk_ledger_open(&o, msg, sizeof(msg), &l) < 0) {
        fprintf(stderr, "bench_ledger: %s\n", msg);
        exit(1);
    }
    return l;
}

static struct sk_config *store_cfg(void)
{
    static struct sk_config cfg;
    return &cfg;
}

/* n_shelves shelves S000.., on reader r(i/4) antenna i%4+1; n_products products P000.. with
 * GTINs; each shelf plans 5 products. */
static struct sk_config *make_store(struct sk_ledger *l, int n_shelves, int n_products)
{
    struct sk_config *cfg = store_cfg();
    free(cfg->shelves); /* the previous run's */
    memset(cfg, 0, sizeof(*cfg));
    cfg->shelves = calloc((size_t)n_shelves, sizeof(*cfg->shelves));
    cfg->n_shelves = (size_t)n_shelves;
    for (int i = 0; i < n_shelves; i++) {
        snprintf(cfg->shelves[i].name, sizeof(cfg->shelves[i].name), "S%03d", i);
        snprintf(cfg->shelves[i].reader, sizeof(cfg->shelves[i].reader), "r%02d", i / 4);
        cfg->shelves[i].antenna = i % 4 + 1;
    }
    int r = sk_ledger_sync_shelves(l, cfg);
    if (r < 0) {
        die("shelves", r);
    }
    sk_ledger_begin(l);
    for (int p = 0; p < n_products; p++) {
        struct sk_product prod = {.price_minor = 100 + p,
                                  .currency = "EUR",
                                  .restock_threshold = 2,
                                  .restock_target = 20};
        snprintf(prod.sku, sizeof(prod.sku), "P%03d", p);
        snprintf(prod.name, sizeof(prod.name), "Product number %d", p);
        gtin_of(p, prod.gtin);
        if ((r = sk_ledger_product_put(l, &prod)) < 0) {
            die("product", r);
        }
    }
    for (int i = 0; i < n_shelves; i++) {
        for (int k = 0; k < 5; k++) {
            char sku[16];
            snprintf(sku, sizeof(sku), "P%03d", (i * 5 + k) % n_products);
            if ((r = sk_ledger_planogram_put(l, cfg->shelves[i].name, sku, 40)) < 0) {
                die("planogram", r);
            }
        }
    }
    if ((r = sk_ledger_commit(l)) < 0) {
        die("commit", r);
    }
    return cfg;
}

/* Movements with their events, `batch` per transaction. Returns movements per second. */
static double bench_moves(struct sk_ledger *l, const struct sk_config *cfg, int n, int batch)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddNumberToObject(ev, "reads", 12);
    cJSON_AddNumberToObject(ev, "rssi_cdbm", -5230);
    cJSON_AddStringToObject(ev, "camera", "overhead");
    cJSON_AddNumberToObject(ev, "track", 4711);
    cJSON_AddNumberToObject(ev, "confidence", 0.93);
    int64_t t0 = sk_now_mono_us();
    for (int i = 0; i < n; i += batch) {
        int r = sk_ledger_begin(l);
        if (r < 0) {
            die("begin", r);
        }
        for (int k = 0; k < batch && i + k < n; k++) {
            int j = i + k;
            int shelf = j % (int)cfg->n_shelves;
            char sku[16];
            snprintf(sku, sizeof(sku), "P%03d", (shelf * 5 + j % 5) % 100);
            uint8_t epc[12];
            char g[15];
            gtin_of((shelf * 5 + j % 5) % 100, g);
            sk_epc_encode_sgtin96(g, 7, (uint64_t)j, 1, epc);
            struct sk_movement m = {.type = j % 3 ? SK_MOVE_PICKUP : SK_MOVE_RESTOCK,
                                    .epc = epc,
                                    .epc_len = 12,
                                    .sku = sku,
                                    .shelf = cfg->shelves[shelf].name,
                                    .session = j % 3 ? "sess-000123" : NULL,
                                    .quantity = 1,
                                    .evidence = ev};
            if ((r = sk_ledger_move(l, &m, SK_MOVE_EVENT, NULL)) < 0) {
                die(sk_ledger_errmsg(l), r);
            }
        }
        if ((r = sk_ledger_commit(l)) < 0) {
            die("commit", r);
        }
    }
    int64_t dt = sk_now_mono_us() - t0;
    cJSON_Delete(ev);
    return n * 1e6 / (double)dt;
}

/* Plain inserts: per "movement", one row of the movement row's size and one of the event's,
 * with the same pragmas, `batch` movements per transaction. */
static double
bench_plain(const char *path, int n, int batch, int move_bytes, int event_bytes, bool sync)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; "
                     "PRAGMA temp_store = MEMORY; "
                     "CREATE TABLE IF NOT EXISTS a (id INTEGER PRIMARY KEY, v BLOB NOT NULL);"
                     "CREATE TABLE IF NOT EXISTS b (seq INTEGER PRIMARY KEY, v TEXT NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, sync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = OFF", NULL,
                     NULL, NULL) != SQLITE_OK) {
        die("plain open", 0);
    }
    sqlite3_stmt *a, *b;
    sqlite3_prepare_v2(db, "INSERT INTO a (v) VALUES (?1)", -1, &a, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO b (v) VALUES (?1)", -1, &b, NULL);
    char *blob = malloc((size_t)move_bytes + 1);
    char *text = malloc((size_t)event_bytes + 1);
    memset(blob, 'm', (size_t)move_bytes);
    memset(text, 'e', (size_t)event_bytes);
    text[event_bytes] = '\0';
    int64_t t0 = sk_now_mono_us();
    for (int i = 0; i < n; i += batch) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        for (int k = 0; k < batch && i + k < n; k++) {
            blob[0] = (char)k; /* not all identical */
            sqlite3_bind_blob(a, 1, blob, move_bytes, SQLITE_STATIC);
            sqlite3_bind_text(b, 1, text, event_bytes, SQLITE_STATIC);
            if (sqlite3_step(a) != SQLITE_DONE || sqlite3_step(b) != SQLITE_DONE) {
                die("plain insert", 0);
            }
            sqlite3_reset(a);
            sqlite3_reset(b);
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            die("plain commit", 0);
        }
    }
    int64_t dt = sk_now_mono_us() - t0;
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    sqlite3_close(db);
    free(blob);
    free(text);
    return n * 1e6 / (double)dt;
}

static int row_sizes(const char *path, int *move_bytes, int *event_bytes)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT (SELECT avg(8 + 8 + 8 + length(type) + length(epc) + "
                           "length(sku) + length(shelf) + coalesce(length(session), 0) + 8 + "
                           "length(evidence) + 8 + 32 + 32) FROM movements), "
                           "(SELECT avg(8 + length(id) + length(topic) + length(payload) + 16) "
                           "FROM outbox), (SELECT count(*) FROM outbox)",
                           -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        return -1;
    }
    *move_bytes = (int)sqlite3_column_double(s, 0);
    *event_bytes = (int)sqlite3_column_double(s, 1);
    int events = sqlite3_column_int(s, 2);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return events;
}

/* 20,000 tags on 200 shelves: 100 per shelf, 5 planned skus; a few missing, a few on a
 * wrong shelf, a few unknown. */
static void bench_census(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/bench-census.db", dir);
    struct sk_ledger *l = open_ledger(path);
    const struct sk_config *cfg = make_store(l, 200, 100);
    /* Expected stock: 20 of each planned sku on each shelf (restock movements). */
    sk_ledger_begin(l);
    for (size_t i = 0; i < cfg->n_shelves; i++) {
        for (int k = 0; k < 5; k++) {
            char sku[16];
            snprintf(sku, sizeof(sku), "P%03d", (int)(i * 5 + (size_t)k) % 100);
            struct sk_movement m = {.type = SK_MOVE_RESTOCK,
                                    .sku = sku,
                                    .shelf = cfg->shelves[i].name,
                                    .quantity = 20};
            int r = sk_ledger_move(l, &m, 0, NULL);
            if (r < 0) {
                die("restock", r);
            }
        }
    }
    sk_ledger_commit(l);
    struct sk_tagset *set;
    sk_tagset_new(100000, &set);
    int n = 0;
    for (size_t i = 0; i < cfg->n_shelves; i++) {
        for (int k = 0; k < 5; k++) {
            for (int t = 0; t < 20; t++, n++) {
                int p = (int)(i * 5 + (size_t)k) % 100;
                size_t on = i;
                if (n % 97 == 0) {
                    on = (i + 7) % cfg->n_shelves; /* misplaced */
                }
                if (n % 89 == 0) {
                    continue; /* missing */
                }
                char g[15];
                gtin_of(n % 211 == 0 ? 999999 : p, g);
                uint8_t epc[12];
                sk_epc_encode_sgtin96(g, 7, (uint64_t)n, 1, epc);
                struct sk_tag_key key;
                sk_tag_key_set(&key, cfg->shelves[on].reader, (uint8_t)cfg->shelves[on].antenna,
                               epc, 12);
                sk_tagset_add(set, &key, 1);
            }
        }
    }
    struct sk_census_result r1, r2;
    int r = sk_ledger_census(l, cfg, set, NULL, NULL, NULL, &r1);
    if (r < 0) {
        die(sk_ledger_errmsg(l), r);
    }
    r = sk_ledger_census(l, cfg, set, NULL, NULL, NULL, &r2);
    if (r < 0) {
        die(sk_ledger_errmsg(l), r);
    }
    printf("census: %zu tags on %zu shelves (%zu unknown): first run %.1f ms (%zu "
           "discrepancies opened), unchanged rerun %.1f ms (%zu opened, %zu changed)\n",
           r1.tags, r1.shelves, r1.unknown_tags, r1.duration_us / 1000.0, r1.opened,
           r2.duration_us / 1000.0, r2.opened, r2.changed);
    sk_tagset_free(set);
    sk_ledger_close(l);
    unlink(path);
}

static double median3(const double v[3])
{
    double a = v[0], b = v[1], c = v[2];
    if (a > b) {
        double t = a;
        a = b;
        b = t;
    }
    if (b > c) {
        b = c;
    }
    return a > b ? a : b;
}

int main(int argc, char **argv)
{
    bool quick = false;
    const char *dir = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_ledger [--quick] [--dir DIR]\n");
            return 2;
        }
    }
    char path[512], plain[512];
    snprintf(path, sizeof(path), "%s/bench-ledger-%d.db", dir, (int)getpid());
    snprintf(plain, sizeof(plain), "%s/bench-plain-%d.db", dir, (int)getpid());
    printf("ledger benchmark in %s (WAL, synchronous=FULL)%s\n", dir, quick ? ", quick" : "");
    /* fsync times on a shared machine drift: each figure is the median of 3 rounds, the
     * ledger's and the plain ones taking turns. The last row turns synchronous off on both
     * sides to show the CPU cost alone. */
    static const int batches[4] = {1, 10, 100, 100};
    static const bool synced[4] = {true, true, true, false};
    int counts[4] = {300, 3000, 24000, 24000};
    if (quick) {
        counts[0] = 30;
        counts[1] = 150;
        counts[2] = counts[3] = 900;
    }
    for (int b = 0; b < 4; b++) {
        unlink(plain);
        struct sk_ledger *l = open_ledger(path);
        const struct sk_config *cfg = make_store(l, 200, 100);
        if (!synced[b]) {
            sqlite3_exec(ledger_test_db(l), "PRAGMA synchronous = OFF", NULL, NULL, NULL);
        }
        double lr[3], pr[3];
        int move_bytes = 220, event_bytes = 600;
        for (int round = 0; round < 3; round++) {
            lr[round] = bench_moves(l, cfg, counts[b] / 3, batches[b]);
            if (round == 0) {
                /* the sizes the ledger really wrote, for the plain rows */
                char copy[600];
                snprintf(copy, sizeof(copy), "%s", path);
                int events = row_sizes(copy, &move_bytes, &event_bytes);
                if (events < counts[b] / 3) {
                    die("events missing", events);
                }
            }
            pr[round] = bench_plain(plain, counts[b] / 3, batches[b], move_bytes, event_bytes,
                                    synced[b]);
        }
        sk_ledger_close(l);
        double ledger_rate = median3(lr), plain_rate = median3(pr);
        printf("batch %3d%s: %6d movements: ledger %8.0f movements/s (each with its event), "
               "plain inserts of the same sizes (%d + %d bytes) %8.0f/s, ratio %.2f\n",
               batches[b], synced[b] ? "" : " (synchronous=OFF, CPU only)", counts[b], ledger_rate,
               move_bytes, event_bytes, plain_rate, ledger_rate / plain_rate);
        unlink(path);
        unlink(plain);
        char side[600];
        const char *files[2] = {path, plain};
        for (int f = 0; f < 2; f++) {
            snprintf(side, sizeof(side), "%s-wal", files[f]);
            unlink(side);
            snprintf(side, sizeof(side), "%s-shm", files[f]);
            unlink(side);
            snprintf(side, sizeof(side), "%s.anchor", files[f]);
            unlink(side);
        }
    }
    bench_census(dir);
    free(store_cfg()->shelves);
    return 0;
}
