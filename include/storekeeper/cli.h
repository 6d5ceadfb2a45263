/* SPDX-License-Identifier: MIT */
/* Entry points of the storekeeper subcommands, and the exit codes they share. */
#ifndef STOREKEEPER_CLI_H
#define STOREKEEPER_CLI_H

/* Exit codes of every command (documented in docs/cli.md and --help). */
enum {
    SK_EXIT_OK = 0,      /* success, or every diagnostic PASS */
    SK_EXIT_FAILURE = 1, /* failure at run time, or a diagnostic FAIL */
    SK_EXIT_USAGE = 2,   /* usage or configuration error */
};

/* Each takes the arguments after the command name (argv[0] is the command). */
int sk_cmd_run(int argc, char **argv);
int sk_cmd_version(int argc, char **argv);
int sk_cmd_diag(int argc, char **argv);
int sk_cmd_ledger(int argc, char **argv);
int sk_cmd_replay(int argc, char **argv);
int sk_cmd_sim(int argc, char **argv);

/* Prints "storekeeper CMD: MESSAGE" and a hint to use --help on stderr; returns SK_EXIT_USAGE. */
int sk_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For commands a later issue delivers: says so on stderr and returns SK_EXIT_USAGE. */
int sk_cli_not_built(const char *cmd, const char *what);

#endif
