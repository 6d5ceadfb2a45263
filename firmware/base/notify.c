/* SPDX-License-Identifier: MIT */
/* sd_notify written directly to $NOTIFY_SOCKET, and the heartbeat registry. */
#include "storekeeper/notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include "storekeeper/obs.h"

int sk_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !path[0]) {
        return 0;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@')) {
        return -EINVAL;
    }
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@') {
        sa.sun_path[0] = '\0'; /* abstract namespace */
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    int err = n < 0 ? -errno : 1;
    close(fd);
    return err;
}

int64_t sk_notify_watchdog_usec(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    if (!usec) {
        return 0;
    }
    /* systemd sets both; anything that does not parse means no watchdog, not a crash */
    char *end;
    const char *pid = getenv("WATCHDOG_PID");
    if (pid && (strtol(pid, &end, 10) != (long)getpid() || *end)) {
        return 0;
    }
    long long v = strtoll(usec, &end, 10);
    return *end || v < 0 ? 0 : v;
}

struct sk_heartbeat {
    char name[SK_NAME_MAX + 8];
    _Atomic int64_t last_us;
    int64_t limit_us;
    bool used;
};

#define MAX_BEATS 64
static struct sk_heartbeat beats[MAX_BEATS];
static pthread_mutex_t beats_lock = PTHREAD_MUTEX_INITIALIZER;

struct sk_heartbeat *sk_heartbeat_register(const char *name, int64_t limit_us)
{
    struct sk_heartbeat *hb = NULL;
    pthread_mutex_lock(&beats_lock);
    for (size_t i = 0; i < MAX_BEATS; i++) {
        if (!beats[i].used) {
            hb = &beats[i];
            snprintf(hb->name, sizeof(hb->name), "%s", name);
            hb->limit_us = limit_us;
            atomic_store(&hb->last_us, 0);
            hb->used = true;
            break;
        }
    }
    pthread_mutex_unlock(&beats_lock);
    return hb;
}

void sk_heartbeat_unregister(struct sk_heartbeat *hb)
{
    if (!hb) {
        return;
    }
    pthread_mutex_lock(&beats_lock);
    hb->used = false;
    pthread_mutex_unlock(&beats_lock);
}

void sk_heartbeat_beat(struct sk_heartbeat *hb, int64_t now_us)
{
    if (hb) {
        atomic_store_explicit(&hb->last_us, now_us, memory_order_relaxed);
    }
}

void sk_heartbeat_foreach(int64_t now_us, sk_heartbeat_cb cb, void *ctx)
{
    pthread_mutex_lock(&beats_lock);
    for (size_t i = 0; i < MAX_BEATS; i++) {
        if (beats[i].used) {
            int64_t last = atomic_load_explicit(&beats[i].last_us, memory_order_relaxed);
            cb(beats[i].name, last ? now_us - last : -1, beats[i].limit_us, ctx);
        }
    }
    pthread_mutex_unlock(&beats_lock);
}

bool sk_heartbeat_check(int64_t now_us, char *stale_name, size_t size, int64_t *ret_age_us)
{
    bool ok = true;
    pthread_mutex_lock(&beats_lock);
    for (size_t i = 0; i < MAX_BEATS && ok; i++) {
        if (!beats[i].used) {
            continue;
        }
        int64_t last = atomic_load_explicit(&beats[i].last_us, memory_order_relaxed);
        /* A loop that never beat yet counts from registration time 0: give it one limit. */
        if (last == 0) {
            atomic_store(&beats[i].last_us, now_us);
            continue;
        }
        if (now_us - last > beats[i].limit_us) {
            ok = false;
            if (stale_name) {
                snprintf(stale_name, size, "%s", beats[i].name);
            }
            if (ret_age_us) {
                *ret_age_us = now_us - last;
            }
        }
    }
    pthread_mutex_unlock(&beats_lock);
    return ok;
}
