/* SPDX-License-Identifier: MIT */
/* Names of enum values for payloads, logs and reports, kept as tables rather than switches. */
#ifndef STOREKEEPER_NAMES_H
#define STOREKEEPER_NAMES_H

#include <stddef.h>

/*
 * names is indexed by the enum ({[SK_X] = "x", ...}); a value outside it, or one the table
 * leaves out, gets fallback (which may be NULL).
 */
const char *sk_name_of(const char *const *names, size_t n, int value, const char *fallback);

#define SK_NAME_OF(names, value, fallback) \
    sk_name_of((names), sizeof(names) / sizeof((names)[0]), (value), (fallback))

#endif
