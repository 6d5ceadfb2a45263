/* SPDX-License-Identifier: MIT */
/*
 * Ledger benchmark: movements per second with their outbox events in the production pragmas
 * (WAL, synchronous=FULL) at batch sizes 1, 10 and 100, next to plain SQLite inserts of rows
 * of the same sizes with the same pragmas, in this same program (the ratio is the cost of
 * the ledger's bookkeeping: chain hashing, stock upserts, envelope, ids, checks); and the
 * time a census takes for 20,000 tags on 200 shelves.
 *
 * Each figure is the median of ROUNDS rounds (5; --rounds), the ledger's and the plain ones
 * taking turns, with the minimum and maximum beside it; the ratio is the median of the rounds'
 * ratios. Every row is also printed as one `BENCH {json}` line for scripts/bench.sh.
 *
 *   bench_ledger [--quick] [--rounds N] [--no-anchor] [--dir DIR]  (default $TMPDIR, /tmp)
 *   bench_ledger --one ledger|plain --batch B --count N [--nosync] [--dir DIR]
 *
 * --one runs one side once, for an instruction count: under
 * `valgrind --tool=callgrind --toggle-collect=timed_moves` (or bench_plain) the total is the
 * instructions of N movements (scripts/bench.sh divides).
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
 * every commit that adds events and synced at most every SK_LEDGER_ANCHOR_SYNC_MS: its cost
 * is part of the cost per commit. */
static bool no_anchor; /* --no-anchor: what the anchor file costs */

static struct sk_ledger *open_ledger(const char *path)
{
    unlink(path);
    char anchor[600];
    snprintf(anchor, sizeof(anchor), "%s.anchor", path);
    unlink(anchor);
    struct sk_ledger_opts o = {.path = path,
                               .store_id = "bench",
                               .device_id = "bench-01",
                               .flags = SK_LEDGER_CREATE | SK_LEDGER_OWNER |
                                        (no_anchor ? 0u : (unsigned)SK_LEDGER_ANCHOR)};
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

struct input {
    char sku[16];
    uint8_t epc[12];
};

/* The timed part of bench_moves: what callgrind counts (--toggle-collect=timed_moves). */
static __attribute__((noinline)) int64_t timed_moves(struct sk_ledger *l,
                                                     const struct sk_config *cfg,
                                                     const struct input *in,
                                                     const cJSON *ev,
                                                     int n,
                                                     int batch);

/* Movements with their events, `batch` per transaction. Returns movements per second. */
static double bench_moves(struct sk_ledger *l, const struct sk_config *cfg, int n, int batch)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddNumberToObject(ev, "reads", 12);
    cJSON_AddNumberToObject(ev, "rssi_cdbm", -5230);
    cJSON_AddStringToObject(ev, "camera", "overhead");
    cJSON_AddNumberToObject(ev, "track", 4711);
    cJSON_AddNumberToObject(ev, "confidence", 0.93);
    /* The inputs (skus, EPCs) are made before the clock starts: only the ledger's work is
     * timed, as only SQLite's is on the plain side. */
    struct input *in = calloc((size_t)n, sizeof(*in));
    if (!in) {
        die("inputs", -ENOMEM);
    }
    for (int j = 0; j < n; j++) {
        int shelf = j % (int)cfg->n_shelves;
        char g[15];
        snprintf(in[j].sku, sizeof(in[j].sku), "P%03d", (shelf * 5 + j % 5) % 100);
        gtin_of((shelf * 5 + j % 5) % 100, g);
        sk_epc_encode_sgtin96(g, 7, (uint64_t)j, 1, in[j].epc);
    }
    int64_t dt = timed_moves(l, cfg, in, ev, n, batch);
    cJSON_Delete(ev);
    free(in);
    return n * 1e6 / (double)dt;
}

