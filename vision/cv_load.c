/* SPDX-License-Identifier: MIT */
/* The vision pipeline's OpenCV calls, forwarded to the module vision-opencv.so, loaded the
 * first time a camera's pipeline needs it. */
#include <stddef.h>

#include "cv_shim.h"
#include "storekeeper/error.h"
#include "storekeeper/module.h"

#define MODULE "vision-opencv"

/* The table, or NULL with the reason in *ret_err. A workspace exists only once the module
 * loaded, so every call after vision_cv_new finds it (sk_module_load keeps it). */
static const struct sk_module *module(int *ret_err)
{
    const struct sk_module *m = NULL;
    int r = sk_module_load(MODULE, &m);
    if (r == 0 && !m->ops) {
        r = SK_EMODULE;
    }
    *ret_err = r;
    return r == 0 ? m : NULL;
}

static const struct vision_cv_ops *ops(void)
{
    int err;
    const struct sk_module *m = module(&err);
    return m ? m->ops : NULL;
}

int vision_cv_new(int width, int height, const struct vision_cv_mog2 *mog2, struct sk_cv **ret_cv)
{
    int err;
    const struct sk_module *m = module(&err);
    if (!m) {
        return err;
    }
    const struct vision_cv_ops *o = m->ops;
    return o->cv_new(width, height, mog2, ret_cv);
}

void vision_cv_free(struct sk_cv *cv)
{
    if (cv) {
        ops()->cv_free(cv);
    }
}

int vision_cv_resize(
        struct sk_cv *cv, const uint8_t *src, int sw, int sh, int sstride, uint8_t *dst)
{
    return cv ? ops()->resize(cv, src, sw, sh, sstride, dst) : SK_EVISION;
}

int vision_cv_background(struct sk_cv *cv, const uint8_t *img, uint8_t *mask, double learning_rate)
{
    return cv ? ops()->background(cv, img, mask, learning_rate) : SK_EVISION;
}

const char *vision_cv_version(void)
{
    int err;
    const struct sk_module *m = module(&err);
    return m && m->library_version ? m->library_version() : NULL;
}
