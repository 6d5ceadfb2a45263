/* SPDX-License-Identifier: MIT */
/* Captures frames through the V4L2 backend: run inside a qemu-booted kernel with vivid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camera_internal.h"
#include "storekeeper/error.h"

/*
 * Built static (no shared libraries in the test's initramfs) from the V4L2 backend's own
 * source, and called through its function table as camera.c does. Prints one line the test
 * parses: "v4l2_probe: N frames WxH seq A..B mean M" and exits 0, or the error and 1.
 */
int main(int argc, char **argv)
{
    const char *dev = argc > 1 ? argv[1] : "/dev/video0";
    int want = argc > 2 ? atoi(argv[2]) : 20;
    struct sk_camera_info infos[8];
    int n = sk_camera_v4l2.enumerate(infos, 8);
    for (int i = 0; i < n && i < 8; i++) {
        printf("v4l2_probe: found %s \"%s\" (%s)\n", infos[i].id, infos[i].model, infos[i].driver);
    }
    struct sk_camera_params p = {
            .backend = "v4l2", .device = dev, .width = 640, .height = 480, .fps = 15};
    void *cam = NULL;
    int r = sk_camera_v4l2.open(&p, &cam);
    if (r < 0) {
        printf("v4l2_probe: open %s failed: %d\n", dev, r);
        return 1;
    }
    int got = 0, w = 0, h = 0;
    uint64_t first = 0, last = 0;
    double mean = 0;
    for (int i = 0; i < want * 3 && got < want; i++) {
        struct sk_frame f;
        r = sk_camera_v4l2.capture(cam, 2000, &f);
        if (r < 0) {
            printf("v4l2_probe: capture failed: %d\n", r);
            continue;
        }
        if (got == 0) {
            first = f.seq;
        }
        last = f.seq;
        w = f.width;
        h = f.height;
        uint64_t sum = 0;
        for (int y = 0; y < f.height; y++) {
            for (int x = 0; x < f.width; x++) {
                sum += f.data[(size_t)y * (size_t)f.stride + (size_t)x];
            }
        }
        mean = (double)sum / ((double)f.width * f.height);
        got++;
    }
    sk_camera_v4l2.close(cam);
    printf("v4l2_probe: %d frames %dx%d seq %llu..%llu mean %.1f\n", got, w, h,
           (unsigned long long)first, (unsigned long long)last, mean);
    return got == want ? 0 : 1;
}
