/* SPDX-License-Identifier: MIT */
/* Loadable modules: the parts that need large libraries (OpenCV, libcamera, libmicrohttpd),
 * loaded only when the configuration uses them. */
#ifndef STOREKEEPER_MODULE_H
#define STOREKEEPER_MODULE_H

#include <stddef.h>
#include <stdint.h>

/*
 * A daemon without cameras (and without the status page), and every subcommand that opens
 * none, never maps OpenCV, libcamera, the C++ runtime (or libmicrohttpd and GnuTLS): those
 * live in shared objects in sk_module_dir() (the package installs them under the library
 * directory, as mosquitto and collectd keep their plugins), dlopen'd the first time
 * something needs them:
 *
 *   vision-opencv.so     the OpenCV calls of the vision pipeline (vision/cv_shim.cpp)
 *   camera-libcamera.so  the libcamera capture backend (drivers/cam_libcamera.cpp)
 *   camera-file.so       the file camera, OpenCV video decoding (vision/cam_file.cpp)
 *   status-http.so       the status page's HTTP server, libmicrohttpd and the GnuTLS it
 *                        links (firmware/services/status_mhd.c), when http.enabled is on
 *
 * Each exports one `const struct sk_module sk_module`; a module of another build (another
 * SK_MODULE_ABI, size or storekeeper version) is refused. A loaded module stays loaded.
 */

#define SK_MODULE_ABI    1
#define SK_MODULE_SYMBOL "sk_module"

struct sk_camera_backend;

struct sk_module {
    uint32_t abi;                           /* SK_MODULE_ABI of its build */
    uint32_t size;                          /* sizeof(struct sk_module) of its build */
    const char *name;                       /* its file name without ".so" */
    const char *version;                    /* the storekeeper version it was built with */
    const struct sk_camera_backend *camera; /* a capture backend, or NULL */
    const void *ops; /* a function table only its user knows (vision's OpenCV calls), or NULL */
    /* The library it wraps as loaded at run time, e.g. "4.6.0"; static string. */
    const char *(*library_version)(void);
};

/*
 * Loads NAME (a file NAME.so in sk_module_dir()) once. Returns 0 and the module (static,
 * never unloaded), SK_ENOMODULE when the file is missing, or SK_EMODULE when it does not
 * load or is of another build: sk_module_error() then says why. Thread-safe.
 */
int sk_module_load(const char *name, const struct sk_module **ret_module);

/* True when NAME.so is in sk_module_dir() (loads nothing). */
int sk_module_installed(const char *name);

/* The full path NAME would be loaded from, into buf. */
void sk_module_path(const char *name, char *buf, size_t size);

/* Why the last failed sk_module_load of NAME failed (dlerror's text or the mismatch), or "";
 * static per module name, valid until the next load of that name. */
const char *sk_module_error(const char *name);

/* The Debian package that installs NAME ("storekeeper-camera"), for messages. */
const char *sk_module_package(const char *name);

#endif
