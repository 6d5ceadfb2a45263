/* SPDX-License-Identifier: MIT */
/* Reach evidence from the pixels: who reaches across a shelf's edge, through the real pipeline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "harness.h"

#define W   320
#define H   240
#define FPS 10

static struct h_run run; /* large: static, not on the stack */

/* A shelf zone 8..72 x 6..56 whose shelf stands above its top edge. */
static void shelf_zone(struct sk_zone_cfg *z)
{
    h_zone(z, "front-a1", 8, 6, 72, 56);
    z->reach[0] = 8;
    z->reach[1] = 6;
    z->reach[2] = 72;
    z->reach[3] = 6;
    z->reach_len = 4;
}

/* A shopper walks up to (x, 30) and stands there until 14 s; it reaches for the shelf at
 * reach_t for 1 s when reach_t > 0. */
/* The overhead scene of these tests: the default camera with shadows, nobody in it yet. */
static struct sk_synth *shelf_scene(void)
{
    struct sk_synth_params p;
    sk_synth_params_default(&p, W, H);
    p.shadows = true;
    struct sk_synth *s = NULL;
    assert_int_equal(sk_synth_new(&p, &s), 0);
    return s;
}

static uint32_t stand(struct sk_synth *s, int luma, float radius, float x, double reach_t)
{
    struct sk_synth_look look = {radius, luma, -1};
    uint32_t id;
    assert_int_equal(sk_synth_add_shopper(s, &look, &id), 0);
    assert_int_equal(sk_synth_waypoint(s, id, 0.5, x, 120), 0);
    assert_int_equal(sk_synth_waypoint(s, id, 2.0, x, 30), 0);
    assert_int_equal(sk_synth_waypoint(s, id, 14.0, x, 30.5f), 0);
    if (reach_t > 0) {
        assert_int_equal(sk_synth_reach(s, id, reach_t, 1.0, x, 3), 0);
    }
    return id;
}

static void run_shelf(struct sk_synth *s)
{
    struct sk_zone_cfg zone;
    shelf_zone(&zone);
    struct sk_vision_params vp;
    sk_vision_params_default(&vp, W, H);
    assert_int_equal(h_run_scene(s, &vp, &zone, 1, NULL, 0, FPS, 12, &run, NULL, NULL), 0);
}

static int last_sole; /* what the last reach near x said of who else could have made it */

/* Counts reach events near x (where the arm crossed the edge), and those of nobody. */
static int reaches_near(float x, int *ret_nobody, double *ret_start, double *ret_end)
{
    int n = 0;
    *ret_nobody = 0;
    for (size_t i = 0; i < run.n_events; i++) {
        const struct sk_vision_event *e = &run.events[i].ev;
        if (e->type != SK_VEV_REACH) {
            continue;
        }
        if (!e->track_id) {
            (*ret_nobody)++;
        } else if (fabsf(e->x - x) < 10) {
            n++;
            last_sole = e->sole;
            if (ret_start) {
                *ret_start = (double)(e->t_us - e->dwell_us) / 1e6;
                *ret_end = (double)e->t_us / 1e6;
            }
        }
    }
    return n;
}

/* Two shoppers at one shelf, 40 px apart: only the one whose arm goes out reaches, at the
 * time it did; the one beside shows no reach, and nothing is left unexplained. */
static void test_the_one_who_reaches(void **state)
{
    (void)state;
    struct sk_synth *s = shelf_scene();
    stand(s, 60, 12, 20, 0);
    stand(s, 200, 12, 60, 6.0);
    run_shelf(s);
    int nobody = 0;
    double t0 = 0, t1 = 0;
    int left = reaches_near(20, &nobody, NULL, NULL);
    int right = reaches_near(60, &nobody, &t0, &t1);
    printf("reaches: left %d, right %d (%.1f .. %.1f s), nobody %d\n", left, right, t0, t1, nobody);
    assert_int_equal(left, 0);
    assert_int_equal(right, 1);
    assert_int_equal(nobody, 0);
    /* 40 px apart: the arm was out of the other's reach (vision.reach_width_px) */
    assert_int_equal(last_sole, SK_REACH_SOLE);
    /* the arm was out from 6.0 to 7.0 s; reported a frame or two after it came back */
    assert_true(t0 >= 5.9 && t0 <= 6.5);
    assert_true(t1 >= 6.6 && t1 <= 7.6);
    sk_synth_free(s);
}

/* Shoulder to shoulder, 14 px apart (one stepped up beside the other): the arm is within the
 * neighbour's reach too, and vision says so (someone else's arm could have been there). */
