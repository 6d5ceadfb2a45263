/* SPDX-License-Identifier: MIT */
/* `storekeeper version`: this build and the version of each library as it runs here. */
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
#include "storekeeper/vision.h"

/*
 * The versions are asked from the libraries loaded at run time, not taken from the headers
 * the build saw: after an `apt upgrade` of one library the two differ, and a technician
 * comparing a board with a bug report needs what runs. libconfig has no run-time query; its
 * line says so.
 */
struct lib {
    const char *name; /* JSON key and the name printed */
    char version[96]; /* empty: not built in */
    const char *note; /* printed after the version, or NULL */
};

enum {
    N_LIBS = 8
};

static void collect(struct lib libs[N_LIBS])
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
    snprintf(libs[4].version, sizeof(libs[4].version), "%s", sk_vision_opencv_version());
    libs[5].name = "libcamera";
    const char *lc = sk_camera_libcamera_version();
    snprintf(libs[5].version, sizeof(libs[5].version), "%s", lc ? lc : "");
    libs[6].name = "libconfig";
    snprintf(libs[6].version, sizeof(libs[6].version), "%d.%d.%d", LIBCONFIG_VER_MAJOR,
             LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION);
    libs[6].note = "built with; the library has no run-time query";
    libs[7].name = "openssl";
    snprintf(libs[7].version, sizeof(libs[7].version), "%s", OpenSSL_version(OPENSSL_VERSION));
}

/*
 * The capture backends this binary has (built into drivers/, or registered by vision/: the
 * file camera), each with what it captures or decodes with. A part of its own, apart from
 * the libraries: a board package has no file camera, and an installer replaying a clip
 * needs to see that here rather than as a camera that will not open.
 */
#define MAX_BACKENDS 16

static size_t backends(const struct sk_camera_backend *be[MAX_BACKENDS])
{
    sk_vision_register_backends();
    size_t n = sk_camera_backends(be, MAX_BACKENDS);
    return n > MAX_BACKENDS ? MAX_BACKENDS : n;
}

static void add_backends_json(cJSON *o)
{
    const struct sk_camera_backend *be[MAX_BACKENDS];
    size_t n = backends(be);
    cJSON *a = cJSON_AddArrayToObject(o, "capture_backends");
    for (size_t i = 0; a && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", be[i]->name);
        cJSON_AddStringToObject(e, "library", be[i]->library ? be[i]->library : "");
        cJSON_AddItemToArray(a, e);
    }
}

static void print_backends(void)
{
    const struct sk_camera_backend *be[MAX_BACKENDS];
    size_t n = backends(be);
    printf("capture backends built in:\n");
    for (size_t i = 0; i < n; i++) {
        printf("  %-13s %s\n", be[i]->name, be[i]->library ? be[i]->library : "");
    }
    if (!sk_camera_backend_built("file")) {
        printf("  (no file camera: clips need OpenCV video decoding, not in this build)\n");
    }
}

static void print_json(const struct lib libs[N_LIBS])
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
    add_backends_json(o);
    char *s = cJSON_PrintUnformatted(o);
    if (s) {
        printf("%s\n", s);
    }
    cJSON_free(s);
    cJSON_Delete(o);
}

int sk_cmd_version(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: storekeeper version [--json]\n\n"
                   "Prints the version of this build and of each library as loaded at run\n"
                   "time: SQLite, libmodbus, libmosquitto, cJSON, OpenCV, libcamera (\"not\n"
                   "built in\" when absent), libconfig (the version built with) and OpenSSL.\n"
                   "--json: one object, {\"version\", \"git\", \"libraries\": {name: version\n"
                   "or null}, \"capture_backends\": [{name, library}]}. Then the capture\n"
                   "backends built in (the file camera needs OpenCV video decoding).\n"
                   "exit codes: 0 ok, 2 usage error\n");
            return SK_EXIT_OK;
        } else {
            return sk_cli_usage_error("version", "unknown option %s", argv[i]);
        }
    }
    struct lib libs[N_LIBS];
    collect(libs);
    if (json) {
        print_json(libs);
        return SK_EXIT_OK;
    }
    const char *git = SK_GIT_DESCRIBE;
    printf("storekeeper %s%s%s%s\n", SK_VERSION, git[0] ? " (" : "", git, git[0] ? ")" : "");
    printf("libraries:\n");
    for (int i = 0; i < N_LIBS; i++) {
        printf("  %-13s %s%s%s%s\n", libs[i].name,
               libs[i].version[0] ? libs[i].version : "not built in", libs[i].note ? " (" : "",
               libs[i].note ? libs[i].note : "", libs[i].note ? ")" : "");
    }
    print_backends();
    return SK_EXIT_OK;
}
