# SPDX-License-Identifier: MIT
"""The issue's "done when", under `storekeeper run`: a store with two buses (Modbus/TCP on
127.0.0.1 and RTU over a socat pty pair) and four virtual readers. Every tag arrives once;
removing one from a shelf gives exactly one departure within poll interval + hold time; a
restart (presence state kept in the ledger) neither re-announces the shelves nor forgets a
tag taken while it was down. Also: a broken profile is a configuration error with file:line."""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import rfidsim  # noqa: E402
from rfidsim import sk  # noqa: E402

POLL_MS = 100
HOLD_MS = 1000
LINE = re.compile(r"^(\S+) debug\s+reader (\S+): tag (arrived|departed) antenna (\d+) EPC (\w+)",
                  re.M)


def epc(n):
    return "3074257BF7194E40%08X" % n


STORE = """
store_id = "it-store"; device_id = "edge-it"; board = "sim";
log = {{ level = "debug"; }};
core = {{ status_interval_s = 1; }};
buses = (
  {{ name = "shelf-tcp"; url = "tcp:127.0.0.1:{port}"; poll_interval_ms = {poll}; pause_ms = 0; }},
  {{ name = "shelf-rtu"; url = "rtu:{pty}:115200:8E1"; poll_interval_ms = {poll}; pause_ms = 2; }}
);
readers = (
  {{ name = "reader-a"; bus = "shelf-tcp"; unit = 1; }},
  {{ name = "reader-b"; bus = "shelf-tcp"; unit = 2; }},
  {{ name = "reader-c"; bus = "shelf-rtu"; unit = 1; }},
  {{ name = "reader-d"; bus = "shelf-rtu"; unit = 2; }}
);
presence_presets = ( {{ name = "it"; arrive_k = 2; arrive_n = 3; hold_ms = {hold}; }} );
shelves = (
  {{ name = "A1"; reader = "reader-a"; antenna = 1; preset = "it"; }},
  {{ name = "B1"; reader = "reader-b"; antenna = 1; preset = "it"; }},
  {{ name = "C1"; reader = "reader-c"; antenna = 1; preset = "it"; }},
  {{ name = "D1"; reader = "reader-d"; antenna = 1; preset = "it"; }}
);
mqtt = {{ enabled = false; }};
ledger = {{ path = "{ledger}"; }};
"""


