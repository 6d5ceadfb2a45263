/* SPDX-License-Identifier: MIT */
/* Opening ledgers: creation, refusal of foreign, corrupt, newer and mismatched files,
 * the owner lock, and migration from every older schema version. */
#include <fcntl.h>
#include <unistd.h>

#include <sys/wait.h>

#include "ledger_test.h"

static void test_create_and_reopen(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    struct sk_ledger_info a, b;
    assert_int_equal(sk_ledger_get_info(t.l, &a), 0);
    assert_int_equal(a.schema_version, SK_LEDGER_SCHEMA_VERSION);
    assert_string_equal(a.store_id, "store-1");
    assert_string_equal(a.device_id, "dev-1");
    assert_int_equal(strlen(a.ledger_id), SK_LEDGER_ID_LEN);
    assert_int_equal(a.ledger_id[14], '7'); /* UUID version 7 */
    assert_int_equal(a.created_us, 1700000000000000LL);
    assert_int_equal(lt_int(t.l, "PRAGMA application_id"), SK_LEDGER_APPLICATION_ID);
    assert_int_equal(lt_int(t.l, "PRAGMA synchronous"), 2); /* FULL */
    assert_int_equal(lt_int(t.l, "PRAGMA foreign_keys"), 1);
    sk_ledger_close(t.l);

    t.l = lt_open_flags(&t, 0);
    assert_int_equal(sk_ledger_get_info(t.l, &b), 0);
    assert_string_equal(a.ledger_id, b.ledger_id);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(ledger_test_db(t.l), "PRAGMA journal_mode", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    lt_teardown(&t);
}

/* Two processes create the same new ledger at once (the daemon's first start and a `ledger`
 * command): both open it, one ledger id, every migration once. Rounds, since the race is. */
static void test_created_by_two_at_once(void **state)
{
    (void)state;
    char dir[128], path[192];
    sk_test_tmpdir(dir, sizeof(dir));
    for (int round = 0; round < 20; round++) {
        snprintf(path, sizeof(path), "%s/both-%d.db", dir, round);
        struct sk_ledger_opts o = {.path = path,
                                   .store_id = "store-1",
                                   .device_id = "dev-1",
                                   .flags = SK_LEDGER_CREATE | SK_LEDGER_MIGRATE};
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        char msg[512] = "";
        struct sk_ledger *l = NULL;
        int r = sk_ledger_open(&o, msg, sizeof(msg), &l);
        struct sk_ledger_info info;
        memset(&info, 0, sizeof(info));
        if (r == 0) {
            r = sk_ledger_get_info(l, &info);
        }
        sk_ledger_close(l);
        if (pid == 0) {
            ssize_t n = write(fds[1], info.ledger_id, sizeof(info.ledger_id));
            _exit(r == 0 && n == (ssize_t)sizeof(info.ledger_id) ? 0 : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        char child_id[sizeof(info.ledger_id)] = "";
        assert_int_equal(read(fds[0], child_id, sizeof(child_id)), (ssize_t)sizeof(child_id));
        close(fds[0]);
        close(fds[1]);
        if (r != 0) {
            fprintf(stderr, "round %d: %s\n", round, msg);
        }
        assert_int_equal(r, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_string_equal(child_id, info.ledger_id);
        assert_int_equal(info.schema_version, SK_LEDGER_SCHEMA_VERSION);
    }
    sk_test_rmdir(dir);
}

static void test_missing_and_directory(void **state)
{
    (void)state;
    char dir[128], path[256], msg[512];
    sk_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/none.db", dir);
    assert_int_equal(lt_try_open(path, NULL, NULL, 0, msg, sizeof(msg)), -ENOENT);
    assert_non_null(strstr(msg, "none.db: no ledger here"));
    assert_int_equal(access(path, F_OK), -1); /* and nothing was created */
    /* CREATE makes one missing directory level. */
    snprintf(path, sizeof(path), "%s/state/ledger.db", dir);
    assert_int_equal(lt_try_open(path, "s", "d", SK_LEDGER_CREATE, msg, sizeof(msg)), 0);
    assert_int_equal(access(path, F_OK), 0);
    /* A directory is not a ledger. */
    snprintf(path, sizeof(path), "%s/state", dir);
    assert_int_equal(lt_try_open(path, "s", "d", SK_LEDGER_CREATE, msg, sizeof(msg)),
                     SK_ELEDGER_SCHEMA);
    assert_non_null(strstr(msg, "not a regular file"));
    sk_test_rmdir(dir);
}

/* The file's bytes must be the same after a refused open. */
static void assert_refused_untouched(const char *path, unsigned flags, int want, const char *needle)
{
    size_t n1, n2;
    unsigned char *before = lt_slurp(path, &n1);
    char msg[512];
    int r = lt_try_open(path, "store-1", "dev-1", flags, msg, sizeof(msg));
    if (r != want || !strstr(msg, needle)) {
        fprintf(stderr, "got %d \"%s\", wanted %d \"%s\"\n", r, msg, want, needle);
    }
    assert_int_equal(r, want);
    assert_non_null(strstr(msg, needle));
    assert_non_null(strstr(msg, path));
    unsigned char *after = lt_slurp(path, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
}

static void test_refuses_foreign_files(void **state)
{
    (void)state;
    char dir[128], path[256], p2[256];
    sk_test_tmpdir(dir, sizeof(dir));
    unsigned all = SK_LEDGER_CREATE | SK_LEDGER_MIGRATE | SK_LEDGER_OWNER;

    /* Text. */
    sk_test_write(dir, "notes.db", "these are not the rows you are looking for\n", path,
                  sizeof(path));
    assert_refused_untouched(path, all, SK_ELEDGER_SCHEMA, "not an SQLite database");

    /* Another application's SQLite database. */
    snprintf(p2, sizeof(p2), "%s/other.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE cookies (name TEXT); "
                                  "INSERT INTO cookies VALUES ('oat');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_refused_untouched(p2, all, SK_ELEDGER_SCHEMA, "another application");

    /* Same but with an application id of its own. */
    assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA application_id = 1234", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_refused_untouched(p2, all, SK_ELEDGER_SCHEMA, "application_id 0x000004d2");

    /* A ledger from a newer storekeeper. */
    snprintf(p2, sizeof(p2), "%s/newer.db", dir);
    assert_int_equal(lt_try_open(p2, "store-1", "dev-1", all, NULL, 0), 0);
    assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SK_LEDGER_SCHEMA_VERSION + 1);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_refused_untouched(p2, all, SK_ELEDGER_SCHEMA, "is newer than this storekeeper");

    /* One flipped byte in the header: user_version 0xff000002 is negative. It is refused before
     * anything uses it (it indexes the migrations), and no backup is written for it. */
    snprintf(p2, sizeof(p2), "%s/flipped.db", dir);
    assert_int_equal(lt_try_open(p2, "store-1", "dev-1", all, NULL, 0), 0);
    assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    FILE *fp = fopen(p2, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 60, SEEK_SET), 0);
    assert_int_equal(fputc(0xff, fp), 0xff);
    fclose(fp);
    char flipped[64]; /* the version with its top byte 0xff: negative */
    snprintf(flipped, sizeof(flipped), "schema version %d is not one",
             (int)(int32_t)(0xff000000u | (uint32_t)SK_LEDGER_SCHEMA_VERSION));
    assert_refused_untouched(p2, all, SK_ELEDGER_CORRUPT, flipped);
    assert_refused_untouched(p2, 0, SK_ELEDGER_CORRUPT, "the file's header is damaged");
    char bak[300];
    snprintf(bak, sizeof(bak), "%s.v-16777212.bak", p2);
    assert_int_not_equal(access(bak, F_OK), 0);

    /* Another store's or device's ledger that holds a record (here a product). */
    static const char product[] = "INSERT INTO products (sku, name, price_minor, currency, "
                                  "updated_us) VALUES ('COLA', 'Cola', 149, 'EUR', 1)";
    snprintf(p2, sizeof(p2), "%s/theirs.db", dir);
    assert_int_equal(lt_try_open(p2, "store-2", "dev-1", all, NULL, 0), 0);
    assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, product, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_refused_untouched(p2, all, SK_ELEDGER_IDENTITY,
                             "belongs to store/device \"store-2/dev-1\"");
    snprintf(p2, sizeof(p2), "%s/theirs2.db", dir);
    assert_int_equal(lt_try_open(p2, "store-1", "dev-9", all, NULL, 0), 0);
    assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, product, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_refused_untouched(p2, all, SK_ELEDGER_IDENTITY,
                             "belongs to store/device \"store-1/dev-9\"");

    /* One that never recorded anything (the package's idle example store): a reader is
     * refused, the owner adopts it. */
    snprintf(p2, sizeof(p2), "%s/example.db", dir);
    assert_int_equal(lt_try_open(p2, "example-store", "edge", all, NULL, 0), 0);
    assert_refused_untouched(p2, 0, SK_ELEDGER_IDENTITY, "belongs to store/device");
    {
        struct sk_ledger_opts o = {
                .path = p2, .store_id = "store-1", .device_id = "dev-1", .flags = all};
        struct sk_ledger *l = NULL;
        char m[512];
        assert_int_equal(sk_ledger_open(&o, m, sizeof(m), &l), 0);
        struct sk_ledger_info info;
        assert_int_equal(sk_ledger_get_info(l, &info), 0);
        assert_string_equal(info.store_id, "store-1");
        assert_string_equal(info.device_id, "dev-1");
        assert_string_equal(info.adopted_from, "example-store/edge");
        sk_ledger_close(l);
        assert_int_equal(lt_try_open(p2, "store-1", "dev-1", 0, NULL, 0), 0);
    }
    /* Without ids (the CLI with --db) any ledger opens. */
    char msg[512];
    assert_int_equal(lt_try_open(p2, NULL, NULL, 0, msg, sizeof(msg)), 0);
    sk_test_rmdir(dir);
}

static void test_refuses_corrupt(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    /* Enough rows for several b-tree pages, then checkpoint into the main file. */
    assert_int_equal(sk_ledger_begin(t.l), 1);
    for (int i = 0; i < 400; i++) {
        struct sk_tag_key k;
        uint8_t epc[12] = {0x30, 1, 2, 3, 4, 5, 6, 7, 8, 9, (uint8_t)(i >> 8), (uint8_t)i};
        sk_tag_key_set(&k, "reader-with-a-long-name", 1, epc, sizeof(epc));
        assert_int_equal(sk_ledger_present_add(t.l, &k, i), 1);
    }
    assert_int_equal(sk_ledger_commit(t.l), 0);
    sk_ledger_close(t.l); /* last connection: checkpoints and removes the WAL */
    t.l = NULL;
    int64_t size;
    {
        FILE *f = fopen(t.path, "rb");
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fclose(f);
    }
    assert_true(size >= 8 * 4096);
    /* Scribble over an interior page (not the header: that would be "not a database"). */
    int fd = open(t.path, O_WRONLY);
    assert_true(fd >= 0);
    unsigned char junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (unsigned char)(i * 7 + 3);
    }
    assert_int_equal(pwrite(fd, junk, sizeof(junk), (size / 4096 - 2) * 4096),
                     (ssize_t)sizeof(junk));
    close(fd);
    assert_refused_untouched(t.path, SK_LEDGER_CREATE | SK_LEDGER_MIGRATE | SK_LEDGER_OWNER,
                             SK_ELEDGER_CORRUPT, "fails its integrity check");
    lt_teardown(&t);
}

static void test_owner_lock(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t); /* opened as owner */
    char msg[512];
    assert_int_equal(lt_try_open(t.path, "store-1", "dev-1", SK_LEDGER_OWNER, msg, sizeof(msg)),
                     -EBUSY);
    assert_non_null(strstr(msg, "another storekeeper daemon"));
    /* Readers and the CLI (no owner flag) may open it alongside. */
    assert_int_equal(lt_try_open(t.path, "store-1", "dev-1", 0, msg, sizeof(msg)), 0);
    sk_ledger_close(t.l);
    t.l = NULL;
    assert_int_equal(lt_try_open(t.path, "store-1", "dev-1", SK_LEDGER_OWNER, msg, sizeof(msg)), 0);
    lt_teardown(&t);
}

/*
 * Migrations: for every older version v, build a file at v the way that version's
 * storekeeper did (the migrations up to v), put representative rows in, and open it with
 * this build. The result must have the current version, the same schema as a fresh ledger,
 * the old rows, and a backup of the old file. Without SK_LEDGER_MIGRATE it is refused.
 */

/* Rows a ledger at version v may hold (index v - 1). */
static const char *const fill_sql[SK_LEDGER_SCHEMA_VERSION] = {
        /* v1 */
        "INSERT INTO outbox (seq, id, topic, payload, created_us, delivered_us) VALUES "
        "(1, 'id-1', 'event/test', '{\"seq\":1}', 10, 20), "
        "(2, 'id-2', 'event/test', '{\"seq\":2}', 11, NULL);"
        "INSERT INTO present VALUES ('reader-a', 1, x'300102030405060708090a0b', 5);",
        /* v2 */
        "INSERT INTO products VALUES ('SKU-1', '00012345678905', 'Cola 0.33 l', 149, 'EUR', "
        "2, 10, 1);"
        "INSERT INTO tags VALUES (x'e2801160600002', 'SKU-1', 1);"
        "INSERT INTO shelves VALUES ('A1', 'reader-a', 1, '', 1, 1);"
        "INSERT INTO planogram VALUES ('A1', 'SKU-1', 12, 1);"
        "INSERT INTO sessions VALUES ('s-1', 1, NULL, 'open', NULL);"
        "INSERT INTO movements VALUES (1, 5, 5, 'restock', NULL, 'SKU-1', 'A1', NULL, NULL, "
        "6, NULL, NULL, zeroblob(32), zeroblob(32));"
        "INSERT INTO stock VALUES ('A1', 'SKU-1', 6, 5);"
        "INSERT INTO discrepancies VALUES (1, 'missing', 'A1', 'SKU-1', 1, 6, 5, 7, 7, NULL, "
        "1, NULL);"
        "INSERT INTO census VALUES (1, 7, 100, 1, 0, 5, 0, 1, 0, 0);",
        /* v3 */
        "INSERT INTO requests VALUES ('billing', 'r-1', 'restock_done', 42, "
        "'{\"status\":\"done\"}', 8);",
        /* v4 */
        "INSERT INTO movements (id, time_us, recorded_us, type, sku, shelf, quantity, "
        "prev_hash, hash, hash_version) VALUES (2, 9, 9, 'rollback', '', NULL, 0, "
        "zeroblob(32), zeroblob(32), 2);"
        "UPDATE outbox SET digest = zeroblob(32) WHERE seq = 1;",
        /* v5: the type CHECK rewritten, no new rows */
        "",
};

/* Rows each version's fill put in, checked after migrating: "SQL count query", count. */
static const struct {
    int since_version;
    const char *sql;
    int64_t count;
} kept[] = {
        {1, "SELECT count(*) FROM outbox WHERE seq <= 2", 2},
        {1, "SELECT count(*) FROM present", 1},
        {2, "SELECT count(*) FROM products WHERE gtin = '00012345678905'", 1},
        {2, "SELECT count(*) FROM tags", 1},
        {2, "SELECT count(*) FROM planogram", 1},
        {2, "SELECT count(*) FROM sessions", 1},
        {2, "SELECT count(*) FROM movements WHERE id = 1", 1},
        {2, "SELECT sum(quantity) FROM stock", 6},
        {2, "SELECT count(*) FROM discrepancies WHERE resolved_us IS NULL", 1},
        {2, "SELECT count(*) FROM census", 1},
        {3, "SELECT count(*) FROM requests WHERE fingerprint = 42", 1},
        {2, "SELECT count(*) FROM movements WHERE id = 1 AND hash_version = 1", 1},
        {4, "SELECT count(*) FROM movements WHERE type = 'rollback' AND hash_version = 2", 1},
        {4, "SELECT count(*) FROM outbox WHERE digest IS NOT NULL", 1},
        {1,
         "SELECT count(*) FROM sqlite_schema WHERE name = 'movements' AND "
         "sql LIKE '%type = ''pickup'' OR%' AND sql NOT LIKE '% IN (%'",
         1},
};

/* A ledger that lived through versions 1..v: each step's migration, then that version's rows. */
static void build_at_version(const char *path, int v)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    for (int i = 0; i < v; i++) {
        char *err = NULL;
        int rc = sqlite3_exec(db, sk_ledger_migrations[i], NULL, NULL, &err);
        if (rc != SQLITE_OK) {
            fprintf(stderr, "migration %d: %s\n", i, err);
        }
        assert_int_equal(rc, SQLITE_OK);
        if (i == 0) {
            char sql[128];
            snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", SK_LEDGER_APPLICATION_ID);
            assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
            assert_int_equal(sqlite3_exec(db,
                                          "INSERT INTO meta VALUES "
                                          "('ledger_id', '0190a000-0000-7000-8000-000000000001'),"
                                          "('store_id', 'store-1'), ('device_id', 'dev-1'),"
                                          "('created_us', '123')",
                                          NULL, NULL, NULL),
                             SQLITE_OK);
        }
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", i + 1);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        rc = sqlite3_exec(db, fill_sql[i], NULL, NULL, &err);
        if (rc != SQLITE_OK) {
            fprintf(stderr, "rows of v%d: %s\n", i + 1, err);
        }
        assert_int_equal(rc, SQLITE_OK);
    }
    sqlite3_close(db);
}

/* The schema as text: every object's SQL, sorted, so two files can be compared. */
static char *schema_text(sqlite3 *db)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT type || ' ' || name || ': ' || coalesce(sql, '') "
                                        "FROM sqlite_master ORDER BY type, name",
                                        -1, &s, NULL),
                     SQLITE_OK);
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        size_t n = strlen(t);
        assert_true(len + n + 2 < cap);
        memcpy(out + len, t, n);
        len += n;
        out[len++] = '\n';
    }
    sqlite3_finalize(s);
    return out;
}

