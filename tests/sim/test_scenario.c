/* SPDX-License-Identifier: MIT */
/* Scenario files: a plan with its truth, and every kind of bad input with its exact message. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../unit/test_helpers.h"
#include "scenario.h"
#include "storekeeper/error.h"
#include "storekeeper/vreader.h"

static void test_plan_and_truth(void **state)
{
    (void)state;
    static const char text[] = "name demo   # comment\n"
                               "seed 5\n"
                               "read_rate 90\n"
                               "exit_portal yes\n"
                               "stock A1 cola 3\n"
                               "stock C1 water 2\n"
                               "shopper ann at 2 look 70\n"
                               "  go A1\n"
                               "  take cola 2\n"
                               "  go C1\n"
                               "  put cola\n" /* on the wrong shelf */
                               "  take water\n"
                               "  leave\n"
                               "  enter after 3\n"
                               "  go A1\n"
                               "  put cola\n" /* the one bought: a return */
                               "  leave\n"
                               "end\n"
                               "restock at 40 A1 cola 2 badge\n"
                               "fault at 5 C1 silent for 2\n"
                               "bind at 1 token-0001\n";
    char err[256] = "";
    struct scenario *sc = NULL;
    int r = sc_parse("t.scn", text, err, sizeof(err), &sc);
    if (r < 0) {
        fprintf(stderr, "%s\n", err);
    }
    assert_int_equal(r, 0);
    assert_string_equal(sc->name, "demo");
    assert_int_equal(sc->seed, 5);
    assert_int_equal(sc->read_rate, 90);
    assert_true(sc->portal);
    assert_int_equal(sc->n_shelves, 3);
    assert_int_equal(sc->n_visits, 2);
    /* visit 1: 2 colas taken, one put on C1, a water taken: cola + water */
    assert_int_equal(sc->visits[0].n_cart, 2);
    assert_int_equal(sc->visits[1].n_cart, 0);
    assert_string_equal(sc->visits[0].token, "token-0001");
    assert_true(sc->visits[0].enter_t > 2 && sc->visits[0].exit_t > sc->visits[0].enter_t);
    assert_true(sc->visits[1].enter_t > sc->visits[0].exit_t + 3);
    assert_int_equal(sc->misplaced, 1);
    assert_int_equal(sc->returns, 1);
    /* A1: 3 - 2 + 1 returned + 2 restocked = 4; C1: 2 water - 1 + 1 cola */
    assert_int_equal(sc->final_stock[0][sc_product_find("cola")], 4);
    assert_int_equal(sc->final_stock[2][sc_product_find("water")], 1);
    assert_int_equal(sc->final_stock[2][sc_product_find("cola")], 1);
    assert_int_equal(sc->n_items, 7);
    /* the timeline is sorted and holds the faults, the badge and the portal */
    int kinds[16] = {0};
    for (size_t i = 0; i < sc->n_events; i++) {
        assert_true(i == 0 || sc->events[i - 1].t <= sc->events[i].t);
        kinds[sc->events[i].kind]++;
    }
    assert_int_equal(kinds[SC_EV_TAG_DEL], 3);
    assert_int_equal(kinds[SC_EV_TAG_ADD], 4); /* 2 put-backs, 2 restocked */
    assert_int_equal(kinds[SC_EV_FAULT], 2);
    assert_int_equal(kinds[SC_EV_BADGE], 2);
    assert_int_equal(kinds[SC_EV_BIND], 1);
    assert_true(kinds[SC_EV_PORTAL_ADD] >= 2);
    assert_true(sc->duration >= sc->visits[1].exit_t + 6);
    /* SGTIN-96 tags of the catalog's GTINs */
    assert_int_equal(sc->items[0].epc[0], 0x30);
    assert_int_equal(strlen(sc->items[0].hex), 24);
    assert_int_equal(strlen(sc_product(0)->gtin), 14);
    sc_free(sc);
}

struct bad {
    const char *text;
    const char *expect;
};

#define OK_SHOPPER "shopper a at 1\n  go A1\n  leave\nend\n"

