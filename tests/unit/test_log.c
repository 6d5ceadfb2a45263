/* SPDX-License-Identifier: MIT */
/* Logger tests: line formats, level filter, sanitising, and rate limiting of repeats. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "storekeeper/log.h"

static int pipefd[2];

static int setup(void **state)
{
    (void)state;
    if (pipe2(pipefd, O_NONBLOCK) != 0) {
        return -1;
    }
    sk_log_set_fd(pipefd[1]);
    sk_log_set_level(SK_LOG_INFO);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sk_log_set_fd(2);
    close(pipefd[0]);
    close(pipefd[1]);
    return 0;
}

/* Everything written since the last call. */
static const char *drain(void)
{
    static char buf[8192];
    ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

static void test_formats_and_levels(void **state)
{
    (void)state;
    sk_log_set_format(SK_LOG_FORMAT_JOURNAL);
    sk_log(SK_LOG_WARNING, "bus", "shelf-rs485", "timeout after %d ms", 300);
    assert_string_equal(drain(), "<4>bus shelf-rs485: timeout after 300 ms\n");
    sk_log(SK_LOG_INFO, "core", NULL, "line\nbreak");
    assert_string_equal(drain(), "<6>core: line break\n");

    sk_log_set_format(SK_LOG_FORMAT_PLAIN);
    sk_log(SK_LOG_NOTICE, "core", NULL, "hello");
    const char *out = drain();
    /* 2026-11-21T10:00:00.123Z notice  core: hello */
    assert_int_equal(strlen(out), 24 + 1 + 7 + 1 + strlen("core: hello\n"));
    assert_int_equal(out[10], 'T');
    assert_non_null(strstr(out, " notice  core: hello\n"));

    /* Below the level: not even evaluated. */
    int evaluated = 0;
    sk_log(SK_LOG_DEBUG, "core", NULL, "%d", ++evaluated);
    assert_int_equal(evaluated, 0);
    assert_string_equal(drain(), "");
    sk_log_set_level(SK_LOG_DEBUG);
    sk_log(SK_LOG_DEBUG, "core", NULL, "%d", ++evaluated);
    assert_int_equal(evaluated, 1);
    drain();
    sk_log_set_level(SK_LOG_INFO);

    enum sk_log_level l;
    assert_int_equal(sk_log_level_parse("warning", &l), 0);
    assert_int_equal(l, SK_LOG_WARNING);
    assert_int_equal(sk_log_level_parse("loud", &l), -22);

    /* Long lines are truncated but still end with a newline. */
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sk_log(SK_LOG_ERR, "core", NULL, "%s", big);
    out = drain();
    assert_int_equal(count_lines(out), 1);
    assert_int_equal(out[strlen(out) - 1], '\n');
}

static void test_complain(void **state)
{
    (void)state;
    sk_log_set_format(SK_LOG_FORMAT_JOURNAL);
    struct sk_complain c = SK_COMPLAIN_INIT;
    int64_t t = 1000000;
    /* First occurrence logged, repeats within 10 s suppressed. */
    assert_true(sk_complain(&c, t, SK_LOG_ERR, "bus", "b1", "no reply from unit %d", 4));
    assert_string_equal(drain(), "<3>bus b1: no reply from unit 4\n");
    for (int i = 0; i < 9; i++) {
        assert_false(sk_complain(&c, t + (i + 1) * 1000000, SK_LOG_ERR, "bus", "b1", "x"));
    }
    assert_string_equal(drain(), "");
    /* After 10 s: logged with the count; the next interval doubles to 20 s. */
    assert_true(sk_complain(&c, t + 10000000, SK_LOG_ERR, "bus", "b1", "no reply"));
    assert_string_equal(drain(), "<3>bus b1: no reply (repeated 9 times since last report)\n");
    assert_false(sk_complain(&c, t + 25000000, SK_LOG_ERR, "bus", "b1", "no reply"));
    assert_true(sk_complain(&c, t + 30000000, SK_LOG_ERR, "bus", "b1", "no reply"));
    drain();
    /* Recovery is logged once. */
    sk_complain_release(&c, SK_LOG_NOTICE, "bus", "b1", "replies again");
    sk_complain_release(&c, SK_LOG_NOTICE, "bus", "b1", "replies again");
    assert_string_equal(drain(), "<5>bus b1: replies again\n");
    /* And a new failure is logged at once. */
    assert_true(sk_complain(&c, t + 31000000, SK_LOG_ERR, "bus", "b1", "again"));
    drain();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_formats_and_levels),
            cmocka_unit_test(test_complain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
