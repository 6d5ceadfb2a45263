/* SPDX-License-Identifier: MIT */
/* Option table tests: values in and out of range (the message names the option and the value
 * as given), operands mixed with options, "--", stop at the first operand, quiet look. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "storekeeper/args.h"

struct vals {
    bool json;
    const char *config;
    int frames;
    int64_t after;
    uint64_t seed;
    double timeout;
    int units;
};

static int parse_units(const char *v, void *dest)
{
    if (strcmp(v, "1-4") != 0) {
        return -1;
    }
    *(int *)dest = 4;
    return 0;
}

static char err_text[4096];

/* Runs the parser on a copy of the words with stderr caught in err_text. */
static int run(struct vals *v, int max_operands, bool stop, char ***ret_argv, const char *words)
{
    static char buf[512];
    static char *argv[32];
    snprintf(buf, sizeof(buf), "%s", words);
    int argc = 0;
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        argv[argc++] = t;
    }
    argv[argc] = NULL;
    const struct sk_opt opts[] = {
            SK_OPT_FLAG("json", 0, &v->json),
            SK_OPT_STRING("config", 'c', &v->config),
            SK_OPT_INT("frames", 'f', &v->frames, 1, 100000),
            SK_OPT_INT64("after", 0, &v->after, 0, INT64_MAX),
            SK_OPT_UINT64("seed", 0, &v->seed),
            SK_OPT_POSITIVE("timeout", 0, &v->timeout, 600),
            SK_OPT_CUSTOM("units", 'u', &v->units, parse_units, "a range such as 1-4"),
            SK_OPT_TABLE_END,
    };
    struct sk_args a = {
            .cmd = "test", .opts = opts, .max_operands = max_operands, .stop_at_operand = stop};
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    int r = sk_args_parse(&a, argc, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(err_text, 1, sizeof(err_text) - 1, tmp);
    err_text[n] = '\0';
    fclose(tmp);
    *ret_argv = argv;
    return r;
}

static void test_values(void **state)
{
    (void)state;
    struct vals v = {0};
    char **argv;
    int r = run(&v, 0, false, &argv,
                "cmd --json -c a.cfg --frames=12 --after 9223372036854775807 --seed "
                "18446744073709551615 --timeout 0.5 -u 1-4");
    assert_int_equal(r, 13);
    assert_true(v.json);
    assert_string_equal(v.config, "a.cfg");
    assert_int_equal(v.frames, 12);
    assert_true(v.after == INT64_MAX);
    assert_true(v.seed == UINT64_MAX);
    assert_true(v.timeout == 0.5);
    assert_int_equal(v.units, 4);
    assert_string_equal(err_text, "");
}

static void expect_error(const char *words, const char *message)
{
    struct vals v = {0};
    char **argv;
    assert_int_equal(run(&v, 1, false, &argv, words), SK_ARGS_ERROR);
    if (!strstr(err_text, message)) {
        fail_msg("\"%s\": expected \"%s\" in \"%s\"", words, message, err_text);
    }
}

static void test_errors(void **state)
{
    (void)state;
    /* a huge number is named as written, not as what strtol made of it */
    expect_error("cmd --frames 99999999999999999999",
                 "storekeeper test: --frames: \"99999999999999999999\" is not a whole number "
                 "from 1 to 100000");
    expect_error("cmd -f 0", "--frames: \"0\" is not a whole number from 1 to 100000");
    expect_error("cmd --frames 12x", "--frames: \"12x\" is not");
    expect_error("cmd --frames=", "--frames: \"\" is not a whole number");
    expect_error("cmd --frames", "option --frames needs a value");
    expect_error("cmd --after -1", "--after: \"-1\" is not a whole number from 0 to");
    expect_error("cmd --seed -1", "--seed: \"-1\" is not a whole number from 0 to");
    expect_error("cmd --seed 99999999999999999999999", "--seed: \"99999999999999999999999\"");
    expect_error("cmd --timeout 0", "--timeout: \"0\" is not a number above 0 and at most 600");
    expect_error("cmd --timeout nan", "--timeout: \"nan\" is not");
    expect_error("cmd --timeout 601", "--timeout: \"601\"");
    expect_error("cmd -u 5", "--units: \"5\" is not a range such as 1-4");
    expect_error("cmd --bogus", "unknown option --bogus");
    expect_error("cmd -x", "unknown option -x");
    expect_error("cmd -c", "option -c needs a value");
    expect_error("cmd --config", "option --config needs a value");
    expect_error("cmd a b", "unexpected argument \"b\"");
    expect_error("cmd a -- b", "unexpected argument \"b\"");
    assert_non_null(strstr(err_text, "Try `storekeeper test --help`"));
}

