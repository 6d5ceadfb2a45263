/* SPDX-License-Identifier: MIT */
/* systemd readiness and watchdog notification, and the loop heartbeats that gate the watchdog. */
#ifndef STOREKEEPER_NOTIFY_H
#define STOREKEEPER_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Sends one notification ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=...") to
 * $NOTIFY_SOCKET, written directly as sd_notify(3) does (no libsystemd). Returns 1 when
 * sent, 0 when not running under systemd, or -errno.
 */
int sk_notify(const char *state);

/* The watchdog interval systemd expects ($WATCHDOG_USEC for this pid), or 0 when off. */
int64_t sk_notify_watchdog_usec(void);

/*
 * Heartbeats: every loop that must keep running (core, each bus, each camera, MQTT) owns
 * one and beats it each time it makes progress. The core feeds the systemd watchdog only
 * while every registered heartbeat is younger than its limit, so a stuck loop leads to a
 * restart by systemd, and sk_heartbeat_check() names the loop that stuck.
 */
struct sk_heartbeat;

/* name is copied. Returns NULL when the registry (64 entries) is full. Thread-safe. */
struct sk_heartbeat *sk_heartbeat_register(const char *name, int64_t limit_us);
void sk_heartbeat_unregister(struct sk_heartbeat *hb);
/* Lock-free; call from the owning loop. */
void sk_heartbeat_beat(struct sk_heartbeat *hb, int64_t now_us);
/* Loops stay registered while idle (a bus waiting for reconnect still beats). */

/* Calls cb for every registered heartbeat (age_us: since its last beat, -1 before the first;
 * limit_us: its stall limit), under the registry's lock: cb must not register or log. */
typedef void (*sk_heartbeat_cb)(const char *name, int64_t age_us, int64_t limit_us, void *ctx);
void sk_heartbeat_foreach(int64_t now_us, sk_heartbeat_cb cb, void *ctx);

/* Returns true when every heartbeat is fresh; else copies the first stale name. */
bool sk_heartbeat_check(int64_t now_us, char *stale_name, size_t size, int64_t *ret_age_us);

#endif