static const struct bad bads[] = {
        {"", "t.scn: nothing happens: no shopper and no restock"},
        {OK_SHOPPER, "t.scn: the scenario has no name (name TEXT)"},
        {"name x\nfoo 1\n",
         "t.scn:2: \"foo\" is not a scenario statement (name, seed, duration, read_rate, "
         "exit_portal, walk_speed, satellite, cameras, stock, home, shopper, restock, fault, "
         "bind)"},
        {"name x\ncameras 3\n", "t.scn:2: usage: cameras 1|2"},
        {"name x\nseed -1\n", "t.scn:2: usage: seed N (0..1000000000)"},
        {"name x\nread_rate 0\n", "t.scn:2: usage: read_rate PERCENT (1..100)"},
        {"name x\nread_rate 50x\n", "t.scn:2: usage: read_rate PERCENT (1..100)"},
        {"name x\nexit_portal maybe\n", "t.scn:2: usage: exit_portal yes|no"},
        {"name x\nstock Z9 cola 3\n", "t.scn:2: \"Z9\" is not a shelf (A1 to G1)"},
        {"name x\nstock A1 beer 3\n",
         "t.scn:2: \"beer\" is not a product (cola, chips, water, candy, soap, bread, coffee, "
         "milk)"},
        {"name x\nstock A1 cola 0\n", "t.scn:2: \"0\": a count is 1..200"},
        {"name x\nshopper a at\n",
         "t.scn:2: usage: shopper NAME at SECONDS [look LUMA] [size RADIUS] [speed PX] "
         "[with SHOPPER] [badge]"},
        {"name x\nshopper a/b at 1\n",
         "t.scn:2: \"a/b\": a name is 1..31 letters, digits, '-', '_', '.'"},
        {"name x\nshopper a at 1 look 300\n",
         "t.scn:2: \"look 300\": look is 20..235, size 6..20 pixels, speed 20..300 pixels per "
         "second, with names a shopper"},
        {"name x\nshopper a at 1 look\n", "t.scn:2: \"look\" wants a value after it"},
        {"name x\nshopper a at 1 with zed\n  go A1\n  leave\nend\n",
         "t.scn:2: \"with zed\": no other shopper of that name"},
        {"name x\nstock A1 cola 2\nshopper a at 1\n  go A1\n  take cola\n  give cola to zed\n"
         "  leave\nend\n",
         "t.scn:6: \"zed\": give to another shopper of this scenario"},
        {"name x\nstock A1 cola 2\nshopper a at 1\n  go A1\n  give cola\n  leave\nend\n",
         "t.scn:5: usage: give SKU to SHOPPER"},
        {"name x\nshopper a at 1\n  go B1\n  hide 3\n  leave\nend\n",
         "t.scn:4: shopper a: hide only at a shelf by the picture's edge (A1, D1, E1)"},
        {"name x\nshopper a at 1\n  go A1\n  hide 0\n  leave\nend\n",
         "t.scn:4: usage: hide SECONDS (0.5..600)"},
        {"name x\nshopper a at 1\n  go A1\n  leave exit\nend\n", "t.scn:4: usage: leave [entry]"},
        {"name x\nshopper a at 1\n  go A1\n  stock cola 99\n  leave\nend\n",
         "t.scn:4: \"99\": a count is 1..50"},
        {"name x\nshopper a at 1\n  go A1\n  jump\n",
         "t.scn:4: \"jump\" is not a shopper action (go, take, put, give, stock, hide, wait, "
         "leave, enter, end)"},
        {"name x\nshopper a at 1\n  go A1\n", "t.scn:2: shopper a has no end"},
        {"name x\n" OK_SHOPPER "shopper a at 3\n",
         "t.scn:6: shopper a is declared twice (first at line 2)"},
        {"name x\nshopper a at 1\n  take cola\n  leave\nend\n",
         "t.scn:3: shopper a is outside the store here (use enter after)"},
        {"name x\nshopper a at 1\n  go A1\nend\n",
         "t.scn:2: shopper a never leaves (end with leave)"},
        {"name x\nstock A1 cola 1\nshopper a at 1\n  go A1\n  take cola 2\n  leave\nend\n",
         "t.scn:5: at 9.9 s shelf A1 holds no cola to take"},
        {"name x\nshopper a at 1\n  go A1\n  put cola\n  leave\nend\n",
         "t.scn:4: at 8.8 s the shopper holds no cola to put back"},
        {"name x\nshopper a at 1\n  go A1\n  wait 700\n  leave\nend\n",
         "t.scn:4: usage: wait SECONDS (0..600)"},
        {"name x\nshopper a at 1\n  go A1 up\n  leave\nend\n",
         "t.scn:3: \"up\": the side is left, center, right or an offset in pixels along the "
         "shelf (-28..28)"},
        {"name x\nshopper a at 1\n  go A1 40\n  leave\nend\n",
         "t.scn:3: \"40\": the side is left, center, right or an offset in pixels along the "
         "shelf (-28..28)"},
        {"name x\n" OK_SHOPPER "shopper b at 1\n  go A1\n  leave\nend\n",
         "t.scn:6: shoppers a and b come within 0 px of each other at 1.2 s (near 300,250): "
         "people keep 36 px apart (16 at one shelf; shift a start time, or stand left/right)"},
        {"name x\n" OK_SHOPPER "fault at 3 A1 melt for 2\n",
         "t.scn:6: \"melt\": a fault is silent, delay MS, exception CODE, corrupt PERCENT, "
         "readprob PERCENT or drop"},
        {"name x\n" OK_SHOPPER "fault at 3 A1 silent\n",
         "t.scn:6: usage: fault at SECONDS SHELF|portal KIND [VALUE] for SECONDS"},
        {"name x\n" OK_SHOPPER "restock at 3 A1 cola 2 quickly\n",
         "t.scn:6: \"quickly\": only \"badge\" may follow the count"},
        {"name x\n" OK_SHOPPER "bind at 1 bad token!\n",
         "t.scn:6: usage: bind at SECONDS TOKEN [for PERSONS] (token: 8..63 letters, "
         "digits, '-', '_', '.'; persons 1..8)"},
        {"name x\n" OK_SHOPPER "bind at 1 short\n",
         "t.scn:6: usage: bind at SECONDS TOKEN [for PERSONS] (token: 8..63 letters, "
         "digits, '-', '_', '.'; persons 1..8)"},
        {"name x\n" OK_SHOPPER "bind at 1 acct-party-1 for 9\n",
         "t.scn:6: usage: bind at SECONDS TOKEN [for PERSONS] (token: 8..63 letters, "
         "digits, '-', '_', '.'; persons 1..8)"},
        {"name x\nshopper a at 1\n  go A1\n  take cola at 40\n  leave\nend\n",
         "t.scn:4: \"40\": the point of the shelf is -30..30 px from its middle"},
        {"name x\nshopper a at 1\n  go A1\n  take cola 2 by 4\n  leave\nend\n",
         "t.scn:4: usage: take SKU [COUNT] [at OFFSET]"},
        {"name x\n" OK_SHOPPER "duration 10\n",
         "t.scn: duration 10 s ends before the last visit settled (20 s needed)"},
        {"name x\nseed 1 \xc3\xa9\n", "t.scn:2: only printable ASCII is allowed"},
};

