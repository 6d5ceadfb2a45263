/* SPDX-License-Identifier: MIT */
/* Homographies: solving one from point pairs, inverting, applying; a mounted camera's map. */
#include "storekeeper/homography.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/*
 * DESIGN
 * The direct linear transform with h33 = 1: each pair gives two linear equations in the other
 * eight entries, solved in the least-squares sense through the normal equations by Gaussian
 * elimination with partial pivoting. Both point sets are first moved to their centroid and
 * scaled to an average distance of sqrt(2) (Hartley's normalisation), without which pixel
 * coordinates in the hundreds and metres near one make the system badly conditioned.
 */

/* Is c on the line through a and b (within eps of the triangle's area, relative)? */
static bool collinear(const double *a, const double *b, const double *c)
{
    double area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
    double scale = hypot(b[0] - a[0], b[1] - a[1]) * hypot(c[0] - a[0], c[1] - a[1]);
    return scale <= 0 || fabs(area) <= 1e-6 * scale;
}

static bool any_three_collinear(const double *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            for (size_t k = j + 1; k < n; k++) {
                if (collinear(&p[2 * i], &p[2 * j], &p[2 * k])) {
                    return true;
                }
            }
        }
    }
    return false;
}

/* T moves the points to their centroid and scales them to mean distance sqrt(2). */
static void normaliser(const double *p, size_t n, double t[9])
{
    double cx = 0, cy = 0;
    for (size_t i = 0; i < n; i++) {
        cx += p[2 * i];
        cy += p[2 * i + 1];
    }
    cx /= (double)n;
    cy /= (double)n;
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        d += hypot(p[2 * i] - cx, p[2 * i + 1] - cy);
    }
    d /= (double)n;
    double s = d > 0 ? sqrt(2.0) / d : 1.0;
    double m[9] = {s, 0, -s * cx, 0, s, -s * cy, 0, 0, 1};
    memcpy(t, m, sizeof(m));
}

static void mul(const double a[9], const double b[9], double r[9])
{
    double o[9];
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
            o[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
        }
    }
    memcpy(r, o, sizeof(o));
}

static int inverse(const double a[9], double r[9])
{
    double det = a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) +
                 a[2] * (a[3] * a[7] - a[4] * a[6]);
    if (fabs(det) < 1e-15) {
        return -EDOM;
    }
    double o[9] = {
            (a[4] * a[8] - a[5] * a[7]) / det, -(a[1] * a[8] - a[2] * a[7]) / det,
            (a[1] * a[5] - a[2] * a[4]) / det, -(a[3] * a[8] - a[5] * a[6]) / det,
            (a[0] * a[8] - a[2] * a[6]) / det, -(a[0] * a[5] - a[2] * a[3]) / det,
            (a[3] * a[7] - a[4] * a[6]) / det, -(a[0] * a[7] - a[1] * a[6]) / det,
            (a[0] * a[4] - a[1] * a[3]) / det,
    };
    memcpy(r, o, sizeof(o));
    return 0;
}