static void test_migrations_from_every_version(void **state)
{
    (void)state;
    struct lt fresh;
    lt_setup(&fresh);
    char *want = schema_text(ledger_test_db(fresh.l));
    for (int v = 1; v < SK_LEDGER_SCHEMA_VERSION + 1; v++) {
        char path[256], msg[512];
        snprintf(path, sizeof(path), "%s/v%d.db", fresh.dir, v);
        build_at_version(path, v);
        if (v < SK_LEDGER_SCHEMA_VERSION) {
            /* Without MIGRATE: refused with a hint, untouched. */
            assert_refused_untouched(path, SK_LEDGER_CREATE, SK_ELEDGER_SCHEMA, "ledger migrate");
        }
        struct sk_ledger_opts o = {.path = path,
                                   .store_id = "store-1",
                                   .device_id = "dev-1",
                                   .flags = SK_LEDGER_MIGRATE};
        struct sk_ledger *l = NULL;
        int r = sk_ledger_open(&o, msg, sizeof(msg), &l);
        if (r < 0) {
            fprintf(stderr, "from v%d: %s\n", v, msg);
        }
        assert_int_equal(r, 0);
        assert_int_equal(lt_int(l, "PRAGMA user_version"), SK_LEDGER_SCHEMA_VERSION);
        char *got = schema_text(ledger_test_db(l));
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "schema after migrating from v%d:\n%s\nfresh:\n%s\n", v, got, want);
        }
        assert_string_equal(got, want);
        free(got);
        /* The rows of every version survive every later migration. */
        for (size_t k = 0; k < sizeof(kept) / sizeof(kept[0]); k++) {
            if (kept[k].since_version <= v) {
                assert_int_equal(lt_int(l, kept[k].sql), kept[k].count);
            }
        }
        struct sk_outbox_stats st;
        assert_int_equal(sk_ledger_outbox_stats(l, &st), 0);
        assert_int_equal(st.pending, 1);
        assert_int_equal(st.last_seq, 2);
        int64_t seq = 0;
        assert_int_equal(sk_ledger_event(l, "event/test", NULL, NULL, 0, &seq), 0);
        assert_int_equal(seq, 3);
        sk_ledger_close(l);
        if (v < SK_LEDGER_SCHEMA_VERSION) {
            char bak[300];
            snprintf(bak, sizeof(bak), "%s.v%d.bak", path, v);
            assert_int_equal(access(bak, F_OK), 0);
        }
    }
    free(want);
    lt_teardown(&fresh);
}

