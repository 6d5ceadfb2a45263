# SPDX-License-Identifier: MIT
"""`storekeeper diag modbus scan` and `storekeeper diag reader` against virtual readers (TCP
and an RTU pty): tables, JSON, PASS/FAIL exit codes, --watch, usage errors."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import rfidsim  # noqa: E402
from rfidsim import sk  # noqa: E402

TDS = "3074257BF7194E4000001A85"  # GTIN 80614141123458, serial 6789

STORE = """
store_id = "s"; device_id = "d"; board = "sim";
buses = (
  {{ name = "net"; url = "tcp:127.0.0.1:{port}"; poll_interval_ms = 100; pause_ms = 0; }},
  {{ name = "line"; url = "rtu:{pty}:115200:8E1"; poll_interval_ms = 100; }}
);
readers = (
  {{ name = "a"; bus = "net"; unit = 1; }},
  {{ name = "b"; bus = "net"; unit = 2; }},
  {{ name = "c"; bus = "net"; unit = 3; }},
  {{ name = "r"; bus = "line"; unit = 7; }}
);
mqtt = {{ enabled = false; }};
ledger = {{ path = "l.db"; }};
control = {{ socket = "{control}"; }};
"""


class DiagRfid(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = sk.TempDir()
        cls.pty = rfidsim.PtyPair(cls.tmp.path)
        cls.tcp = rfidsim.SimReader("tcp:127.0.0.1:0", units="1-2")
        cls.rtu = rfidsim.SimReader("rtu:" + cls.pty.a, units="7")
        cls.tcp.cmd("tag add 1 2 %s -61" % TDS)
        cls.tcp.cmd("tag add 1 1 E2000019060C02090690D3C2 -70")
        cls.rtu.cmd("tag add 7 1 %s -55" % TDS)
        cls.cfg = cls.tmp.file("store.cfg", STORE.format(
            port=cls.tcp.port, pty=cls.pty.b,
            # its own: no daemon runs for this store (another's on the default path would answer)
            control=os.path.join(cls.tmp.path, "control.sock")))
        cls.tcp.wait_rounds()
        cls.rtu.wait_rounds()

    @classmethod
    def tearDownClass(cls):
        cls.tcp.stop()
        cls.rtu.stop()
        cls.pty.stop()
        cls.tmp.cleanup()

    def test_scan_endpoint(self):
        r = sk.run("diag", "modbus", "scan", "tcp:127.0.0.1:%d" % self.tcp.port, "--units", "1-5")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"\n\s+1  answers \(0x534B\)")
        self.assertRegex(r.stdout, r"\n\s+2  answers \(0x534B\)")
        self.assertNotRegex(r.stdout, r"\n\s+3  ")
        self.assertIn("2 unit(s) answer", r.stdout)
        self.assertTrue(r.stdout.rstrip().endswith("PASS"))

    def test_scan_configured_bus_json(self):
        r = sk.run("diag", "modbus", "scan", "-c", self.cfg, "net", "--units", "1-4", "--json")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # reader c (unit 3) is missing
        j = json.loads(r.stdout)
        self.assertEqual((j["bus"], j["answering"], j["configured"], j["configured_ok"]),
                         ("net", 2, 3, 2))
        self.assertEqual(j["result"], "FAIL")
        units = {u["unit"]: u for u in j["units"]}
        self.assertEqual(units[1]["identity"], "ok")
        self.assertEqual(units[2]["reader"], "b")
        self.assertFalse(units[3]["answers"])
        self.assertIn("exception 11", units[3]["reply"])

    def test_scan_rtu(self):
        r = sk.run("diag", "modbus", "scan", "-c", self.cfg, "line", "--units", "5-8",
                   "--timeout-ms", "50")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"\n\s+7  answers \(0x534B\)\s+\S+ ms\s+r\s+generic-epc\s+ok")

    def test_reader_json(self):
        r = sk.run("diag", "reader", "-c", self.cfg, "a", "--json", "-d", "1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        j = json.loads(r.stdout)
        self.assertEqual((j["reader"], j["unit"], j["profile"], j["result"]), ("a", 1, "generic-epc", "PASS"))
        self.assertGreaterEqual(j["polls"], 8)
        self.assertEqual(j["polls_ok"], j["polls"])
        tags = {(t["antenna"], t["epc"]): t for t in j["tags"]}
        t = tags[(2, TDS)]
        self.assertEqual((t["gtin"], t["serial"], t["rssi_dbm"]), ("80614141123458", 6789, -61))
        self.assertEqual(t["seen_pct"], 100)
        self.assertNotIn("gtin", tags[(1, "E2000019060C02090690D3C2")])

    def test_reader_table_and_failure(self):
        r = sk.run("diag", "reader", "-c", self.cfg, "r", "-d", "1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("reader r: unit 7 on bus line", r.stdout)
        self.assertRegex(r.stdout, r"\n\s+1\s+%s\s+80614141123458\s+-55\.0 dBm" % TDS)
        r = sk.run("diag", "reader", "-c", self.cfg, "c", "-d", "0.5")
        self.assertEqual(r.returncode, 1)
        self.assertIn("exception 11", r.stdout)
        self.assertTrue(r.stdout.rstrip().endswith("FAIL"))

    def test_reader_watch(self):
        p = subprocess.Popen([sk.BIN, "diag", "reader", "-c", self.cfg, "b", "--watch", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = []
        try:
            # Wait for two refreshes however slow the machine is (sanitizers, load), then stop.
            deadline = time.monotonic() + 30
            while len(first) < 2 and time.monotonic() < deadline:
                line = p.stdout.readline()
                if not line:
                    break
                first.append(line)
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        lines = [json.loads(x) for x in "".join(first).splitlines() + out.splitlines()]
        self.assertGreaterEqual(len(lines), 3)  # two refreshes and the final report
        self.assertTrue(all(x["reader"] == "b" for x in lines))
        self.assertLess(lines[0]["polls"], lines[-1]["polls"])

    def test_usage(self):
        # (--socket: no daemon of another test on the default path takes part)
        nowhere = os.path.join(self.tmp.path, "no-daemon.sock")
        for args, text in ((["diag", "reader", "a", "--socket", nowhere], "-c STORE.cfg"),
                           (["diag", "reader", "-c", self.cfg, "zz"], 'no reader "zz"'),
                           (["diag", "modbus", "scan", "nowhere"], "not a bus"),
                           (["diag", "modbus", "scan", "tcp:127.0.0.1:1", "--units", "9-3"],
                            "--units"),
                           (["diag", "modbus", "probe"], "scan")):
            r = sk.run(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(text, r.stderr, args)
        for sub in ("modbus", "reader"):
            r = sk.run("diag", sub, "--help")
            self.assertEqual(r.returncode, 0)
            self.assertIn("exit codes", r.stdout)
        r = sk.run("diag", "modbus", "scan", "tcp:127.0.0.1:1", "--units", "1-2")
        self.assertEqual(r.returncode, 1)
        self.assertIn("Connection refused", r.stdout)


if __name__ == "__main__":
    sk.main()
