/* SPDX-License-Identifier: MIT */
/* Zone and line geometry, connected components, the mask's clean-up, and malformed synthetic
 * scene files. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../unit/test_helpers.h"
#include "components.h"
#include "morph.h"
#include "storekeeper/error.h"
#include "storekeeper/synth.h"
#include "tracker.h"

static void test_point_in_polygon(void **state)
{
    (void)state;
    const double square[] = {10, 10, 50, 10, 50, 50, 10, 50};
    assert_true(vision_point_in_polygon(square, 4, 30, 30));
    assert_false(vision_point_in_polygon(square, 4, 5, 30));
    assert_false(vision_point_in_polygon(square, 4, 30, 60));
    const double ell[] = {0, 0, 40, 0, 40, 10, 10, 10, 10, 40, 0, 40}; /* an L */
    assert_true(vision_point_in_polygon(ell, 6, 5, 35));
    assert_false(vision_point_in_polygon(ell, 6, 30, 30));
    assert_true(fabsf(vision_polygon_distance(square, 4, 60, 30) - 10.0f) < 1e-4f);
    assert_true(vision_polygon_distance(square, 4, 30, 30) > 19.9f);
}

/* The reference: 8-connected flood fill from each unlabelled pixel, row by row (components
 * numbered by their first pixel), with an explicit stack. */
static int flood_label(const uint8_t *m, int w, int h, int32_t *lab, int32_t *stack)
{
    int n = 0;
    memset(lab, 0, (size_t)w * (size_t)h * sizeof(int32_t));
    for (int i = 0; i < w * h; i++) {
        if (!m[i] || lab[i]) {
            continue;
        }
        lab[i] = ++n;
        int top = 0;
        stack[top++] = i;
        while (top > 0) {
            int p = stack[--top], px = p % w, py = p / w;
            for (int dy = -1; dy <= 1; dy++) {
                for (int dx = -1; dx <= 1; dx++) {
                    int x = px + dx, y = py + dy;
                    if (x >= 0 && y >= 0 && x < w && y < h && m[y * w + x] && !lab[y * w + x]) {
                        lab[y * w + x] = n;
                        stack[top++] = y * w + x;
                    }
                }
            }
        }
    }
    return n;
}

static void test_components(void **state)
{
    (void)state;

    enum {
        W = 61,
        H = 37,
        MAXC = 400
    };

    static uint8_t m[W * H];
    static int32_t lab[W * H], stack[W * H];
    static struct vision_comp comps[MAXC];
    struct vision_cc *cc;
    assert_int_equal(vision_cc_new(W, H, MAXC, &cc), 0);
    /* A U whose arms meet only at the bottom, a diagonal step (8-connected), and a pixel in
     * the last corner: three components, the U first. */
    memset(m, 0, sizeof(m));
    for (int y = 2; y < 10; y++) {
        m[y * W + 3] = m[y * W + 9] = 255;
    }
    for (int x = 3; x <= 9; x++) {
        m[10 * W + x] = 255;
    }
    m[20 * W + 20] = m[21 * W + 21] = m[22 * W + 20] = 1;
    m[W * H - 1] = 255;
    assert_int_equal(vision_cc_label(cc, m, comps, MAXC), 3);
    assert_int_equal(comps[0].x, 3);
    assert_int_equal(comps[0].y, 2);
    assert_int_equal(comps[0].w, 7);
    assert_int_equal(comps[0].h, 9);
    assert_int_equal(comps[0].area, 8 + 8 + 7);
    assert_true(fabsf(comps[0].cx - 6.0f) < 1e-5f);
    assert_int_equal(comps[1].area, 3);
    assert_int_equal(comps[1].w, 2);
    assert_int_equal(comps[2].x, W - 1);
    assert_int_equal(vision_cc_labels(cc)[10 * W + 6], 1);
    assert_int_equal(vision_cc_labels(cc)[21 * W + 21], 2);
    /* Random masks of every density against the flood fill: the same components in the same
     * order, the same label image, boxes, areas and centres; stats for the first max only. */
    srand(7);
    for (int round = 0; round < 60; round++) {
        int density = round % 10 * 10 + 5;
        for (int i = 0; i < W * H; i++) {
            m[i] = rand() % 100 < density ? 255 : 0;
        }
        int n = flood_label(m, W, H, lab, stack);
        int max = round % 3 == 0 ? 5 : MAXC;
        assert_int_equal(vision_cc_label(cc, m, comps, max), n);
        assert_memory_equal(vision_cc_labels(cc), lab, sizeof(lab));
        for (int c = 0; c < n && c < max; c++) {
            int x0 = W, y0 = H, x1 = -1, y1 = -1, area = 0;
            double sx = 0, sy = 0;
            for (int i = 0; i < W * H; i++) {
                if (lab[i] == c + 1) {
                    int x = i % W, y = i / W;
                    x0 = x < x0 ? x : x0;
                    y0 = y < y0 ? y : y0;
                    x1 = x > x1 ? x : x1;
                    y1 = y > y1 ? y : y1;
                    area++;
                    sx += x;
                    sy += y;
                }
            }
            assert_int_equal(comps[c].x, x0);
            assert_int_equal(comps[c].y, y0);
            assert_int_equal(comps[c].w, x1 - x0 + 1);
            assert_int_equal(comps[c].h, y1 - y0 + 1);
            assert_int_equal(comps[c].area, area);
            assert_true(comps[c].cx == (float)(sx / area));
            assert_true(comps[c].cy == (float)(sy / area));
        }
    }
    vision_cc_free(cc);
}