static int64_t timed_moves(struct sk_ledger *l,
                           const struct sk_config *cfg,
                           const struct input *in,
                           const cJSON *ev,
                           int n,
                           int batch)
{
    int64_t t0 = sk_now_mono_us();
    for (int i = 0; i < n; i += batch) {
        int r = sk_ledger_begin(l);
        if (r < 0) {
            die("begin", r);
        }
        for (int k = 0; k < batch && i + k < n; k++) {
            int j = i + k;
            int shelf = j % (int)cfg->n_shelves;
            struct sk_movement m = {.type = j % 3 ? SK_MOVE_PICKUP : SK_MOVE_RESTOCK,
                                    .epc = in[j].epc,
                                    .epc_len = 12,
                                    .sku = in[j].sku,
                                    .shelf = cfg->shelves[shelf].name,
                                    .session = j % 3 ? "sess-000123" : NULL,
                                    .quantity = 1,
                                    .evidence = ev};
            if ((r = sk_ledger_move(l, &m, SK_MOVE_EVENT | SK_MOVE_IN_BATCH, NULL)) < 0) {
                die(sk_ledger_errmsg(l), r);
            }
        }
        if ((r = sk_ledger_commit(l)) < 0) {
            die("commit", r);
        }
    }
    return sk_now_mono_us() - t0;
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
    int r = sk_ledger_census(l, cfg, set, NULL, &r1);
    if (r < 0) {
        die(sk_ledger_errmsg(l), r);
    }
    r = sk_ledger_census(l, cfg, set, NULL, &r2);
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* min, median, max of n values (sorted in place) */
static void stats(double *v, int n, double out[3])
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    out[0] = v[0];
    out[1] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    out[2] = v[n - 1];
}

static void unlink_all(const char *path, const char *plain)
{
    char side[600];
    const char *files[2] = {path, plain};
    for (int f = 0; f < 2; f++) {
        unlink(files[f]);
        snprintf(side, sizeof(side), "%s-wal", files[f]);
        unlink(side);
        snprintf(side, sizeof(side), "%s-shm", files[f]);
        unlink(side);
        snprintf(side, sizeof(side), "%s.anchor", files[f]);
        unlink(side);
    }
}

/* One side once (--one): the ledger's movements or the plain inserts, for callgrind. */
static int run_one(const char *dir, const char *side, int batch, int count, bool sync)
{
    char path[512], plain[512];
    snprintf(path, sizeof(path), "%s/bench-one-%d.db", dir, (int)getpid());
    snprintf(plain, sizeof(plain), "%s/bench-one-plain-%d.db", dir, (int)getpid());
    unlink_all(path, plain);
    struct sk_ledger *l = open_ledger(path);
    const struct sk_config *cfg = make_store(l, 200, 100);
    if (!sync) {
        sqlite3_exec(ledger_test_db(l), "PRAGMA synchronous = OFF", NULL, NULL, NULL);
    }
    double rate;
    if (strcmp(side, "ledger") == 0) {
        rate = bench_moves(l, cfg, count, batch);
    } else {
        int move_bytes = 220, event_bytes = 600;
        bench_moves(l, cfg, batch, batch); /* the row sizes the ledger writes */
        row_sizes(path, &move_bytes, &event_bytes);
        rate = bench_plain(plain, count, batch, move_bytes, event_bytes, sync);
    }
    sk_ledger_close(l);
    unlink_all(path, plain);
    free(store_cfg()->shelves);
    printf("%s: %d movements, batch %d: %.0f/s\n", side, count, batch, rate);
    return 0;
}

