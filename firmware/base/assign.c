/* SPDX-License-Identifier: MIT */
/* Minimum-cost assignment: the Hungarian method with row and column potentials. */
#include "storekeeper/assign.h"

#include <math.h>
#include <string.h>

/*
 * The shortest-augmenting-path form of Kuhn-Munkres: rows are added one at a time, and each
 * is connected by a Dijkstra-like search over reduced costs (cost - u[row] - v[col]), then
 * the potentials move by the smallest slack so the reduced costs stay non-negative. It needs
 * rows <= columns; a tall matrix is solved as its transpose through the accessor below
 * rather than by copying it. Indices are 1-based with column 0 as the search's root.
 */

struct solver {
    const double *cost;
    size_t stride;   /* columns of the stored matrix */
    bool transposed; /* the solver's rows are the stored matrix's columns */
};

static double at(const struct solver *s, size_t row, size_t col)
{
    return s->transposed ? s->cost[col * s->stride + row] : s->cost[row * s->stride + col];
}

/* The work area for k = max(n, m): u, v, minv (doubles), p, way (size_t), an int array
 * the caller may use while solve runs (the transposed answer), used (bool). */
struct work {
    double *u, *v, *minv;
    size_t *p, *way;
    int *ints;
    bool *used;
};

static struct work carve(void *mem, size_t k)
{
    /* laid out in bytes, widest type first, so each array is aligned for its type */
    unsigned char *b = mem;
    size_t n = k + 1;
    struct work w;
    w.u = (double *)(void *)b;
    w.v = w.u + n;
    w.minv = w.v + n;
    b += 3 * n * sizeof(double);
    w.p = (size_t *)(void *)b;
    w.way = w.p + n;
    b += 2 * n * sizeof(size_t);
    w.ints = (int *)(void *)b;
    b += n * sizeof(int);
    w.used = (bool *)b;
    return w;
}

/* Fills col_of_row[0..rows) (0-based, -1 when unassigned) for rows <= cols. */
static void solve(const struct solver *s, size_t rows, size_t cols, void *mem, int *col_of_row)
{
    struct work w = carve(mem, cols);
    double *u = w.u, *v = w.v, *minv = w.minv;
    size_t *p = w.p, *way = w.way;
    bool *used = w.used;
    for (size_t j = 0; j <= cols; j++) {
        u[j] = v[j] = 0;
        p[j] = way[j] = 0;
    }
    for (size_t i = 1; i <= rows; i++) {
        p[0] = i;
        size_t j0 = 0;
        for (size_t j = 0; j <= cols; j++) {
            minv[j] = INFINITY;
            used[j] = false;
        }
        do {
            used[j0] = true;
            size_t i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (size_t j = 1; j <= cols; j++) {
                if (used[j]) {
                    continue;
                }
                double cur = at(s, i0 - 1, j - 1) - u[i0] - v[j];
                if (cur < minv[j]) {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            for (size_t j = 0; j <= cols; j++) {
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (p[j0] != 0);
        do { /* flip the augmenting path */
            size_t j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    for (size_t i = 0; i < rows; i++) {
        col_of_row[i] = -1;
    }
    for (size_t j = 1; j <= cols; j++) {
        if (p[j]) {
            col_of_row[p[j] - 1] = (int)(j - 1);
        }
    }
}

void sk_assign(const double *cost, size_t n, size_t m, double forbid, void *work, int *ret_row)
{
    for (size_t i = 0; i < n; i++) {
        ret_row[i] = -1;
    }
    if (n == 0 || m == 0) {
        return;
    }
    if (n <= m) {
        struct solver s = {cost, m, false};
        solve(&s, n, m, work, ret_row);
    } else {
        /* More rows than columns: assign the columns to rows, then invert. */
        struct solver s = {cost, m, true};
        int *col_row = carve(work, n).ints;
        solve(&s, m, n, work, col_row);
        for (size_t j = 0; j < m; j++) {
            if (col_row[j] >= 0) {
                ret_row[col_row[j]] = (int)j;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (ret_row[i] >= 0 && cost[i * m + (size_t)ret_row[i]] >= forbid) {
            ret_row[i] = -1;
        }
    }
}