/* The harder moments: three shoulder to shoulder at one shelf, a child with its parent, a
 * hand-over (the taker pays), a stocker with a badge, out of view at the picture's edge,
 * out through the entry. */
static void test_hard_moments(void **state)
{
    (void)state;
    static const char text[] = "name hard\n"
                               "stock A1 cola 6\n"
                               "shopper ann at 2\n"
                               "  go A1 -22\n"
                               "  take cola\n"
                               "  give cola to ben\n"
                               "  hide 3\n"
                               "  leave entry\n"
                               "end\n"
                               "shopper ben at 5\n"
                               "  go A1 0\n"
                               "  wait 4\n"
                               "  leave\n"
                               "end\n"
                               "shopper kid at 8 size 7 look 140 with ben\n"
                               "  go A1 20\n"
                               "  take cola\n"
                               "  leave\n"
                               "end\n"
                               "shopper stocker at 40 badge\n"
                               "  go D1\n"
                               "  stock chips 3\n"
                               "  leave\n"
                               "end\n";
    char err[256] = "";
    struct scenario *sc = NULL;
    int r = sc_parse("t.scn", text, err, sizeof(err), &sc);
    if (r < 0) {
        fprintf(stderr, "%s\n", err);
    }
    assert_int_equal(r, 0);
    assert_int_equal(sc->n_visits, 4);
    /* ann took the cola she handed to ben: hers to pay; ben pays nothing; the kid its own */
    assert_int_equal(sc->visits[0].n_cart, 1);
    assert_int_equal(sc->visits[1].n_cart, 0);
    assert_int_equal(sc->visits[2].n_cart, 1);
    assert_int_equal(sc->visits[3].n_cart, 0);
    assert_int_equal(sc->final_stock[3][sc_product_find("chips")], 3);
    /* arms: ann reached for the shelf and towards ben; the stocker three times */
    assert_int_equal(sc->shoppers[0].n_reaches, 2);
    assert_true(fabsf(sc->shoppers[0].reaches[1].x - sc->shoppers[1].path[0].x) > 1 ||
                sc->shoppers[0].reaches[1].y > 0);
    assert_int_equal(sc->shoppers[3].n_reaches, 3);
    int badges = 0, restocks = 0;
    for (size_t i = 0; i < sc->n_events; i++) {
        badges += sc->events[i].kind == SC_EV_BADGE;
        restocks += sc->events[i].kind == SC_EV_TAG_ADD && sc->events[i].shelf == 3;
    }
    assert_int_equal(badges, 2); /* arrives at D1, leaves it */
    assert_int_equal(restocks, 3);
    /* ann went out of the picture (x < 0) and left by the entry lane (x = 300) */
    float min_x = 1e9f, last_x = 0;
    for (size_t k = 0; k < sc->shoppers[0].n_path; k++) {
        min_x = fminf(min_x, sc->shoppers[0].path[k].x);
        last_x = sc->shoppers[0].path[k].x;
    }
    assert_true(min_x < -12);
    assert_true(fabsf(last_x - 300) < 1);
    sc_free(sc);
}

