/* SPDX-License-Identifier: MIT */
/* Homographies: solved from four and from more (noisy) pairs, degenerate pairs refused, the
 * overhead and the mounted camera's maps against their geometry (rays cast to the floor),
 * inverses that come back. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "storekeeper/homography.h"

static void near(double a, double b, double eps)
{
    if (fabs(a - b) > eps) {
        fail_msg("%.9f is not %.9f (within %g)", a, b, eps);
    }
}

static void test_four_points(void **state)
{
    (void)state;
    /* A camera looking at the floor at an angle: a trapezoid in the image is a 4 x 3 m rect. */
    double px[] = {40, 200, 280, 200, 250, 40, 70, 40};
    double fl[] = {0, 0, 4, 0, 4, 3, 0, 3};
    struct sk_homography h, inv;
    assert_int_equal(sk_homography_solve(px, fl, 4, &h), 0);
    for (int i = 0; i < 4; i++) {
        double x, y;
        assert_true(sk_homography_apply(&h, px[2 * i], px[2 * i + 1], &x, &y));
        near(x, fl[2 * i], 1e-9);
        near(y, fl[2 * i + 1], 1e-9);
    }
    assert_int_equal(sk_homography_invert(&h, &inv), 0);
    double u, v, x, y;
    assert_true(sk_homography_apply(&h, 160, 120, &x, &y));
    assert_true(sk_homography_apply(&inv, x, y, &u, &v));
    near(u, 160, 1e-9);
    near(v, 120, 1e-9);
}

static void test_least_squares(void **state)
{
    (void)state;
    struct sk_homography truth;
    sk_homography_overhead(5, 2, 30, 0.01, 320, 240, &truth);
    double px[16], fl[16];
    for (int i = 0; i < 8; i++) {
        px[2 * i] = 20 + 37 * i;
        px[2 * i + 1] = 15 + (i * i * 37) % 210;
        assert_true(
                sk_homography_apply(&truth, px[2 * i], px[2 * i + 1], &fl[2 * i], &fl[2 * i + 1]));
        /* a few millimetres of marking error */
        fl[2 * i] += (i % 2 ? 0.004 : -0.003);
        fl[2 * i + 1] += (i % 3 ? -0.002 : 0.004);
    }
    struct sk_homography h;
    assert_int_equal(sk_homography_solve(px, fl, 8, &h), 0);
    double x, y, tx, ty;
    assert_true(sk_homography_apply(&h, 160, 120, &x, &y));
    assert_true(sk_homography_apply(&truth, 160, 120, &tx, &ty));
    near(x, tx, 0.01);
    near(y, ty, 0.01);
}

static void test_refused(void **state)
{
    (void)state;
    struct sk_homography h;
    double px[] = {0, 0, 100, 0, 200, 0, 50, 80};
    double fl[] = {0, 0, 1, 0, 2, 0.1, 0.5, 0.8};
    assert_int_equal(sk_homography_solve(px, fl, 4, &h), -EDOM); /* three on a line */
    assert_int_equal(sk_homography_solve(px, fl, 3, &h), -EINVAL);
    double same[] = {10, 10, 10, 10, 10, 10, 10, 10};
    assert_int_equal(sk_homography_solve(same, fl, 4, &h), -EDOM);
}

static void test_overhead(void **state)
{
    (void)state;
    struct sk_homography h;
    /* Centre above (2, 3), not turned, 1 cm per pixel: the image's right is +x, its top +y. */
    sk_homography_overhead(2, 3, 0, 0.01, 320, 240, &h);
    double x, y;
    assert_true(sk_homography_apply(&h, 160, 120, &x, &y));
    near(x, 2, 1e-12);
    near(y, 3, 1e-12);
    assert_true(sk_homography_apply(&h, 260, 120, &x, &y));
    near(x, 3, 1e-12);
    assert_true(sk_homography_apply(&h, 160, 20, &x, &y));
    near(y, 4, 1e-12);
    /* Turned 90 degrees: the image's right is +y. */
    sk_homography_overhead(0, 0, 90, 0.01, 320, 240, &h);
    assert_true(sk_homography_apply(&h, 260, 120, &x, &y));
    near(x, 0, 1e-9);
    near(y, 1, 1e-9);
}

