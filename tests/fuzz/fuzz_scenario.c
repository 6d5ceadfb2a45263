/* SPDX-License-Identifier: MIT */
/* Fuzz target: the simulator's scenario parser and planner (sim/scenario.c). */
#include <stdio.h>
#include <string.h>

#include "../../sim/scenario.h"
#include "fuzz.h"

/*
 * Scenario files are written by people testing a store (examples/scenarios, docs/simulator.md)
 * and run by `storekeeper sim`. The input is one file: it is parsed, then planned (paths around
 * the shelves, who holds which item when, the readers' timeline), which is where the work is.
 * A refusal must say why; a plan must stay within the scenario's own bounds.
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SC_FILE_MAX || memchr(data, '\0', size)) {
        return -1; /* sc_load refuses these before parsing */
    }
    char *text = malloc(size + 1);
    if (!text) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    char err[256] = "";
    struct scenario *sc = NULL;
    if (sc_parse("fuzz.scn", text, err, sizeof(err), &sc) == 0) {
        if (sc->n_items > SC_MAX_ITEMS || sc->n_events > SC_MAX_EVENTS ||
            sc->n_shoppers > SC_MAX_SHOPPERS) {
            abort();
        }
        sc_free(sc);
    } else if (!err[0]) {
        abort();
    }
    free(text);
    return 0;
}
