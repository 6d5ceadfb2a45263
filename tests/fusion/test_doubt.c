/* SPDX-License-Identifier: MIT */
/* Attribution under doubt, one class of store failure per group of rows (issue 14). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fusion_script.h"

/*
 * Each row drives the engine with the observations a store produces in one hard moment (no
 * camera: the reach and health observations stand for what vision and the bus threads
 * report) and asserts who is charged, the doubt on the line and which checkouts go to review.
 * Shelf D1 (zone zd) measures reach; A1 (zone za) does not, as a store without reach bands.
 * The readers use the "fast" preset: a tag is reported gone 1.5 s after its last read.
 */
struct row {
    const char *name;
    const char *script;
    int64_t end_ms;
    const char *expect;
};

/* Two shoppers in, S1 (track 1) at 20, S2 (track 2) at 80 on the door's camera. */
#define TWO_IN "0 new 1 650 20; 0 new 2 650 80; 100 in 1; 200 in 2"

static const struct row rows[] = {
        /* ---- class 1: two shoppers at one shelf when a tag leaves ---- */
        {"1: two at one shelf, the one who reached is charged, the other ruled out",
         TWO_IN "; 1000 zin 1 zd 720 50; 1200 zin 2 zd 780 50; 3000 take D1 401; "
                "3500 reach 2 zd 900; 6000 zout 1 zd; 6000 zout 2 zd; 9000 out 1; 9500 out 2",
         20000,
         "open S1\n"
         "open S2\n"
         "pick S2 #401 D1 reach\n"
         "checkout S1 []\n"
         "checkout S2 [#401]"},
        {"1: shoulder to shoulder the camera cannot tell whose arm: both flagged",
         TWO_IN "; 1000 zin 1 zd 740 50; 1200 zin 2 zd 760 50; 3000 take D1 401; "
                "3500 reach 2 zd 900; 6000 zout 1 zd; 6000 zout 2 zd; 9000 out 1; 9500 out 2",
         20000,
         "open S1\n"
         "open S2\n"
         "pick S2 #401 D1 reach doubt=contested\n"
         "checkout S1 [] contested=[#401] review=contested\n"
         "checkout S2 [#401] review=low_confidence,contested"},
        {"1: shoulder to shoulder, the arm seen out of the neighbour's reach: neighbour ruled out",
         TWO_IN "; 1000 zin 1 zd 740 50; 1200 zin 2 zd 760 50; 3000 take D1 401; "
                "3500 reach 2 zd 900 sole; 6000 zout 1 zd; 6000 zout 2 zd; 9000 out 1; "
                "9500 out 2",
         20000,
         "open S1\n"
         "open S2\n"
         "pick S2 #401 D1 reach\n"
         "checkout S1 []\n"
         "checkout S2 [#401]"},
        {"1: apart, but the neighbour stood within reach of the arm: both flagged",
         TWO_IN "; 1000 zin 1 zd 720 50; 1200 zin 2 zd 780 50; 3000 take D1 401; "
                "3500 reach 2 zd 900 shared; 6000 zout 1 zd; 6000 zout 2 zd; 9000 out 1; "
                "9500 out 2",
         20000,
         "open S1\n"
         "open S2\n"
         "pick S2 #401 D1 reach doubt=contested\n"
         "checkout S1 [] contested=[#401] review=contested\n"
         "checkout S2 [#401] review=low_confidence,contested"},
        {"1: two reached half a second apart for two items of one product: each owes one, "
         "whichever tag it was: no contest, the lines say the tags were interchangeable",
         TWO_IN "; 1000 zin 1 zd 720 50; 1200 zin 2 zd 780 50; 3100 take D1 401; "
                "3600 take D1 402; 3700 reach 1 zd 1200 sole; 4200 reach 2 zd 1200 sole; "
                "6000 zout 1 zd; 6000 zout 2 zd; 9000 out 1; 9500 out 2",
         20000,
         "open S1\n"
         "open S2\n"
         "pick S1 #401 D1 reach alike=2\n"
         "pick S2 #402 D1 reach alike=2\n"
         "checkout S1 [#401]\n"
         "checkout S2 [#402]"},
        {"1: two reached half a second apart for two different products: each item to the one "
         "whose reach it lies amid, both contested",
         TWO_IN "; 1000 zin 1 zd 720 50; 1200 zin 2 zd 780 50; 3100 take D1 401; "
                "3600 take D1 301; 3700 reach 1 zd 1200 sole; 4200 reach 2 zd 1200 sole; "
                "6000 zout 1 zd; 6000 zout 2 zd; 9000 out 1; 9500 out 2",
         20000,
         "open S1\n"
         "open S2\n"
         "pick S1 #401 D1 reach doubt=contested\n"
         "pick S2 #301 D1 reach doubt=contested\n"
         "checkout S1 [#401] contested=[#301] review=low_confidence,contested\n"
         "checkout S2 [#301] contested=[#401] review=low_confidence,contested"},
        {"1: one product, but the arms were side by side (shared): one arm may have been seen "
         "twice, both contested",
         TWO_IN "; 1000 zin 1 zd 720 50; 1200 zin 2 zd 780 50; 3100 take D1 401; "
                "3600 take D1 402; 3700 reach 1 zd 1200 shared; 4200 reach 2 zd 1200 shared; "
                "6000 zout 1 zd; 6000 zout 2 zd; 9000 out 1; 9500 out 2",
         20000,
         "open S1\n"
         "open S2\n"
         "pick S1 #401 D1 reach doubt=contested\n"
         "pick S2 #402 D1 reach doubt=contested\n"
         "checkout S1 [#401] contested=[#402] review=low_confidence,contested\n"
         "checkout S2 [#402] contested=[#401] review=low_confidence,contested"},
        {"1: a put-back beside a take: the tag came back from the putter's cart, so its reach "
         "was the put, and the taker is charged alone",
         TWO_IN "; 1000 zin 1 zd 720 50; 1200 zin 2 zd 780 50; 2000 take D1 401; "
                "2400 reach 1 zd 800 sole; 5000 put D1 401; 5100 take D1 402; "
                "5600 reach 1 zd 1000 sole; 5700 reach 2 zd 1000 sole; 8000 zout 1 zd; "
                "8000 zout 2 zd; 10000 out 1; 10500 out 2",
         20000,
         "open S1\n"
         "open S2\n"
         "pick S1 #401 D1 reach\n"
         "back S1 #401 D1 from=D1\n"
         "pick S2 #402 D1 reach\n"
         "checkout S1 []\n"
         "checkout S2 [#402]"},
        {"1: a browser who just stepped up beside the taker is not charged",
         TWO_IN "; 1000 zin 1 zd 720 50; 2800 zin 2 zd 780 50; 3000 take D1 401; "
                "3400 reach 1 zd 800; 6000 zout 1 zd; 6000 zout 2 zd; 9000 out 1; 9500 out 2",
         20000,
         "open S1\n"
         "open S2\n"
         "pick S1 #401 D1 reach\n"
         "checkout S1 [#401]\n"
         "checkout S2 []"},
        {"1: both reached at once: charged to one, contested on both checkouts",
         TWO_IN "; 1000 zin 1 zd 720 50; 1200 zin 2 zd 780 50; 3000 take D1 401; "
                "3400 reach 1 zd 800; 3500 reach 2 zd 800; 6000 zout 1 zd; 6000 zout 2 zd; "
                "9000 out 1; 9500 out 2",
         20000,
         "open S1\n"
         "open S2\n"
         "pick S2 #401 D1 reach doubt=contested\n"
         "checkout S1 [] contested=[#401] review=contested\n"
         "checkout S2 [#401] review=low_confidence,contested"},
        {"1: nobody seen reaching: the line is contested and someone unseen may have taken it",
         TWO_IN "; 1000 zin 1 zd 720 50; 1200 zin 2 zd 780 50; 3000 take D1 401; "
                "6000 zout 1 zd; 6000 zout 2 zd; 9000 out 1; 9500 out 2",
         20000,
         "open S1\n"
         "open S2\n"
         "pick S1 #401 D1 longest doubt=contested,unseen\n"
         "checkout S1 [#401] review=low_confidence,contested,unseen_taker\n"
         "checkout S2 [] contested=[#401] review=contested"},
        {"1: without reach bands, two present shoppers are both flagged",
         TWO_IN "; 1000 zin 1 za 50 50; 1200 zin 2 za 50 50; 3000 take A1 101; "
                "6000 zout 1 za; 6000 zout 2 za; 9000 out 1; 9500 out 2",
         20000,
         "open S1\n"
         "open S2\n"
         "pick S1 #101 A1 longest doubt=contested\n"
         "checkout S1 [#101] review=low_confidence,contested\n"
         "checkout S2 [] contested=[#101] review=contested"},

        /* ---- class 2: a reader down while an item is taken ---- */
        {"2: taken during an outage: the interval weighs both; the one reach seen in it pins the "
         "moment: the reacher is charged below 1.0, not to review",
         TWO_IN "; 1000 zin 1 zd 720 50; 2000 down rd; 3000 zout 1 zd; 3500 zin 2 zd 780 50; "
                "5000 take D1 401 within 1900 7100; 5400 reach 2 zd 800; 6000 zout 2 zd; "
                "7000 up rd; 11000 out 1; 11500 out 2",
         25000,
         "open S1\n"
         "open S2\n"
         "pick S2 #401 D1 reach doubt=outage\n"
         "checkout S1 []\n"
         "checkout S2 [#401]"},
        {"2: two reached while the reader was down: nothing pins the moment, both flagged",
         TWO_IN "; 1000 zin 1 zd 720 50; 1200 zin 2 zd 780 50; 2000 down rd; "
                "2600 reach 1 zd 800; 5000 take D1 401 within 1900 7100; 5400 reach 2 zd 800; "
                "6000 zout 1 zd; 6000 zout 2 zd; 7000 up rd; 11000 out 1; 11500 out 2",
         25000,
         "open S1\n"
         "open S2\n"
         "pick S2 #401 D1 reach doubt=contested,outage\n"
         "checkout S1 [] contested=[#401] review=contested\n"
         "checkout S2 [#401] review=low_confidence,contested"},
        {"2: two items of one product gone across one outage, two shoppers who each reached "
         "once in it: one each, certain in money (interchangeable), not to review",
         TWO_IN "; 1000 zin 1 zd 720 50; 1200 zin 2 zd 780 50; 2000 down rd; "
                "3500 reach 1 zd 800 sole; 5000 take D1 401 within 1900 9100; "
                "5000 take D1 402 within 1900 9100; 6500 reach 2 zd 800 sole; 9000 up rd; "
                "10000 zout 1 zd; 10000 zout 2 zd; 11000 out 1; 11500 out 2",
         25000,
         "open S1\n"
         "open S2\n"
         "pick S1 #401 D1 reach doubt=outage alike=2\n"
         "pick S2 #402 D1 reach doubt=outage alike=2\n"
         "checkout S1 [#401]\n"
         "checkout S2 [#402]"},
        {"2: two items of two products across one outage, one reach each: which is whose is "
         "money, both contested",
         TWO_IN "; 1000 zin 1 zd 720 50; 1200 zin 2 zd 780 50; 2000 down rd; "
                "3500 reach 1 zd 800 sole; 5000 take D1 401 within 1900 9100; "
                "5000 take D1 301 within 1900 9100; 6500 reach 2 zd 800 sole; 9000 up rd; "
                "10000 zout 1 zd; 10000 zout 2 zd; 11000 out 1; 11500 out 2",
         25000,
         "open S1\n"
         "open S2\n"
         "pick S1 #401 D1 reach doubt=contested,outage\n"
         "pick S2 #301 D1 reach doubt=contested,outage\n"
         "checkout S1 [#401] contested=[#301] review=low_confidence,contested\n"
         "checkout S2 [#301] contested=[#401] review=low_confidence,contested"},
        {"2: two items of one product across one outage, but one shopper reached twice: who "
         "took two is not known, both contested",
         TWO_IN "; 1000 zin 1 zd 720 50; 1200 zin 2 zd 780 50; 2000 down rd; "
                "3500 reach 1 zd 800 sole; 4800 reach 1 zd 800 sole; "
                "5000 take D1 401 within 1900 9100; 5000 take D1 402 within 1900 9100; "
                "6500 reach 2 zd 800 sole; 9000 up rd; "
                "10000 zout 1 zd; 10000 zout 2 zd; 11000 out 1; 11500 out 2",
         25000,
         "open S1\n"
         "open S2\n"
         "pick S1 #401 D1 reach doubt=contested,outage\n"
         "pick S2 #402 D1 reach doubt=contested,outage\n"
         "checkout S1 [#401] contested=[#402] review=low_confidence,contested\n"
         "checkout S2 [#402] contested=[#401] review=low_confidence,contested"},
        {"2: two items of one product across one outage, three shoppers reached: one of them "
         "took nothing, all three flagged",
         TWO_IN "; 0 new 3 650 50; 300 in 3; 1000 zin 1 zd 700 50; 1200 zin 2 zd 790 50; "
                "1300 zin 3 zd 745 50; 2000 down rd; 3500 reach 1 zd 800 sole; "
                "4500 reach 3 zd 800 sole; 5000 take D1 401 within 1900 9100; "
                "5000 take D1 402 within 1900 9100; 6500 reach 2 zd 800 sole; 9000 up rd; "
                "10000 zout 1 zd; 10000 zout 2 zd; 10000 zout 3 zd; 11000 out 1; 11500 out 2; "
                "12000 out 3",
         25000,
         "open S1\n"
         "open S2\n"
         "open S3\n"
         "pick S1 #401 D1 reach doubt=contested,outage\n"
         "pick S2 #402 D1 reach doubt=contested,outage\n"
         "checkout S1 [#401] contested=[#402] review=low_confidence,contested\n"
         "checkout S2 [#402] contested=[#401] review=low_confidence,contested\n"
         "checkout S3 [] contested=[#401,#402] review=contested"},
        {"2: taken during an outage at a shelf without reach: both who stood there are flagged",
         TWO_IN "; 1000 zin 1 za 50 50; 2000 down ra; 3000 zout 1 za; 3500 zin 2 za 50 50; "
                "5000 take A1 101 within 1900 7100; 6000 zout 2 za; 7000 up ra; "
                "11000 out 1; 11500 out 2",
         25000,
         "open S1\n"
         "open S2\n"
         "pick S1 #101 A1 dwell doubt=contested,outage\n"
         "checkout S1 [#101] review=low_confidence,contested\n"
         "checkout S2 [] contested=[#101] review=contested"},
        {"2: the taker leaves while the reader is down: its checkout waits for the item",
         "0 new 2 650 80; 200 in 2; 1000 down rd; 3500 zin 2 zd 780 50; "
         "5000 take D1 401 within 900 9100; 5400 reach 2 zd 800; 6000 zout 2 zd; 6500 out 2; "
         "9000 up rd",
         25000,
         "open S1\n"
         "pick S1 #401 D1 reach doubt=outage\n"
         "checkout S1 [#401]"},
        {"2: a put-back and a take across one outage: the tag that came back says whose reach "
         "was the put, so the other reacher is charged alone",
         TWO_IN "; 1000 zin 1 zd 720 50; 1200 zin 2 zd 780 50; 1500 take D1 401; "
                "1900 reach 1 zd 800 sole; 4000 down rd; 5500 reach 1 zd 800 sole; "
                "6000 take D1 402 within 3900 9100; 5200 put D1 401 within 3900 9100; "
                "6800 reach 2 zd 800 sole; 9000 up rd; 10000 zout 1 zd; 10000 zout 2 zd; "
                "11000 out 1; 11500 out 2",
         25000,
         "open S1\n"
         "open S2\n"
         "pick S1 #401 D1 reach\n"
         "back S1 #401 D1 from=D1\n"
         "pick S2 #402 D1 reach doubt=outage\n"
         "checkout S1 []\n"
         "checkout S2 [#402]"},
        {"2: a reader down past the wait: the checkout goes out to review",
         "0 new 2 650 80; 200 in 2; 1000 down rd; 3500 zin 2 zd 780 50; 5400 reach 2 zd 800; "
         "6000 zout 2 zd; 6500 out 2",
         40000,
         "open S1\n"
         "checkout S1 [] review=reader_outage"},

        /* ---- class 3: a shopper the camera does not see ---- */
        {"3: the only shopper there did not reach: someone unseen may have taken it",
         "0 new 1 650 20; 100 in 1; 1000 zin 1 zd 720 50; 3000 take D1 401; 6000 zout 1 zd; "
         "9000 out 1",
         20000,
         "open S1\n"
         "pick S1 #401 D1 only doubt=unseen\n"
         "checkout S1 [#401] review=low_confidence,unseen_taker"},
        {"3: motion no track explains beside the shopper who reached: to review",
         "0 new 1 650 20; 100 in 1; 1000 zin 1 zd 720 50; 3000 take D1 401; "
         "3400 reach 1 zd 800; 3500 blob zd 900; 6000 zout 1 zd; 9000 out 1",
         20000,
         "open S1\n"
         "pick S1 #401 D1 reach doubt=unseen\n"
         "checkout S1 [#401] review=low_confidence,unseen_taker"},
        {"3: the camera was down meanwhile: nothing rules out a shopper it missed",
         "0 new 1 650 20; 100 in 1; 1000 zin 1 zd 720 50; 2500 down cam; 3000 take D1 401; "
         "3500 up cam; 6000 zout 1 zd; 9000 out 1",
         20000,
         "open S1\n"
         "pick S1 #401 D1 only doubt=camera\n"
         "checkout S1 [#401] review=camera_gap"},
        {"3: one shopper who reached, camera up, nothing unexplained: charged, no review",
         "0 new 1 650 20; 100 in 1; 1000 zin 1 zd 720 50; 3000 take D1 401; "
         "3400 reach 1 zd 800; 6000 zout 1 zd; 9000 out 1",
         20000,
         "open S1\n"
         "pick S1 #401 D1 reach\n"
         "checkout S1 [#401]"},
};