/* Erosion or dilation by the definition, with OpenCV's default border: outside is foreground
 * for an erosion, background for a dilation. half[dy + r]: the kernel row's half-width. */
static void
morph_ref(const uint8_t *in, uint8_t *out, int w, int h, const int *half, int r, int erode)
{
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int v = erode;
            for (int dy = -r; dy <= r; dy++) {
                for (int dx = -half[dy + r]; dx <= half[dy + r]; dx++) {
                    int xx = x + dx, yy = y + dy;
                    int p = xx < 0 || yy < 0 || xx >= w || yy >= h ? erode : in[yy * w + xx] != 0;
                    v = erode ? v && p : v || p;
                }
            }
            out[y * w + x] = v ? 255 : 0;
        }
    }
}

static void test_morph_clean(void **state)
{
    (void)state;
    /* OpenCV's MORPH_ELLIPSE kernels of 7 and 13 (getStructuringElement), row by row */
    static const int ell7[] = {0, 2, 3, 3, 3, 2, 0};
    static const int ell13[] = {0, 3, 4, 5, 6, 6, 6, 6, 6, 5, 4, 3, 0};
    const int sizes[][2] = {{320, 48}, {61, 37}, {130, 21}, {64, 9}};
    const int kernels[][2] = {{3, 7}, {5, 13}, {1, 7}, {3, 1}};

    enum {
        MAXW = 320,
        MAXH = 48
    };

    static uint8_t m[MAXW * MAXH], want[MAXW * MAXH], t1[MAXW * MAXH], t2[MAXW * MAXH];
    srand(11);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (size_t k = 0; k < sizeof(kernels) / sizeof(kernels[0]); k++) {
            const int w = sizes[s][0], h = sizes[s][1], ok = kernels[k][0], ck = kernels[k][1];
            struct vision_morph *mo;
            assert_int_equal(vision_morph_new(w, h, ok, ck, &mo), 0);
            for (int round = 0; round < 6; round++) {
                /* blobs of foreground, shadow (127) and values either side of the threshold */
                const uint8_t vals[] = {0, 0, 0, 255, 255, 127, 200, 201};
                int density = 20 + 12 * round;
                for (int i = 0; i < w * h; i++) {
                    m[i] = rand() % 100 < density ? vals[rand() % 8] : 0;
                }
                int ro = ok / 2, rc = ck / 2;
                int sqh[11];
                for (int i = 0; i <= 2 * ro; i++) {
                    sqh[i] = ro; /* a square: every row the same */
                }
                for (int i = 0; i < w * h; i++) {
                    want[i] = m[i] > 200 ? 255 : 0;
                }
                if (ro > 0) {
                    morph_ref(want, t1, w, h, sqh, ro, 1);
                    morph_ref(t1, want, w, h, sqh, ro, 0);
                }
                if (rc > 0) {
                    const int *e = rc == 3 ? ell7 : ell13;
                    morph_ref(want, t2, w, h, e, rc, 0);
                    morph_ref(t2, want, w, h, e, rc, 1);
                }
                vision_morph_clean(mo, m);
                assert_memory_equal(m, want, (size_t)(w * h));
            }
            vision_morph_free(mo);
        }
    }
    struct vision_morph *mo;
    assert_int_equal(vision_morph_new(10, 10, 2, 7, &mo), -EINVAL); /* even */
}

