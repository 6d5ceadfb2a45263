/* SPDX-License-Identifier: MIT */
/* Fuzz target: the observation-log reader `storekeeper replay` uses (firmware/core/record.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "storekeeper/record.h"

/*
 * A recording is outside input: a technician brings one from a store, cut or edited. The
 * input is one recording file; it is opened (header) and read to its end or its first bad
 * line. A refusal must name the file and line; every observation read must be released.
 */

static char dir[] = "/tmp/sk-fuzz-record-XXXXXX";
static char path[sizeof(dir) + 16];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(dir)) {
        abort();
    }
    snprintf(path, sizeof(path), "%s/in.rec", dir);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        abort();
    }
    fwrite(data, 1, size, f);
    fclose(f);
    char err[512] = "";
    struct sk_record_reader *rd = NULL;
    if (sk_record_reader_open(path, err, sizeof(err), &rd) < 0) {
        if (strncmp(err, path, strlen(path)) != 0) {
            abort(); /* a refusal names the file */
        }
        return 0;
    }
    struct sk_record_entry e;
    int r;
    size_t n = 0;
    while ((r = sk_record_next(rd, &e, err, sizeof(err))) == 1) {
        if (e.kind != SK_RECORD_OBS && e.kind != SK_RECORD_TICK) {
            abort();
        }
        if (e.kind == SK_RECORD_OBS &&
            (e.obs.type <= SK_OBS_NONE || e.obs.type >= SK_OBS_TYPE_COUNT ||
             ((e.obs.type == SK_OBS_TAG_ARRIVED || e.obs.type == SK_OBS_TAG_DEPARTED) &&
              e.obs.u.tag.epc_len > SK_EPC_MAX))) {
            abort();
        }
        sk_obs_release(&e.obs);
        n++;
    }
    if (r < 0 && strncmp(err, path, strlen(path)) != 0) {
        abort();
    }
    sk_record_reader_close(rd);
    return 0;
}