int main(int argc, char **argv)
{
    bool quick = false, sync = true;
    int rounds = 5, batch = 100, count = 3000;
    const char *one = NULL;
    const char *dir = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
    /* SQLite configured as the ledger configures it (no memory statistics), for both sides
     * alike: --one plain opens no ledger first */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--one") == 0 && i + 1 < argc) {
            one = argv[++i];
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            batch = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--nosync") == 0) {
            sync = false;
        } else if (strcmp(argv[i], "--no-anchor") == 0) {
            no_anchor = true;
        } else {
            fprintf(stderr, "usage: bench_ledger [--quick] [--rounds N] [--no-anchor] [--dir DIR]\n"
                            "       bench_ledger --one ledger|plain --batch B --count N "
                            "[--nosync] [--dir DIR]\n");
            return 2;
        }
    }
    if (one) {
        if ((strcmp(one, "ledger") != 0 && strcmp(one, "plain") != 0) || batch < 1 ||
            count < batch) {
            fprintf(stderr, "bench_ledger: --one ledger|plain, --batch >= 1, --count >= batch\n");
            return 2;
        }
        return run_one(dir, one, batch, count, sync);
    }
    if (rounds < 3 || rounds > 50) {
        fprintf(stderr, "bench_ledger: --rounds 3..50\n");
        return 2;
    }
    char path[512], plain[512];
    snprintf(path, sizeof(path), "%s/bench-ledger-%d.db", dir, (int)getpid());
    snprintf(plain, sizeof(plain), "%s/bench-plain-%d.db", dir, (int)getpid());
    printf("ledger benchmark in %s (WAL, synchronous=FULL), %d rounds%s%s\n", dir, rounds,
           quick ? ", quick" : "", no_anchor ? ", WITHOUT the anchor file (not the daemon's)" : "");
    /* fsync times on a shared machine drift: the ledger's and the plain rounds take turns.
     * The last row turns synchronous off on both sides to show the CPU cost alone. */
    static const int batches[4] = {1, 10, 100, 100};
    static const bool synced[4] = {true, true, true, false};
    /* the CPU-only rounds longer: the plain side's would last a few tens of ms */
    int per_round[4] = {60, 600, 5000, 20000};
    if (quick) {
        per_round[0] = 10;
        per_round[1] = 50;
        per_round[2] = per_round[3] = 300;
    }
    for (int b = 0; b < 4; b++) {
        unlink_all(path, plain);
        struct sk_ledger *l = open_ledger(path);
        const struct sk_config *cfg = make_store(l, 200, 100);
        if (!synced[b]) {
            sqlite3_exec(ledger_test_db(l), "PRAGMA synchronous = OFF", NULL, NULL, NULL);
        }
        double lr[50], pr[50], rr[50], ls[3], ps[3], rs[3];
        int move_bytes = 220, event_bytes = 600;
        for (int round = 0; round < rounds; round++) {
            lr[round] = bench_moves(l, cfg, per_round[b], batches[b]);
            if (round == 0) {
                /* the sizes the ledger really wrote, for the plain rows */
                char copy[600];
                snprintf(copy, sizeof(copy), "%s", path);
                int events = row_sizes(copy, &move_bytes, &event_bytes);
                if (events < per_round[b]) {
                    die("events missing", events);
                }
            }
            pr[round] = bench_plain(plain, per_round[b], batches[b], move_bytes, event_bytes,
                                    synced[b]);
            rr[round] = lr[round] / pr[round];
        }
        sk_ledger_close(l);
        stats(lr, rounds, ls);
        stats(pr, rounds, ps);
        stats(rr, rounds, rs);
        printf("batch %3d%s: %d x %d movements: ledger %.0f [%.0f-%.0f] movements/s (each with "
               "its event), plain inserts of the same sizes (%d + %d bytes) %.0f [%.0f-%.0f]/s, "
               "ratio %.2f [%.2f-%.2f]\n",
               batches[b], synced[b] ? "" : " (synchronous=OFF, CPU only)", rounds, per_round[b],
               ls[1], ls[0], ls[2], move_bytes, event_bytes, ps[1], ps[0], ps[2], rs[1], rs[0],
               rs[2]);
        printf("BENCH {\"bench\":\"ledger\",\"case\":\"batch %d%s\",\"unit\":\"movements/s\","
               "\"ours\":[%.0f,%.0f,%.0f],\"ref\":[%.0f,%.0f,%.0f],\"ratio\":[%.3f,%.3f,%.3f],"
               "\"ref_name\":\"plain SQLite inserts, same pragmas and row sizes\","
               "\"goal\":\"%s\",\"rounds\":%d}\n",
               batches[b],
               no_anchor   ? (synced[b] ? ", without the anchor file"
                                        : ", synchronous=OFF (CPU only), without the anchor file")
               : synced[b] ? ""
                           : ", synchronous=OFF (CPU only)",
               ls[0], ls[1], ls[2], ps[0], ps[1], ps[2], rs[0], rs[1], rs[2],
               batches[b] == 1 ? ""
               : synced[b]     ? "ratio >= 0.5"
                               : "ratio >= 0.25",
               rounds);
        unlink_all(path, plain);
    }
    bench_census(dir);
    free(store_cfg()->shelves);
    return 0;
}
