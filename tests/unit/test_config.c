/* SPDX-License-Identifier: MIT */
/* Config loader tests: every broken file under tests/configs/bad, defaults, boards, reload
 * comparison, hashing, size limit, and docs/config.md against the key table. */
#include <glob.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "storekeeper/config.h"
#include "storekeeper/error.h"
#include "test_helpers.h"

static const struct sk_config_opts test_opts = {.data_dir = SK_TEST_DATADIR};

#define MINIMAL "store_id = \"s1\";\ndevice_id = \"d1\";\nboard = \"sim\";\n"

/* Reads the "# expect: " lines of a bad config. Returns the count; lines are malloc'd. */
static size_t read_expectations(const char *path, char **lines, size_t max)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[1024];
    size_t n = 0;
    while (fgets(buf, sizeof(buf), f)) {
        if (strncmp(buf, "# expect: ", 10) == 0 && n < max) {
            buf[strcspn(buf, "\n")] = '\0';
            lines[n++] = strdup(buf + 10);
        }
    }
    fclose(f);
    return n;
}

static void test_bad_configs(void **state)
{
    (void)state;
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(SK_SOURCE_DIR "/tests/configs/bad"), 0);
    glob_t g;
    assert_int_equal(glob("*.cfg", 0, NULL, &g), 0);
    /* The issue asks for at least 25 malformed configs, each with its exact message. */
    assert_true(g.gl_pathc >= 25);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *expect[32];
        size_t n = read_expectations(g.gl_pathv[i], expect, 32);
        if (n == 0) {
            fail_msg("%s has no '# expect:' line", g.gl_pathv[i]);
        }
        struct sk_diag d;
        sk_diag_init(&d);
        struct sk_config *cfg = NULL;
        int r = sk_config_load(g.gl_pathv[i], &test_opts, &d, &cfg);
        if (r >= 0) {
            fail_msg("%s loaded, but it must be refused", g.gl_pathv[i]);
        }
        assert_null(cfg);
        if (d.n != n) {
            sk_diag_print(&d, stderr);
            fail_msg("%s: %zu messages, expected %zu", g.gl_pathv[i], d.n, n);
        }
        for (size_t j = 0; j < n; j++) {
            assert_string_equal(d.lines[j], expect[j]);
            free(expect[j]);
        }
        sk_diag_free(&d);
    }
    globfree(&g);
    assert_int_equal(chdir(cwd), 0);
}

static void test_examples_load(void **state)
{
    (void)state;
    glob_t g;
    assert_int_equal(glob(SK_SOURCE_DIR "/examples/*.cfg", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 1);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct sk_diag d;
        sk_diag_init(&d);
        struct sk_config *cfg = NULL;
        int r = sk_config_load(g.gl_pathv[i], &test_opts, &d, &cfg);
        if (r < 0) {
            sk_diag_print(&d, stderr);
            fail_msg("%s does not load", g.gl_pathv[i]);
        }
        assert_int_equal(strlen(cfg->hash), 64);
        sk_config_free(cfg);
        sk_diag_free(&d);
    }
    globfree(&g);
}

static struct sk_config *load_text(const char *dir, const char *text)
{
    char path[256];
    sk_test_write(dir, "store.cfg", text, path, sizeof(path));
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_config *cfg = NULL;
    int r = sk_config_load(path, &test_opts, &d, &cfg);
    if (r < 0) {
        sk_diag_print(&d, stderr);
    }
    sk_diag_free(&d);
    return cfg;
}

