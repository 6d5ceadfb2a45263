/* SPDX-License-Identifier: MIT */
/* Enum names from tables (see include/storekeeper/names.h). */
#include "storekeeper/names.h"

const char *sk_name_of(const char *const *names, size_t n, int value, const char *fallback)
{
    return value >= 0 && (size_t)value < n && names[value] ? names[value] : fallback;
}
