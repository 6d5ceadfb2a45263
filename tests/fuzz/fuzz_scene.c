/* SPDX-License-Identifier: MIT */
/* Fuzz target: the synthetic scene parser (drivers/synth.c) and the renderer it scripts. */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "storekeeper/synth.h"

/*
 * The input is a scene file (docs/vision.md). A scene that loads is rendered into a small
 * frame at its start, middle and end, and its truth is asked at the same moments: waypoint
 * interpolation, lights and look parameters all come from the input. Inputs with @include
 * are skipped (an include names any file on the machine).
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memmem(data, size, "@include", 8)) {
        return -1;
    }
    char err[256];
    struct sk_synth *s = NULL;
    if (sk_synth_load_text("fuzz.scene", (const char *)data, size, 320, 240, err, sizeof(err), &s) <
        0) {
        if (!memchr(err, '\0', sizeof(err))) {
            abort();
        }
        return 0;
    }
    uint8_t frame[40 * 30];
    double end = sk_synth_end_time(s);
    const double at[] = {0, end / 2, end};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        struct sk_synth_truth truth[SK_SYNTH_MAX_SHOPPERS];
        int n = sk_synth_truth_at(s, at[i], truth, SK_SYNTH_MAX_SHOPPERS);
        if (n < 0 || n > SK_SYNTH_MAX_SHOPPERS) {
            abort();
        }
        sk_synth_render(s, at[i], i, frame, 40, 30, 40);
    }
    sk_synth_free(s);
    return 0;
}
