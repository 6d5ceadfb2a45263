# SPDX-License-Identifier: MIT
"""The MQTT link against a real mosquitto broker on loopback: birth, last will on SIGKILL,
clean stop, health topics, every command's good and bad forms (MQTT 5 response topic and
correlation data, MQTT 3.1.1 reply topics), the fallback to 3.1.1, and `diag mqtt`. Every
payload received is validated against its JSON Schema in docs/schema."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

import mqtt_helpers as mh
import sk

STORE = "it-store"
DEVICE = "edge-7"
PREFIX = "storekeeper/v1/%s/%s/" % (STORE, DEVICE)

CONFIG = """store_id = "%(store)s";
device_id = "%(device)s";
board = "sim";
log = { level = "%(level)s"; format = "plain"; };
core = { tick_ms = 50; };
mqtt = { host = "%(host)s"; port = %(port)d; reconnect_min_ms = 200; reconnect_max_ms = 1000;
         keepalive_s = 5; stats_interval_s = 1; hwm_interval_ms = 200; %(mqtt)s };
buses = ( { name = "bus-1"; url = "tcp:127.0.0.1:%(bus_port)d"; } );
readers = ( { name = "reader-1"; bus = "bus-1"; unit = 1; profile = "generic-epc"; } );
shelves = ( { name = "shelf-a"; reader = "reader-1"; antenna = 1; },
            { name = "shelf-b"; reader = "reader-1"; antenna = 2; } );
