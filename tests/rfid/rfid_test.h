/* SPDX-License-Identifier: MIT */
/* Helpers of the RFID tests: profiles by name, socat pty pairs, tag sets, waiting for the
 * virtual reader's RF rounds, short sleeps. */
#ifndef SK_RFID_TEST_H
#define SK_RFID_TEST_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "storekeeper/clock.h"
#include "storekeeper/config.h"
#include "storekeeper/profile.h"
#include "storekeeper/reader.h"
#include "storekeeper/vreader.h"

/* A shipped profile (drivers/profiles) or a test profile (tests/rfid/profiles/good). */
static inline struct sk_profile *rt_profile(const char *name)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/drivers/profiles/%s.prof", SK_SOURCE_DIR, name);
    if (access(path, R_OK) != 0) {
        snprintf(path, sizeof(path), "%s/tests/rfid/profiles/good/%s.prof", SK_SOURCE_DIR, name);
    }
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_profile *p = NULL;
    if (sk_profile_load(path, &d, &p) < 0) {
        sk_diag_print(&d, stderr);
        abort();
    }
    sk_diag_free(&d);
    return p;
}

static inline void rt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Waits until the virtual reader v ran n more RF rounds (at most 5 s): a tag added, taken or
 * faulted before the call is then in what its units answer (a round and a change exclude each
 * other). Returns false on the deadline. The wait of these tests instead of a sleep. */
static inline bool rt_wait_rounds(struct sk_vreader *v, uint64_t n)
{
    struct sk_vreader_stats st;
    sk_vreader_get_stats(v, &st);
    uint64_t want = st.rounds + n;
    int64_t end = sk_now_mono_us() + 5000000;
    while (st.rounds < want) {
        if (sk_now_mono_us() > end) {
            return false;
        }
        rt_sleep_ms(1);
        sk_vreader_get_stats(v, &st);
    }
    return true;
}

/* A socat pty pair: dir/a (the simulator's end) and dir/b (the bus's). A cmocka test calls
 * sk_test_require_tool("socat") first: without socat it is skipped, not failed. */
struct rt_pty {
    pid_t pid;
    char a[300], b[300];
};

static inline int rt_pty_start(struct rt_pty *pt, const char *dir)
{
    snprintf(pt->a, sizeof(pt->a), "%s/pty-sim", dir);
    snprintf(pt->b, sizeof(pt->b), "%s/pty-bus", dir);
    char la[340], lb[340];
    snprintf(la, sizeof(la), "pty,raw,echo=0,link=%s", pt->a);
    snprintf(lb, sizeof(lb), "pty,raw,echo=0,link=%s", pt->b);
    pt->pid = fork();
    if (pt->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a test that crashed */
        execlp("socat", "socat", la, lb, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        struct stat st;
        if (stat(pt->a, &st) == 0 && stat(pt->b, &st) == 0) {
            return 0;
        }
        rt_sleep_ms(10);
    }
    return -1;
}

static inline void rt_pty_stop(struct rt_pty *pt)
{
    if (pt->pid > 0) {
        kill(pt->pid, SIGTERM);
        waitpid(pt->pid, NULL, 0);
        pt->pid = 0;
    }
}

/* EPC i of a test population: an SGTIN-96-looking 12-byte id. */
static inline void rt_epc(int i, uint8_t epc[12])
{
    static const uint8_t base[12] = {0x30, 0x74, 0x25, 0x7B, 0xF7, 0x19, 0x4E, 0x40, 0, 0, 0, 0};
    memcpy(epc, base, 12);
    epc[9] = (uint8_t)(i >> 16);
    epc[10] = (uint8_t)(i >> 8);
    epc[11] = (uint8_t)i;
}

#endif
