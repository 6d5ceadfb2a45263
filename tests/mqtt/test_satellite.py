# SPDX-License-Identifier: MIT
"""A hub and a satellite (two `storekeeper run` processes, one store file each that include one
floor file) on a real mosquitto broker; the satellite's bus has a virtual reader (`storekeeper
sim reader`, Modbus/TCP). What the satellite's reader sees reaches the hub's fusion: a tag taken
from the satellite's shelf is a pickup the hub publishes, once.

- the hub SIGKILLed while tags are taken, started again: every pickup once;
- the satellite's link cut (a TCP proxy between it and the broker) while tags are taken: the hub
  shows the link down in `diag all`, and after the link returns every pickup arrives once; the
  satellite's own restart in between changes nothing;
- the satellite's clock moved 2 s (libfaketime): the hub refuses its observations (diag all
  FAIL, the offset), takes them once the clock is back.

Every message on the broker is validated against docs/schema."""
import glob
import json
import os
import socket
import sys
import threading
import unittest

import mqtt_helpers as mh
import sk

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "rfid"))
import rfidsim  # noqa: E402

STORE = "sat-store"
HUB = "hub-1"
SAT = "sat-1"
FAKETIME = (glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1") or
            ["/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"])[0]

FLOOR = """
buses = ( {{ name = "sat-bus"; url = "tcp:127.0.0.1:{port}"; device_id = "{sat}";
            poll_interval_ms = 100; pause_ms = 0; }} );
readers = ( {{ name = "r-sat"; bus = "sat-bus"; unit = 1; }} );
presence_presets = ( {{ name = "it"; arrive_k = 2; arrive_n = 3; hold_ms = 800; }} );
shelves = ( {{ name = "S1"; reader = "r-sat"; antenna = 1; preset = "it"; }} );
"""

BOARD = """store_id = "{store}";
device_id = "{device}";
board = "sim";
log = {{ level = "{level}"; format = "plain"; }};
core = {{ tick_ms = 50; }};
{role}
@include "floor.cfg"
fusion = {{ unattributed_grace_ms = 300; }};
hub = {{ ping_interval_ms = 500; silence_s = 3; }};
ledger = {{ path = "{device}.db"; census_interval_s = 0; }};
control = {{ socket = "{device}.sock"; }};
mqtt = {{ host = "127.0.0.1"; port = {port}; reconnect_min_ms = 200; reconnect_max_ms = 1000;
         keepalive_s = 5; hwm_interval_ms = 200; stats_interval_s = 0; session_expiry_s = 600; }};
"""


def epc(n):
    return "3074257BF7194E40%08X" % n


class Proxy:
    """A TCP proxy on a free port to the broker, whose connections can be cut and refused
    (the satellite's link alone goes down; the hub and the broker stay up)."""

    def __init__(self, port):
        self.port_to = port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.open = True
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.lsock.accept()
            except OSError:
                return
            if not self.open:
                a.close()
                continue
            try:
                b = socket.create_connection(("127.0.0.1", self.port_to))
            except OSError:
                a.close()
                continue
            with self.lock:
                self.conns += [a, b]
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self._pump, args=(x, y), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.open = False
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns = []

    def restore(self):
        self.open = True

    def close(self):
        self.cut()
        self.lsock.close()