static void test_defaults(void **state)
{
    (void)state;
    char dir[64];
    sk_test_tmpdir(dir, sizeof(dir));
    struct sk_config *c =
            load_text(dir, MINIMAL "readers = ();\n"
                                   "buses = ( { name = \"b\"; url = \"tcp:h:502\"; } );\n"
                                   "cameras = ( { name = \"cam\"; } );\n");
    assert_non_null(c);
    assert_string_equal(c->store_id, "s1");
    assert_int_equal(c->core.tick_ms, 100);
    assert_int_equal(c->core.queue_capacity, 8192);
    assert_int_equal(c->log.level, SK_LOG_INFO);
    assert_int_equal(c->mqtt.port, 1883);
    assert_true(c->mqtt.enabled);
    assert_int_equal(c->mqtt.protocol, 0);
    assert_int_equal(c->buses[0].response_timeout_ms, 300);
    assert_int_equal(c->buses[0].retries, 1);
    /* Cameras take the board's defaults. */
    assert_string_equal(c->cameras[0].backend, "synthetic");
    assert_int_equal(c->cameras[0].width, c->board.camera_width);
    /* Built-in presets are there. */
    const struct sk_presence_preset_cfg *p = sk_config_preset(c, "standard");
    assert_non_null(p);
    assert_int_equal(p->arrive_k, 2);
    assert_int_equal(p->arrive_n, 3);
    assert_non_null(sk_config_preset(c, "fast"));
    assert_non_null(sk_config_preset(c, "slow"));
    assert_null(sk_config_preset(c, "garment"));
    assert_non_null(sk_config_bus(c, "b"));
    assert_null(sk_config_bus(c, "x"));
    sk_config_free(c);

    /* A file preset overrides a built-in of the same name; enum values are stored. */
    c = load_text(dir, MINIMAL "log = { level = \"debug\"; format = \"journal\"; };\n"
                               "mqtt = { protocol = \"3.1.1\"; };\n"
                               "presence_presets = ( { name = \"standard\"; arrive_k = 4; "
                               "arrive_n = 6; hold_ms = 9000; } );\n");
    assert_non_null(c);
    assert_int_equal(c->log.level, SK_LOG_DEBUG);
    assert_int_equal(c->log.format, SK_LOG_FORMAT_JOURNAL);
    assert_int_equal(c->mqtt.protocol, 311);
    assert_int_equal(sk_config_preset(c, "standard")->arrive_k, 4);
    assert_int_equal(c->n_presence_presets, 3);
    sk_config_free(c);
    sk_test_rmdir(dir);
}

static void test_int_arrays_and_board_override(void **state)
{
    (void)state;
    char dir[64];
    sk_test_tmpdir(dir, sizeof(dir));
    /* Integer arrays are accepted where numbers are expected. */
    struct sk_config *c = load_text(dir, MINIMAL "cameras = ( { name = \"cam\"; } );\n"
                                                 "zones = ( { name = \"z\"; camera = \"cam\"; "
                                                 "polygon = [ 0, 0, 10, 0, 10, 10 ]; } );\n");
    assert_non_null(c);
    assert_int_equal(c->zones[0].polygon_len, 6);
    assert_true(c->zones[0].polygon[4] == 10.0);
    sk_config_free(c);

    /* --board replaces the file's board. */
    char path[256];
    sk_test_write(dir, "store.cfg", MINIMAL, path, sizeof(path));
    struct sk_config_opts o = test_opts;
    o.board_override = "rpi4";
    struct sk_diag d;
    sk_diag_init(&d);
    assert_int_equal(sk_config_load(path, &o, &d, &c), 0);
    assert_string_equal(c->board.name, "rpi4");
    sk_config_free(c);
    o.board_override = "nope";
    assert_int_equal(sk_config_load(path, &o, &d, &c), SK_ECONFIG);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.lines[0], "--board: no board profile \"nope\" (available: cm4, "
                                    "generic-x86, rpi4, rpi5, sim)");
    sk_diag_free(&d);
    sk_test_rmdir(dir);
}

/* Two cameras calibrated to the floor (4 m x 3 m each, x 0..4 and 3..7 m): every zone and line
 * declared once in metres lands in the camera that sees it whole, nearest its centre. */
#define TWO_CAMERAS                                                                             \
    "cameras = ( { name = \"west\"; floor = [ 0, 0, 0, 0,  320, 0, 4, 0,  320, 240, 4, 3,  0, " \
    "240, 0, 3 ]; },\n"                                                                         \
    "  { name = \"east\"; floor = [ 0, 0, 3, 0,  320, 0, 7, 0,  320, 240, 7, 3,  0, 240, 3, 3 " \
    "]; },\n"                                                                                   \
    "  { name = \"side\"; } );\n"

