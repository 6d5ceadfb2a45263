# SPDX-License-Identifier: MIT
"""What a process maps is what its configuration uses (storekeeper/module.h): the daemon
with 16 shelf readers, MQTT and the ledger but no camera keeps its peak RSS under 16 MB and
maps neither OpenCV, libcamera, their dependencies nor the C++ runtime; the same store with
one synthetic camera loads the vision module (and not libcamera's); the CLI subcommands load
none of them (LD_DEBUG=files lists every library a process opens, dlopen included) and
`version` peaks under 8 MB. The status page's HTTP server (libmicrohttpd and its GnuTLS) is
the module status-http.so: mapped only by a daemon with http.enabled, which serves the page
with it, and named in a clear error when it is not installed.
scripts/bench.sh measures the same figures with more rounds (docs/performance.md)."""
import functools
import json
import os
import re
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "rfid"))
sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "mqtt"))
import mqtt_helpers as mh  # noqa: E402
import rfidsim  # noqa: E402
from rfidsim import sk  # noqa: E402

# The libraries that only cameras need, and what they pull in (tbb, protobuf: OpenCV's
# video module; lttng-ust: libcamera's tracing; the C++ runtime: all of them).
CAMERA_LIBS = re.compile(r"libopencv|libcamera|libstdc\+\+|libtbb|libprotobuf|liblttng|"
                         r"vision-opencv\.so|camera-libcamera\.so|camera-file\.so")
# The status page's server and what libmicrohttpd pulls in (GnuTLS and its own libraries).
STATUS_LIBS = re.compile(r"libmicrohttpd|libgnutls|libnettle|libhogweed|libgmp|libp11-kit|"
                         r"libidn2|libtasn1|libunistring|status-http\.so")
RSS_LIMIT_KB = 16 * 1024
VERSION_RSS_LIMIT_KB = 8 * 1024
READERS = 16


