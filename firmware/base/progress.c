/* SPDX-License-Identifier: MIT */
/* Progress lines of long command-line operations (see include/storekeeper/progress.h). */
#include "storekeeper/progress.h"

#include <inttypes.h>
#include <unistd.h>

#include "storekeeper/clock.h"

void sk_progress_init(
        struct sk_progress *p, FILE *out, const char *what, const char *unit, bool json)
{
    p->out = out;
    p->what = what;
    p->unit = unit;
    p->json = json;
    p->tty = !json && out && isatty(fileno(out));
    p->shown = false;
    p->last_us = sk_now_mono_us(); /* the first line only once it takes a while */
}

static void show(struct sk_progress *p, int64_t done, int64_t total)
{
    if (p->json) {
        if (total > 0) {
            fprintf(p->out,
                    "{\"progress\":\"%s\",\"done\":%" PRId64 ",\"total\":%" PRId64
                    ",\"unit\":\"%s\"}\n",
                    p->what, done, total, p->unit);
        } else {
            fprintf(p->out,
                    "{\"progress\":\"%s\",\"done\":%" PRId64 ",\"total\":null,"
                    "\"unit\":\"%s\"}\n",
                    p->what, done, p->unit);
        }
    } else if (total > 0) {
        fprintf(p->out, "\r%s: %" PRId64 "/%" PRId64 " %s (%d %%)\033[K", p->what, done, total,
                p->unit, (int)(100 * done / total));
    } else {
        fprintf(p->out, "\r%s: %" PRId64 " %s\033[K", p->what, done, p->unit);
    }
    fflush(p->out);
    p->shown = true;
}

void sk_progress_update(struct sk_progress *p, int64_t done, int64_t total)
{
    if (!p->out || (!p->tty && !p->json)) {
        return;
    }
    int64_t now = sk_now_mono_us();
    int64_t every = p->json ? 1000000 : p->shown ? 100000 : 300000;
    if (now - p->last_us < every) {
        return;
    }
    p->last_us = now;
    show(p, done, total);
}

void sk_progress_done(struct sk_progress *p, int64_t done, int64_t total)
{
    if (!p->out || !p->shown) {
        return; /* quick: nothing was shown, nothing to end */
    }
    show(p, done, total);
    if (p->tty) {
        fputc('\n', p->out);
    }
}