static void test_floor_layout(void **state)
{
    (void)state;
    char dir[64];
    sk_test_tmpdir(dir, sizeof(dir));
    struct sk_config *c = load_text(
            dir, MINIMAL TWO_CAMERAS
            "readers = ( { name = \"r\"; bus = \"b\"; unit = 1; } );\n"
            "buses = ( { name = \"b\"; url = \"tcp:127.0.0.1:1502\"; } );\n"
            "shelves = ( { name = \"S1\"; reader = \"r\"; antenna = 1; zone = \"wz\"; },\n"
            "  { name = \"S2\"; reader = \"r\"; antenna = 2; zone = \"mid\"; },\n"
            "  { name = \"S3\"; reader = \"r\"; antenna = 3; zone = \"far\"; },\n"
            "  { name = \"S4\"; reader = \"r\"; antenna = 4; zone = \"edge\"; } );\n"
            "zones = ( { name = \"wz\"; floor = [ 0.5, 0.5, 1.5, 0.5, 1.5, 1.0, 0.5, 1.0 ];\n"
            "    floor_reach = [ 0.5, 0.5, 1.5, 0.5 ]; },\n"
            /* in both views, nearer the east picture's centre */
            "  { name = \"mid\"; floor = [ 3.2, 1.0, 3.8, 1.0, 3.8, 2.0, 3.2, 2.0 ]; },\n"
            /* in neither */
            "  { name = \"far\"; floor = [ 8.0, 1.0, 9.0, 1.0, 9.0, 2.0 ]; },\n"
            /* its middle in the east picture only, one corner beyond */
            "  { name = \"edge\"; floor = [ 6.0, 1.0, 7.5, 1.0, 7.5, 2.0, 6.0, 2.0 ]; },\n"
            /* pinned: the west one although east sees it nearer its centre */
            "  { name = \"pin\"; camera = \"west\"; floor = [ 3.2, 1.0, 3.8, 1.0, 3.8, 2.0 ]; },\n"
            /* the pixel form beside them */
            "  { name = \"px\"; camera = \"side\"; polygon = [ 0, 0, 10, 0, 10, 10 ]; },\n"
            /* pinned to a camera that does not see it */
            "  { name = \"pout\"; camera = \"west\"; floor = [ 5.5, 1.0, 6.5, 1.0, 6.5, 2.0 ]; } "
            ");\n"
            "lines = ( { name = \"door\"; role = \"door\"; floor = [ 5.0, 2.5, 6.0, 2.5 ]; "
            "inside = \"left\"; },\n"
            "  { name = \"back\"; role = \"door\"; floor = [ 5.0, 2.5, 6.0, 2.5 ]; "
            "inside = \"right\"; } );\n");
    assert_non_null(c);
    /* west: 80 px a metre, y down the picture as on this plan */
    assert_string_equal(c->zones[0].camera, "west");
    assert_int_equal(c->zones[0].polygon_len, 8);
    assert_float_equal(c->zones[0].polygon[0], 40.0, 1e-6);
    assert_float_equal(c->zones[0].polygon[1], 40.0, 1e-6);
    assert_float_equal(c->zones[0].polygon[4], 120.0, 1e-6);
    assert_float_equal(c->zones[0].polygon[5], 80.0, 1e-6);
    assert_int_equal(c->zones[0].reach_len, 4);
    assert_float_equal(c->zones[0].reach[2], 120.0, 1e-6);
    assert_string_equal(c->zones[1].camera, "east");
    assert_float_equal(c->zones[1].polygon[0], 16.0, 1e-6);
    assert_string_equal(c->zones[2].camera, "");
    assert_int_equal(c->zones[2].polygon_len, 0);
    assert_string_equal(c->zones[3].camera, "east");
    assert_string_equal(c->zones[4].camera, "west");
    assert_float_equal(c->zones[4].polygon[0], 256.0, 1e-6);
    assert_string_equal(c->zones[5].camera, "side");
    /* On this plan (y down the page, as the pictures) the plan's left is the picture's right. */
    assert_string_equal(c->lines[0].camera, "east");
    assert_float_equal(c->lines[0].points[0], 160.0, 1e-6);
    assert_float_equal(c->lines[0].points[1], 200.0, 1e-6);
    assert_int_equal(c->lines[0].inside, 1);
    assert_int_equal(c->lines[1].inside, 0);
    /* The shelves no camera sees whole are named. */
    assert_string_equal(c->zones[6].camera, "");
    assert_int_equal(c->warnings.n, 3);
    assert_non_null(strstr(c->warnings.lines[2],
                           "zones.[6].floor: zone pout is outside its camera's view"));
    assert_non_null(strstr(c->warnings.lines[0], "zones.[2].floor: shelf S3 (zone far) is "
                                                 "outside every calibrated camera's view"));
    assert_non_null(strstr(c->warnings.lines[1], "zones.[3].floor: shelf S4 (zone edge) is only "
                                                 "partly in view of camera east"));
    sk_config_free(c);
    sk_test_rmdir(dir);
}