def store(tmp, port, broker_port, camera=False, http_port=0):
    buses = ",\n".join('  { name = "bus%d"; url = "tcp:127.0.0.1:%d"; poll_interval_ms = 100; '
                       'pause_ms = 0; }' % (b, port) for b in range(4))
    readers = ",\n".join('  { name = "r%02d"; bus = "bus%d"; unit = %d; }'
                         % (i, i // 4, i + 1) for i in range(READERS))
    shelves = ",\n".join('  { name = "S%02d"; reader = "r%02d"; antenna = 1; }' % (i, i)
                         for i in range(READERS))
    cams = ""
    if camera:
        cams = ('cameras = ( { name = "overhead"; backend = "synthetic"; width = 640; '
                'height = 480; fps = 10; } );\n')
    http = ""
    if http_port:
        http = 'http = { enabled = true; address = "127.0.0.1"; port = %d; };\n' % http_port
    name = ("cam" if camera else "nocam") + ("-http" if http_port else "")
    return tmp.file("store-%s.cfg" % name, """
store_id = "fp"; device_id = "fp-1"; board = "sim";
log = { level = "info"; };
core = { status_interval_s = 1; };
%s
buses = (
%s
);
readers = (
%s
);
shelves = (
%s
);
%smqtt = { host = "127.0.0.1"; port = %d; };
ledger = { path = "%s/ledger-%s.db"; };
""" % (http, buses, readers, shelves, cams, broker_port, tmp.path, name))


@functools.lru_cache(maxsize=None)
def sanitized():
    """ASan and TSan builds map their runtimes and shadow memory: RSS means nothing there."""
    out = subprocess.run(["ldd", sk.BIN], capture_output=True, text=True).stdout
    return bool(re.search(r"lib[at]san", out))


def camera_lib(name):
    """A library only the camera path needs. UBSan's runtime itself needs libstdc++, so a
    sanitizer build maps it whatever the configuration: not counted there."""
    if sanitized() and re.search(r"libstdc\+\+", name):
        return False
    return bool(CAMERA_LIBS.search(name))


def status_of(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(ln.split(":", 1) for ln in f if ":" in ln)


def mapped_files(pid):
    with open("/proc/%d/maps" % pid) as f:
        return sorted({ln.split()[5] for ln in f if len(ln.split()) >= 6})


class Footprint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = sk.TempDir()
        cls.sim = rfidsim.SimReader("tcp:127.0.0.1:0", units="1-%d" % READERS, tags=64)
        cls.broker = mh.Broker(cls.tmp.path).start()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        cls.broker.stop()
        cls.tmp.cleanup()

    def run_daemon(self, camera):
        """Starts the store, waits until every reader is up, MQTT connected and two status
        ticks passed (and, with the camera, its frames flowing), then returns the peak RSS
        (kB) and the files mapped, read from /proc while it runs."""
        cfg = store(self.tmp, self.sim.port, self.broker.port, camera)
        d = sk.Daemon(["run", "-c", cfg, "--allow-root"], self.tmp.path)
        try:
            self.assertTrue(d.wait_log("mqtt: connected", 20 * sk.SCALE), d.text())
            for i in range(READERS):
                self.assertTrue(d.wait_log("reader r%02d: up" % i, 20 * sk.SCALE), d.text())
            if camera:
                self.assertTrue(d.wait_log("camera overhead: up", 20 * sk.SCALE), d.text())
            # two status ticks after everything is up: polls and (camera) frames under way
            self.assertTrue(d.wait_log("core: status:", 10 * sk.SCALE, count=2,
                                       after=d.mark()), d.text())
            hwm = int(status_of(d.proc.pid)["VmHWM"].split()[0])
            maps = mapped_files(d.proc.pid)
        finally:
            rc, _ = d.stop(timeout=20 * sk.SCALE)
        self.assertEqual(rc, 0, d.text()[-3000:])
        return hwm, maps

    def test_no_camera(self):
        hwm, maps = self.run_daemon(camera=False)
        print("no camera, %d readers: peak RSS %d kB, %d files mapped" % (READERS, hwm,
                                                                          len(maps)))
        bad = [m for m in maps if camera_lib(m)]
        self.assertEqual(bad, [], "the no-camera daemon maps camera libraries")
        bad = [m for m in maps if STATUS_LIBS.search(m)]
        self.assertEqual(bad, [], "the daemon without the status page maps its server")
        if sanitized():
            print("sanitizer build: peak RSS not checked (its runtime's shadow memory)")
        else:
            self.assertLessEqual(hwm, RSS_LIMIT_KB, "peak RSS %d kB > %d kB" % (hwm,
                                                                              RSS_LIMIT_KB))

    def test_one_camera_loads_only_vision(self):
        hwm, maps = self.run_daemon(camera=True)
        print("one synthetic 640x480 camera: peak RSS %d kB" % hwm)
        self.assertTrue([m for m in maps if m.endswith("/vision-opencv.so")], maps)
        self.assertTrue([m for m in maps if "libopencv_video" in m], maps)
        # a synthetic camera needs neither libcamera nor video decoding
        self.assertEqual([m for m in maps if re.search(r"libcamera|camera-file\.so|"
                                                       r"libopencv_videoio", m)], [])

    def test_subcommands_load_no_camera_library(self):
        cfg = store(self.tmp, self.sim.port, self.broker.port)
        env = dict(os.environ, LD_DEBUG="files")
        for args in (["version"], ["version", "--json"], ["run", "-c", cfg, "--check-config"],
                     ["ledger", "-c", cfg, "info"], ["diag", "--help"], ["sim", "--help"]):
            r = subprocess.run([sk.BIN, *args], capture_output=True, text=True, env=env,
                               timeout=60)
            self.assertIn(r.returncode, (0,), (args, r.stderr[-2000:]))
            opened = set(re.findall(r"file=(\S+)\s+\[\d+\];\s+needed by|file=(\S+)\s+\[\d+\];"
                                    r"\s+dynamically loaded", r.stderr))
            names = {a or b for a, b in opened}
            self.assertTrue(names, (args, r.stderr[-500:]))  # LD_DEBUG did report
            bad = sorted(n for n in names if camera_lib(n) or STATUS_LIBS.search(n))
            self.assertEqual(bad, [], args)
        # and `version` stays small (23 MB when every subcommand mapped OpenCV and libcamera;
        # 7.5 MB since): GNU time reports its peak RSS (a child of this Python process would
        # carry the interpreter's peak across exec)
        r = subprocess.run(["/usr/bin/time", "-f", "%M", sk.BIN, "version"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        version_kb = int(r.stderr.strip().splitlines()[-1])
        print("storekeeper version: peak RSS %d kB" % version_kb)
        if not sanitized():
            self.assertLessEqual(version_kb, VERSION_RSS_LIMIT_KB)
        # --modules loads them on purpose: the check above would have seen it
        r = subprocess.run([sk.BIN, "version", "--modules"], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn("vision-opencv.so", r.stderr)
        self.assertIn("status-http.so", r.stderr)
        self.assertRegex(r.stdout, r"libmicrohttpd +\d+\.\d+")

    def test_status_page_loads_its_module(self):
        """http.enabled: the daemon loads status-http.so and serves the page with it; with
        the module missing it says which file and what to do, and runs without the page."""
        port = sk.free_port()
        cfg = store(self.tmp, self.sim.port, self.broker.port, http_port=port)
        d = sk.Daemon(["run", "-c", cfg, "--allow-root"], self.tmp.path, name="http")
        try:
            self.assertTrue(d.wait_log("status page on http://", 20 * sk.SCALE), d.text())
            with urllib.request.urlopen("http://127.0.0.1:%d/status.json" % port,
                                        timeout=10) as r:
                self.assertEqual(json.loads(r.read())["store_id"], "fp")
            maps = mapped_files(d.proc.pid)
        finally:
            rc, _ = d.stop(timeout=20 * sk.SCALE)
        self.assertEqual(rc, 0, d.text()[-3000:])
        self.assertTrue([m for m in maps if m.endswith("/status-http.so")], maps)
        self.assertTrue([m for m in maps if "libmicrohttpd" in m], maps)
        self.assertEqual([m for m in maps if camera_lib(m)], [])
        empty = os.path.join(self.tmp.path, "no-modules")
        os.makedirs(empty, exist_ok=True)
        want = "the status page needs the module %s/status-http.so, not installed" % empty
        r = subprocess.run([sk.BIN, "run", "-c", cfg, "--check-config"], capture_output=True,
                           text=True, timeout=60,
                           env=dict(os.environ, STOREKEEPER_MODULEDIR=empty))
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn(cfg + ": http.enabled: " + want, r.stderr)
        self.assertIn("http.enabled = false", r.stderr)
        d = sk.Daemon(["run", "-c", cfg, "--allow-root"], self.tmp.path, name="http-missing",
                      env={"STOREKEEPER_MODULEDIR": empty})
        try:
            self.assertTrue(d.wait_log(want, 20 * sk.SCALE), d.text())
            self.assertIn("no status page", d.text())
            self.assertTrue(d.wait_log("mqtt: connected", 20 * sk.SCALE), d.text())
        finally:
            rc, _ = d.stop(timeout=20 * sk.SCALE)
        self.assertEqual(rc, 0, d.text()[-3000:])


if __name__ == "__main__":
    sk.main()