class SatelliteTest(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.schemas = mh.Schemas()
        self.broker = mh.Broker(self.tmp.path).start()
        self.proxy = Proxy(self.broker.port)
        self.reader = rfidsim.SimReader("tcp:127.0.0.1:0", units="1")
        for i in range(8):
            self.assertEqual(self.reader.cmd("tag add 1 1 %s -60" % epc(i)), "ok")
        self.tmp.file("floor.cfg", FLOOR.format(port=self.reader.port, sat=SAT))
        self.sub = mh.Sub(self.broker, ["storekeeper/v1/%s/#" % STORE], self.tmp.path, "watch")
        self.daemons = {}
        self.env = {}

    def tearDown(self):
        mh.stop_all(list(self.daemons.values()), [self.sub], [self.broker])
        self.proxy.close()
        self.reader.stop()
        if os.environ.get("SK_KEEP_TMP"):
            print("kept", self.tmp.path)
        else:
            self.tmp.cleanup()

    def start(self, device, env=None):
        if device == HUB:
            role, port = "", self.broker.port
        else:
            role = 'role = "satellite";\nsatellite = { hub = "%s"; ack_timeout_s = 2; };' % HUB
            port = self.proxy.port
        cfg = self.tmp.file(device + ".cfg", BOARD.format(
            store=STORE, device=device, role=role, port=port,
            # the satellite's departures are debug lines: the test's markers
            level=os.environ.get("SK_TEST_LOG_LEVEL", "info" if device == HUB else "debug")))
        log = os.path.join(self.tmp.path, device + ".log")
        if os.path.exists(log):  # an earlier run of this board: kept
            os.rename(log, log + ".%d" % len(glob.glob(log + ".*")))
        if device in self.daemons:
            self.daemons[device].log.close()
        d = sk.Daemon(["run", "-c", cfg], self.tmp.path, env=env, name=device)
        self.daemons[device] = d
        return d

    def pickups(self):
        return [e for e in self.sub.json_on_prefix("storekeeper/v1/%s/%s/event/pickup" %
                                                   (STORE, HUB))]

    def picked(self):
        return sorted({e["epc"].upper() for e in self.pickups()})

    def take(self, *ns):
        for n in ns:
            self.assertEqual(self.reader.cmd("tag del 1 * %s" % epc(n)), "ok")

    def wait_picked(self, ns, timeout=30):
        want = sorted(epc(n) for n in ns)
        ok = mh.wait_until(lambda: self.picked() == want, timeout * sk.SCALE)
        self.assertTrue(ok, "pickups %s, wanted %s\nhub:\n%s\nsatellite:\n%s" % (
            self.picked(), want, self.daemons[HUB].text()[-3000:],
            self.daemons[SAT].text()[-3000:]))

    def reader_up(self):
        """The satellite's reader is up at the hub and the hub holds all 8 tags present."""
        topic = "storekeeper/v1/%s/%s/reader/r-sat/status" % (STORE, HUB)
        return mh.wait_until(lambda: any(h["state"] == "up" for h in self.sub.json_on(topic)),
                             20 * sk.SCALE) and self.present(8)

    def present(self, n):
        return mh.wait_until(lambda: self.diag("status")["core"]["present_tags"] == n,
                             20 * sk.SCALE, 0.2)

    def diag(self, what="all"):
        r = sk.run("diag", what, "--json", "-c", os.path.join(self.tmp.path, HUB + ".cfg"),
                   cwd=self.tmp.path, timeout=30)
        try:
            return json.loads(r.stdout)
        except ValueError:
            self.fail("diag %s --json: %r %r" % (what, r.stdout[-2000:], r.stderr[-2000:]))

    def satellite_check(self, doc):
        for c in doc.get("checks", []):
            if c.get("subject") == "satellite " + SAT:
                return c
        self.fail("no satellite check in diag all: %s" % json.dumps(doc)[:3000])

    def check_stream(self):
        """Every message valid; each pickup once (one event per tag, ids unique)."""
        self.assertEqual(self.schemas.check_all(self.sub.messages()), len(self.sub.messages()))
        picks = self.pickups()
        ids = {}
        for e in picks:
            ids.setdefault(e["id"], e)
        epcs = [e["epc"].upper() for e in ids.values()]
        self.assertEqual(len(epcs), len(set(epcs)), "one pickup per tag: %s" % epcs)

    def test_hub_restart(self):
        self.start(HUB)
        self.start(SAT)
        self.assertTrue(self.reader_up(), self.daemons[SAT].text()[-3000:])
        self.take(0)
        self.wait_picked([0])
        # The hub dies; tags are taken meanwhile; it comes back.
        self.daemons[HUB].proc.kill()
        self.daemons[HUB].proc.wait()
        self.take(1, 2)
        self.assertTrue(self.daemons[SAT].wait_log("tag departed", count=2, timeout=10))
        self.start(HUB)
        self.wait_picked([0, 1, 2])
        # The restarted hub measures the satellite's clock on the next exchange (WARN "clock
        # not measured yet" until then); a slow machine may show the pickups first.
        checks = []
        mh.wait_until(lambda: checks.append(self.satellite_check(self.diag())) or
                      checks[-1]["level"] == "PASS", 20 * sk.SCALE, 0.5)
        c = checks[-1]
        self.assertEqual(c["level"], "PASS", c)
        sat = [s for s in self.diag("status")["satellites"] if s["device_id"] == SAT][0]
        self.assertEqual(sat["link"], "up")
        self.assertEqual(sat["sources"], ["r-sat"])
        self.assertLess(abs(sat["clock_offset_ms"]), sat["clock_rtt_ms"] / 2 + 20, sat)
        print("hub restart: pickups %d; satellite %s" % (len(self.pickups()), sat))
        for d in (SAT, HUB):
            rc, _ = self.daemons[d].stop()
            self.assertEqual(rc, 0, self.daemons[d].text()[-2000:])
        self.check_stream()

    def test_link_outage(self):
        self.start(HUB)
        self.start(SAT)
        self.assertTrue(self.reader_up(), self.daemons[SAT].text()[-3000:])
        self.proxy.cut()
        self.take(3, 4)
        self.assertTrue(self.daemons[SAT].wait_log("tag departed", count=2, timeout=10))
        # The hub sees the link go (hub.silence_s: 3 s here).
        self.assertTrue(mh.wait_until(
            lambda: self.satellite_check(self.diag())["level"] == "FAIL", 30 * sk.SCALE))
        down = self.satellite_check(self.diag())
        self.assertIn("link down", down["message"])
        # The satellite restarts while cut off: what it saw is in its buffer (its ledger).
        rc, _ = self.daemons[SAT].stop()
        self.assertEqual(rc, 0)
        self.take(5)
        self.start(SAT)
        self.assertTrue(self.daemons[SAT].wait_log("tag departed", count=1, timeout=10))
        self.assertEqual(self.picked(), [], "nothing reached the hub while the link was cut")
        self.proxy.restore()
        self.wait_picked([3, 4, 5])
        self.assertTrue(mh.wait_until(
            lambda: self.satellite_check(self.diag())["level"] == "PASS", 30 * sk.SCALE))
        print("link outage: %s" % self.satellite_check(self.diag()))
        for d in (SAT, HUB):
            rc, _ = self.daemons[d].stop()
            self.assertEqual(rc, 0, self.daemons[d].text()[-2000:])
        self.check_stream()

    def test_clock_off(self):
        if not os.path.exists(FAKETIME):
            sk.skip("libfaketime is not installed (scripts/install-deps.sh --test): " + FAKETIME)
        offset = self.tmp.file("offset", "+0\n")
        asan = os.environ.get("ASAN_OPTIONS", "")
        env = dict(LD_PRELOAD=FAKETIME, FAKETIME_TIMESTAMP_FILE=offset, FAKETIME_NO_CACHE="1",
                   FAKETIME_DONT_FAKE_MONOTONIC="1", FAKETIME_DONT_RESET="1",
                   ASAN_OPTIONS=(asan + ":" if asan else "") + "verify_asan_link_order=0")
        self.start(HUB)
        self.start(SAT, env=env)
        self.assertTrue(self.reader_up(), self.daemons[SAT].text()[-3000:])
        self.tmp.file("offset", "+2\n")
        self.assertTrue(mh.wait_until(
            lambda: self.satellite_check(self.diag())["level"] == "FAIL", 30 * sk.SCALE))
        c = self.satellite_check(self.diag())
        self.assertIn("clock", c["message"])
        self.take(6)
        self.assertTrue(self.daemons[SAT].wait_log("tag departed", count=1, timeout=10))
        self.assertTrue(self.daemons[HUB].wait_log("its observations wait on it", timeout=10),
                        self.daemons[HUB].text()[-3000:])
        self.assertEqual(self.picked(), [], "refused while the clock is off")
        self.tmp.file("offset", "+0\n")
        self.wait_picked([6], timeout=60)
        print("clock off: %s" % c)
        for d in (SAT, HUB):
            rc, _ = self.daemons[d].stop()
            self.assertEqual(rc, 0, self.daemons[d].text()[-2000:])
        self.check_stream()


if __name__ == "__main__":
    sk.main()
