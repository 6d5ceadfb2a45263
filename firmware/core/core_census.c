/* SPDX-License-Identifier: MIT */
/* The census in the core: what the readers see against what the ledger expects, per shelf
 * whose reader is up, when its interval is due. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core_internal.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"

static bool reader_up(const struct sk_shelf_cfg *shelf, void *ctx)
{
    return sk_core_source_health(ctx, shelf->reader) == SK_HEALTH_UP;
}

int sk_core_census(struct sk_core *core, struct sk_census_result *ret)
{
    if (!core->ledger) {
        return -ENODEV;
    }
    struct sk_census_opts opts = {.usable = reader_up, .ctx = core};
    struct sk_census_result res;
    int r = sk_ledger_census(core->ledger, core->cfg, core->present, &opts, &res);
    int64_t now = sk_clock_mono_us(core->clock);
    if (r < 0) {
        core->stats.census_failures++;
        sk_complain(&core->census_complaint, now, SK_LOG_WARNING, "census", NULL, "failed: %s (%s)",
                    sk_strerror(r), sk_ledger_errmsg(core->ledger));
        return r;
    }
    sk_complain_release(&core->census_complaint, SK_LOG_NOTICE, "census", NULL, "works again");
    core->stats.censuses++;
    core->stats.last_census = res;
    enum sk_log_level lvl = res.opened + res.changed + res.resolved ? SK_LOG_INFO : SK_LOG_DEBUG;
    sk_log(lvl, "census", NULL,
           "%zu shelf(ves) checked, %zu left out (reader not up), %zu tag(s), %zu unknown: "
           "%zu opened, %zu changed, %zu resolved, %zu open (%" PRId64 " ms)",
           res.shelves, res.shelves_skipped, res.tags, res.unknown_tags, res.opened, res.changed,
           res.resolved, res.open, res.duration_us / 1000);
    if (ret) {
        *ret = res;
    }
    return 0;
}

void core_census_tick(struct sk_core *c)
{
    int interval = c->cfg->ledger.census_interval_s;
    if (!c->ledger || interval <= 0 || sk_ledger_is_full(c->ledger)) {
        return;
    }
    int64_t now = sk_clock_mono_us(c->clock);
    if (c->next_census_us == 0 || c->next_census_us > now + (int64_t)interval * 1000000) {
        /* The first census waits one interval: presence filters need time to settle. */
        c->next_census_us = now + (int64_t)interval * 1000000;
    }
    if (now >= c->next_census_us) {
        c->next_census_us = now + (int64_t)interval * 1000000;
        sk_core_census(c, NULL);
    }
}
