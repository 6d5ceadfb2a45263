/* SPDX-License-Identifier: MIT */
/* What every subcommand shares: exit codes, usage errors, and one option parser (a table). */
#ifndef STOREKEEPER_ARGS_H
#define STOREKEEPER_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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

/*
 * Options are a table, one row per option, ended by a row whose name is NULL. Each row says
 * where the value goes (dest, borrowed) and, for numbers, the range it must be in; the parser
 * (getopt_long underneath) checks the value and names the option and the value as given in
 * every error: `--frames: "99999999999999999999" is not a whole number from 1 to 100000`.
 * "-h" and "--help" are always known. Write rows with the SK_OPT_* macros below.
 */
enum sk_opt_kind {
    SK_OPT_END = 0,
    SK_OPT_FLAG,   /* bool *: set to true, no value */
    SK_OPT_STRING, /* const char **: the argument itself (borrowed from argv) */
    SK_OPT_INT,    /* int *: a whole number in [min, max] */
    SK_OPT_INT64,  /* int64_t *: a whole number in [min, max] */
    SK_OPT_UINT64, /* uint64_t *: a whole number >= 0 */
    SK_OPT_DOUBLE, /* double *: a number in [dmin, dmax], or (dmin, dmax] with above_min */
    SK_OPT_CUSTOM, /* parse(value, dest) returns 0 or a negative errno; `what` names the form */
};

struct sk_opt {
    const char *name; /* long name without "--" */
    int short_name;   /* 'c' for -c, or 0 */
    enum sk_opt_kind kind;
    void *dest;
    int64_t min, max;  /* SK_OPT_INT, SK_OPT_INT64 */
    double dmin, dmax; /* SK_OPT_DOUBLE */
    bool above_min;    /* SK_OPT_DOUBLE: dmin itself is not allowed */
    bool any_base;     /* SK_OPT_INT: 0x1f and 017 too */
    const char *what;  /* SK_OPT_CUSTOM: "a list of unit ids such as 1,2,5-8" */
    int (*parse)(const char *value, void *dest);
};

/* Where a value goes, type-checked (a table row's dest is untyped). */
static inline void *sk_opt_bool_(bool *p)
{
    return p;
}

static inline void *sk_opt_str_(const char **p)
{
    return (void *)p;
}

static inline void *sk_opt_int_(int *p)
{
    return p;
}

static inline void *sk_opt_i64_(int64_t *p)
{
    return p;
}

static inline void *sk_opt_u64_(uint64_t *p)
{
    return p;
}

static inline void *sk_opt_dbl_(double *p)
{
    return p;
}

/* clang-format off */
#define SK_OPT_FLAG(nm_, sh_, d_) \
    {.name = (nm_), .short_name = (sh_), .kind = SK_OPT_FLAG, .dest = sk_opt_bool_(d_)}
#define SK_OPT_STRING(nm_, sh_, d_) \
    {.name = (nm_), .short_name = (sh_), .kind = SK_OPT_STRING, .dest = sk_opt_str_(d_)}
/* A whole number in [lo, hi]. */
#define SK_OPT_INT(nm_, sh_, d_, lo_, hi_) \
    {.name = (nm_), .short_name = (sh_), .kind = SK_OPT_INT, .dest = sk_opt_int_(d_), \
     .min = (lo_), .max = (hi_)}
#define SK_OPT_INT64(nm_, sh_, d_, lo_, hi_) \
    {.name = (nm_), .short_name = (sh_), .kind = SK_OPT_INT64, .dest = sk_opt_i64_(d_), \
     .min = (lo_), .max = (hi_)}
#define SK_OPT_UINT64(nm_, sh_, d_) \
    {.name = (nm_), .short_name = (sh_), .kind = SK_OPT_UINT64, .dest = sk_opt_u64_(d_)}
/* A number in [lo, hi]. */
#define SK_OPT_DOUBLE(nm_, sh_, d_, lo_, hi_) \
    {.name = (nm_), .short_name = (sh_), .kind = SK_OPT_DOUBLE, .dest = sk_opt_dbl_(d_), \
     .dmin = (lo_), .dmax = (hi_)}
/* A number above 0 and at most hi (durations, timeouts). */
#define SK_OPT_POSITIVE(nm_, sh_, d_, hi_) \
    {.name = (nm_), .short_name = (sh_), .kind = SK_OPT_DOUBLE, .dest = sk_opt_dbl_(d_), \
     .dmin = 0, .dmax = (hi_), .above_min = true}
#define SK_OPT_CUSTOM(nm_, sh_, d_, fn_, form_) \
    {.name = (nm_), .short_name = (sh_), .kind = SK_OPT_CUSTOM, .dest = (d_), .parse = (fn_), \
     .what = (form_)}
#define SK_OPT_TABLE_END {.name = NULL}

/* clang-format on */

enum {
    SK_ARGS_OPERANDS_ANY = -1, /* max_operands: no limit */
};

/* What a command's parser knows besides its table. */
struct sk_args {
    const char *cmd;           /* "diag camera": messages begin "storekeeper diag camera: " */
    const char *sub;           /* NULL, or a prefix of every message: "stock" -> "stock: ..." */
    const struct sk_opt *opts; /* the table */
    void (*usage)(FILE *out);  /* printed to stdout on --help; NULL: the caller prints it */
    int max_operands;          /* more is "unexpected argument"; SK_ARGS_OPERANDS_ANY: no limit */
    bool stop_at_operand;      /* options end at the first operand (a subcommand follows) */
};

/* Results of sk_args_parse() other than an operand's index. */
enum {
    SK_ARGS_HELP = -1,  /* --help: usage printed (when set); exit SK_EXIT_OK */
    SK_ARGS_ERROR = -2, /* a usage error, printed; exit SK_EXIT_USAGE */
};

/*
 * Parses argv[1..argc-1] (argv[0] is the command's name) by the table. Returns the index of the
 * first operand (argc when there is none; the operands are argv[index..argc-1], in their
 * order), SK_ARGS_HELP or SK_ARGS_ERROR. Options and operands may be mixed unless
 * stop_at_operand; "--" ends the options. argv is permuted as GNU getopt does (operands moved
 * behind the options), so it can be parsed again. Not thread-safe (getopt).
 */
int sk_args_parse(const struct sk_args *a, int argc, char **argv);

/* The exit code for a negative result of sk_args_parse(): 0 after --help, 2 after an error. */
static inline int sk_args_exit(int r)
{
    return r == SK_ARGS_HELP ? SK_EXIT_OK : SK_EXIT_USAGE;
}

/* The table's number checks, for values found some other way (a list, a range): 0, or -EINVAL
 * (not a number, trailing text) or -ERANGE (outside [min, max]). */
int sk_parse_int64(const char *s, int base, int64_t min, int64_t max, int64_t *ret);
int sk_parse_double(const char *s, double min, double max, double *ret);

#endif
