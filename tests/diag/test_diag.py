# SPDX-License-Identifier: MIT
"""Every diag command against a running daemon with virtual readers (Modbus/TCP, and RTU over
a socat pty pair): all PASS on a healthy store, then each injected fault with its FAIL line
and advice (reader unplugged, ledger hash chain broken, daemon gone, daemon that does not
answer); the direct mode without a daemon; the support bundle and its redaction."""
import json
import os
import sqlite3
import subprocess
import tarfile
import tempfile
import unittest

import diag_helpers as dh
import sk


class Diag(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.store = dh.Store(rtu=True, broker=True)
        cls.store.start()
        cls.store.wait_mqtt("connected")
        cls.store.ledger("restock", "--shelf", "A1", "--sku", "COLA-033", "--quantity", "3")
        cls.store.ledger("restock", "--shelf", "A2", "--sku", "WATER-050", "--quantity", "2")

    @classmethod
    def tearDownClass(cls):
        cls.store.stop()

    def test_1_status(self):
        r = self.store.diag("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("via the daemon (pid", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^shelf-1 +shelf-tcp +1 up +3 ")
        self.assertRegex(r.stdout, r"(?m)^overhead +synthetic +up ")
        r = self.store.diag("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        d = json.loads(r.stdout)
        self.assertEqual(d["schema"], "storekeeper/status/v1")
        self.assertEqual(d["mode"], "daemon")
        self.assertEqual(d["config"]["hash"], d["config"]["hash_on_disk"])
        names = {x["name"]: x for x in d["readers"]}
        self.assertEqual(set(names), {"shelf-1", "shelf-2", "shelf-3"} if self.store.rtu
                         else {"shelf-1", "shelf-2"})
        for x in names.values():
            self.assertEqual(x["state"], "up", x)
            self.assertGreater(x["polls"], 0)
            self.assertEqual(x["present"], 3)
        self.assertIn("queue", d)
        self.assertIn("core", [l["name"] for l in d["loops"]])
        self.assertGreaterEqual(d["ledger"]["outbox"]["last_seq"], 0)

    def test_2_all_pass(self):
        r = self.store.diag("all")
        print(r.stdout)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("FAIL ", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^PASS  reader shelf-1: up, unit 1 at 127\.0\.0\.1:\d+")
        self.assertRegex(r.stdout, r"(?m)^PASS  ledger chain: 2 movement\(s\), hash chain holds")
        self.assertTrue(r.stdout.rstrip().endswith("PASS"))
        self.assertRegex(r.stdout, r"(?m)^PASS  mqtt: connected to 127\.0\.0\.1:\d+ \(MQTT 5\)$")
        # Nothing to warn about in this store, but a full disk on the test machine.
        warns = [l for l in r.stdout.splitlines() if l.startswith("WARN")]
        for w in warns:
            self.assertRegex(w, r"^WARN  disk:", w)
        j = json.loads(self.store.diag("all", "--json").stdout)
        self.assertEqual(j["result"], "PASS")
        self.assertEqual(j["fail"], 0)

    def test_3_ledger(self):
        r = self.store.diag("ledger")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("integrity   integrity_check: ok", r.stdout)
        self.assertIn("chain       2 movement(s), intact", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^A1 +COLA-033 +3 ")
        j = json.loads(self.store.diag("ledger", "--json").stdout)
        self.assertEqual(j["mode"], "daemon")
        self.assertTrue(j["chain"]["ok"])
        self.assertEqual(j["stock"]["total"], 5)

    def test_4_reader(self):
        r = self.store.diag("reader", "shelf-1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("via the daemon", r.stdout)
        self.assertIn("3 tag(s) present", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^ +1 +[0-9A-F]{24} +\d{14} +-\d+\.\d +\d+ +\d+\.\d$")
        r = self.store.diag("reader", "shelf-2", "--watch", "--count", "3", "--interval", "0.3",
                            "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        views = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(len(views), 3)
        for v in views:
            self.assertTrue(v["fresh"], v)
            self.assertEqual(v["tags_total"], 3)
            self.assertLess(v["view_age_ms"], 1000)
        r = self.store.diag("reader", "no-such")
        self.assertEqual(r.returncode, 2)
        self.assertIn('has no reader "no-such"', r.stderr)

    def test_4_mqtt(self):
        r = self.store.diag("mqtt")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        port = self.store.broker.port
        self.assertRegex(r.stdout, r"^the store's own connection \(via the daemon, .+\): "
                                   rf"connected 127\.0\.0\.1:{port} since ")
        self.assertIn("a test connection of this command's own:", r.stdout)

    def test_5_reader_unplugged(self):
        self.store.vreader("fault 2 silent 1")
        try:
            self.store.wait_reader("shelf-2", "down")
            r = self.store.diag("all")
            print(r.stdout)
            self.assertEqual(r.returncode, 1, r.stdout)
            port = self.store.tcp_port
            self.assertIn(f"FAIL  reader shelf-2: down: no reply from unit 2 at 127.0.0.1:{port}"
                          " — check the reader's power and network, and its unit id", r.stdout)
            self.assertIn("PASS  reader shelf-1: up", r.stdout)
            self.assertTrue(r.stdout.rstrip().endswith("FAIL"))
            self.assertEqual(self.store.diag("reader", "shelf-2").returncode, 1)
        finally:
            self.store.vreader("fault 2 none")
        self.store.wait_reader("shelf-2", "up")

    def test_5_rtu_reader_unplugged(self):
        if not self.store.rtu:
            sk.require_tool("socat", why="the RTU bus runs over a socat pty pair")
        self.store.vreader("fault 4 silent 1", ctl=self.store.vr_rtu_ctl)
        try:
            self.store.wait_reader("shelf-3", "down")
            r = self.store.diag("all")
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn(f"FAIL  reader shelf-3: down: no reply from unit 4 on {self.store.pty_a}"
                          " at 115200 8E1 — check termination, A/B wiring, the baud rate and the "
                          "unit id", r.stdout)
        finally:
            self.store.vreader("fault 4 none", ctl=self.store.vr_rtu_ctl)
        self.store.wait_reader("shelf-3", "up")

    def test_5_broker_down(self):
        port = self.store.broker.port
        self.store.broker.stop()
        try:
            self.store.wait_mqtt("disconnected")
            # a restock while the broker is away: its event waits in the outbox
            self.store.ledger("restock", "--shelf", "A2", "--sku", "WATER-050", "--quantity", "1")
            r = self.store.diag("all")
            print(r.stdout)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertRegex(r.stdout, rf"(?m)^FAIL  mqtt: broker 127\.0\.0\.1:{port} not connected"
                                       r"(: .+)?; [1-9]\d* event\(s\) wait in the outbox — check the "
                                       r"broker runs \(systemctl status mosquitto\), mqtt\.host "
                                       r"and mqtt\.port, then `storekeeper diag mqtt`$")
            # the link retries after reconnect_min_ms: wait for its first failed attempt (a
            # fast `diag all` can come before it)
            def failures():
                return json.loads(self.store.diag("status", "--json").stdout)["mqtt"]["failures"]
            self.assertGreaterEqual(sk.wait_until(failures, 10 * sk.SCALE), 1)
        finally:
            self.store.broker.start()
        self.store.wait_mqtt("connected")
        # what waited in the outbox is delivered: the backlog drains to nothing
        self.assertTrue(sk.wait_until(
            lambda: self.store.status()["ledger"]["outbox"]["pending"] == 0, 15 * dh.SCALE, 0.1),
            self.store.status()["ledger"]["outbox"])

    def test_6_bundle(self):
        out = os.path.join(self.store.tmp.path, "support.tar.gz")
        old = os.umask(0o022)  # a technician's usual umask: the bundle is still not for others
        try:
            r = self.store.diag("bundle", out)
        finally:
            os.umask(old)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("through the daemon", r.stdout)
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o640)
        with tarfile.open(out) as t:
            names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
            for want in ("README.txt", "status.json", "checks.txt", "metrics.txt", "ledger.json",
                         "log.txt", "config/store.cfg", "config/board.cfg", "system.txt"):
                self.assertIn(want, names)
            top = t.getnames()[0].split("/")[0]

            def read(name):
                return t.extractfile(f"{top}/{name}").read().decode()
            cfg = read("config/store.cfg")
            self.assertNotIn("E2801160600002084A1B2C3D", cfg)
            self.assertIn('epc = "<removed>"', cfg)
            self.assertIn('name = "night-shift"', cfg)
            self.assertIn("core: running", read("log.txt"))
            self.assertIn("storekeeper_reader_polls_total{reader=\"shelf-1\"}", read("metrics.txt"))
            self.assertEqual(json.loads(read("status.json"))["store_id"], "diag-store")
            self.assertTrue(json.loads(read("ledger.json"))["chain"]["ok"])

    def test_7_chain_broken(self):
        """A movement edited outside storekeeper: diag all and diag ledger FAIL with advice."""
        self.assertEqual(self.store.stop_daemon(), 0)
        # As someone with a database tool would: lift the append-only guard, edit, restore it.
        db = sqlite3.connect(os.path.join(self.store.tmp.path, "ledger.db"))
        try:
            triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                  "AND tbl_name = 'movements'").fetchall()
            for name, _ in triggers:
                db.execute(f"DROP TRIGGER {name}")
            db.execute("UPDATE movements SET quantity = 7 WHERE id = 1")
            for _, sql in triggers:
                db.execute(sql)
            db.commit()
        finally:
            db.close()
        self.store.start()
        r = self.store.diag("all")
        print(r.stdout)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"(?m)^FAIL  ledger chain: hash chain broken at movement 1: .+"
                         r" — the file was changed outside storekeeper: keep a copy for the audit"
                         r" and call support$")
        r = self.store.diag("ledger")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("chain       BROKEN at movement 1", r.stdout)

    def test_8_without_daemon(self):
        """No daemon: diag all says so (FAIL with advice), probes the readers itself."""
        self.store.stop_daemon()
        try:
            r = self.store.diag("all", "--probe", "1.5")
            print(r.stdout)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("WITHOUT the daemon", r.stdout)
            self.assertIn("FAIL  daemon: not running: no daemon answers on", r.stdout)
            self.assertIn("— start it (systemctl start storekeeper)", r.stdout)
            self.assertIn("PASS  reader shelf-1: up", r.stdout)
            r = self.store.diag("status", "--json", "--probe", "1")
            self.assertEqual(json.loads(r.stdout)["mode"], "direct")
            # diag reader without a daemon: the RFID poller of cmd_diag_rfid.c, said so first
            r = self.store.diag("reader", "shelf-1", "--duration", "1")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertTrue(r.stdout.startswith("WITHOUT the daemon"), r.stdout)
            self.assertRegex(r.stdout, r"(?m)^3 tag\(s\)$")
            # diag modbus scan of an RS-485 bus is fine without a daemon ...
            if self.store.rtu:
                r = self.store.diag("modbus", "scan", "shelf-rtu", "--units", "4-4")
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            self.store.start()

    def test_9_modbus_scan_guard(self):
        """... but not while the daemon polls it: one master on RS-485."""
        if not self.store.rtu:
            sk.require_tool("socat", why="the RTU bus runs over a socat pty pair")
        r = self.store.diag("modbus", "scan", "shelf-rtu", "--units", "4-4")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("the running daemon polls bus shelf-rtu (RS-485: one master only)",
                      r.stderr)
        r = self.store.diag("modbus", "scan", "shelf-tcp", "--units", "1-2")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("note: the running daemon also polls bus shelf-tcp", r.stderr)

    def test_9_daemon_not_answering(self):
        """A daemon runs but its socket is elsewhere: diag must not open the buses."""
        elsewhere = os.path.join(self.store.tmp.path, "nowhere.sock")
        r = self.store.diag("all", "--socket", elsewhere)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("a storekeeper daemon runs (it holds the ledger", r.stderr)
        self.assertIn("not opening the buses or the ledger behind its back", r.stderr)
        self.assertEqual(r.stdout, "")


class Protocol(unittest.TestCase):
    """The control socket's framing: versions, limits, malformed requests."""

    @classmethod
    def setUpClass(cls):
        cls.store = dh.Store()
        cls.store.start()

    @classmethod
    def tearDownClass(cls):
        cls.store.stop()

    def test_socket_mode(self):
        st = os.stat(self.store.socket)
        self.assertEqual(st.st_mode & 0o777, 0o660)

    def test_hello(self):
        head, reply = dh.ctl_request(self.store.socket, {"cmd": "hello"})
        self.assertEqual(head[0], b"SKct")
        self.assertEqual(head[1], 1)
        self.assertTrue(reply["ok"])
        self.assertEqual(reply["protocol"], 1)
        self.assertEqual(reply["result"]["store_id"], "diag-store")

    def test_version_mismatch_from_client(self):
        head, reply = dh.ctl_request(self.store.socket, {"cmd": "status"}, version=2)
        self.assertEqual(head[1], 1)  # answered in the daemon's own version
        self.assertFalse(reply["ok"])
        self.assertEqual(reply["error"]["code"], "version")
        self.assertIn("control protocol version 2 is not spoken here", reply["error"]["message"])
        self.assertIn("speaks version 1", reply["error"]["message"])

    def test_version_mismatch_from_daemon(self):
        """A daemon of another protocol version: the command says so plainly, exit 1."""
        path = os.path.join(self.store.tmp.path, "v2.sock")
        srv = subprocess.Popen([sk.SK_PYTHON if hasattr(sk, "SK_PYTHON") else "/usr/bin/python3",
                                "-c", FAKE_V2_DAEMON, path], stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(srv.stdout.readline().strip(), "ready")
            r = self.store.diag("status", "--socket", path)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("the daemon (storekeeper 9.0.0) speaks control protocol version 2, "
                          "this storekeeper speaks version 1", r.stderr)
        finally:
            srv.kill()
            srv.wait()
            srv.stdout.close()

    def test_malformed(self):
        cases = [
            (b"HTTP/1.1 GET /\r\n\r\n", "malformed", "bad magic"),
            (b"SKct" + bytes([0, 1, 0, 1]) + (5000).to_bytes(4, "big") + bytes(4), "too_large",
             "requests are 1 to 4096 bytes"),
            (b"SKct" + bytes([0, 1, 0, 1]) + (0).to_bytes(4, "big") + bytes(4), "too_large", ""),
            (b"SKct" + bytes([0, 1, 0, 2]) + (2).to_bytes(4, "big") + bytes(4) + b"{}",
             "malformed", "is not a request"),
            (b"SKct" + bytes([0, 1, 0, 1]) + (3).to_bytes(4, "big") + (7).to_bytes(4, "big") +
             b"{}}", "malformed", "attachment"),
            (b"SKct" + bytes([0, 1, 0, 1]) + (5).to_bytes(4, "big") + bytes(4) + b"[1,2]",
             "malformed", "not a JSON object"),
            (b"SKct" + bytes([0, 1, 0, 1]) + (4).to_bytes(4, "big") + bytes(4) + b"{x:1",
             "malformed", "not a JSON object"),
        ]
        for raw, code, text in cases:
            head, reply = dh.ctl_request(self.store.socket, raw=raw)
            self.assertIsNotNone(reply, raw)
            self.assertEqual(reply["error"]["code"], code, reply)
            self.assertIn(text, reply["error"]["message"])
        head, reply = dh.ctl_request(self.store.socket, {"cmd": "launch-missiles"})
        self.assertEqual(reply["error"]["code"], "unknown_command")
        self.assertIn("known: hello, status", reply["error"]["message"])
        head, reply = dh.ctl_request(self.store.socket, {"nocmd": 1})
        self.assertEqual(reply["error"]["code"], "invalid")
        head, reply = dh.ctl_request(self.store.socket, {"cmd": "log", "max": -5})
        self.assertEqual(reply["error"]["code"], "invalid")
        # The daemon is unharmed and still answers.
        self.assertEqual(self.store.status()["store_id"], "diag-store")
        self.assertIsNone(self.store.daemon.proc.poll())

    def test_many_requests_one_connection_and_limits(self):
        import socket as so
        import struct
        s = so.socket(so.AF_UNIX)
        s.settimeout(5)
        s.connect(self.store.socket)
        body = json.dumps({"cmd": "hello"}).encode()
        frame = b"SKct" + struct.pack(">HHII", 1, 1, len(body), 0) + body
        s.sendall(frame * 5)  # pipelined: answered in order
        for _ in range(5):
            head, reply = dh.read_reply(s)
            self.assertTrue(reply["ok"])
        s.close()
        # More connections than control.max_clients (8): the extra ones are closed at once.
        conns = []
        for _ in range(8):
            c = so.socket(so.AF_UNIX)
            c.connect(self.store.socket)
            conns.append(c)
        extra = so.socket(so.AF_UNIX)
        extra.settimeout(5)
        extra.connect(self.store.socket)
        try:
            extra.sendall(frame)
            self.assertEqual(extra.recv(16), b"")
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed before the request even went out: refused as well
        extra.close()
        for c in conns:
            c.close()
        # The daemon notices the closed connections on its next loop turn: then it answers.
        def clients():
            try:
                return self.store.status()["control"]["clients"]
            except (ConnectionResetError, BrokenPipeError, AssertionError):
                return None
        self.assertTrue(sk.wait_until(lambda: clients() == 1, 5 * dh.SCALE), clients())

    def test_stalled_request_is_cut(self):
        import socket as so
        import time
        s = so.socket(so.AF_UNIX)
        s.settimeout(10)
        s.connect(self.store.socket)
        s.sendall(b"SKct\x00\x01")  # half a header, then nothing
        t0 = time.monotonic()
        self.assertEqual(s.recv(16), b"")  # closed by the daemon
        took = time.monotonic() - t0
        s.close()
        self.assertGreater(took, 4.0)
        self.assertLess(took, 8.0 * dh.SCALE)
        self.assertEqual(self.store.status()["store_id"], "diag-store")

    def test_metrics_and_log(self):
        head, reply = dh.ctl_request(self.store.socket, {"cmd": "metrics"})
        text = reply["result"]["text"]
        self.assertIn('storekeeper_reader_health{reader="shelf-1"} 1', text)
        self.assertIn("# TYPE storekeeper_queue_depth gauge", text)
        head, reply = dh.ctl_request(self.store.socket, {"cmd": "log", "max": 50})
        lines = reply["result"]["lines"]
        self.assertLessEqual(len(lines), 50)
        self.assertTrue(any("control: answering on" in l for l in lines), lines)


FAKE_V2_DAEMON = r"""
import json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
hdr = c.recv(16)
n = struct.unpack(">I", hdr[8:12])[0]
c.recv(n)
body = json.dumps({"ok": False, "protocol": 2, "version": "9.0.0",
                   "error": {"code": "version", "message": "v2 only"}}).encode()
c.sendall(b"SKct" + struct.pack(">HHII", 2, 2, len(body), 0) + body)
c.close()
"""

if __name__ == "__main__":
    sk.main()
