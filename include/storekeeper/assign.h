/* SPDX-License-Identifier: MIT */
/* Minimum-cost assignment (the Hungarian method): the tracker's blob-to-track matching and
 * the simulator's checkout-to-visit scoring share this one solver. */
#ifndef STOREKEEPER_ASSIGN_H
#define STOREKEEPER_ASSIGN_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes of scratch space sk_assign needs for an n x m matrix (k = max(n, m)); a constant
 * expression, so a caller with a fixed bound can keep it on the stack. */
#define SK_ASSIGN_WORK_SIZE(k) \
    (((size_t)(k) + 1) * (3 * sizeof(double) + 2 * sizeof(size_t) + sizeof(int) + 1))

/*
 * Assigns rows to columns of the n x m cost matrix (row-major, borrowed) so that the sum of
 * the chosen costs is minimal, each row and column used at most once; then drops every pair
 * whose cost is >= forbid. ret_row[i] is row i's column or -1. work is the caller's scratch
 * of SK_ASSIGN_WORK_SIZE(max(n, m)) bytes, aligned for double (malloc, or a double array):
 * no allocation, so it can run per camera frame. O(min^2 * max) time.
 */
void sk_assign(const double *cost, size_t n, size_t m, double forbid, void *work, int *ret_row);

#endif