static void test_line_sides_and_crossing(void **state)
{
    (void)state;
    const double door[] = {0, 100, 200, 100}; /* left to right on screen */
    /* Left of a left-to-right line on a y-down screen is up: negative. */
    assert_true(vision_line_signed_distance(door, 50, 90) < 0);
    assert_true(vision_line_signed_distance(door, 50, 110) > 0);
    assert_true(fabsf(vision_line_signed_distance(door, 50, 110) - 10.0f) < 1e-4f);
    assert_true(vision_segments_cross(50, 110, 50, 90, door, 0));
    assert_false(vision_segments_cross(50, 110, 60, 105, door, 0));
    assert_false(vision_segments_cross(250, 110, 250, 90, door, 0)); /* around the end */
    assert_true(vision_segments_cross(203, 110, 203, 90, door, 5));  /* within the extension */
    const double point[] = {5, 5, 5, 5};
    assert_true(vision_line_signed_distance(point, 0, 0) == 0);
    assert_false(vision_segments_cross(0, 0, 10, 10, point, 1));
}

static void test_tracker_confirms_and_loses(void **state)
{
    (void)state;
    struct sk_tracker_params p = {.max_tracks = 4,
                                  .confirm_hits = 3,
                                  .confirm_s = 0.2f,
                                  .max_missed_s = 0.25f,
                                  .max_merged_s = 1.0f,
                                  .gate_px = 20,
                                  .max_speed_px_s = 100,
                                  .person_px = 10};
    struct sk_tracker *t;
    assert_int_equal(vision_tracker_new(&p, &t), 0);
    struct sk_vision_blob b = {.cx = 10, .cy = 10, .x = 5, .y = 5, .w = 10, .h = 10, .area = 80};
    size_t n;
    for (int i = 0; i < 3; i++) {
        b.cx = 10.0f + 5.0f * (float)i;
        vision_tracker_update(t, &b, NULL, NULL, 1, i * 100000);
    }
    struct sk_trk *s = vision_tracker_slots(t, &n);
    assert_int_equal(s[0].state, SK_TRK_CONFIRMED);
    assert_true(s[0].born);
    assert_int_equal(s[0].id, 1);
    assert_true(fabsf(s[0].vx - 50.0f) < 5.0f); /* 5 px per 0.1 s */
    for (int i = 3; i < 6; i++) {
        vision_tracker_update(t, NULL, NULL, NULL, 0, i * 100000);
    }
    assert_int_equal(s[0].state, SK_TRK_LOST);
    vision_tracker_update(t, NULL, NULL, NULL, 0, 700000);
    assert_int_equal(s[0].state, SK_TRK_FREE);
    struct sk_tracker_params bad = p;
    bad.max_tracks = SK_TRACKER_MAX + 1;
    struct sk_tracker *t2 = NULL;
    assert_int_equal(vision_tracker_new(&bad, &t2), -EINVAL);
    vision_tracker_free(t);
}

static void expect_scene_error(const char *text, const char *msg)
{
    char dir[64], path[128], err[256] = "";
    sk_test_tmpdir(dir, sizeof(dir));
    sk_test_write(dir, "s.scene", text, path, sizeof(path));
    struct sk_synth *s = NULL;
    int r = sk_synth_load(path, 320, 240, err, sizeof(err), &s);
    if (r != SK_ESCENARIO || !strstr(err, msg)) {
        fail_msg("scene %s: got %d \"%s\", wanted \"%s\"", text, r, err, msg);
    }
    assert_null(s);
    sk_test_rmdir(dir);
}

