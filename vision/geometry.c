/* SPDX-License-Identifier: MIT */
/* Zone and line geometry in image coordinates: inside tests, distances, crossings. */
#include <math.h>

#include "tracker.h"

bool vision_point_in_polygon(const double *xy, size_t n, float x, float y)
{
    /* Crossing number: count edges that a ray to the right of (x, y) crosses. */
    bool in = false;
    for (size_t i = 0, j = n - 1; i < n; j = i++) {
        double xi = xy[2 * i], yi = xy[2 * i + 1], xj = xy[2 * j], yj = xy[2 * j + 1];
        if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) {
            in = !in;
        }
    }
    return in;
}

static float seg_distance(double ax, double ay, double bx, double by, float x, float y)
{
    double dx = bx - ax, dy = by - ay;
    double len2 = dx * dx + dy * dy;
    double u = len2 > 0 ? ((x - ax) * dx + (y - ay) * dy) / len2 : 0;
    u = u < 0 ? 0 : u > 1 ? 1 : u;
    double px = ax + u * dx - x, py = ay + u * dy - y;
    return (float)sqrt(px * px + py * py);
}

float vision_polygon_distance(const double *xy, size_t n, float x, float y)
{
    float best = INFINITY;
    for (size_t i = 0, j = n - 1; i < n; j = i++) {
        float d = seg_distance(xy[2 * j], xy[2 * j + 1], xy[2 * i], xy[2 * i + 1], x, y);
        best = d < best ? d : best;
    }
    return best;
}

float vision_line_signed_distance(const double *p, float x, float y)
{
    double dx = p[2] - p[0], dy = p[3] - p[1];
    double len = sqrt(dx * dx + dy * dy);
    if (len <= 0) {
        return 0;
    }
    return (float)((dx * (y - p[1]) - dy * (x - p[0])) / len);
}

static double orient(double ax, double ay, double bx, double by, double cx, double cy)
{
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
}

bool vision_segments_cross(float ax, float ay, float bx, float by, const double *p, float ext)
{
    double dx = p[2] - p[0], dy = p[3] - p[1];
    double len = sqrt(dx * dx + dy * dy);
    if (len <= 0) {
        return false;
    }
    double ux = dx / len * ext, uy = dy / len * ext;
    double x1 = p[0] - ux, y1 = p[1] - uy, x2 = p[2] + ux, y2 = p[3] + uy;
    double o1 = orient(x1, y1, x2, y2, ax, ay), o2 = orient(x1, y1, x2, y2, bx, by);
    double o3 = orient(ax, ay, bx, by, x1, y1), o4 = orient(ax, ay, bx, by, x2, y2);
    return ((o1 < 0) != (o2 < 0)) && ((o3 < 0) != (o4 < 0));
}