/* A camera calibrated by its mounting: 3 m up, a 90 degree lens (or 3 mm over a 6 mm sensor),
 * over (2, 1.5) m: at 320 px, 1.875 cm a pixel, the picture 6 x 4.5 m of floor. */
static void test_mount(void **state)
{
    (void)state;
    char dir[64];
    sk_test_tmpdir(dir, sizeof(dir));
    struct sk_config *c = load_text(
            dir, MINIMAL
            "cameras = ( { name = \"a\"; mount = { height_m = 3.0; fov_deg = 90.0; x = 2.0; "
            "y = 1.5; }; },\n"
            "  { name = \"b\"; mount = { height_m = 3.0; focal_mm = 3.0; sensor_width_mm = 6.0; "
            "x = 2.0; y = 1.5; rotation_deg = 90.0; tilt_deg = 20.0; }; },\n"
            "  { name = \"wide\"; width = 1280; height = 720; mount = { height_m = 3.0; "
            "fov_deg = 90.0; x = 2.0; y = 1.5; }; } );\n"
            "zones = ( { name = \"z\"; camera = \"a\"; floor = [ 2.0, 1.5, 3.0, 1.5, 3.0, 2.5 ]; "
            "} );\n");
    assert_non_null(c);
    assert_true(c->cameras[0].has_mount && c->cameras[0].has_floor);
    double x, y, u, v;
    assert_true(sk_homography_apply(&c->cameras[0].floor_map, 0, 0, &x, &y));
    assert_float_equal(x, -1.0, 1e-9);
    assert_float_equal(y, 3.75, 1e-9);
    assert_true(sk_homography_apply(&c->cameras[0].floor_map, 320, 240, &x, &y));
    assert_float_equal(x, 5.0, 1e-9);
    assert_float_equal(y, -0.75, 1e-9);
    /* The floor zone in its pixels: (3, 2.5) m is 1 m right of and 1 m above the centre. */
    assert_float_equal(c->zones[0].polygon[0], 160.0, 1e-9);
    assert_float_equal(c->zones[0].polygon[4], 160.0 + 1 / 0.01875, 1e-9);
    assert_float_equal(c->zones[0].polygon[5], 120.0 - 1 / 0.01875, 1e-9);
    /* b: the same lens from its data sheet, turned and tilted; the point under the lens is
     * below the picture's centre, towards its bottom edge (3 tan 20 deg = 1.09 m away). */
    assert_true(c->cameras[1].has_floor);
    assert_true(sk_camera_floor_to_px(&c->cameras[1], 320, 240, 2.0, 1.5, &u, &v));
    assert_float_equal(u, 160.0, 1e-6);
    assert_float_equal(v, 120.0 + 160.0 * tan(20 * M_PI / 180), 1e-6);
    assert_true(sk_homography_apply(&c->cameras[1].floor_map, 160, 120, &x, &y));
    assert_float_equal(x, 2.0 - 3.0 * tan(20 * M_PI / 180), 1e-9);
    assert_float_equal(y, 1.5, 1e-9);
    /* A 16:9 camera is processed at 320 x 180: the point under its lens is that picture's
     * centre. */
    assert_int_equal(c->cameras[2].proc_width, 320);
    assert_int_equal(c->cameras[2].proc_height, 180);
    assert_true(sk_camera_floor_to_px(&c->cameras[2], 320, 180, 2.0, 1.5, &u, &v));
    assert_float_equal(u, 160.0, 1e-9);
    assert_float_equal(v, 90.0, 1e-9);
    /* Behind the camera: no pixel. */
    assert_false(sk_camera_floor_to_px(&c->cameras[1], 320, 240, 40.0, 1.5, &u, &v));
    sk_config_free(c);
    sk_test_rmdir(dir);
}