/* A ledger of schema 3 with a chain hashed the old way: after the migration its rows keep
 * hash version 1 and verify; new movements are version 2 and link to the old head. */
static void test_legacy_chain_after_migration(void **state)
{
    (void)state;
    struct lt t;
    memset(&t, 0, sizeof(t));
    sk_test_tmpdir(t.dir, sizeof(t.dir));
    snprintf(t.path, sizeof(t.path), "%s/v3.db", t.dir);
    sk_clock_manual_init(&t.clk, 1000000, 1700000000000000LL);
    build_at_version(t.path, 3);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK);
    /* The v2 fill's movement has a zero hash: a chain of its own, hashed as schema 3 did. */
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TRIGGER movements_append_only_delete; DELETE FROM "
                                  "movements; DELETE FROM stock; DELETE FROM outbox",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    uint8_t prev[32], hash[32];
    ledger_genesis("0190a000-0000-7000-8000-000000000001", prev);
    for (int id = 1; id <= 3; id++) {
        struct ledger_move_fields f = {.version = 1,
                                       .id = id,
                                       .time_us = 100 * id,
                                       .recorded_us = 100 * id,
                                       .quantity = 2,
                                       .type = "restock",
                                       .sku = "SKU-1",
                                       .shelf = "A1"};
        assert_int_equal(ledger_move_hash(prev, &f, hash), 0);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "INSERT INTO movements (id, time_us, recorded_us, "
                                            "type, sku, shelf, quantity, prev_hash, hash) VALUES "
                                            "(?1, ?2, ?2, 'restock', 'SKU-1', 'A1', 2, ?3, ?4)",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_int(st, 1, id);
        sqlite3_bind_int(st, 2, 100 * id);
        sqlite3_bind_blob(st, 3, prev, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, hash, 32, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        memcpy(prev, hash, 32);
    }
    assert_int_equal(
            sqlite3_exec(db, "INSERT INTO stock VALUES ('A1', 'SKU-1', 6, 300)", NULL, NULL, NULL),
            SQLITE_OK);
    sqlite3_close(db);
    t.l = lt_open_flags(&t, SK_LEDGER_MIGRATE | SK_LEDGER_OWNER);
    struct sk_verify_result v;
    assert_int_equal(sk_ledger_verify(t.l, &v), 0);
    assert_int_equal(v.movements, 3);
    assert_int_equal(v.legacy_movements, 3);
    struct sk_movement m = {.type = SK_MOVE_RESTOCK, .sku = "SKU-1", .shelf = "A1", .quantity = 1};
    struct sk_movement_result res;
    assert_int_equal(sk_ledger_move(t.l, &m, SK_MOVE_EVENT, &res), 0);
    assert_int_equal(res.id, 4);
    assert_int_equal(lt_int(t.l, "SELECT hash_version FROM movements WHERE id = 4"), 2);
    assert_int_equal(sk_ledger_verify(t.l, &v), 0);
    assert_int_equal(v.movements, 4);
    assert_int_equal(v.legacy_movements, 3);
    assert_int_equal(v.events, 1);
    lt_teardown(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_create_and_reopen),
            cmocka_unit_test(test_created_by_two_at_once),
            cmocka_unit_test(test_missing_and_directory),
            cmocka_unit_test(test_refuses_foreign_files),
            cmocka_unit_test(test_refuses_corrupt),
            cmocka_unit_test(test_owner_lock),
            cmocka_unit_test(test_migrations_from_every_version),
            cmocka_unit_test(test_legacy_chain_after_migration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
