/* SPDX-License-Identifier: MIT */
/* Fuzz target: the ledger's CSV importers (products, tag mappings, planogram). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "storekeeper/config.h"
#include "storekeeper/ledger.h"

/*
 * Catalog files come from the operator's tools (a spreadsheet export, a merchandising system):
 * `storekeeper ledger import`, and the daemon at start through products_file, tags_file and
 * planogram_file. Byte 0 of the input picks the kind (products, tags, planogram) and whether
 * --replace applies; the rest is the CSV. Each import runs as a dry run in a real ledger (every
 * row is validated and written in a transaction that is then rolled back), so the ledger
 * holds the same catalog for every input: the example products and tags, imported once.
 */

static struct sk_ledger *ledger;
static struct sk_config *cfg;
static char dir[] = "/tmp/sk-fuzz-csv-XXXXXX";
static char db[sizeof(dir) + 16];

static void cleanup(void)
{
    sk_ledger_close(ledger);
    sk_config_free(cfg);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[sizeof(db) + 8];
        snprintf(p, sizeof(p), "%s%s", db, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[1100], data_dir[1024], msg[512];
    const char *env = getenv("STOREKEEPER_DATADIR");
    snprintf(data_dir, sizeof(data_dir), "%s", env && env[0] ? env : SK_TEST_DATADIR);
    snprintf(path, sizeof(path), "%s/examples/demo-store.cfg", fuzz_source_dir());
    struct sk_config_opts copts = {.data_dir = data_dir};
    struct sk_diag d;
    sk_diag_init(&d);
    if (sk_config_load(path, &copts, &d, &cfg) < 0 || !mkdtemp(dir)) {
        sk_diag_print(&d, stderr);
        abort();
    }
    snprintf(db, sizeof(db), "%s/ledger.db", dir);
    struct sk_ledger_opts lo = {.path = db,
                                .store_id = cfg->store_id,
                                .device_id = cfg->device_id,
                                .flags = SK_LEDGER_CREATE | SK_LEDGER_OWNER};
    if (sk_ledger_open(&lo, msg, sizeof(msg), &ledger) < 0) {
        fprintf(stderr, "fuzz_csv: %s\n", msg);
        abort();
    }
    atexit(cleanup);
    const char *seed[] = {"products.csv", "tags.csv", "planogram.csv"};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof(path), "%s/examples/%s", fuzz_source_dir(), seed[k]);
        struct sk_import_opts io = {.kind = k, .cfg = cfg, .diag = &d};
        if (sk_ledger_import(ledger, path, &io, NULL) < 0) {
            sk_diag_print(&d, stderr);
            abort();
        }
    }
    sk_diag_free(&d);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    unsigned flags = SK_IMPORT_DRY_RUN | (data[0] & 0x10 ? SK_IMPORT_REPLACE : 0);
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_import_result res;
    struct sk_import_opts io = {.kind = data[0] % 3,
                                .flags = flags,
                                .cfg = cfg,
                                .diag = &d,
                                .text = (const char *)data + 1,
                                .len = size - 1};
    int r = sk_ledger_import(ledger, "fuzz.csv", &io, &res);
    if (r < 0 && r != -ENOMEM && d.n == 0) {
        abort(); /* a refusal says why */
    }
    if (r == 0 && res.errors != 0) {
        abort();
    }
    sk_diag_free(&d);
    return 0;
}