/* Where the ray through pixel (u, v) of a pinhole camera meets the floor, by vector algebra:
 * the lens at (cx, cy, hgt), picture x along rot, tilted towards the picture's top by tilt. */
static void ray_cast(double cx,
                     double cy,
                     double hgt,
                     double rot_deg,
                     double tilt_deg,
                     double f,
                     double u,
                     double v,
                     double *x,
                     double *y)
{
    double a = rot_deg * M_PI / 180, t = tilt_deg * M_PI / 180;
    /* the camera's axes before turning: right +x, forward down and towards +y by the tilt,
     * its picture's down = forward x right */
    double right[3] = {1, 0, 0}, fwd[3] = {0, sin(t), -cos(t)};
    double down[3] = {fwd[1] * right[2] - fwd[2] * right[1], fwd[2] * right[0] - fwd[0] * right[2],
                      fwd[0] * right[1] - fwd[1] * right[0]};
    double d[3];
    for (int i = 0; i < 3; i++) {
        d[i] = fwd[i] + (u - 160) / f * right[i] + (v - 120) / f * down[i];
    }
    double s = hgt / -d[2];
    double dx = s * d[0], dy = s * d[1];
    *x = cx + cos(a) * dx - sin(a) * dy;
    *y = cy + sin(a) * dx + cos(a) * dy;
}

static void test_mount(void **state)
{
    (void)state;
    struct sk_homography h, o;
    double x, y, rx, ry;
    /* 3 m up, a 90 degree lens over 320 px: f = 160 px, the picture is 6 x 4.5 m of floor. */
    assert_int_equal(sk_homography_mount(2, 1, 0, 3.0, 160, 0, 320, 240, &h), 0);
    assert_true(sk_homography_apply(&h, 0, 0, &x, &y));
    near(x, -1, 1e-9);
    near(y, 3.25, 1e-9);
    assert_true(sk_homography_apply(&h, 320, 240, &x, &y));
    near(x, 5, 1e-9);
    near(y, -1.25, 1e-9);
    /* Straight down it is the overhead map at height / focal metres a pixel. */
    sk_homography_overhead(2, 1, 0, 3.0 / 160, 320, 240, &o);
    for (int i = 0; i < 9; i++) {
        near(h.m[i], o.m[i], 1e-12);
    }
    /* Tilted 45 degrees: the picture's centre looks 3 m ahead of the point under the lens. */
    assert_int_equal(sk_homography_mount(2, 1, 0, 3.0, 160, 45, 320, 240, &h), 0);
    assert_true(sk_homography_apply(&h, 160, 120, &x, &y));
    near(x, 2, 1e-9);
    near(y, 4, 1e-9);
    /* Any pixel, any turn and tilt: where its ray meets the floor. */
    const double pose[][3] = {{0, 0, 1}, {30, 20, 2}, {-75, 35, 3}, {200, 10, 4}};
    for (size_t k = 0; k < sizeof(pose) / sizeof(pose[0]); k++) {
        assert_int_equal(
                sk_homography_mount(4, -2, pose[k][0], pose[k][2], 200, pose[k][1], 320, 240, &h),
                0);
        for (int u = 0; u <= 320; u += 80) {
            for (int v = 0; v <= 240; v += 60) {
                assert_true(sk_homography_apply(&h, u, v, &x, &y));
                ray_cast(4, -2, pose[k][2], pose[k][0], pose[k][1], 200, u, v, &rx, &ry);
                near(x, rx, 1e-9);
                near(y, ry, 1e-9);
            }
        }
    }
    /* Half the vertical view is 36.9 degrees: tilted 55 the top edge sees the horizon. */
    assert_int_equal(sk_homography_mount(0, 0, 0, 3.0, 160, 55, 320, 240, &h), -EDOM);
    assert_int_equal(sk_homography_mount(0, 0, 0, 0, 160, 0, 320, 240, &h), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_four_points), cmocka_unit_test(test_least_squares),
            cmocka_unit_test(test_refused),     cmocka_unit_test(test_overhead),
            cmocka_unit_test(test_mount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
