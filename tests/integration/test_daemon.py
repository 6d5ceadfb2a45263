# SPDX-License-Identifier: MIT
"""The daemon's life cycle through real signals and a real notify socket: READY, reload
with a valid, a broken and a restart-only config, SIGTERM/SIGINT within 2 s, --duration,
and the systemd watchdog pings."""
import os
import signal
import time
import unittest

import sk

BASE = """store_id = "it-store";
device_id = "it-01";
board = "sim";
log = { level = "%(level)s"; format = "plain"; };
core = { status_interval_s = 1; tick_ms = 50; };
mqtt = { enabled = false; };
"""


class Daemon(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.cfg = self.tmp.file("store.cfg", BASE % {"level": "info"})
        self.notify = sk.NotifySocket(self.tmp.path)

    def tearDown(self):
        self.notify.close()
        self.tmp.cleanup()

    def start(self, *extra, env=None):
        e = {"NOTIFY_SOCKET": self.notify.path}
        e.update(env or {})
        d = sk.Daemon(["run", "-c", self.cfg, *extra], self.tmp.path, env=e)
        self.assertTrue(self.notify.wait_for("READY=1"), d.text())
        return d

    def test_reload_and_stop(self):
        d = self.start()
        self.assertTrue(d.wait_log("core: running"))
        self.assertTrue(d.wait_log("status: up", timeout=3))

        # A valid change of a reloadable key is applied.
        self.tmp.file("store.cfg", BASE % {"level": "debug"})
        self.notify.messages.clear()
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log("config: reloaded"), d.text())
        self.assertIn("reload: log.level changed", d.text())
        self.assertTrue(self.notify.wait_for("RELOADING=1"))
        self.assertTrue(self.notify.wait_for("READY=1"))

        # A broken file: every error logged with file and line, old config kept.
        self.tmp.file("store.cfg", BASE % {"level": "debug"} + "readers = ( { name = \"r\"; "
                      "bus = \"none\"; unit = 400; } );\n")
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log("reload rejected (2 error(s))"), d.text())
        log = d.text()
        self.assertIn("store.cfg:7: readers.[0].unit: 400 is out of range 1..255", log)
        self.assertIn("store.cfg:7: readers.[0].bus: no bus named \"none\"", log)
        self.assertIsNone(d.proc.poll(), "daemon must survive a broken reload")

        # A change that needs a restart is refused as a whole.
        self.tmp.file("store.cfg", (BASE % {"level": "info"}).replace("it-01", "it-02"))
        d.signal(signal.SIGHUP)
        self.assertTrue(d.wait_log("reload rejected: 1 change(s) need a restart"), d.text())
        self.assertIn("reload: device_id changed; it takes a restart", d.text())
        # The running config is still the one with debug logging.
        self.assertTrue(d.wait_log("status: up", count=3, timeout=4))

        rc, took = d.stop()
        self.assertEqual(rc, 0, d.text())
        self.assertLess(took, 2.0)
        self.assertIn("SIGTERM received; stopping", d.text())
        self.assertIn("core: stopped", d.text())
        self.assertTrue(self.notify.wait_for("STOPPING=1"))

    def test_sigint(self):
        d = self.start()
        t0 = time.monotonic()
        d.signal(signal.SIGINT)
        rc = d.proc.wait(timeout=5)
        self.assertEqual(rc, 0)
        # A bound against a hang, not a speed test: a loaded machine takes its time.
        self.assertLess(time.monotonic() - t0, 10.0 * sk.SCALE)
        d.log.close()

    def test_duration(self):
        t0 = time.monotonic()
        r = sk.run("run", "-c", self.cfg, "--duration", "1")
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(took, 0.9)
        # It stops by itself (a hang would reach the 10 s bound), however loaded the machine.
        self.assertLess(took, 10.0 * sk.SCALE)
        self.assertIn("run duration reached; stopping", r.stderr)

    def test_watchdog_pings(self):
        d = self.start(env={"WATCHDOG_USEC": "400000"})
        self.notify.messages.clear()
        self.assertTrue(self.notify.wait_for("WATCHDOG=1", timeout=2), d.text())
        self.assertIn("systemd watchdog every 400 ms", d.text())
        rc, _ = d.stop()
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    sk.main()