%(cameras)s
"""


def config_text(port, mqtt="", level="info", host="127.0.0.1", camera=False):
    # The camera is optional: OpenCV's TBB worker threads trip ThreadSanitizer (a report in
    # libopencv_imgproc, not in storekeeper), and this file also runs under TSan.
    cams = ('cameras = ( { name = "cam-1"; backend = "synthetic"; device = "%s"; } );' %
            os.path.join(sk.SRC, "examples", "demo-overhead.scene")) if camera else ""
    return CONFIG % {"store": STORE, "device": DEVICE, "port": port, "mqtt": mqtt,
                     "level": level, "host": host, "bus_port": sk.free_port(), "cameras": cams}


class LinkTest(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.schemas = mh.Schemas()
        self.broker = mh.Broker(self.tmp.path).start()
        self.subs = []
        self.daemons = []

    def tearDown(self):
        mh.stop_all(self.daemons, self.subs, [self.broker])
        self.tmp.cleanup()

    def sub(self, topics, name, v5=True):
        s = mh.Sub(self.broker, topics, self.tmp.path, name, v5=v5)  # subscribed (SUBACK)
        self.subs.append(s)
        return s

    def start(self, mqtt="", level="info", name="store.cfg", camera=False):
        cfg = self.tmp.file(name, config_text(self.broker.port, mqtt, level, camera=camera))
        d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
        self.daemons.append(d)
        return d

    def status(self, sub, state, count=1, timeout=10):
        msgs = sub.wait_for(lambda ms: [m for m in ms if m["topic"] == PREFIX + "status" and
                                        json.loads(m["payload"])["state"] == state][count - 1:],
                            timeout)
        self.assertTrue(msgs, "no status %r: %s" % (state, [m["payload"] for m in sub.messages()]))
        return json.loads(msgs[-1]["payload"])

    def test_birth_will_stop_and_health(self):
        camera = os.environ.get("SK_TEST_CAMERA") == "1"
        sub = self.sub([PREFIX + "#"], "watcher")
        d = self.start(camera=camera)
        birth = self.status(sub, "online")
        self.assertEqual(birth["readers"], ["reader-1"])
        self.assertEqual(birth["cameras"], ["cam-1"] if camera else [])
        self.assertEqual(birth["protocol"], "5")
        self.assertIn("session_bind", birth["commands"])
        self.assertEqual(len(birth["config_hash"]), 64)
        self.assertTrue(d.wait_log("mqtt: connected to 127.0.0.1:%d (MQTT 5" % self.broker.port))
        # Health of every configured reader and camera, retained; the synthetic camera is up.
        if camera:
            cam = sub.wait_for(lambda ms: [json.loads(m["payload"]) for m in ms
                                           if m["topic"] == PREFIX + "camera/cam-1/status" and
                                           json.loads(m["payload"])["state"] == "up"], 15)
            self.assertTrue(cam, d.text())
        self.assertTrue(sub.wait_for(lambda ms: any(m["topic"] == PREFIX + "reader/reader-1/status"
                                                    for m in ms)))
        self.assertTrue(sub.wait_for(lambda ms: any(m["topic"] == PREFIX + "stats" for m in ms), 5),
                        d.text())
        # The reader's state (no reader answers here) is history in the outbox: event/reader
        # is delivered, after which the high-water mark shows nothing pending.
        ev = sub.wait_for(lambda ms: [json.loads(m["payload"]) for m in ms
                                      if m["topic"] == PREFIX + "event/reader"], 15)
        self.assertTrue(ev, d.text())
        self.assertEqual(ev[0]["reader"], "reader-1")
        hwm = sub.wait_for(lambda ms: [json.loads(m["payload"]) for m in ms
                                       if m["topic"] == PREFIX + "outbox" and
                                       json.loads(m["payload"])["pending"] == 0], 10)
        self.assertTrue(hwm, d.text())

        # SIGKILL: no DISCONNECT, so the broker publishes the will (retained "offline") of
        # the same connection (bd_seq).
        d.proc.kill()
        d.proc.wait()
        will = self.status(sub, "offline", timeout=15)  # keepalive 5 s: at most 7.5 s
        self.assertEqual(will["bd_seq"], birth["bd_seq"])
        self.assertEqual(will["started"], birth["started"])

        # A late subscriber sees the retained state of everything.
        late = self.sub([PREFIX + "status", PREFIX + "reader/+/status"], "late")
        self.assertTrue(late.wait_for(lambda ms: any(m["retained"] and
                                                     json.loads(m["payload"])["state"] == "offline"
                                                     for m in ms if m["topic"] == PREFIX + "status")))

        # Restart: birth again; clean stop: "stopped" and no will afterwards.
        d2 = self.start()
        birth2 = self.status(sub, "online", count=2)
        self.assertNotEqual(birth2["started"], birth["started"])
        rc, _ = d2.stop()
        self.assertEqual(rc, 0, d2.text())
        stopped = self.status(sub, "stopped")
        self.assertEqual(stopped["reason"], "clean shutdown")
        # The broker publishes a will (if any) as it handles the end of the connection: once
        # its log shows that end, a marker sent now comes after anything the end caused.
        client = "Client %s-%s " % (STORE, DEVICE)
        self.assertTrue(mh.wait_until(lambda: client + "disconnected." in self.broker.log() or
                                      client + "closed its connection." in self.broker.log()),
                        self.broker.log()[-2000:])
        states = [json.loads(m["payload"])["state"] for m in sub.marker()
                  if m["topic"] == PREFIX + "status"]
        self.assertEqual(states[-1], "stopped", states)
        self.assertIn(client + "disconnected.", self.broker.log())
        n = self.schemas.check_all(sub.messages() + late.messages())
        self.assertGreater(n, 8)

    def command(self, sub, name, payload, v5=True, corr=None, timeout=10):
        """Sends a command; returns the one reply (validated)."""
        if v5:
            corr = corr or "c-%s-%f" % (name, time.monotonic())
            mh.publish(self.broker, PREFIX + "cmd/" + name, payload, response_topic="it/replies",
                       correlation=corr)
            msgs = sub.wait_for(lambda ms: [m for m in ms if m["topic"] == "it/replies" and
                                            m["correlation"] == corr], timeout)
        else:
            before = len(sub.messages())
            mh.publish(self.broker, PREFIX + "cmd/" + name, payload, v5=False)
            known = name if name in ("ping", "diag", "rebirth", "catalog_upsert",
                                     "session_bind", "restock_done", "config_reload") else "unknown"
            msgs = sub.wait_for(lambda ms: [m for m in ms[before:]
                                            if m["topic"] == PREFIX + "reply/" + known], timeout)
        self.assertTrue(msgs, "no reply to %s %r" % (name, payload))
        self.assertEqual(len(msgs), 1, "one reply per command")
        return self.schemas.check(msgs[0]["payload"])

    def test_commands(self):
        sub = self.sub(["it/replies", PREFIX + "reply/#", PREFIX + "status"], "cloud")
        d = self.start()
        self.status(sub, "online")

        r = self.command(sub, "ping", '{"request_id":"r-1"}')
        self.assertEqual((r["ok"], r["status"], r["request_id"]), (True, "done", "r-1"))
        self.assertTrue(r["result"]["pong"])

        # Malformed, oversize, unknown: an error reply each, never silence.
        r = self.command(sub, "ping", "{not json")
        self.assertEqual(r["error"]["code"], "malformed_json")
        r = self.command(sub, "ping", "[1]")
        self.assertEqual(r["error"]["message"], "payload must be a JSON object")
        r = self.command(sub, "ping", "{" + " " * 70000 + "}")
        self.assertEqual(r["error"]["code"], "too_large")
        self.assertIn("70002 bytes; mqtt.command_max_bytes allows 65536", r["error"]["message"])
        r = self.command(sub, "self_destruct", "{}")
        self.assertEqual((r["command"], r["error"]["code"]), (None, "unknown_command"))
        r = self.command(sub, "ping", '{"request_id":"r-2","color":"red"}')
        self.assertEqual((r["error"]["code"], r["error"]["field"], r["request_id"]),
                         ("invalid", "color", "r-2"))

        # diag: each diagnostic that exists.
        r = self.command(sub, "diag", '{"test":"mqtt"}')
        self.assertEqual(r["status"], "done")
        self.assertGreater(r["result"]["rtt_ms"], 0)
        r = self.command(sub, "diag", '{"test":"core"}')
        self.assertIn("queue", r["result"])
        r = self.command(sub, "diag", '{"test":"health"}')
        names = {s["name"] for s in r["result"]["sources"]}
        self.assertEqual(names, {"reader-1"})
        r = self.command(sub, "diag", '{"test":"ledger"}')
        self.assertEqual(r["result"]["pending"], 0)
        r = self.command(sub, "diag", '{"test":"warp"}')
        self.assertEqual((r["error"]["code"], r["error"]["field"]), ("invalid", "test"))

        # State-changing commands go through the core: the fusion engine and the ledger.
        r = self.command(sub, "session_bind",
                         '{"account_token":"acct_0123456789","next_entry":true,"expires_s":60}')
        self.assertEqual((r["ok"], r["status"]), (True, "queued"), r)
        self.assertIn("expires", r["result"])
        r = self.command(sub, "session_bind",
                         '{"account_token":"acct_0123456789","session_id":"no-such-session"}')
        self.assertEqual((r["error"]["code"], r["error"]["field"]), ("invalid", "session_id"))
        r = self.command(sub, "session_bind", '{"account_token":"acct_0123456789"}')
        self.assertEqual(r["error"]["message"],
                         "give exactly one target: session_id, or next_entry: true")
        r = self.command(sub, "restock_done", '{"shelves":["shelf-a"],"restock_id":"rs-1"}')
        self.assertEqual((r["status"], r["result"]["count"]), ("done", 1), r)
        r = self.command(sub, "restock_done", '{"shelves":["shelf-z"]}')
        self.assertEqual(r["error"]["message"],
                         'shelves[0]: this store has no shelf named "shelf-z"')
        r = self.command(sub, "catalog_upsert",
                         '{"products":[{"sku":"cola-330","name":"Cola 0.33 l","price_minor":150,'
                         '"currency":"EUR","gtin":"4006381333931","restock_threshold":2}]}')
        self.assertEqual((r["status"], r["result"]["detail"]), ("done", "1 product(s) added, 0 updated"),
                         r)
        r = self.command(sub, "catalog_upsert",
                         '{"products":[{"sku":"cola-330","name":"Cola 0.33 l (new look)"}]}')
        self.assertEqual(r["result"]["detail"], "0 product(s) added, 1 updated")
        r = self.command(sub, "catalog_upsert", '{"products":[{"sku":"chips","name":"Chips"}]}')
        self.assertEqual((r["error"]["field"], r["error"]["message"]),
                         ("products[0].price_minor",
                          "products[0].price_minor is required for a new product (with currency)"))
        r = self.command(sub, "catalog_upsert",
                         '{"products":[{"sku":"other","name":"O","price_minor":1,"currency":"EUR",'
                         '"gtin":"4006381333931"}]}')
        self.assertEqual((r["error"]["code"], r["error"]["field"]), ("invalid", "products[0].gtin"))
        r = self.command(sub, "catalog_upsert", '{"products":[{"sku":"a"}]}')
        self.assertEqual(r["error"]["field"], "products[0].name")
        r = self.command(sub, "diag", '{"test":"core"}')
        self.assertEqual(r["result"]["sessions_open"], 0)

        # config_reload: the SIGHUP path. A valid reloadable change is applied ...
        cfg = os.path.join(self.tmp.path, "store.cfg")
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text.replace('level = "info"', 'level = "debug"'))
        r = self.command(sub, "config_reload", "{}")
        self.assertEqual(r["status"], "done", r)
        self.assertTrue(d.wait_log("config: reload: log.level changed"))
        # ... a broken file is refused with its errors, the running config kept ...
        with open(cfg, "w") as f:
            f.write(text.replace("unit = 1;", "unit = 400;"))
        r = self.command(sub, "config_reload", "{}")
        self.assertEqual(r["error"]["code"], "failed")
        self.assertTrue(any("readers.[0].unit: 400 is out of range 1..255" in x
                            for x in r["error"]["details"]), r)
        # ... and a change that needs a restart too.
        with open(cfg, "w") as f:
            f.write(text.replace('device_id = "edge-7"', 'device_id = "edge-8"'))
        r = self.command(sub, "config_reload", "{}")
        self.assertIn("device_id changed; it takes a restart", r["error"]["details"])
        with open(cfg, "w") as f:
            f.write(text)

        # MQTT 3.1.1 senders have no response topic: replies go to reply/<command>.
        r = self.command(sub, "ping", '{"request_id":"v311"}', v5=False)
        self.assertEqual(r["request_id"], "v311")
        r = self.command(sub, "nope", "{}", v5=False)
        self.assertEqual(r["error"]["code"], "unknown_command")

        # rebirth: status and health again.
        before = len([m for m in sub.messages() if m["topic"] == PREFIX + "status"])
        r = self.command(sub, "rebirth", "{}")
        self.assertEqual(r["status"], "done")
        self.assertTrue(sub.wait_for(lambda ms: len([m for m in ms if m["topic"] ==
                                                     PREFIX + "status"]) > before))

        # The command schemas in docs/schema agree with the device on good and bad forms.
        self.assertEqual(self.schemas.check_command("session_bind", {
            "account_token": "acct_0123456789", "next_entry": True}), [])
        self.assertTrue(self.schemas.check_command("session_bind", {
            "account_token": "acct_0123456789"}))
        self.assertTrue(self.schemas.check_command("catalog_upsert", {"products": []}))

        self.assertIsNone(d.proc.poll(), "the daemon survives every command")
        self.schemas.check_all(sub.messages())

    def test_cloud_identity(self):
        """The sender is the topic's last level, cmd/<name>/<identity> (the broker's ACL vouches
        for it: tests/security/test_broker_auth.py); the payload's identity proves nothing."""
        sub = self.sub(["it/replies", PREFIX + "status", PREFIX + "reply/#"], "cloud")
        self.start(mqtt='cloud_identity = "billing";')
        self.status(sub, "online")
        r = self.command(sub, "restock_done", '{"all":true}')
        self.assertEqual((r["error"]["code"], r["error"]["field"]), ("forbidden", "identity"))
        r = self.command(sub, "restock_done", '{"all":true,"identity":"billing"}')
        self.assertEqual(r["error"]["code"], "forbidden", "a claim in the payload is not enough")
        r = self.command(sub, "restock_done/intruder", '{"all":true}')
        self.assertEqual(r["error"]["message"],
                         "this sender may not change state: it is not mqtt.cloud_identity")
        r = self.command(sub, "restock_done/billing", '{"all":true,"identity":"intruder"}')
        self.assertEqual(r["error"]["code"], "forbidden", "payload and topic disagree")
        r = self.command(sub, "restock_done/billing", '{"all":true}')
        self.assertEqual(r["status"], "done")
        self.assertEqual(r["command"], "restock_done")
        r = self.command(sub, "ping/intruder", "{}")  # read-only commands: any sender
        self.assertTrue(r["ok"])
        r = self.command(sub, "ping", "{}")
        self.assertTrue(r["ok"])
        # MQTT 3.1.1: the reply of cmd/<name>/<identity> goes to reply/<name>/<identity>.
        before = len(sub.messages())
        mh.publish(self.broker, PREFIX + "cmd/ping/billing", "{}", v5=False)
        msgs = sub.wait_for(lambda ms: [m for m in ms[before:]
                                        if m["topic"] == PREFIX + "reply/ping/billing"])
        self.assertTrue(msgs and json.loads(msgs[0]["payload"])["ok"])
        # A sender's name longer than an identity can be: said so, not "unknown command ping".
        r = self.command(sub, "ping/" + "x" * 200, "{}")
        self.assertEqual((r["command"], r["error"]["code"], r["error"]["field"]),
                         ("ping", "invalid", "identity"))
        self.assertIn("the sender's name in the topic cmd/ping/<identity> is too long",
                      r["error"]["message"])
        self.assertNotIn("unknown command", r["error"]["message"])

    def test_response_topic_inside_the_device(self):
        """A sender cannot make the device publish its reply as one of its own reports."""
        sub = self.sub(["it/replies", PREFIX + "#"], "cloud")
        self.start()
        self.status(sub, "online")
        for rt in (PREFIX + "event/checkout", PREFIX + "status"):
            corr = "c-rt-%f" % time.monotonic()
            mh.publish(self.broker, PREFIX + "cmd/ping", "{}", response_topic=rt,
                       correlation=corr)
            msgs = sub.wait_for(lambda ms: [m for m in ms if m["correlation"] == corr and
                                            "/cmd/" not in m["topic"]])
            self.assertTrue(msgs, "no reply at all")
            self.assertEqual([m["topic"] for m in msgs], [PREFIX + "reply/ping"])
            r = json.loads(msgs[0]["payload"])
            self.assertEqual((r["error"]["code"], r["error"]["field"]),
                             ("invalid", "response_topic"))
        corr = "c-rt-ok"
        mh.publish(self.broker, PREFIX + "cmd/ping", "{}", response_topic=PREFIX + "reply/mine",
                   correlation=corr)
        msgs = sub.wait_for(lambda ms: [m for m in ms if m["correlation"] == corr and
                                        "/cmd/" not in m["topic"]])
        self.assertEqual(msgs[0]["topic"], PREFIX + "reply/mine")
        self.assertTrue(json.loads(msgs[0]["payload"])["ok"])

    def test_command_rate_limit(self):
        """Above mqtt.command_rate_max the link answers busy without parsing; every command
        still gets exactly one reply, and the store keeps running."""
        sub = self.sub(["it/replies", PREFIX + "status"], "cloud")
        d = self.start(mqtt="command_rate_max = 5;")
        self.status(sub, "online")
        n = 40
        lines = "\n".join('{"request_id":"burst-%d"}' % i for i in range(n))
        p = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker.port),
                            "-q", "1", "-V", "mqttv5", "-t", PREFIX + "cmd/ping", "-l",
                            "-D", "publish", "response-topic", "it/replies"],
                           input=lines, text=True, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        msgs = sub.wait_for(lambda ms: [m for m in ms if m["topic"] == "it/replies"][n - 1:], 20)
        replies = [json.loads(m["payload"]) for m in sub.messages() if m["topic"] == "it/replies"]
        self.assertEqual(len(replies), n, "one reply per command")
        busy = [r for r in replies if not r["ok"]]
        self.assertTrue(busy, "a burst of %d above 5/s (bucket 10) is limited" % n)
        self.assertTrue(all(r["error"]["code"] == "busy" and "command_rate_max" in
                            r["error"]["message"] for r in busy))
        self.assertGreaterEqual(n - len(busy), 10, "the bucket's burst is served")
        for r in replies:
            self.schemas.check(json.dumps(r).encode())
        self.assertIsNone(d.proc.poll())


