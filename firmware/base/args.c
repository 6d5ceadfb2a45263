/* SPDX-License-Identifier: MIT */
/* Command-line helpers every subcommand shares: usage errors, the option table parser. */
#include "storekeeper/args.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPTS_MAX 64 /* rows in one table: more is a programming error */

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

int sk_parse_int64(const char *s, int base, int64_t min, int64_t max, int64_t *ret)
{
    /* strtoll skips blanks and takes a sign; neither has a place in an option value */
    if (!s[0] || s[0] == ' ' || s[0] == '\t') {
        return -EINVAL;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (*end) {
        return -EINVAL;
    }
    if (errno == ERANGE || v < min || v > max) {
        return -ERANGE;
    }
    *ret = v;
    return 0;
}

static int parse_uint64(const char *s, uint64_t *ret)
{
    if (s[0] < '0' || s[0] > '9') {
        return -EINVAL; /* strtoull would take "-1" as 2^64 - 1 */
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end) {
        return -EINVAL;
    }
    if (errno == ERANGE) {
        return -ERANGE;
    }
    *ret = v;
    return 0;
}

int sk_parse_double(const char *s, double min, double max, double *ret)
{
    if (!s[0] || s[0] == ' ' || s[0] == '\t') {
        return -EINVAL;
    }
    char *end;
    double v = strtod(s, &end);
    if (*end || isnan(v)) {
        return -EINVAL;
    }
    if (!(v >= min && v <= max)) {
        return -ERANGE;
    }
    *ret = v;
    return 0;
}

/* Prints "storekeeper CMD: [SUB: ]MESSAGE"; returns SK_ARGS_ERROR. */
__attribute__((format(printf, 2, 3))) static int fail(const struct sk_args *a, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sk_cli_usage_error(a->cmd, "%s%s%s", a->sub ? a->sub : "", a->sub ? ": " : "", msg);
    return SK_ARGS_ERROR;
}

/* Checks and stores one value. Returns 0 or SK_ARGS_ERROR (printed). */
static int take_value(const struct sk_args *a, const struct sk_opt *o, const char *v)
{
    int r = 0;
    switch (o->kind) {
    case SK_OPT_FLAG:
        *(bool *)o->dest = true;
        return 0;
    case SK_OPT_STRING:
        *(const char **)o->dest = v;
        return 0;
    case SK_OPT_INT:
    case SK_OPT_INT64: {
        int64_t n = 0;
        r = sk_parse_int64(v, o->any_base ? 0 : 10, o->min, o->max, &n);
        if (r < 0) {
            return fail(a, "--%s: \"%s\" is not a whole number from %lld to %lld", o->name, v,
                        (long long)o->min, (long long)o->max);
        }
        if (o->kind == SK_OPT_INT) {
            *(int *)o->dest = (int)n;
        } else {
            *(int64_t *)o->dest = n;
        }
        return 0;
    }
    case SK_OPT_UINT64:
        if (parse_uint64(v, o->dest) < 0) {
            return fail(a, "--%s: \"%s\" is not a whole number from 0 to %llu", o->name, v,
                        (unsigned long long)UINT64_MAX);
        }
        return 0;
    case SK_OPT_DOUBLE: {
        double d = 0;
        r = sk_parse_double(v, o->dmin, o->dmax, &d);
        if (r == 0 && o->above_min && d == o->dmin) {
            r = -ERANGE;
        }
        if (r < 0) {
            return fail(a, "--%s: \"%s\" is not a number %s %.15g %s %.15g", o->name, v,
                        o->above_min ? "above" : "from", o->dmin,
                        o->above_min ? "and at most" : "to", o->dmax);
        }
        *(double *)o->dest = d;
        return 0;
    }
    case SK_OPT_CUSTOM:
        if (o->parse(v, o->dest) < 0) {
            return fail(a, "--%s: \"%s\" is not %s", o->name, v, o->what);
        }
        return 0;
    case SK_OPT_END:
        break;
    }
    return fail(a, "--%s: cannot be parsed", o->name);
}

int sk_args_parse(const struct sk_args *a, int argc, char **argv)
{
    struct option longopts[OPTS_MAX + 2];
    char shortopts[3 * OPTS_MAX + 8];
    size_t n = 0, s = 0;
    const struct sk_opt *opts = a->opts; /* never NULL: a command has a table */
    /* '+': options end at the first operand; otherwise getopt_long moves the operands behind
     * the options (argv stays a permutation of itself, so it can be parsed again). */
    if (a->stop_at_operand) {
        shortopts[s++] = '+';
    }
    shortopts[s++] = ':';
    for (; opts[n].name; n++) {
        const struct sk_opt *o = &opts[n];
        if (n == OPTS_MAX) {
            return fail(a, "too many options in the table");
        }
        bool value = o->kind != SK_OPT_FLAG;
        /* getopt_long's val: the row, offset past every short option's character */
        longopts[n] = (struct option){o->name, value ? required_argument : no_argument, NULL,
                                      256 + (int)n};
        if (o->short_name) {
            shortopts[s++] = (char)o->short_name;
            if (value) {
                shortopts[s++] = ':';
            }
        }
    }
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    shortopts[s++] = 'h';
    shortopts[s] = '\0';
    opterr = 0;
    optind = 0; /* glibc: a fresh scan, whatever an earlier parse left behind */
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        const struct sk_opt *o = NULL;
        if (c == 'h') {
            if (a->usage) {
                a->usage(stdout);
            }
            return SK_ARGS_HELP;
        }
        if (c == ':' || c == '?') {
            /* optopt names a short option; a long one is in argv[optind - 1] */
            const char *bad = argv[optind - 1];
            char sh[3] = {'-', (char)optopt, '\0'};
            if (optopt && optopt < 256 && strncmp(bad, "--", 2) != 0) {
                bad = sh;
            }
            return c == ':' ? fail(a, "option %s needs a value", bad)
                            : fail(a, "unknown option %s", bad);
        }
        if (c >= 256) {
            o = &opts[c - 256];
        } else {
            for (size_t k = 0; opts[k].name; k++) {
                if (opts[k].short_name == c) {
                    o = &opts[k];
                }
            }
        }
        if (o && take_value(a, o, optarg) < 0) {
            return SK_ARGS_ERROR;
        }
    }
    int first = optind;
    if (a->max_operands != SK_ARGS_OPERANDS_ANY && argc - first > a->max_operands) {
        return fail(a, "unexpected argument \"%s\"", argv[first + a->max_operands]);
    }
    return first;
}