/* Solves the 8x8 system a x = b in place (partial pivoting). */
static int solve8(double a[8][8], double b[8], double x[8])
{
    for (int c = 0; c < 8; c++) {
        int p = c;
        for (int r = c + 1; r < 8; r++) {
            if (fabs(a[r][c]) > fabs(a[p][c])) {
                p = r;
            }
        }
        if (fabs(a[p][c]) < 1e-12) {
            return -EDOM;
        }
        if (p != c) {
            for (int k = 0; k < 8; k++) {
                double t = a[c][k];
                a[c][k] = a[p][k];
                a[p][k] = t;
            }
            double t = b[c];
            b[c] = b[p];
            b[p] = t;
        }
        for (int r = c + 1; r < 8; r++) {
            double f = a[r][c] / a[c][c];
            for (int k = c; k < 8; k++) {
                a[r][k] -= f * a[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    for (int r = 7; r >= 0; r--) {
        double s = b[r];
        for (int k = r + 1; k < 8; k++) {
            s -= a[r][k] * x[k];
        }
        x[r] = s / a[r][r];
    }
    return 0;
}

int sk_homography_solve(const double *src, const double *dst, size_t n, struct sk_homography *ret)
{
    if (n < 4) {
        return -EINVAL;
    }
    /* Four pairs with three on a line determine nothing; more are judged by the system. */
    if (n == 4 && (any_three_collinear(src, n) || any_three_collinear(dst, n))) {
        return -EDOM;
    }
    double ts[9], td[9];
    normaliser(src, n, ts);
    normaliser(dst, n, td);
    double ata[8][8], atb[8];
    memset(ata, 0, sizeof(ata));
    memset(atb, 0, sizeof(atb));
    for (size_t i = 0; i < n; i++) {
        double x = ts[0] * src[2 * i] + ts[2], y = ts[4] * src[2 * i + 1] + ts[5];
        double u = td[0] * dst[2 * i] + td[2], v = td[4] * dst[2 * i + 1] + td[5];
        /* u = (h0 x + h1 y + h2) / (h6 x + h7 y + 1), v likewise with h3..h5 */
        double rows[2][9] = {{x, y, 1, 0, 0, 0, -u * x, -u * y, u},
                             {0, 0, 0, x, y, 1, -v * x, -v * y, v}};
        for (int r = 0; r < 2; r++) {
            for (int j = 0; j < 8; j++) {
                for (int k = 0; k < 8; k++) {
                    ata[j][k] += rows[r][j] * rows[r][k];
                }
                atb[j] += rows[r][j] * rows[r][8];
            }
        }
    }
    double h[8];
    if (solve8(ata, atb, h) < 0) {
        return -EDOM;
    }
    double hn[9] = {h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1};
    /* Undo the normalisation: H = Td^-1 Hn Ts. */
    double tdi[9];
    if (inverse(td, tdi) < 0) {
        return -EDOM;
    }
    double m[9];
    mul(hn, ts, m);
    mul(tdi, m, m);
    if (fabs(m[8]) < 1e-15) {
        return -EDOM;
    }
    for (int i = 0; i < 9; i++) {
        ret->m[i] = m[i] / m[8];
    }
    double check[9];
    return inverse(ret->m, check);
}

int sk_homography_invert(const struct sk_homography *h, struct sk_homography *ret)
{
    double m[9];
    int r = inverse(h->m, m);
    if (r < 0 || fabs(m[8]) < 1e-15) {
        return -EDOM;
    }
    for (int i = 0; i < 9; i++) {
        ret->m[i] = m[i] / m[8];
    }
    return 0;
}

bool sk_homography_apply(const struct sk_homography *h, double x, double y, double *rx, double *ry)
{
    const double *m = h->m;
    double w = m[6] * x + m[7] * y + m[8];
    if (fabs(w) < 1e-12) {
        return false;
    }
    *rx = (m[0] * x + m[1] * y + m[2]) / w;
    *ry = (m[3] * x + m[4] * y + m[5]) / w;
    return true;
}

void sk_homography_overhead(double cx,
                            double cy,
                            double rotation_deg,
                            double metres_per_px,
                            int width,
                            int height,
                            struct sk_homography *ret)
{
    /* Image y grows downwards; seen from above, a floor plan's y grows up the page: the image
     * is mirrored in y before it is turned. */
    double a = rotation_deg * M_PI / 180.0, s = metres_per_px;
    double c = cos(a), n = sin(a);
    double u0 = width / 2.0, v0 = height / 2.0;
    /* floor = centre + R * [s (u - u0), -s (v - v0)] */
    double m[9] = {c * s, n * s,  cx - c * s * u0 - n * s * v0,
                   n * s, -c * s, cy - n * s * u0 + c * s * v0,
                   0,     0,      1};
    memcpy(ret->m, m, sizeof(m));
}

int sk_homography_mount(double x,
                        double y,
                        double rotation_deg,
                        double height_m,
                        double focal_px,
                        double tilt_deg,
                        int width,
                        int height,
                        struct sk_homography *ret)
{
    if (!(height_m > 0) || !(focal_px > 0) || width <= 0 || height <= 0 || !(tilt_deg >= 0)) {
        return -EINVAL;
    }
    double t = tilt_deg * M_PI / 180.0;
    /* The top edge's ray, tilted by t, must still go down to the floor. */
    if (t + atan(height / 2.0 / focal_px) >= M_PI / 2 - 1e-6) {
        return -EDOM;
    }
    /* Straight down, the picture is a scaled, turned copy of the floor under the lens. */
    struct sk_homography down;
    sk_homography_overhead(x, y, rotation_deg, height_m / focal_px, width, height, &down);
    /* Tilting turns the camera about its lens: picture points move by K R K^-1, R the turn
     * about the picture's x axis that brings the top edge's direction towards the centre. */
    double u0 = width / 2.0, v0 = height / 2.0, f = focal_px, c = cos(t), n = sin(t);
    double k[9] = {f, 0, u0, 0, f, v0, 0, 0, 1};
    double ki[9] = {1 / f, 0, -u0 / f, 0, 1 / f, -v0 / f, 0, 0, 1};
    double r[9] = {1, 0, 0, 0, c, n, 0, -n, c};
    double turn[9], back[9], m[9];
    mul(r, ki, turn);
    mul(k, turn, turn);
    if (inverse(turn, back) < 0) {
        return -EDOM;
    }
    mul(down.m, back, m);
    if (fabs(m[8]) < 1e-15) {
        return -EDOM;
    }
    for (int i = 0; i < 9; i++) {
        ret->m[i] = m[i] / m[8];
    }
    return 0;
}