class Mqtt311Proxy(threading.Thread):
    """A broker that only speaks MQTT 3.1.1 (like some cloud brokers): refuses MQTT 5
    CONNECTs with return code 1, relays everything else to the real broker."""

    def __init__(self, target_port):
        super().__init__(daemon=True)
        self.target = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.refused = 0
        self.relayed = 0
        self.stopping = False

    def run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            head = c.recv(4096)
            # CONNECT: fixed header, remaining length, "\0\4MQTT", protocol level
            i = 1
            while head[i] & 0x80:
                i += 1
            level = head[i + 1 + 6] if len(head) > i + 7 else 0
            if level == 5:
                self.refused += 1
                c.sendall(bytes([0x20, 0x02, 0x00, 0x01]))
                c.close()
                return
            self.relayed += 1
            u = socket.create_connection(("127.0.0.1", self.target))
            u.sendall(head)

            def pump(a, b):
                try:
                    while True:
                        data = a.recv(65536)
                        if not data:
                            break
                        b.sendall(data)
                except OSError:
                    pass
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            t = threading.Thread(target=pump, args=(u, c), daemon=True)
            t.start()
            pump(c, u)
            t.join(5)
            u.close()
            c.close()
        except (OSError, IndexError):
            c.close()

    def stop(self):
        self.stopping = True
        self.sock.close()