class RunWithVirtualReaders(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.addCleanup(self.tmp.cleanup)
        self.pty = rfidsim.PtyPair(self.tmp.path)
        self.addCleanup(self.pty.stop)
        self.tcp = rfidsim.SimReader("tcp:127.0.0.1:0", units="1-2")
        self.addCleanup(self.tcp.stop)
        self.rtu = rfidsim.SimReader("rtu:" + self.pty.a, units="1-2")
        self.addCleanup(self.rtu.stop)
        self.tags = {}
        for sim, first_reader in ((self.tcp, 0), (self.rtu, 2)):
            for unit in (1, 2):
                reader = "reader-" + "abcd"[first_reader + unit - 1]
                for i in range(3):
                    e = epc(1000 * (first_reader + unit) + i)
                    self.assertEqual(sim.cmd("tag add %d 1 %s -60" % (unit, e)), "ok")
                    self.tags[e] = (sim, unit, reader)
        self.cfg = self.tmp.file("store.cfg", STORE.format(
            port=self.tcp.port, pty=self.pty.b, poll=POLL_MS, hold=HOLD_MS,
            ledger=os.path.join(self.tmp.path, "ledger.db")))

    def start(self):
        d = sk.Daemon(["run", "-c", self.cfg], self.tmp.path)
        self.addCleanup(d.stop)
        return d

    def marker(self, d, sim, unit, e, reader):
        """Takes tag e from a shelf and waits for its departure: the marker of the checks that
        nothing else happened. A departure (or an arrival again) that a change before it
        caused was due earlier than the marker's, which needs hold_ms unseen from now."""
        n = len(self.events(d, "departed"))
        self.assertEqual(sim.cmd("tag del %d * %s" % (unit, e)), "ok")
        self.assertTrue(sk.wait_until(lambda: (reader, e) in self.events(d, "departed")[n:],
                                      10 * sk.SCALE), d.text())

    @staticmethod
    def faulted(sim):
        """Requests the virtual reader answered with a fault, or not at all (`stats`)."""
        return int(re.search(r" faulted (\d+)", sim.cmd("stats")).group(1))

    def events(self, d, kind):
        return [(m.group(2), m.group(5)) for m in LINE.finditer(d.text()) if m.group(3) == kind]

    def test_done_when(self):
        d = self.start()
        self.assertTrue(d.wait_log("tag arrived", timeout=10, count=12), d.text())
        for r in "abcd":
            self.assertIn("reader reader-%s: up" % r, d.text())
        arrived = self.events(d, "arrived")
        self.assertEqual(sorted(e for _, e in arrived), sorted(self.tags))
        for reader, e in arrived:
            self.assertEqual(reader, self.tags[e][2])
        # one tag leaves shelf D1 (RTU)
        gone = epc(4001)
        t0 = time.monotonic()
        self.assertEqual(self.rtu.cmd("tag del 2 * %s" % gone), "ok")
        self.assertTrue(d.wait_log("tag departed", timeout=5), d.text())
        took = time.monotonic() - t0
        print("departure after %.0f ms (poll %d + hold %d)" % (took * 1000, POLL_MS, HOLD_MS))
        self.assertLessEqual(took, (POLL_MS + HOLD_MS) / 1000 + 0.5)
        # exactly one departure: a tag taken from shelf B1 afterwards is the marker
        marker = epc(2000)
        self.marker(d, self.tcp, 2, marker, "reader-b")
        self.assertEqual(self.events(d, "departed"), [("reader-d", gone), ("reader-b", marker)])
        self.assertEqual(len(self.events(d, "arrived")), 12)
        self.assertTrue(d.wait_log("(12 tags arrived, 2 departed)", timeout=5), d.text())
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.text())

        # the process stops; meanwhile a tag is taken from shelf A1 (TCP)
        taken = epc(1002)
        self.assertEqual(self.tcp.cmd("tag del 1 * %s" % taken), "ok")
        d2 = self.start()
        self.assertTrue(d2.wait_log("tag departed", timeout=5), d2.text())
        # re-announced shelves would have arrived in the first polls, before that departure;
        # another departure with it: a tag taken from shelf C1 afterwards is the marker
        marker2 = epc(3000)
        self.marker(d2, self.rtu, 1, marker2, "reader-c")
        self.assertIn("present from before the restart", d2.text())
        self.assertEqual(self.events(d2, "departed"), [("reader-a", taken), ("reader-c", marker2)])
        self.assertEqual(self.events(d2, "arrived"), [])
        rc, _ = d2.stop()
        self.assertEqual(rc, 0, d2.text())

    def test_reader_outage_under_run(self):
        """A reader that goes silent is reported down (timeout) and recovers; its shelf's
        tags neither depart during the outage nor arrive again after it."""
        d = self.start()
        self.assertTrue(d.wait_log("tag arrived", timeout=10, count=12), d.text())
        self.assertEqual(self.tcp.cmd("fault 2 silent"), "ok")
        silent_since = time.monotonic()  # it answered nothing after its "ok"
        self.assertTrue(d.wait_log("reader reader-b: down (timeout", timeout=5), d.text())
        # The outage outlasts hold_ms: once that long has passed since the reader last
        # answered, the bus asks it once more (and gets no answer) before it answers again.
        sk.wait_until(lambda: time.monotonic() - silent_since > HOLD_MS / 1000, 5 * sk.SCALE)
        faulted = self.faulted(self.tcp)
        self.assertTrue(sk.wait_until(lambda: self.faulted(self.tcp) > faulted, 10 * sk.SCALE),
                        d.text())
        self.assertEqual(self.tcp.cmd("fault 2 none"), "ok")
        self.assertTrue(d.wait_log("reader reader-b: up", timeout=10, count=2), d.text())
        # A tag taken from that shelf now is the marker: a departure the outage caused was
        # due earlier than its (which needs hold_ms unseen from now), an arrival again after
        # the recovery within the first polls.
        marker = epc(2000)
        self.marker(d, self.tcp, 2, marker, "reader-b")
        self.assertEqual(self.events(d, "departed"), [("reader-b", marker)])
        self.assertEqual(len(self.events(d, "arrived")), 12)


class BrokenProfile(unittest.TestCase):
    def test_check_config_names_the_profile_line(self):
        tmp = sk.TempDir()
        self.addCleanup(tmp.cleanup)
        os.mkdir(os.path.join(tmp.path, "profiles"))
        tmp.file("profiles/broken.prof",
                 "[profile]\nid = broken\nstatus = test\npattern = snapshot\n"
                 "[block.a]\ntable = holding\naddress = 0\ncount = 4\n"
                 "[records.r]\nblock = a\nstride = 8\nmax = 1\n"
                 "[field.epc]\nrecord = r\nreg = 0\ntype = bytes\nlen = 9\nrole = epc\n"
                 "[snapshot]\nrecords = r\n")
        cfg = tmp.file("store.cfg", 'store_id = "s"; device_id = "d"; board = "sim";\n'
                                    'profiles_dir = "profiles";\n'
                                    'buses = ( { name = "b"; url = "tcp:127.0.0.1:1"; } );\n'
                                    'readers = ( { name = "r"; bus = "b"; unit = 1; '
                                    'profile = "broken"; },\n'
                                    '            { name = "q"; bus = "b"; unit = 2; '
                                    'profile = "inveo-rfid-ind"; } );\n'
                                    'mqtt = { enabled = false; };\n'
                                    'ledger = { path = "l.db"; };\n')
        r = sk.run("run", "-c", cfg, "--check-config")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"profiles/broken\.prof:13: \[field\.epc\]: reg/byte: the "
                                   r"field ends after the record \(stride 8 bytes\)")
        # at the reader's line of the store file (listed with every other problem)
        self.assertRegex(r.stderr, r'store\.cfg:\d+: readers\.\[0\]\.profile: profile "broken" '
                                   r'of reader r is not usable')
        self.assertIn("readers.[1].profile: inveo-rfid-ind devices speak only Modbus RTU, bus b "
                      "is TCP", r.stderr)
        # and `run` refuses to start with the same messages, as a configuration error
        r = sk.run("run", "-c", cfg, "--duration", "2")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("broken.prof:13:", r.stderr)


if __name__ == "__main__":
    sk.main()
