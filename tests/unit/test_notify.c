/* SPDX-License-Identifier: MIT */
/* systemd notification over a real datagram socket, and the heartbeat registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "storekeeper/notify.h"

static int bind_socket(const char *path, bool abstract)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t len = strlen(path);
    memcpy(sa.sun_path, path, len);
    if (abstract) {
        sa.sun_path[0] = '\0';
    }
    assert_int_equal(bind(fd, (struct sockaddr *)&sa,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
                     0);
    return fd;
}

static void expect_message(int fd, const char *msg)
{
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, msg);
}

static void test_notify_socket(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sk_notify("READY=1"), 0);

    char path[108];
    snprintf(path, sizeof(path), "/tmp/sk-notify-%d", (int)getpid());
    unlink(path);
    int fd = bind_socket(path, false);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(sk_notify("READY=1\nSTATUS=running"), 1);
    expect_message(fd, "READY=1\nSTATUS=running");
    close(fd);
    unlink(path);

    snprintf(path, sizeof(path), "@sk-notify-%d", (int)getpid());
    fd = bind_socket(path, true);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(sk_notify("WATCHDOG=1"), 1);
    expect_message(fd, "WATCHDOG=1");
    close(fd);

    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(sk_notify("READY=1"), -22);
    unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_env(void **state)
{
    (void)state;
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    assert_int_equal(sk_notify_watchdog_usec(), 0);
    setenv("WATCHDOG_USEC", "4000000", 1);
    assert_int_equal(sk_notify_watchdog_usec(), 4000000);
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1); /* meant for another process */
    assert_int_equal(sk_notify_watchdog_usec(), 0);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

static void test_heartbeats(void **state)
{
    (void)state;
    struct sk_heartbeat *a = sk_heartbeat_register("bus:shelf-1", 1000000);
    struct sk_heartbeat *b = sk_heartbeat_register("cam:overhead", 2000000);
    assert_non_null(a);
    assert_non_null(b);
    char name[64] = "";
    int64_t age = 0;
    /* First check starts the clock for loops that never beat. */
    assert_true(sk_heartbeat_check(10000000, name, sizeof(name), &age));
    sk_heartbeat_beat(a, 10500000);
    sk_heartbeat_beat(b, 10500000);
    assert_true(sk_heartbeat_check(11000000, name, sizeof(name), &age));
    /* a stops beating: stale after its 1 s limit, named in the result. */
    sk_heartbeat_beat(b, 11900000);
    assert_false(sk_heartbeat_check(12000000, name, sizeof(name), &age));
    assert_string_equal(name, "bus:shelf-1");
    assert_int_equal(age, 1500000);
    sk_heartbeat_beat(a, 12100000);
    assert_true(sk_heartbeat_check(12200000, name, sizeof(name), &age));
    sk_heartbeat_unregister(a);
    sk_heartbeat_unregister(b);
    /* Unregistered loops no longer count. */
    assert_true(sk_heartbeat_check(99000000, name, sizeof(name), &age));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_notify_socket),
            cmocka_unit_test(test_watchdog_env),
            cmocka_unit_test(test_heartbeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
