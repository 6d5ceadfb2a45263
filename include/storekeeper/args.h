/* SPDX-License-Identifier: MIT */
/* What every subcommand shares: exit codes and the usage-error message. */
#ifndef STOREKEEPER_ARGS_H
#define STOREKEEPER_ARGS_H

/* Exit codes of every command (documented in docs/cli.md and --help). */
enum {
    SK_EXIT_OK = 0,      /* success, or every diagnostic PASS */
    SK_EXIT_FAILURE = 1, /* failure at run time, or a diagnostic FAIL */
    SK_EXIT_USAGE = 2,   /* usage or configuration error */
};

/* Prints "storekeeper CMD: MESSAGE" and a hint to use --help on stderr; returns SK_EXIT_USAGE. */
int sk_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For commands a later issue delivers: says so on stderr and returns SK_EXIT_USAGE. */
int sk_cli_not_built(const char *cmd, const char *what);

#endif
