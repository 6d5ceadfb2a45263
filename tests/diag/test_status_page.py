# SPDX-License-Identifier: MIT
"""The status page in a real browser: Debian's headless Chromium loads it from a running
daemon with virtual readers (one of them unplugged), the DOM must show every reader with its
state, and a screenshot is saved in the build tree (test-artifacts/status-page.png). Also
/metrics and /status.json over HTTP, and what the listener refuses."""
import json
import os
import re
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

import diag_helpers as dh
import sk

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


class StatusPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.store = dh.Store(http=True)
        cls.store.start()
        cls.base = f"http://127.0.0.1:{cls.store.http_port}"

    @classmethod
    def tearDownClass(cls):
        cls.store.stop()

    def get_bytes(self, path):
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return r.status, r.headers, r.read()

    def get(self, path):
        status, headers, body = self.get_bytes(path)
        return status, headers, body.decode()

    def browse(self, *args):
        exe = sk.require_tool("chromium", "chromium-browser", why="the page in a real browser")
        with tempfile.TemporaryDirectory(prefix="sk-chromium-") as profile:
            r = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                               capture_output=True, text=True, timeout=120)
        return r

    def test_half_open_connections(self):
        """Forty connections that never send a request (a scanner, a broken client) do not
        stall the page: it is served at once while they are open, and they are closed after
        2 s instead of holding their slots for the full timeout."""
        import socket
        import time
        idle = [socket.create_connection(("127.0.0.1", self.store.http_port), timeout=5)
                for _ in range(40)]
        try:
            t0 = time.monotonic()
            status, _, body = self.get("/status.json")
            took = time.monotonic() - t0
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body)["store_id"], "diag-store")
            self.assertLess(took, 2.0, "the page waited behind idle connections")
            # Each idle one is closed by the daemon (recv returns b"" at EOF) within the header
            # timeout, well before the 10 s of a connection that sent its request.
            for s in idle:
                s.settimeout(8)
                self.assertEqual(s.recv(1), b"")
            self.assertLess(time.monotonic() - t0, 8)
        finally:
            for s in idle:
                s.close()

    def test_page_in_chromium(self):
        # the technician's snapshot through the daemon (its camera thread owns the camera)
        snap = os.path.join(self.store.tmp.path, "snap.png")
        r = self.store.diag("camera", "overhead", "--snapshot", snap)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("via the daemon", r.stdout)
        with open(snap, "rb") as f:
            png = f.read()
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        status, headers, served = self.get_bytes("/snapshot.png")
        self.assertEqual(headers["Content-Type"], "image/png")
        self.assertEqual(served, png)
        self.store.vreader("fault 2 silent 1")
        try:
            self.store.wait_reader("shelf-2", "down")
            r = self.browse("--dump-dom", self.base + "/")
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            dom = r.stdout
            self.assertIn("<title>storekeeper diag-store/edge-07</title>", dom)
            self.assertRegex(dom, r'<tr id="reader-shelf-1" data-state="up">')
            self.assertRegex(dom, r'<tr id="reader-shelf-2" data-state="down">')
            self.assertRegex(dom, r'<tr id="camera-overhead" data-state="up">')
            self.assertIn('id="overall" data-level="FAIL"', dom)
            self.assertRegex(dom, r"reader shelf-2</td><td>down: no reply from unit 2 at "
                                  r"127\.0\.0\.1:\d+<br><span class=\"advice\">→ check the "
                                  r"reader's power and network")
            self.assertIn('<b id="occupancy">', dom)
            self.assertIn('<img id="snapshot" src="/snapshot.png"', dom)
            out = os.path.join(os.environ.get("SK_BUILD_DIR", "."), "test-artifacts")
            os.makedirs(out, exist_ok=True)
            png = os.path.join(out, "status-page.png")
            if os.path.exists(png):
                os.unlink(png)
            r = self.browse(f"--screenshot={png}", "--window-size=900,1300", self.base + "/")
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            with open(png, "rb") as f:
                head = f.read(24)
            self.assertEqual(head[:8], b"\x89PNG\r\n\x1a\n")
            width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
            self.assertEqual((width, height), (900, 1300))
            print(f"screenshot: {png} ({os.path.getsize(png)} bytes)")
        finally:
            self.store.vreader("fault 2 none")
        self.store.wait_reader("shelf-2", "up")

    def test_metrics_and_json(self):
        # the core handles the arrivals a moment after the readers report them
        sk.wait_until(lambda: 'storekeeper_observations_total{type="tag_arrived"} 6' in
                      self.get("/metrics")[2], 10 * dh.SCALE, 0.1)
        status, headers, text = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        for want in ('storekeeper_reader_health{reader="shelf-1"} 1',
                     'storekeeper_reader_polls_total{reader="shelf-1"}',
                     'storekeeper_reader_rtt_avg_seconds{reader="shelf-1"}',
                     "storekeeper_queue_depth ", "storekeeper_outbox_pending ",
                     'storekeeper_camera_fps{camera="overhead"}',
                     'storekeeper_camera_frames_dropped_total{camera="overhead"}'):
            self.assertIn(want, text)
        arrived = re.search(r'(?m)^storekeeper_observations_total\{type="tag_arrived"\} (\d+)$',
                            text)
        self.assertGreaterEqual(int(arrived.group(1)), 6)  # 3 tags on each of 2 readers
        # every sample line is "name{labels} value" with a HELP and TYPE before it
        names = set(re.findall(r"(?m)^# TYPE (\S+) (?:gauge|counter)$", text))
        for line in text.splitlines():
            if not line.startswith("#"):
                self.assertRegex(line, r"^[a-z_]+(\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\})? "
                                       r"[-0-9.e+]+$")
                self.assertIn(re.match(r"[a-z_]+", line).group(0), names)
        status, headers, text = self.get("/status.json")
        self.assertEqual(headers["Content-Type"], "application/json")
        d = json.loads(text)
        self.assertEqual(d["http"]["url"], self.base + "/")
        self.assertEqual([r["name"] for r in d["readers"]], ["shelf-1", "shelf-2"])

    def test_reader_view(self):
        """The bus thread's tag copy, taken across threads (this test runs under TSan)."""
        r = self.store.diag("reader", "shelf-1", "--watch", "--count", "3", "--interval", "0.2",
                            "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for line in r.stdout.splitlines():
            v = json.loads(line)
            self.assertTrue(v["fresh"])
            self.assertEqual(v["tags_total"], 3)

    def test_refusals(self):
        for path, code in (("/nothing", 404),):
            with self.assertRaises(urllib.error.HTTPError) as e:
                self.get(path)
            self.assertEqual(e.exception.code, code)
        req = urllib.request.Request(self.base + "/", data=b"x" * 100, method="POST")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(e.exception.code, 405)
        self.assertEqual(self.get("/")[0], 200)


if __name__ == "__main__":
    sk.main()
