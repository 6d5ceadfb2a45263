/* SPDX-License-Identifier: MIT */
/* Progress of a long command-line operation: on a terminal, and as JSON lines for scripts. */
#ifndef STOREKEEPER_PROGRESS_H
#define STOREKEEPER_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A scan of 247 units or the check of a large ledger takes seconds to minutes (an SD card):
 * the technician must see that it moves. On a terminal (out is a tty) one line is rewritten
 * in place at most 10 times a second ("verify: 120000/300000 movements (40 %)"), from 0.3 s
 * on, then ended with a newline by sk_progress_done(). With json, one line per second from
 * 1 s on instead,
 * {"progress": WHAT, "done": N, "total": M, "unit": UNIT} (total null when unknown), so a
 * script can follow; the command's own result stays alone on stdout (out is stderr).
 * Neither a terminal nor json: nothing is written.
 */
struct sk_progress {
    FILE *out;
    const char *what, *unit;
    bool tty, json, shown;
    int64_t last_us;
};

/* Starts one; json: the command's --json. */
void sk_progress_init(
        struct sk_progress *p, FILE *out, const char *what, const char *unit, bool json);
/* done of total (total <= 0: unknown). Cheap when nothing is due. */
void sk_progress_update(struct sk_progress *p, int64_t done, int64_t total);
/* The final count, and the end of the terminal line. */
void sk_progress_done(struct sk_progress *p, int64_t done, int64_t total);

#endif