static void test_bad_input(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        char err[512] = "";
        struct scenario *sc = (struct scenario *)0x1;
        int r = sc_parse("t.scn", bads[i].text, err, sizeof(err), &sc);
        if (r != SK_ESCENARIO || strcmp(err, bads[i].expect) != 0) {
            fprintf(stderr, "case %zu: got %d \"%s\"\nexpected \"%s\"\n", i, r, err,
                    bads[i].expect);
        }
        assert_int_equal(r, SK_ESCENARIO);
        assert_string_equal(err, bads[i].expect);
        assert_ptr_equal(sc, (struct scenario *)0x1); /* untouched */
    }
}

static void test_limits(void **state)
{
    (void)state;
    char err[256];
    struct scenario *sc = NULL;
    /* a line too long */
    char *text = malloc(1200);
    snprintf(text, 1200, "name %0900d\n", 1);
    assert_int_equal(sc_parse("t.scn", text, err, sizeof(err), &sc), SK_ESCENARIO);
    assert_string_equal(err, "t.scn:1: line longer than 511 characters");
    free(text);
    /* files: missing, too large, binary */
    char dir[64], path[128];
    sk_test_tmpdir(dir, sizeof(dir));
    assert_true(sc_load("/nonexistent/x.scn", err, sizeof(err), &sc) < 0);
    assert_string_equal(err, "/nonexistent/x.scn: No such file or directory");
    char *big = malloc(SC_FILE_MAX + 100);
    memset(big, '#', SC_FILE_MAX + 99);
    big[SC_FILE_MAX + 99] = 0;
    sk_test_write(dir, "big.scn", big, path, sizeof(path));
    free(big);
    assert_int_equal(sc_load(path, err, sizeof(err), &sc), SK_ESCENARIO);
    assert_non_null(strstr(err, "larger than 262144 bytes"));
    sk_test_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_plan_and_truth),
            cmocka_unit_test(test_hard_moments),
            cmocka_unit_test(test_bad_input),
            cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
