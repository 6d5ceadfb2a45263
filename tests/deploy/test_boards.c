/* SPDX-License-Identifier: MIT */
/* Board profiles: each loads, is consistent, is selectable from a store file (with a bus on
 * every serial port it names), and is documented in docs/boards.md. */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../unit/test_helpers.h"
#include "storekeeper/config.h"

#define EXPECTED_BOARDS 5

static const char *const pi_boards[] = {"rpi4", "rpi5", "cm4"};

static bool is_pi(const char *name)
{
    for (size_t i = 0; i < sizeof(pi_boards) / sizeof(pi_boards[0]); i++) {
        if (strcmp(name, pi_boards[i]) == 0) {
            return true;
        }
    }
    return false;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[256 * 1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void load_board(const char *path, struct sk_board_cfg *b)
{
    struct sk_diag d;
    sk_diag_init(&d);
    if (sk_board_load(path, &d, b) < 0) {
        sk_diag_print(&d, stderr);
        fail_msg("%s does not load", path);
    }
    sk_diag_free(&d);
}

/* Every profile is internally consistent: what the loader cannot know about boards. */
static void test_profiles_consistent(void **state)
{
    (void)state;
    glob_t g;
    assert_int_equal(glob(SK_SOURCE_DIR "/boards/*.cfg", 0, NULL, &g), 0);
    assert_int_equal(g.gl_pathc, EXPECTED_BOARDS);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct sk_board_cfg b;
        load_board(g.gl_pathv[i], &b);
        print_message("board %-12s %zu serial port(s), camera %s %dx%d@%d, vision %dx%d@%d\n",
                      b.name, b.n_serial_ports, b.camera_backend, b.camera_width, b.camera_height,
                      b.camera_fps, b.vision_width, b.vision_height, b.vision_max_fps);
        assert_true(b.description[0] != '\0');
        /* Vision never asks for more than the camera delivers. */
        assert_true(b.vision_width <= b.camera_width);
        assert_true(b.vision_height <= b.camera_height);
        assert_true(b.vision_max_fps <= b.camera_fps);
        assert_true(b.max_cameras >= 1);
        for (size_t p = 0; p < b.n_serial_ports; p++) {
            const struct sk_serial_port_cfg *sp = &b.serial_ports[p];
            if (strncmp(sp->device, "/dev/", 5) != 0) {
                fail_msg("%s: serial port %s: device %s is not under /dev", b.name, sp->name,
                         sp->device);
            }
            /* Technicians wire from these notes. */
            assert_true(sp->description[0] != '\0');
            for (size_t q = 0; q < p; q++) {
                assert_string_not_equal(sp->name, b.serial_ports[q].name);
                /* Two names for one device only when they differ in direction control. */
                if (strcmp(sp->device, b.serial_ports[q].device) == 0) {
                    assert_true(sp->rs485 != b.serial_ports[q].rs485);
                }
            }
        }
        if (is_pi(b.name)) {
            /* The Pis use their PL011 UARTs (parity for 8E1; the mini UART has none) and
             * libcamera. */
            bool pl011 = false;
            for (size_t p = 0; p < b.n_serial_ports; p++) {
                pl011 |= strncmp(b.serial_ports[p].device, "/dev/ttyAMA", 11) == 0;
                if (strncmp(b.serial_ports[p].device, "/dev/ttyS", 9) == 0) {
                    fail_msg("%s: %s is the mini UART, which has no parity", b.name,
                             b.serial_ports[p].device);
                }
            }
            assert_true(pl011);
            assert_string_equal(b.camera_backend, "libcamera");
        }
        if (strcmp(b.name, "sim") == 0) {
            assert_int_equal(b.n_serial_ports, 0);
            assert_string_equal(b.camera_backend, "synthetic");
        }
        sk_board_free(&b);
    }
    globfree(&g);
}

/* Each board is selected by name from a store file, and every serial port name it has works
 * in a bus URL: one RTU bus per port, one reader on each. */
static void test_selected_by_store_file(void **state)
{
    (void)state;
    glob_t g;
    assert_int_equal(glob(SK_SOURCE_DIR "/boards/*.cfg", 0, NULL, &g), 0);
    char dir[64];
    sk_test_tmpdir(dir, sizeof(dir));
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct sk_board_cfg b;
        load_board(g.gl_pathv[i], &b);
        char text[8192];
        size_t off = (size_t)snprintf(text, sizeof(text),
                                      "store_id = \"s\";\ndevice_id = \"d\";\nboard = \"%s\";\n"
                                      "buses = (",
                                      b.name);
        size_t n_ports = b.n_serial_ports;
        for (size_t p = 0; p < n_ports; p++) {
            off += (size_t)snprintf(text + off, sizeof(text) - off,
                                    "%s{ name = \"b%zu\"; url = \"rtu:%s:19200:8E1\"; }",
                                    p ? ", " : "", p, b.serial_ports[p].name);
        }
        off += (size_t)snprintf(text + off, sizeof(text) - off, ");\nreaders = (");
        for (size_t p = 0; p < n_ports; p++) {
            off += (size_t)snprintf(text + off, sizeof(text) - off,
                                    "%s{ name = \"r%zu\"; bus = \"b%zu\"; unit = 1; }",
                                    p ? ", " : "", p, p);
        }
        snprintf(text + off, sizeof(text) - off, ");\nmqtt = { enabled = false; };\n");
        char path[256];
        sk_test_write(dir, "store.cfg", text, path, sizeof(path));
        struct sk_diag d;
        sk_diag_init(&d);
        struct sk_config *cfg = NULL;
        struct sk_config_opts opts = {.data_dir = SK_TEST_DATADIR};
        if (sk_config_load(path, &opts, &d, &cfg) < 0) {
            sk_diag_print(&d, stderr);
            fail_msg("a store on board %s does not load:\n%s", b.name, text);
        }
        assert_string_equal(cfg->board.name, b.name);
        assert_int_equal(cfg->n_buses, n_ports);
        sk_config_free(cfg);
        sk_diag_free(&d);
        unlink(path);
        sk_board_free(&b);
    }
    rmdir(dir);
    globfree(&g);
}

/* docs/boards.md has a section per board that names each of its serial devices. */
static void test_documented(void **state)
{
    (void)state;
    char *doc = strdup(read_file(SK_SOURCE_DIR "/docs/boards.md"));
    assert_non_null(doc);
    glob_t g;
    assert_int_equal(glob(SK_SOURCE_DIR "/boards/*.cfg", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct sk_board_cfg b;
        load_board(g.gl_pathv[i], &b);
        char heading[64];
        snprintf(heading, sizeof(heading), "\n## `%s`", b.name);
        char *sec = strstr(doc, heading);
        if (!sec) {
            fail_msg("docs/boards.md has no section \"## `%s`\"", b.name);
        }
        char *end = strstr(sec + 1, "\n## ");
        size_t len = end ? (size_t)(end - sec) : strlen(sec);
        for (size_t p = 0; p < b.n_serial_ports; p++) {
            char needle[300];
            snprintf(needle, sizeof(needle), "`%s`", b.serial_ports[p].device);
            char saved = sec[len];
            sec[len] = '\0';
            bool found = strstr(sec, needle) != NULL;
            sec[len] = saved;
            if (!found) {
                fail_msg("docs/boards.md, section %s: serial device %s is not described", b.name,
                         b.serial_ports[p].device);
            }
        }
        sk_board_free(&b);
    }
    globfree(&g);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_profiles_consistent),
            cmocka_unit_test(test_selected_by_store_file),
            cmocka_unit_test(test_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
