/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the C tests: temporary files and directories, and skipping a test
 * that cannot run here honestly (reported as skipped by CTest, never as passed). */
#ifndef SK_TEST_HELPERS_H
#define SK_TEST_HELPERS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The exit code of a test program some of whose tests could not run: tests/CMakeLists.txt
 * gives every test SKIP_RETURN_CODE 77 (docs/development.md). */
#define SK_TEST_SKIP_CODE 77

/* Tests of this program that skipped themselves (sk_test_require_tool). */
static int sk_test_skipped;

/* True when name is an executable file in a directory of $PATH. */
static inline bool sk_test_have_tool(const char *name)
{
    const char *path = getenv("PATH");
    char dir[4096];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && n < sizeof(dir) - strlen(name) - 2) {
            snprintf(dir, sizeof(dir), "%.*s/%s", (int)n, path, name);
            if (access(dir, X_OK) == 0) {
                return true;
            }
        }
        path += n + (path[n] == ':');
    }
    return false;
}

/* In a cmocka test that needs the program name: when it is missing, the test is skipped
 * (cmocka's skip()) with the reason, and counted so that sk_test_exit() reports the program
 * as skipped. Under SK_TEST_NO_SKIP=1 (scripts/test.sh: the suite installs every tool) the
 * test fails instead. */
#define sk_test_require_tool(name)                                                            \
    do {                                                                                      \
        if (!sk_test_have_tool(name)) {                                                       \
            const char *no_skip_ = getenv("SK_TEST_NO_SKIP");                                 \
            if (no_skip_ && strcmp(no_skip_, "1") == 0) {                                     \
                fail_msg("%s is not installed (scripts/install-deps.sh --test installs it); " \
                         "SK_TEST_NO_SKIP=1 makes a skip a failure",                          \
                         name);                                                               \
            }                                                                                 \
            print_message("SKIPPED: %s is not installed (scripts/install-deps.sh --test "     \
                          "installs it)\n",                                                   \
                          name);                                                              \
            sk_test_skipped++;                                                                \
            skip();                                                                           \
        }                                                                                     \
    } while (0)

/* The program's exit code from cmocka_run_group_tests()'s count of failures: 1 when a test
 * failed, SK_TEST_SKIP_CODE when none failed but one skipped itself, else 0. */
static inline int sk_test_exit(int failed)
{
    return failed ? 1 : sk_test_skipped ? SK_TEST_SKIP_CODE : 0;
}

/* Creates a fresh directory under $TMPDIR (or /tmp); path must hold 64 bytes. */
static inline void sk_test_tmpdir(char *path, size_t size)
{
    const char *base = getenv("TMPDIR");
    snprintf(path, size, "%s/sk-test-XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        abort();
    }
}

/* Writes text to dir/name and puts the full path in out. */
static inline void
sk_test_write(const char *dir, const char *name, const char *text, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", dir, name);
    FILE *f = fopen(out, "w");
    if (!f) {
        perror(out);
        abort();
    }
    fputs(text, f);
    fclose(f);
}

/* Removes dir and what the tests put in it (flat). */
static inline void sk_test_rmdir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
}

#endif
