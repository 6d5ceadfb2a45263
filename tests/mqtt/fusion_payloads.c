/* SPDX-License-Identifier: MIT */
/* Test helper: prints the outbox payloads the fusion engine and the ledger really write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion_script.h"

/*
 * The event schemas in docs/schema/event are the contract the cloud codes against; these
 * scripts (tests/fusion/fusion_script.h) make the fusion engine write every kind of event
 * through the core into a real ledger, and test_mqtt_schemas.py validates each payload.
 * Output: "topic<TAB>payload" per line.
 */

#define SHOPPER "0 new 1 650 50; 100 in 1; 1000 zin 1 za 50 50; 5000 zout 1 za; 8000 out 1"

static const struct {
    const char *fusion_cfg;
    const char *script;
    int64_t end_ms;
} runs[] = {
        /* a bound session, two known items and an unknown one: checkout with review */
        {NULL, "0 bind acct-7; " SHOPPER "; 2000 take A1 101; 3000 take A1 102; 3500 take A1 901",
         15000},
        /* misplaced put-back, unattributed removal, unannounced restock, unpaid exit */
        {"restock_linger_s = 2;",
         SHOPPER "; 2000 take A1 101; 6000 zin 1 zb 250 50; 6500 put B1 101; 7000 zout 1 zb; "
                 "9000 take C1 301; 20000 portal 301; 21000 arr C1 350",
         40000},
        /* stock falls to the threshold (low stock); a return after checkout */
        {NULL,
         "0 present A1 101; 0 present A1 102; 0 present A1 103; " SHOPPER
         "; 2000 take A1 101; 3000 take A1 102; 25000 put A1 101",
         40000},
        /* a staff restock: a badge, a staff removal, arrivals, restock done with an id */
        {NULL,
         "0 present B1 201; 500 badge B1; 1000 take B1 201; 2000 arr B1 202; 2500 arr B1 203; "
         "4000 done B1 rs-42; 4500 unbadge B1",
         20000},
        /* a session lost and abandoned with items in its cart */
        {"session_lost_s = 2;",
         "0 new 1 650 50; 100 in 1; 1000 zin 1 za 50 50; 2000 take A1 101; "
         "4000 lost 1",
         20000},
};

int main(void)
{
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        struct script_result res;
        memset(&res, 0, sizeof(res));
        int r = script_run_core(runs[i].fusion_cfg, runs[i].script, runs[i].end_ms, &res);
        if (r < 0 || res.errors) {
            fprintf(stderr, "fusion_payloads: run %zu failed (%d, %d errors)\n", i, r, res.errors);
            return 1;
        }
        char *ts = NULL, *ps = NULL;
        char *topics = strdup(res.topics), *payloads = strdup(res.payloads ? res.payloads : "");
        char *t = strtok_r(topics, "\n", &ts);
        char *p = strtok_r(payloads, "\n", &ps);
        for (; t && p; t = strtok_r(NULL, "\n", &ts), p = strtok_r(NULL, "\n", &ps)) {
            printf("%s\t%s\n", t, p);
        }
        free(topics);
        free(payloads);
        free(res.payloads);
    }
    return 0;
}
