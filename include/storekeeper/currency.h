/* SPDX-License-Identifier: MIT */
/* ISO 4217: which three-letter codes are currencies, and how many decimals each has. */
#ifndef STOREKEEPER_CURRENCY_H
#define STOREKEEPER_CURRENCY_H

#include <stdbool.h>

/*
 * One table for every place that takes a price: catalog CSV imports, catalog_upsert commands,
 * products written to the ledger, prices printed. It holds the codes of ISO 4217's list of
 * currencies in use with 0, 2 or 3 minor digits; precious metals, testing codes, special
 * drawing rights and the 4-decimal fund codes (CLF, UYW) are not prices a shop charges.
 */

/* The number of decimals (0, 2 or 3) of code, or -1 when it is not such an ISO 4217 code
 * (NULL, not three upper-case letters, or not in the list: "ZZZ", "eur", "HRK"). */
int sk_currency_exponent(const char *code);

static inline bool sk_currency_known(const char *code)
{
    return sk_currency_exponent(code) >= 0;
}

#endif
