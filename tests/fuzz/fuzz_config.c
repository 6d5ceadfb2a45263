/* SPDX-License-Identifier: MIT */
/* Fuzz target: the store file and board profile loader (libconfig, the key table, checks). */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "storekeeper/config.h"

/*
 * The input is a store file. It is loaded against the shipped boards (the `sim` board is
 * what the seeds name), then, when valid, compared with the example store (sk_config_diff,
 * the SIGHUP path) and summarised (--check-config). The same bytes are also loaded as a board
 * profile. Inputs with @include are skipped: an include names any file on the machine
 * (/dev/zero, say), which is the operator's business, not an input the fuzzer should explore.
 */

static struct sk_config *reference;
static FILE *devnull;
static char data_dir[1024];
static char name[1100];

static void ignore_diff(const char *path, bool reloadable, void *ctx)
{
    (void)path;
    (void)reloadable;
    (void)ctx;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *env = getenv("STOREKEEPER_DATADIR");
    snprintf(data_dir, sizeof(data_dir), "%s", env && env[0] ? env : SK_TEST_DATADIR);
    /* Relative paths in the input resolve next to the examples (products.csv, ...). */
    snprintf(name, sizeof(name), "%s/examples/fuzz-store.cfg", fuzz_source_dir());
    char ref[1100];
    snprintf(ref, sizeof(ref), "%s/examples/demo-store.cfg", fuzz_source_dir());
    struct sk_config_opts opts = {.data_dir = data_dir};
    struct sk_diag d;
    sk_diag_init(&d);
    if (sk_config_load(ref, &opts, &d, &reference) < 0) {
        sk_diag_print(&d, stderr);
        abort();
    }
    sk_diag_free(&d);
    devnull = fopen("/dev/null", "w");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memmem(data, size, "@include", 8)) {
        return -1; /* not added to the corpus */
    }
    struct sk_config_opts opts = {.data_dir = data_dir};
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_config *cfg = NULL;
    if (sk_config_load_text(name, (const char *)data, size, &opts, &d, &cfg) == 0) {
        sk_config_diff(reference, cfg, ignore_diff, NULL);
        if (devnull) {
            sk_config_write_summary(cfg, devnull);
        }
        sk_config_free(cfg);
    } else if (d.n == 0) {
        abort(); /* a refused file must say why */
    }
    sk_diag_print(&d, devnull);
    sk_diag_free(&d);

    sk_diag_init(&d);
    struct sk_board_cfg board;
    if (sk_board_load_text("fuzz-board.cfg", (const char *)data, size, &d, &board) == 0) {
        sk_board_free(&board);
    }
    sk_diag_free(&d);
    return 0;
}