static void test_operands(void **state)
{
    (void)state;
    struct vals v = {0};
    char **argv;
    /* options after operands still count; the operands end up in order at the end */
    int r = run(&v, SK_ARGS_OPERANDS_ANY, false, &argv, "cmd one --json two -c x three");
    assert_int_equal(r, 4);
    assert_true(v.json);
    assert_string_equal(v.config, "x");
    assert_string_equal(argv[4], "one");
    assert_string_equal(argv[5], "two");
    assert_string_equal(argv[6], "three");
    /* "--": what follows is an operand even if it looks like an option */
    v = (struct vals){0};
    r = run(&v, SK_ARGS_OPERANDS_ANY, false, &argv, "cmd a -- --json");
    assert_int_equal(r, 2);
    assert_false(v.json);
    assert_string_equal(argv[2], "a");
    assert_string_equal(argv[3], "--json");
    /* a subcommand follows: its options are not ours */
    v = (struct vals){0};
    r = run(&v, SK_ARGS_OPERANDS_ANY, true, &argv, "cmd --json stock --bogus");
    assert_int_equal(r, 2);
    assert_string_equal(argv[2], "stock");
    assert_string_equal(argv[3], "--bogus");
    /* none: the index is argc */
    r = run(&v, 0, false, &argv, "cmd --json");
    assert_int_equal(r, 2);
    /* a second parse starts afresh */
    r = run(&v, 0, false, &argv, "cmd --frames 3");
    assert_int_equal(r, 3);
    assert_int_equal(v.frames, 3);
}

static void test_help(void **state)
{
    (void)state;
    struct vals v = {0};
    char **argv;
    assert_int_equal(run(&v, 0, false, &argv, "cmd --frames 2 --help --bogus"), SK_ARGS_HELP);
    assert_int_equal(run(&v, 0, false, &argv, "cmd -h"), SK_ARGS_HELP);
    assert_int_equal(sk_args_exit(SK_ARGS_HELP), SK_EXIT_OK);
    assert_int_equal(sk_args_exit(SK_ARGS_ERROR), SK_EXIT_USAGE);
}

static void test_parse_numbers(void **state)
{
    (void)state;
    int64_t n;
    double d;
    assert_int_equal(sk_parse_int64("0x1f", 0, 0, 100, &n), 0);
    assert_int_equal(n, 31);
    assert_int_equal(sk_parse_int64("0x1f", 10, 0, 100, &n), -EINVAL);
    assert_int_equal(sk_parse_int64(" 5", 10, 0, 100, &n), -EINVAL);
    assert_int_equal(sk_parse_int64("", 10, 0, 100, &n), -EINVAL);
    assert_int_equal(sk_parse_int64("101", 10, 0, 100, &n), -ERANGE);
    assert_int_equal(sk_parse_int64("-9223372036854775809", 10, INT64_MIN, 0, &n), -ERANGE);
    assert_int_equal(sk_parse_double("1e3", 0, 1000, &d), 0);
    assert_true(d == 1000);
    assert_int_equal(sk_parse_double("inf", 0, 1000, &d), -ERANGE);
    assert_int_equal(sk_parse_double("1,5", 0, 1000, &d), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_values),        cmocka_unit_test(test_errors),
            cmocka_unit_test(test_operands),      cmocka_unit_test(test_help),
            cmocka_unit_test(test_parse_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
