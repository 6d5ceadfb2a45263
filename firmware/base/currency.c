/* SPDX-License-Identifier: MIT */
/* The ISO 4217 table: currency codes in use and their minor units (include/storekeeper/currency.h).
 */
#include "storekeeper/currency.h"

#include <stdlib.h>
#include <string.h>

/* ISO 4217 List One, the currencies and funds in use (2024), sorted by code: the minor units
 * of those with 0 and 3 decimals, 2 for the rest. Kept short on purpose: a code is either
 * here or refused. */
static const char codes[][4] = {
        "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
        "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
        "CAD", "CDF", "CHE", "CHF", "CHW", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE",
        "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL",
        "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR",
        "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD",
        "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK",
        "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO",
        "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON",
        "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS",
        "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD",
        "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UZS", "VED", "VES", "VND", "VUV",
        "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
};

static const char *const zero = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF "
                                "XOF XPF";
static const char *const three = "BHD IQD JOD KWD LYD OMR TND";

static int compare(const void *a, const void *b)
{
    return strcmp(a, b);
}

static bool in_list(const char *list, const char *code)
{
    for (const char *p = list; *p; p += p[3] ? 4 : 3) {
        if (memcmp(p, code, 3) == 0) {
            return true;
        }
    }
    return false;
}

int sk_currency_exponent(const char *code)
{
    if (!code || strlen(code) != 3 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' ||
        code[1] > 'Z' || code[2] < 'A' || code[2] > 'Z') {
        return -1;
    }
    if (!bsearch(code, codes, sizeof(codes) / sizeof(codes[0]), sizeof(codes[0]), compare)) {
        return -1;
    }
    return in_list(zero, code) ? 0 : in_list(three, code) ? 3 : 2;
}