static void test_boards(void **state)
{
    (void)state;
    glob_t g;
    assert_int_equal(glob(SK_SOURCE_DIR "/boards/*.cfg", 0, NULL, &g), 0);
    assert_int_equal(g.gl_pathc, 5);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct sk_diag d;
        sk_diag_init(&d);
        struct sk_board_cfg b;
        if (sk_board_load(g.gl_pathv[i], &d, &b) < 0) {
            sk_diag_print(&d, stderr);
            fail_msg("%s does not load", g.gl_pathv[i]);
        }
        /* The name inside matches the file name, so `board = "X"` finds board X. */
        const char *base = strrchr(g.gl_pathv[i], '/') + 1;
        assert_int_equal(strncmp(base, b.name, strlen(b.name)), 0);
        assert_string_equal(base + strlen(b.name), ".cfg");
        assert_true(b.vision_width <= b.camera_width);
        sk_board_free(&b);
        sk_diag_free(&d);
    }
    globfree(&g);
}

struct diff_seen {
    char paths[8][64];
    bool reloadable[8];
    int n;
};

static void record_diff(const char *path, bool reloadable, void *ctx)
{
    struct diff_seen *s = ctx;
    if (s->n < 8) {
        snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s", path);
        s->reloadable[s->n++] = reloadable;
    }
}

#define READERS                                                           \
    "buses = ( { name = \"b\"; url = \"tcp:h:502\"; } );\n"               \
    "readers = ( { name = \"r\"; bus = \"b\"; unit = %d; } );\n"          \
    "shelves = ( { name = \"s\"; reader = \"r\"; preset = \"%s\"; } );\n" \
    "log = { level = \"%s\"; };\n"

static struct sk_config *load_fmt(const char *dir, int unit, const char *preset, const char *level)
{
    char text[1024];
    snprintf(text, sizeof(text), MINIMAL READERS, unit, preset, level);
    return load_text(dir, text);
}

static void test_diff(void **state)
{
    (void)state;
    char dir[64];
    sk_test_tmpdir(dir, sizeof(dir));
    struct sk_config *a = load_fmt(dir, 1, "standard", "info");
    struct sk_config *b = load_fmt(dir, 1, "fast", "debug");
    struct sk_config *c = load_fmt(dir, 2, "standard", "info");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);

    struct diff_seen s = {0};
    assert_int_equal(sk_config_diff(a, a, record_diff, &s), 0);
    assert_int_equal(s.n, 0);

    /* Log level and shelf preset may change on reload. */
    assert_int_equal(sk_config_diff(a, b, record_diff, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.paths[0], "log.level");
    assert_true(s.reloadable[0]);
    assert_string_equal(s.paths[1], "shelves.[].preset");
    assert_true(s.reloadable[1]);

    /* A reader's unit needs a restart. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(sk_config_diff(a, c, record_diff, &s), 1);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.paths[0], "readers.[].unit");
    assert_false(s.reloadable[0]);

    /* The hash follows content, not comments or layout. */
    assert_string_not_equal(a->hash, b->hash);
    char text[1024];
    snprintf(text, sizeof(text), "# a comment\n" MINIMAL "\n\n" READERS, 1, "standard", "info");
    struct sk_config *a2 = load_text(dir, text);
    assert_non_null(a2);
    assert_string_equal(a->hash, a2->hash);
    sk_config_free(a);
    sk_config_free(a2);
    sk_config_free(b);
    sk_config_free(c);
    sk_test_rmdir(dir);
}

static void test_size_limit(void **state)
{
    (void)state;
    char dir[64], path[256];
    sk_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/huge.cfg", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(MINIMAL, f);
    for (int i = 0; i < 5 * 1024 * 1024 / 64; i++) {
        fputs("# padding padding padding padding padding padding padding pad\n", f);
    }
    fclose(f);
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_config *c = NULL;
    assert_int_equal(sk_config_load(path, &test_opts, &d, &c), SK_ECONFIG);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.lines[0], "larger than the 4 MiB limit"));
    sk_diag_free(&d);

    /* A missing file is an errno error with the path. */
    assert_int_equal(sk_config_load("/nonexistent/x.cfg", &test_opts, &d, &c), -2);
    assert_string_equal(d.lines[0], "/nonexistent/x.cfg: cannot open: No such file or directory");
    sk_diag_free(&d);
    sk_test_rmdir(dir);
}

/* An integer beyond what libconfig holds is quoted as written, from the text as it was
 * parsed: the main file given as text (no such file on disk), an @include'd file, and many
 * such settings in one file (each line found in the loader's one copy of the file). */
