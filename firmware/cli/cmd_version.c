/* SPDX-License-Identifier: MIT */
/* `storekeeper version`: this build, the version of each library as it runs here, the modules
 * and capture backends. */
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <libconfig.h>
#include <modbus.h>
#include <mosquitto.h>
#include <sqlite3.h>

#include "sk_build_info.h"
#include "storekeeper/camera.h"
#include "storekeeper/cli.h"
#include "storekeeper/config.h"
#include "storekeeper/module.h"
#include "storekeeper/vision.h"

/*
 * The versions are asked from the libraries loaded at run time, not taken from the headers
 * the build saw: after an `apt upgrade` of one library the two differ, and a technician
 * comparing a board with a bug report needs what runs. libconfig has no run-time query; its
 * line says so. OpenCV, libcamera and libmicrohttpd (the status page's HTTP server) live in
 * modules (storekeeper/module.h) that a plain `version` does not load (it stays a few
 * milliseconds and a few MB): --modules loads them and asks them too.
 */
struct lib {
    const char *name;   /* JSON key and the name printed */
    char version[96];   /* empty: not known (module not loaded, or not installed) */
    const char *note;   /* printed after the version, or NULL */
    const char *module; /* the module it lives in, or NULL */
};

enum {
    N_LIBS = 9
};

/* A module's library version once loaded ("" when it does not load). */
static void module_library_version(const char *module, char *buf, size_t size)
{
    const struct sk_module *m = NULL;
    const char *v =
            sk_module_load(module, &m) == 0 && m->library_version ? m->library_version() : NULL;
    snprintf(buf, size, "%s", v ? v : "");
}

static void collect(struct lib libs[N_LIBS], bool load_modules)
{
    int maj = 0, min = 0, rev = 0;
    memset(libs, 0, sizeof(struct lib) * N_LIBS);
    libs[0].name = "sqlite";
    snprintf(libs[0].version, sizeof(libs[0].version), "%s", sqlite3_libversion());
    libs[1].name = "libmodbus";
    snprintf(libs[1].version, sizeof(libs[1].version), "%u.%u.%u", libmodbus_version_major,
             libmodbus_version_minor, libmodbus_version_micro);
    libs[2].name = "libmosquitto";
    mosquitto_lib_version(&maj, &min, &rev);
    snprintf(libs[2].version, sizeof(libs[2].version), "%d.%d.%d", maj, min, rev);
    libs[3].name = "cjson";
    snprintf(libs[3].version, sizeof(libs[3].version), "%s", cJSON_Version());
    libs[4].name = "opencv";
    libs[4].module = "vision-opencv";
    libs[5].name = "libcamera";
    libs[5].module = "camera-libcamera";
    if (load_modules) {
        const char *cv = sk_vision_opencv_version();
        snprintf(libs[4].version, sizeof(libs[4].version), "%s", cv ? cv : "");
        const char *lc = sk_camera_libcamera_version();
        snprintf(libs[5].version, sizeof(libs[5].version), "%s", lc ? lc : "");
    }
    libs[6].name = "libconfig";
    snprintf(libs[6].version, sizeof(libs[6].version), "%d.%d.%d", LIBCONFIG_VER_MAJOR,
             LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION);
    libs[6].note = "built with; the library has no run-time query";
    libs[7].name = "openssl";
    snprintf(libs[7].version, sizeof(libs[7].version), "%s", OpenSSL_version(OPENSSL_VERSION));
    libs[8].name = "libmicrohttpd";
    libs[8].module = "status-http";
    if (load_modules) {
        module_library_version(libs[8].module, libs[8].version, sizeof(libs[8].version));
    }
}

/* Why a module's library has no version on the line: not asked, not installed, broken. */
static const char *module_state(const char *module, bool loaded_asked)
{
    if (!sk_module_installed(module)) {
        return "not installed";
    }
    if (!loaded_asked) {
        return "installed, not loaded";
    }
    return "does not load";
}

/*
 * The capture backends: built in, or in a module (installed or not), each with what it
 * captures or decodes with once loaded. A part of its own, apart from the libraries: a
 * board package has no file camera, and an installer replaying a clip needs to see that here
 * rather than as a camera that will not open.
 */
#define MAX_BACKENDS 16

struct backend {
    const char *name, *module, *library;
    bool available; /* built in, or its module installed */
};

static size_t backends(struct backend out[MAX_BACKENDS], bool load_modules)
{
    const char *names[MAX_BACKENDS];
    size_t n = sk_camera_backend_names(names, MAX_BACKENDS);
    n = n > MAX_BACKENDS ? MAX_BACKENDS : n;
    const struct sk_camera_backend *have[MAX_BACKENDS];
    for (size_t i = 0; i < n; i++) {
        out[i] = (struct backend){.name = names[i], .module = sk_camera_backend_module(names[i])};
        out[i].available = !out[i].module || sk_module_installed(out[i].module);
        if (load_modules && out[i].module && out[i].available) {
            out[i].available = sk_camera_backend_built(names[i]);
        }
        size_t nh = sk_camera_backends(have, MAX_BACKENDS);
        for (size_t k = 0; k < nh && k < MAX_BACKENDS; k++) {
            if (strcmp(have[k]->name, names[i]) == 0) {
                out[i].library = have[k]->library;
            }
        }
    }
    return n;
}

