# SPDX-License-Identifier: MIT
"""A small simulated store for the diagnostics tests: virtual readers on Modbus/TCP (and RTU
over a socat pty pair when socat is there), a synthetic camera, a ledger with a few
movements, and the daemon with its control socket and status page in a temp dir."""
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "integration"))
sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "mqtt"))
sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "rfid"))
import sk  # noqa: E402
import mqtt_helpers  # noqa: E402  (the real mosquitto broker of the MQTT tests)
import rfidsim  # noqa: E402  (the socat pty pair)

SCALE = sk.SCALE

STORE = """store_id = "diag-store";
device_id = "edge-07";
board = "sim";
products_file = "products.csv";
log = {{ level = "info"; format = "plain"; }};
core = {{ status_interval_s = 0; tick_ms = 50; }};
buses = (
  {{ name = "shelf-tcp"; url = "tcp:127.0.0.1:{tcp_port}"; poll_interval_ms = 100;
     response_timeout_ms = 150; reconnect_min_ms = 100; reconnect_max_ms = 500; }}{rtu_bus}
);
readers = (
  {{ name = "shelf-1"; bus = "shelf-tcp"; unit = 1; }},
  {{ name = "shelf-2"; bus = "shelf-tcp"; unit = 2; }}{rtu_reader}
);
shelves = (
  {{ name = "A1"; reader = "shelf-1"; antenna = 1; }},
  {{ name = "A2"; reader = "shelf-2"; antenna = 1; }}{rtu_shelf}
);
cameras = ( {{ name = "overhead"; backend = "synthetic"; }} );
vision = {{ flow_interval_s = 1; }};
staff_badges = ( {{ name = "night-shift"; epc = "E2801160600002084A1B2C3D"; }} );
mqtt = {mqtt};
ledger = {{ path = "ledger.db"; census_interval_s = 0; }};
control = {{ socket = "{socket}"; }};
http = {{ enabled = {http}; port = {http_port}; refresh_s = 0; }};
"""

PRODUCTS = """sku,gtin,name,price,currency,restock_threshold,restock_target
COLA-033,4099999000104,Cola 0.33 l,1.49,EUR,0,0
WATER-050,4099999000111,Still water 0.5 l,0.99,EUR,0,0
"""


def ctl_request(path, obj=None, version=1, raw=None, timeout=5.0):
    """Sends one control request; returns (header fields, reply dict or None)."""
    import json
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    try:
        if raw is None:
            body = json.dumps(obj).encode()
            raw = b"SKct" + struct.pack(">HHII", version, 1, len(body), 0) + body
        s.sendall(raw)
        return read_reply(s)
    finally:
        s.close()


def read_reply(s):
    import json
    hdr = b""
    while len(hdr) < 16:
        chunk = s.recv(16 - len(hdr))
        if not chunk:
            return None, None
        hdr += chunk
    magic, version, kind, jlen, dlen = struct.unpack(">4sHHII", hdr)
    body = b""
    while len(body) < jlen + dlen:
        chunk = s.recv(jlen + dlen - len(body))
        if not chunk:
            break
        body += chunk
    return (magic, version, kind, jlen, dlen), json.loads(body[:jlen])


