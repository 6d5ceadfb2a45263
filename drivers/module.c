/* SPDX-License-Identifier: MIT */
/* Loads the modules that wrap large libraries (OpenCV, libcamera) the first time they are
 * needed: dlopen from sk_module_dir(), checked against this build. */
#include "storekeeper/module.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sk_build_info.h"
#include "storekeeper/config.h"
#include "storekeeper/error.h"

/*
 * One slot per module name, filled on the first load and kept: a module is never unloaded
 * (its backend tables and OpenCV's own state live in it), and a failure is remembered too,
 * so a camera that retries its open every few seconds does not dlopen a broken file again
 * and again. Loads are rare (start-up, a camera's first open): one lock for all.
 */
#define MAX_MODULES 8

struct slot {
    char name[32];
    int result;
    const struct sk_module *module;
    char error[PATH_MAX + 256];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[MAX_MODULES];
static size_t n_slots;

static const struct {
    const char *module, *package;
} packages[] = {
        {"status-http", "storekeeper"},
        {"vision-opencv", "storekeeper-camera"},
        {"camera-libcamera", "storekeeper-libcamera"},
        {"camera-file", "none: a source build with libopencv-videoio-dev (SK_WITH_VIDEOIO)"},
};

const char *sk_module_package(const char *name)
{
    for (size_t i = 0; i < sizeof(packages) / sizeof(packages[0]); i++) {
        if (strcmp(packages[i].module, name) == 0) {
            return packages[i].package;
        }
    }
    return "storekeeper-camera";
}

void sk_module_path(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s.so", sk_module_dir(), name);
}

int sk_module_installed(const char *name)
{
    char path[PATH_MAX];
    sk_module_path(name, path, sizeof(path));
    return access(path, R_OK) == 0;
}

static void load(struct slot *s)
{
    char path[PATH_MAX];
    sk_module_path(s->name, path, sizeof(path));
    if (access(path, R_OK) != 0) {
        snprintf(s->error, sizeof(s->error), "%s is not installed", path);
        s->result = SK_ENOMODULE;
        return;
    }
    /* RTLD_LOCAL: its libraries' symbols stay its own; RTLD_NOW: a missing library shows
     * here, not at the first frame. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(s->error, sizeof(s->error), "%s", e ? e : path);
        s->result = SK_EMODULE;
        return;
    }
    const struct sk_module *m = dlsym(h, SK_MODULE_SYMBOL);
    if (!m) {
        snprintf(s->error, sizeof(s->error), "%s: no symbol %s", path, SK_MODULE_SYMBOL);
    } else if (m->abi != SK_MODULE_ABI || m->size != sizeof(*m) || !m->version ||
               strcmp(m->version, SK_VERSION) != 0) {
        snprintf(s->error, sizeof(s->error),
                 "%s is of another build (storekeeper %s, module ABI %u; this is %s, ABI %d)", path,
                 m->version ? m->version : "?", (unsigned)m->abi, SK_VERSION, SK_MODULE_ABI);
    } else {
        s->module = m;
        s->result = 0;
        return;
    }
    dlclose(h);
    s->result = SK_EMODULE;
}

static struct slot *slot_of(const char *name)
{
    for (size_t i = 0; i < n_slots; i++) {
        if (strcmp(slots[i].name, name) == 0) {
            return &slots[i];
        }
    }
    return NULL;
}

int sk_module_load(const char *name, const struct sk_module **ret_module)
{
    if (!name || !name[0] || strlen(name) >= sizeof(slots[0].name) || strchr(name, '/')) {
        return -EINVAL;
    }
    pthread_mutex_lock(&lock);
    struct slot *s = slot_of(name);
    if (!s && n_slots < MAX_MODULES) {
        s = &slots[n_slots++];
        snprintf(s->name, sizeof(s->name), "%s", name);
        load(s);
    }
    int r = s ? s->result : -ENOSPC;
    if (r == 0) {
        *ret_module = s->module;
    }
    pthread_mutex_unlock(&lock);
    return r;
}

const char *sk_module_error(const char *name)
{
    pthread_mutex_lock(&lock);
    struct slot *s = name ? slot_of(name) : NULL;
    const char *e = s ? s->error : "";
    pthread_mutex_unlock(&lock);
    return e;
}