static void run_row(void **state)
{
    const struct row *row = *state;
    struct script_result res;
    int rc = script_run(NULL, row->script, row->end_ms, &res);
    assert_int_equal(rc, 0);
    if (strcmp(res.log, row->expect) != 0) {
        fprintf(stderr, "--- %s\nexpected:\n%s\ngot:\n%s\n", row->name, row->expect, res.log);
    }
    assert_string_equal(res.log, row->expect);
    assert_int_equal(res.errors, 0);

    /* The same through the core and a real ledger file. */
    rc = script_run_core(NULL, row->script, row->end_ms, &res);
    free(res.payloads);
    assert_int_equal(rc, 0);
    if (strcmp(res.log, row->expect) != 0) {
        fprintf(stderr, "--- %s (core + ledger)\nexpected:\n%s\ngot:\n%s\n", row->name, row->expect,
                res.log);
    }
    assert_string_equal(res.log, row->expect);
    assert_int_equal(res.errors, 0);
}

int main(void)
{
    struct CMUnitTest tests[sizeof(rows) / sizeof(rows[0])];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        tests[i] = (struct CMUnitTest){rows[i].name, run_row, NULL, NULL, (void *)&rows[i]};
    }
    return _cmocka_run_group_tests("attribution under doubt", tests, sizeof(rows) / sizeof(rows[0]),
                                   NULL, NULL);
}