class Store:
    """Virtual readers + the daemon. Call stop() (tearDown) to end every process."""

    def __init__(self, rtu=False, http=False, broker=False):
        self.tmp = sk.TempDir()
        self.procs = []
        self.broker = None
        mqtt = "{ enabled = false; }"
        if broker:
            self.broker = mqtt_helpers.Broker(self.tmp.path).start()
            mqtt = ("{ enabled = true; host = \"127.0.0.1\"; port = %d; reconnect_min_ms = 200; "
                    "reconnect_max_ms = 500; connect_timeout_s = 2; }" % self.broker.port)
        self.tcp_port = sk.free_port()
        self.http_port = sk.free_port() if http else 8080
        self.vr_ctl = os.path.join(self.tmp.path, "vr.sock")
        self.socket = os.path.join(self.tmp.path, "control.sock")
        self.rtu = rtu and shutil.which("socat") is not None
        self.daemon = None
        self.tmp.file("products.csv", PRODUCTS)
        rtu_bus = rtu_reader = rtu_shelf = ""
        if self.rtu:
            self.pty_a = os.path.join(self.tmp.path, "ttyA")
            self.pty_b = os.path.join(self.tmp.path, "ttyB")
            self.procs.append(rfidsim.PtyPair(self.tmp.path, self.pty_a, self.pty_b).p)
            rtu_bus = (f',\n  {{ name = "shelf-rtu"; url = "rtu:{self.pty_a}:115200:8E1"; '
                       'poll_interval_ms = 100; response_timeout_ms = 150; }')
            rtu_reader = ',\n  { name = "shelf-3"; bus = "shelf-rtu"; unit = 4; }'
            rtu_shelf = ',\n  { name = "B1"; reader = "shelf-3"; antenna = 1; }'
            self.vr_rtu_ctl = os.path.join(self.tmp.path, "vr-rtu.sock")
            self.start_vreader(f"rtu:{self.pty_b}:115200:8E1", "4", self.vr_rtu_ctl)
        self.cfg = self.tmp.file("store.cfg", STORE.format(
            tcp_port=self.tcp_port, rtu_bus=rtu_bus, rtu_reader=rtu_reader, rtu_shelf=rtu_shelf,
            socket=self.socket, http="true" if http else "false", http_port=self.http_port,
            mqtt=mqtt))
        self.start_vreader(f"tcp:127.0.0.1:{self.tcp_port}", "1,2", self.vr_ctl)

    def start_vreader(self, endpoint, units, ctl):
        p = subprocess.Popen([sk.BIN, "sim", "reader", "--listen", endpoint, "-u", units,
                              "-t", "3", "-c", ctl], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        assert line.startswith("listening"), line
        assert sk.wait_until(lambda: os.path.exists(ctl), 5, 0.02), \
            "virtual reader has no control socket"

    def vreader(self, command, ctl=None):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(ctl or self.vr_ctl)
        s.sendall(command.encode() + b"\n")
        answer = s.recv(200).decode()
        s.close()
        assert answer.startswith("ok"), answer
        return answer

    def ledger(self, *args):
        r = sk.run("ledger", "-c", self.cfg, *args)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def start(self):
        self.daemon = sk.Daemon(["run", "-c", self.cfg], self.tmp.path)
        assert self.daemon.wait_log("core: running", timeout=10 * SCALE), self.daemon.text()

        def settled():
            readers = self.status().get("readers", [])
            # every reader reported, and its three tags arrived (presence filter settled)
            return readers and all(r["state"] != "unknown" and r.get("present") == 3
                                   for r in readers)
        assert sk.wait_until(settled, 10 * SCALE, 0.1), \
            "readers never reported\n" + self.daemon.text()

    def status(self):
        head, reply = ctl_request(self.socket, {"cmd": "status"})
        assert reply and reply["ok"], reply
        return reply["result"]

    def wait_reader(self, name, state, timeout=10):
        found = sk.wait_until(lambda: [r for r in self.status()["readers"]
                                       if r["name"] == name and r["state"] == state],
                              timeout * SCALE, 0.1)
        assert found, f"{name} never {state}: {self.status()['readers']}"
        return found[0]

    def diag(self, *args, timeout=60):
        return sk.run("diag", *args, "-c", self.cfg, timeout=timeout)

    def stop_daemon(self):
        if self.daemon:
            rc, _ = self.daemon.stop(timeout=10 * SCALE)
            text = self.daemon.text()
            self.daemon = None
            assert rc == 0, f"daemon exited {rc}:\n{text[-3000:]}"
            return rc
        return None

    def wait_mqtt(self, state, timeout=15):
        m = sk.wait_until(lambda: (lambda m: m["state"] == state and m)(self.status()["mqtt"]),
                          timeout * SCALE, 0.1)
        assert m, f"mqtt never {state}: {self.status()['mqtt']}"
        return m

    def stop(self):
        try:
            rc = self.stop_daemon()
            if self.broker:
                self.broker.stop()
            # a clean stop exits 0 (under the sanitizers: no leak, no race report)
            assert rc in (None, 0), f"daemon exited {rc}"
        finally:
            for p in reversed(self.procs):
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                if p.stdout:
                    p.stdout.close()
            self.tmp.cleanup()
