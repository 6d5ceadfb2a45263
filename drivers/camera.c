/* SPDX-License-Identifier: MIT */
/* Camera handles: picks the backend's function table by name and forwards to it. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "camera_internal.h"
#include "storekeeper/error.h"

struct sk_camera {
    const struct sk_camera_backend *be;
    void *priv;
};

/* Backends this build has in drivers/; the others are known by name only (SK_ENOTBUILT)
 * until something registers them (the file camera: vision/). */
static const struct sk_camera_backend *const builtin[] = {
        &sk_camera_synthetic,
        &sk_camera_v4l2,
#ifdef SK_HAVE_LIBCAMERA
        &sk_camera_libcamera,
#endif
};
#define N_BUILTIN (sizeof(builtin) / sizeof(builtin[0]))
#define MAX_ADDED 8

/* Registered once at start-up, read by every camera thread afterwards: a lock for the rare
 * write and the reads alike keeps it simple (opening a camera is not a hot path). */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct sk_camera_backend *added[MAX_ADDED];
static size_t n_added;

static const char *const known[] = {"libcamera", "v4l2", "file", "synthetic"};

static const struct sk_camera_backend *lookup(const char *name, int *ret_err)
{
    const struct sk_camera_backend *found = NULL;
    for (size_t i = 0; name && i < N_BUILTIN && !found; i++) {
        if (strcmp(builtin[i]->name, name) == 0) {
            found = builtin[i];
        }
    }
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; name && i < n_added && !found; i++) {
        if (strcmp(added[i]->name, name) == 0) {
            found = added[i];
        }
    }
    pthread_mutex_unlock(&reg_lock);
    if (found) {
        return found;
    }
    *ret_err = -EINVAL;
    for (size_t i = 0; name && i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(known[i], name) == 0) {
            *ret_err = SK_ENOTBUILT;
        }
    }
    return NULL;
}

const char *sk_camera_libcamera_version(void)
{
#ifdef SK_HAVE_LIBCAMERA
    return camera_lc_version();
#else
    return NULL;
#endif
}

int sk_camera_register_backend(const struct sk_camera_backend *be)
{
    if (!be || !be->name || !be->open || !be->capture || !be->close) {
        return -EINVAL;
    }
    int err = 0;
    const struct sk_camera_backend *have = lookup(be->name, &err);
    if (have) {
        return have == be ? 0 : -EEXIST;
    }
    int r = 0;
    pthread_mutex_lock(&reg_lock);
    if (n_added >= MAX_ADDED) {
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
