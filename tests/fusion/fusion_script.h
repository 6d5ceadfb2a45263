/* SPDX-License-Identifier: MIT */
/* A small script language that drives the fusion engine with a manual clock, for the tests. */
#ifndef SK_FUSION_SCRIPT_H
#define SK_FUSION_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "storekeeper/config.h"
#include "storekeeper/fusion.h"

/*
 * A script is a list of steps "T op args" separated by ';', T in milliseconds from the start:
 *
 *   new TR X Y        a track appears at (X, Y)         lost TR          it vanishes
 *   move TR X Y       a floor camera says where it is now
 *   in TR / out TR    it crosses the door inwards / outwards
 *   zin TR ZONE [X Y] it enters ZONE (at X, Y)           zout TR ZONE     it leaves it
 *   take SHELF N      item N leaves SHELF at T (the reader reports it hold_ms later)
 *   take SHELF N late D  ... reported D ms later still, with its last-read time
 *   take SHELF N within S M  ... taken while its reader was out: last read at S, first
 *                     missed at M (reported hold_ms after M)
 *   down NAME / up NAME  reader NAME (or the camera, "cam") goes down / comes back up
 *   reach TR ZONE D [sole|shared]  track TR's reach into ZONE's reach band ended at T,
 *                     lasting D ms (vision: nobody else / someone else stood within reach of
 *                     the arm; unknown without)
 *   blob ZONE D       motion in ZONE's reach band that no track explains, D ms until T
 *   stall D           no tick for D ms (the process went unscheduled)
 *   dep SHELF N       the reader reports item N gone at T
 *   put SHELF N       item N is set on SHELF at T (the reader reports it 300 ms later)
 *   put SHELF N within S M  ... set down while its reader was out: the last poll that did
 *                     not read it at S, its first read at M (reported 300 ms after M)
 *   arr SHELF N       the reader reports item N arrived at T
 *   portal N          the exit portal reads item N
 *   present SHELF N   item N lies on SHELF before the start
 *   bind TOKEN        a session bind for the next entry (expires after 60 s)
 *   done SHELF|all ID restock done        badge SHELF / unbadge SHELF   staff badge arrives/departs
 *   export            the state is exported and imported into a fresh engine (a restart)
 *
 * Tracks 1..99 are camera cam's, 100 and above cam2's; both are floor-calibrated with
 * overlapping views (cam's x 0..400 is cam2's 400..800); zone zc (shelf C1) is cam2's.
 * Items: N / 100 is the product (1 cola: home A1, threshold 2; 2 chips: B1; 3 water: C1;
 * 4 milk: D1, whose zone zd measures reach; 9 unknown to the catalog); badge tags are N = 65535.
 * The clock ticks every 100 ms.
 *
 * The events the engine emits are written to a log, one per line, in a compact form:
 *   open S1 | open S1 noentry | join S1 t2 [late] | bind S1 TOKEN | timeout S1
 *   pick S1 #101 A1 RULE [lost] [doubt=contested,unseen,camera,outage]
 *   back S1 #101 B1 from=A1 [misplaced] | moved #101 B1 from=A1
 *   return #101 A1 ref=S1 | back-removed #101 A1 | removal #101 A1 unattributed|staff
 *   misplaced #101 B1 | restock #101 A1 [session] | low A1 cola 1 | recovered A1 cola 3
 *   checkout S1 [#101!,#102] ACCOUNT contested=[#103] review=... (! exit portal saw it;
 *   contested: lines charged to another for which this shopper was not ruled out)
 *   unpaid [#101] | abandoned S1 [#101] | restocked ID [A1:cola:+2=5]
 * Sessions are named S1, S2 ... in the order they first appear.
 */

struct script_result {
    char log[8192];
    struct sk_fusion_stats stats;
    int errors;        /* handle/tick calls that failed */
    char topics[4096]; /* core mode: outbox topics in seq order, one per line */
    int movements;     /* core mode: movements recorded */
    char *payloads;    /* core mode: outbox payloads in seq order, one per line (malloc'd) */
};

/* Core mode only, for fault tests: the ledger fails (err) at its named fault point after
 * countdown passes (ledger_internal.h); an observation that fails is retried once after the
 * core restored its state, as the runtime retries a failed batch. */
extern const char *script_fault_point;
extern int script_fault_countdown, script_fault_err;

/*
 * Loads the test store (with extra text inside its fusion group), runs script until end_ms
 * and fills ret. Returns 0 or a negative error (config or script problem).
 *
 * script_run_core runs it through the core state machine with a real ledger file in a
 * temporary directory (catalog: the three products, their tags and planogram), every
 * observation in a transaction as the runtime does; there "export" closes the core and the
 * ledger and opens new ones on the same file: a real restart.
 */
int script_run(const char *fusion_cfg,
               const char *script,
               int64_t end_ms,
               struct script_result *ret);
int script_run_core(const char *fusion_cfg,
                    const char *script,
                    int64_t end_ms,
                    struct script_result *ret);

/* Builds the test EPC of item n. */
void script_epc(int n, uint8_t epc[12]);

#endif