static void add_backends_json(cJSON *o, bool load_modules)
{
    struct backend be[MAX_BACKENDS];
    size_t n = backends(be, load_modules);
    cJSON *a = cJSON_AddArrayToObject(o, "capture_backends");
    for (size_t i = 0; a && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", be[i].name);
        cJSON_AddStringToObject(e, "library", be[i].library ? be[i].library : "");
        if (be[i].module) {
            cJSON_AddStringToObject(e, "module", be[i].module);
        } else {
            cJSON_AddNullToObject(e, "module");
        }
        cJSON_AddBoolToObject(e, "available", be[i].available);
        cJSON_AddItemToArray(a, e);
    }
}

static void print_backends(bool load_modules)
{
    struct backend be[MAX_BACKENDS];
    size_t n = backends(be, load_modules);
    printf("capture backends:\n");
    for (size_t i = 0; i < n; i++) {
        char where[96];
        if (!be[i].module) {
            snprintf(where, sizeof(where), "built in");
        } else {
            snprintf(where, sizeof(where), "module %s, %s", be[i].module,
                     be[i].available ? (load_modules ? "loaded" : "installed")
                                     : module_state(be[i].module, load_modules));
        }
        printf("  %-13s %s%s%s\n", be[i].name, where, be[i].library ? ": " : "",
               be[i].library ? be[i].library : "");
    }
    if (!sk_module_installed("camera-file")) {
        printf("  (no file camera: clips need OpenCV video decoding, not in this build)\n");
    }
}

static void print_json(const struct lib libs[N_LIBS], bool load_modules)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *l = cJSON_CreateObject();
    if (!o || !l) {
        cJSON_Delete(o);
        cJSON_Delete(l);
        return;
    }
    cJSON_AddStringToObject(o, "version", SK_VERSION);
    cJSON_AddStringToObject(o, "git", SK_GIT_DESCRIBE);
    for (int i = 0; i < N_LIBS; i++) {
        if (libs[i].version[0]) {
            cJSON_AddStringToObject(l, libs[i].name, libs[i].version);
        } else {
            cJSON_AddNullToObject(l, libs[i].name);
        }
    }
    cJSON_AddItemToObject(o, "libraries", l);
    cJSON_AddStringToObject(o, "module_dir", sk_module_dir());
    cJSON *m = cJSON_AddArrayToObject(o, "modules");
    static const char *const modules[] = {"vision-opencv", "camera-libcamera", "camera-file",
                                          "status-http"};
    for (size_t i = 0; m && i < sizeof(modules) / sizeof(modules[0]); i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", modules[i]);
        cJSON_AddBoolToObject(e, "installed", sk_module_installed(modules[i]));
        cJSON_AddStringToObject(e, "package", sk_module_package(modules[i]));
        cJSON_AddItemToArray(m, e);
    }
    add_backends_json(o, load_modules);
    char *s = cJSON_PrintUnformatted(o);
    if (s) {
        printf("%s\n", s);
    }
    cJSON_free(s);
    cJSON_Delete(o);
}

int sk_cmd_version(int argc, char **argv)
{
    bool json = false, load_modules = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--modules") == 0) {
            load_modules = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: storekeeper version [--modules] [--json]\n\n"
                   "Prints the version of this build and of each library as loaded at run\n"
                   "time: SQLite, libmodbus, libmosquitto, cJSON, OpenCV, libcamera, libconfig\n"
                   "(the version built with), OpenSSL and libmicrohttpd; then the capture\n"
                   "backends, built in or in a module (the file camera needs OpenCV video\n"
                   "decoding). OpenCV and libcamera live in modules, loaded only when a\n"
                   "camera needs them, libmicrohttpd in one loaded only for the status page:\n"
                   "their lines say whether the module is installed.\n"
                   "  --modules  load the installed modules and print their libraries'\n"
                   "             versions too (what a bug report wants)\n"
                   "  --json     one object, {\"version\", \"git\", \"libraries\": {name:\n"
                   "             version or null}, \"module_dir\", \"modules\": [{name,\n"
                   "             installed, package}], \"capture_backends\": [{name, library,\n"
                   "             module, available}]}\n"
                   "exit codes: 0 ok, 2 usage error\n");
            return SK_EXIT_OK;
        } else {
            return sk_cli_usage_error("version", "unknown option %s", argv[i]);
        }
    }
    struct lib libs[N_LIBS];
    collect(libs, load_modules);
    if (json) {
        print_json(libs, load_modules);
        return SK_EXIT_OK;
    }
    const char *git = SK_GIT_DESCRIBE;
    printf("storekeeper %s%s%s%s\n", SK_VERSION, git[0] ? " (" : "", git, git[0] ? ")" : "");
    printf("libraries:\n");
    for (int i = 0; i < N_LIBS; i++) {
        if (!libs[i].version[0] && libs[i].module) {
            printf("  %-13s module %s (%s%s)\n", libs[i].name, libs[i].module,
                   module_state(libs[i].module, load_modules),
                   !load_modules && sk_module_installed(libs[i].module) ? "; --modules loads it"
                                                                        : "");
            continue;
        }
        printf("  %-13s %s%s%s%s\n", libs[i].name, libs[i].version, libs[i].note ? " (" : "",
               libs[i].note ? libs[i].note : "", libs[i].note ? ")" : "");
    }
    printf("modules: %s\n", sk_module_dir());
    print_backends(load_modules);
    return SK_EXIT_OK;
}