static void test_huge_literals_quoted(void **state)
{
    (void)state;
    char dir[64], name[256], inc[256];
    sk_test_tmpdir(dir, sizeof(dir));
    const char *text = MINIMAL "core = { tick_ms = 99999999999999999999; };\n";
    snprintf(name, sizeof(name), "%s/not-on-disk.cfg", dir);
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_config *c = NULL;
    assert_int_equal(sk_config_load_text(name, text, strlen(text), &test_opts, &d, &c), SK_ECONFIG);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.lines[0], "not-on-disk.cfg:4: core.tick_ms: 99999999999999999999 "
                                       "is out of range 10..1000"));
    sk_diag_free(&d);

    sk_test_write(dir, "inc.cfg",
                  "\n\nmqtt = { keepalive_s = 4294967296; port = 1883; };\n"
                  "core = { tick_ms = 0x100000000; };\n",
                  inc, sizeof(inc));
    char main_text[512];
    snprintf(main_text, sizeof(main_text), "%s@include \"inc.cfg\"\n", MINIMAL);
    char path[256];
    sk_test_write(dir, "store.cfg", main_text, path, sizeof(path));
    sk_diag_init(&d);
    assert_int_equal(sk_config_load(path, &test_opts, &d, &c), SK_ECONFIG);
    bool keepalive = false, tick = false;
    for (size_t i = 0; i < d.n; i++) {
        keepalive |= strstr(d.lines[i], "/inc.cfg:3: mqtt.keepalive_s: 4294967296 is out") != NULL;
        tick |= strstr(d.lines[i], "/inc.cfg:4: core.tick_ms: 0x100000000 is out") != NULL;
    }
    if (!keepalive || !tick) {
        sk_diag_print(&d, stderr);
    }
    assert_true(keepalive);
    assert_true(tick);
    sk_diag_free(&d);
    sk_test_rmdir(dir);
}

/* docs/config.md must contain exactly what the key table says, between the markers. */
static void test_reference_matches_docs(void **state)
{
    (void)state;
    char *ref = NULL;
    size_t ref_len = 0;
    FILE *m = open_memstream(&ref, &ref_len);
    sk_config_write_reference(m);
    fclose(m);

    FILE *f = fopen(SK_SOURCE_DIR "/docs/config.md", "r");
    assert_non_null(f);
    char *doc = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&doc, &cap, '\0', f);
    fclose(f);
    assert_true(n > 0);
    const char *begin = strstr(doc, "<!-- BEGIN KEYS (generated");
    const char *end = strstr(doc, "<!-- END KEYS -->");
    assert_non_null(begin);
    assert_non_null(end);
    begin = strchr(begin, '\n') + 1;
    size_t len = (size_t)(end - begin);
    if (len != ref_len || memcmp(begin, ref, len) != 0) {
        fail_msg("docs/config.md is out of date with the key table: run "
                 "scripts/update-docs.sh");
    }
    free(doc);
    free(ref);
}

static void test_check_functions(void **state)
{
    (void)state;
    char dir[64];
    sk_test_tmpdir(dir, sizeof(dir));
    static const char *const good_urls[] = {
            "tcp:127.0.0.1:502",           "tcp:[::1]:1502",
            "tcp:reader.local:502",        "rtu:/dev/ttyUSB0:9600:8N1",
            "rtu:/dev/ttyAMA0:115200:8E1", "rtu:/tmp/p:19200:7O2"};
    for (size_t i = 0; i < sizeof(good_urls) / sizeof(good_urls[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), MINIMAL "buses = ( { name = \"b\"; url = \"%s\"; } );\n",
                 good_urls[i]);
        struct sk_config *c = load_text(dir, text);
        if (!c) {
            fail_msg("%s refused", good_urls[i]);
        }
        sk_config_free(c);
    }
    sk_test_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_bad_configs),
            cmocka_unit_test(test_examples_load),
            cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_int_arrays_and_board_override),
            cmocka_unit_test(test_floor_layout),
            cmocka_unit_test(test_mount),
            cmocka_unit_test(test_boards),
            cmocka_unit_test(test_diff),
            cmocka_unit_test(test_size_limit),
            cmocka_unit_test(test_huge_literals_quoted),
            cmocka_unit_test(test_reference_matches_docs),
            cmocka_unit_test(test_check_functions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
