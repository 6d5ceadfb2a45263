/* SPDX-License-Identifier: MIT */
/* Command-line helpers every subcommand shares: usage errors, commands not built. */
#include "storekeeper/args.h"

#include <stdarg.h>
#include <stdio.h>

int sk_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "storekeeper %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry `storekeeper %s --help`.\n", cmd);
    va_end(ap);
    return SK_EXIT_USAGE;
}

int sk_cli_not_built(const char *cmd, const char *what)
{
    fprintf(stderr, "storekeeper %s: not available in this version: %s\n", cmd, what);
    return SK_EXIT_USAGE;
}