class FallbackTest(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.broker = mh.Broker(self.tmp.path).start()
        self.proxy = Mqtt311Proxy(self.broker.port)
        self.proxy.start()

    def tearDown(self):
        self.proxy.stop()
        self.broker.stop()
        self.tmp.cleanup()

    def test_falls_back_to_311(self):
        schemas = mh.Schemas()
        sub = mh.Sub(self.broker, [PREFIX + "#"], self.tmp.path, "watcher")
        text = config_text(self.proxy.port)
        cfg = self.tmp.file("store.cfg", text)
        d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
        try:
            self.assertTrue(d.wait_log("(MQTT 3.1.1)", timeout=10), d.text())
            self.assertIn("broker does not speak MQTT 5; trying MQTT 3.1.1", d.text())
            birth = sub.wait_for(lambda ms: [json.loads(m["payload"]) for m in ms
                                             if m["topic"] == PREFIX + "status"])
            self.assertEqual(birth[-1]["protocol"], "3.1.1")
            # Commands over 3.1.1 are answered on reply/<command>.
            mh.publish(self.broker, PREFIX + "cmd/ping", '{"request_id":"old"}', v5=False)
            r = sub.wait_for(lambda ms: [json.loads(m["payload"]) for m in ms
                                         if m["topic"] == PREFIX + "reply/ping"])
            self.assertEqual(r[0]["request_id"], "old")
            r = sk.run("diag", "mqtt", "-c", cfg, "--json")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            rep = json.loads(r.stdout)
            self.assertEqual(rep["protocol"], "3.1.1")
            self.assertIn("fell back from 5", r.stdout)
            # Forced 5 fails against this broker, and says why.
            cfg5 = self.tmp.file("v5.cfg", text.replace("stats_interval_s = 1;",
                                                         'stats_interval_s = 1; protocol = "5";'))
            r = sk.run("diag", "mqtt", "-c", cfg5)
            self.assertEqual(r.returncode, 1)
            self.assertIn("broker does not speak MQTT 5", r.stdout)
            schemas.check_all(sub.messages())
        finally:
            d.stop()
            d.log.close()
            sub.stop()


if __name__ == "__main__":
    sk.main()