static void test_shoulder_to_shoulder_is_shared(void **state)
{
    (void)state;
    struct sk_synth *s = shelf_scene();
    stand(s, 60, 12, 25, 0);
    /* walks up 35 px away (both followed), then steps up beside the other */
    struct sk_synth_look look = {12, 200, -1};
    uint32_t id;
    assert_int_equal(sk_synth_add_shopper(s, &look, &id), 0);
    assert_int_equal(sk_synth_waypoint(s, id, 3.0, 62, 120), 0);
    assert_int_equal(sk_synth_waypoint(s, id, 4.5, 62, 30), 0);
    assert_int_equal(sk_synth_waypoint(s, id, 5.5, 62, 30), 0);
    assert_int_equal(sk_synth_waypoint(s, id, 6.5, 39, 30), 0);
    assert_int_equal(sk_synth_waypoint(s, id, 14.0, 39, 30.5f), 0);
    assert_int_equal(sk_synth_reach(s, id, 8.0, 1.0, 39, 3), 0);
    run_shelf(s);
    int n = 0, shared = 0;
    for (size_t i = 0; i < run.n_events; i++) {
        const struct sk_vision_event *e = &run.events[i].ev;
        if (e->type == SK_VEV_REACH && e->track_id) {
            n++;
            shared += e->sole == SK_REACH_SHARED;
        }
    }
    printf("shoulder to shoulder: %d reaches, %d shared\n", n, shared);
    assert_true(n >= 1);
    assert_int_equal(shared, n);
    sk_synth_free(s);
}

/* Grey clothing on a grey floor: the sleeve hardly shows, its shadow does. */
static void test_low_contrast_sleeve(void **state)
{
    (void)state;
    struct sk_synth *s = shelf_scene();
    stand(s, 140, 12, 40, 5.0);
    run_shelf(s);
    int nobody = 0;
    assert_int_equal(reaches_near(40, &nobody, NULL, NULL), 1);
    assert_int_equal(nobody, 0);
    sk_synth_free(s);
}

/* A slight shopper in grey (radius 9, luma 140 on the 150 floor): its sleeve and the sleeve's
 * shadow are two pixels wide, which the mask's cleaning removes; read across the band in the
 * raw foreground, the arm is there, and nothing else is. */
static void test_slight_shopper_thin_arm(void **state)
{
    (void)state;
    struct sk_synth *s = shelf_scene();
    stand(s, 140, 9, 54, 5.0);
    run_shelf(s);
    int nobody = 0;
    double t0 = 0, t1 = 0;
    int n = reaches_near(54, &nobody, &t0, &t1);
    printf("slight shopper: %d reach (%.1f .. %.1f s), nobody %d\n", n, t0, t1, nobody);
    assert_int_equal(n, 1);
    assert_int_equal(nobody, 0);
    assert_true(t0 >= 4.9 && t0 <= 5.6);
    sk_synth_free(s);
}

/* Reaching across: two shoppers 40 px apart; the left one's arm goes out for the shelf in
 * front of the right one. The arm crosses the edge in front of the right one, but it comes
 * from the left one's shoulders: the reach is the left one's, and the right one, traced back
 * along the arm, stood out of its reach (sole). */
static void test_reach_across(void **state)
{
    (void)state;
    struct sk_synth *s = shelf_scene();
    uint32_t left = stand(s, 60, 12, 20, 0);
    stand(s, 200, 12, 60, 0);
    assert_int_equal(sk_synth_reach(s, left, 6.0, 1.0, 58, 3), 0);
    run_shelf(s);
    int nobody = 0, n_left = 0, n_right = 0, sole = -1;
    for (size_t i = 0; i < run.n_events; i++) {
        const struct sk_vision_event *e = &run.events[i].ev;
        if (e->type != SK_VEV_REACH) {
            continue;
        }
        nobody += e->track_id == 0;
        /* whose: the track standing nearer x 20 or x 60 at the end (tracks 1 and 2 by order
         * of appearance: the left one walked in first) */
        n_left += e->track_id == 1;
        n_right += e->track_id == 2;
        sole = e->track_id == 1 ? e->sole : sole;
        printf("reach across: track %u at x %.1f, %s\n", e->track_id, e->x,
               e->sole == SK_REACH_SOLE ? "sole" : "shared");
    }
    assert_int_equal(n_left, 1);
    assert_int_equal(n_right, 0);
    assert_int_equal(nobody, 0);
    assert_int_equal(sole, SK_REACH_SOLE);
    sk_synth_free(s);
}

/* Nobody reaches: shoppers standing at the shelf (their shadows too) stay out of the band. */
static void test_standing_is_no_reach(void **state)
{
    (void)state;
    struct sk_synth *s = shelf_scene();
    stand(s, 60, 14, 24, 0);
    stand(s, 210, 14, 56, 0);
    run_shelf(s);
    int nobody = 0;
    assert_int_equal(reaches_near(24, &nobody, NULL, NULL) + reaches_near(56, &nobody, NULL, NULL),
                     0);
    assert_int_equal(nobody, 0);
    sk_synth_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_the_one_who_reaches),
            cmocka_unit_test(test_shoulder_to_shoulder_is_shared),
            cmocka_unit_test(test_low_contrast_sleeve),
            cmocka_unit_test(test_slight_shopper_thin_arm),
            cmocka_unit_test(test_reach_across),
            cmocka_unit_test(test_standing_is_no_reach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
