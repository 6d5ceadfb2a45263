/* SPDX-License-Identifier: MIT */
/* Camera handles: picks the backend's function table by name (loading its module when it has
 * one) and forwards to it. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "camera_internal.h"
#include "storekeeper/error.h"
#include "storekeeper/module.h"

struct sk_camera {
    const struct sk_camera_backend *be;
    void *priv;
};

/* Backends built into drivers/ (plain C, no outside library). */
static const struct sk_camera_backend *const builtin[] = {
        &sk_camera_synthetic,
        &sk_camera_v4l2,
};
#define N_BUILTIN (sizeof(builtin) / sizeof(builtin[0]))
#define MAX_ADDED 8

/* Registered or loaded at start-up, read by every camera thread afterwards: a lock for the
 * rare write and the reads alike keeps it simple (opening a camera is not a hot path). */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct sk_camera_backend *added[MAX_ADDED];
static size_t n_added;

/* Every backend name, and the module (storekeeper/module.h) of those that need a large
 * library: loaded the first time a camera of that kind is opened or checked, never before. */
static const struct {
    const char *name, *module;
} known[] = {
        {"libcamera", "camera-libcamera"},
        {"v4l2", NULL},
        {"file", "camera-file"},
        {"synthetic", NULL},
};

#define N_KNOWN (sizeof(known) / sizeof(known[0]))

static const struct sk_camera_backend *find(const char *name)
{
    const struct sk_camera_backend *found = NULL;
    for (size_t i = 0; i < N_BUILTIN && !found; i++) {
        if (strcmp(builtin[i]->name, name) == 0) {
            found = builtin[i];
        }
    }
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < n_added && !found; i++) {
        if (strcmp(added[i]->name, name) == 0) {
            found = added[i];
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return found;
}

const char *sk_camera_backend_module(const char *backend)
{
    for (size_t i = 0; backend && i < N_KNOWN; i++) {
        if (strcmp(known[i].name, backend) == 0) {
            return known[i].module;
        }
    }
    return NULL;
}

size_t sk_camera_backend_names(const char **ret_names, size_t max)
{
    for (size_t i = 0; i < N_KNOWN && i < max; i++) {
        ret_names[i] = known[i].name;
    }
    return N_KNOWN;
}

/* The backend's table: built in, registered, or loaded from its module now. Errors: -EINVAL
 * for a name nobody knows, SK_ENOMODULE / SK_EMODULE for a module missing or broken. */
static const struct sk_camera_backend *lookup(const char *name, int *ret_err)
{
    if (!name) {
        *ret_err = -EINVAL;
        return NULL;
    }
    const struct sk_camera_backend *found = find(name);
    if (found) {
        return found;
    }
    const char *module = sk_camera_backend_module(name);
    if (!module) {
        *ret_err = -EINVAL;
        return NULL;
    }
    const struct sk_module *m;
    int r = sk_module_load(module, &m);
    if (r < 0) {
        *ret_err = r;
        return NULL;
    }
    if (!m->camera || strcmp(m->camera->name, name) != 0) {
        *ret_err = SK_EMODULE;
        return NULL;
    }
    r = sk_camera_register_backend(m->camera);
    if (r < 0) {
        *ret_err = r;
        return NULL;
    }
    return m->camera;
}

const char *sk_camera_libcamera_version(void)
{
    const struct sk_module *m;
    if (sk_module_load("camera-libcamera", &m) < 0 || !m->library_version) {
        return NULL;
    }
    return m->library_version();
}

int sk_camera_register_backend(const struct sk_camera_backend *be)
{
    if (!be || !be->name || !be->open || !be->capture || !be->close) {
        return -EINVAL;
    }
    int r = 0;
    pthread_mutex_lock(&reg_lock);
    const struct sk_camera_backend *have = NULL;
    for (size_t i = 0; i < n_added && !have; i++) {
        have = strcmp(added[i]->name, be->name) == 0 ? added[i] : NULL;
    }
    for (size_t i = 0; i < N_BUILTIN && !have; i++) {
        have = strcmp(builtin[i]->name, be->name) == 0 ? builtin[i] : NULL;
    }
    if (have) {
        r = have == be ? 0 : -EEXIST;
    } else if (n_added >= MAX_ADDED) {
        r = -ENOSPC;
    } else {
        added[n_added++] = be;
    }
    pthread_mutex_unlock(&reg_lock);
    return r;
}

size_t sk_camera_backends(const struct sk_camera_backend **ret, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < N_BUILTIN; i++, n++) {
        if (n < max) {
            ret[n] = builtin[i];
        }
    }
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < n_added; i++, n++) {
        if (n < max) {
            ret[n] = added[i];
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return n;
}

bool sk_camera_backend_built(const char *backend)
{
    int err;
    return lookup(backend, &err) != NULL;
}

int sk_camera_open(const struct sk_camera_params *params, struct sk_camera **ret_cam)
{
    if (!params || !ret_cam || !params->backend) {
        return -EINVAL;
    }
    if (params->width < 0 || params->height < 0 || params->width > 8192 || params->height > 8192 ||
        params->fps < 0 || params->fps > 240) {
        return -EINVAL;
    }
    int err = 0;
    const struct sk_camera_backend *be = lookup(params->backend, &err);
    if (!be) {
        return err;
    }
    struct sk_camera *cam = calloc(1, sizeof(*cam));
    if (!cam) {
        return -ENOMEM;
    }
    int r = be->open(params, &cam->priv);
    if (r < 0) {
        free(cam);
        return r;
    }
    cam->be = be;
    *ret_cam = cam;
    return 0;
}

void sk_camera_close(struct sk_camera *cam)
{
    if (!cam) {
        return;
    }
    cam->be->close(cam->priv);
    free(cam);
}

int sk_camera_capture(struct sk_camera *cam, int timeout_ms, struct sk_frame *ret_frame)
{
    if (!cam || !ret_frame) {
        return -EINVAL;
    }
    return cam->be->capture(cam->priv, timeout_ms, ret_frame);
}

const char *sk_camera_backend(const struct sk_camera *cam)
{
    return cam ? cam->be->name : "none";
}

int sk_camera_enumerate(const char *backend, struct sk_camera_info *ret_infos, size_t max)
{
    int err = 0;
    const struct sk_camera_backend *be = lookup(backend, &err);
    if (!be) {
        return err;
    }
    return be->enumerate ? be->enumerate(ret_infos, max) : 0;
}