static void test_scene_files(void **state)
{
    (void)state;
    expect_scene_error("scene = { floor_luma = 300; };", "s.scene:1: scene.floor_luma");
    expect_scene_error("scene = { colour = 1; };", "scene.colour: unknown key");
    expect_scene_error("scene = { shadows = 1; };", "scene.shadows: true or false");
    expect_scene_error("scene = { arms = 1; };", "scene.arms: true or false");
    expect_scene_error("scene = { texture = 500.0; };", "scene.texture: a number from 0 to 120");
    expect_scene_error("scene = { perspective = -1.0; };", "scene.perspective");
    expect_scene_error("shoppers = ( { path = [ 1.0, 2.0 ]; } );", "shoppers.[0].path");
    expect_scene_error("shoppers = ( { luma = 999; path = [ 1.0, 2.0, 3.0 ]; } );",
                       "shoppers.[0]: luma");
    expect_scene_error("shoppers = ( { path = [ 2.0, 1.0, 1.0, 1.0, 2.0, 2.0 ]; } );",
                       "waypoint 1: times must increase");
    expect_scene_error("shoppers = ( { path = [ 1, 2, 3 ]; } );", "write numbers as 1.0");
    expect_scene_error("scene = { lights = [ 1.0 ]; };", "scene.lights");
    expect_scene_error("scene = { blackouts = [ 1.0 ]; };", "scene.blackouts: [ t, seconds");
    expect_scene_error("scene = { stalls = [ 1.0, 0.0 ]; };", "scene.stalls");
    expect_scene_error("scene = { stalls = [ 1.0, 99999.0 ]; };", "scene.stalls");
    expect_scene_error("scene = { blackouts = [ 0.0, 1.0, 1.0, 1.0, 2.0, 1.0, 3.0, 1.0, 4.0, 1.0, "
                       "5.0, 1.0, 6.0, 1.0, 7.0, 1.0, 8.0, 1.0, 9.0, 1.0, 10.0, 1.0, 11.0, 1.0, "
                       "12.0, 1.0, 13.0, 1.0, 14.0, 1.0, 15.0, 1.0, 16.0, 1.0 ]; };",
                       "at most 16 windows");
    expect_scene_error("scene = {\n  noise = ;\n};", "s.scene:2:");
    expect_scene_error("shoppers = 3;", "shoppers: expected a list");

    char dir[64], path[128], err[256] = "";
    sk_test_tmpdir(dir, sizeof(dir));
    sk_test_write(dir, "ok.scene",
                  "scene = { width = 160; height = 120; lights = [ 5.0, 0.5 ];\n"
                  "          blackouts = [ 4.0, 0.5 ]; stalls = [ 6.0, 1.0 ]; };\n"
                  "shoppers = ( { luma = 60; radius = 8.0;\n"
                  "               path = [ 1.0, 10.0, 60.0, 3.0, 150.0, 60.0 ]; } );\n",
                  path, sizeof(path));
    struct sk_synth *s = NULL;
    assert_int_equal(sk_synth_load(path, 320, 240, err, sizeof(err), &s), 0);
    struct sk_synth_truth tr[2];
    assert_int_equal(sk_synth_truth_at(s, 2.0, tr, 2), 1);
    assert_true(fabsf(tr[0].x - 80.0f) < 1e-3f && fabsf(tr[0].y - 60.0f) < 1e-3f);
    assert_int_equal(sk_synth_truth_at(s, 0.5, tr, 2), 0);
    assert_true(sk_synth_end_time(s) == 3.0);
    /* The scene scales to any frame size; the shopper is dark against the floor. */
    uint8_t img[240][320];
    assert_int_equal(sk_synth_render(s, 2.0, 0, &img[0][0], 320, 240, 320), 0);
    assert_true(img[120][160] < 100 && img[120][40] > 100);
    assert_int_equal(sk_synth_render(s, 2.0, 0, &img[0][0], 8, 8, 8), -EINVAL);
    assert_int_equal(sk_synth_waypoint(s, 1, 2.0, 0, 0), -EINVAL); /* not after 3.0 */
    assert_int_equal(sk_synth_waypoint(s, 99, 9.0, 0, 0), -ENOENT);
    /* Camera faults: black frames (only noise around 0), then no frames at all. */
    assert_int_equal(sk_synth_fault_at(s, 4.2), SK_SYNTH_BLACK);
    assert_int_equal(sk_synth_render(s, 4.2, 0, &img[0][0], 320, 240, 320), 0);
    assert_true(img[120][40] < 20);
    assert_int_equal(sk_synth_fault_at(s, 4.6), 0);
    assert_int_equal(sk_synth_fault_at(s, 6.5), SK_SYNTH_STALL);
    assert_int_equal(sk_synth_add_fault(s, 3, 1.0, 1.0), -EINVAL);
    assert_int_equal(sk_synth_attach("cam", s), 0);
    assert_int_equal(sk_synth_attach("cam", s), -EEXIST);
    assert_ptr_equal(sk_synth_attached("cam"), s);
    sk_synth_detach("cam");
    assert_null(sk_synth_attached("cam"));
    sk_synth_free(s);
    assert_true(sk_synth_load("/nonexistent.scene", 320, 240, err, sizeof(err), &s) == -ENOENT);
    sk_test_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_point_in_polygon),
            cmocka_unit_test(test_line_sides_and_crossing),
            cmocka_unit_test(test_components),
            cmocka_unit_test(test_morph_clean),
            cmocka_unit_test(test_tracker_confirms_and_loses),
            cmocka_unit_test(test_scene_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
