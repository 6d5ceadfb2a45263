# SPDX-License-Identifier: MIT
"""The broker set-up shipped in docs/examples/broker (mosquitto.conf and acl), run as it is
with test paths: TLS with client certificates and passwords required, and the ACL. The daemon
connects only with certificate and password; commands reach it only from users the ACL lets
publish there, under their own name; only the configured cloud identity changes state; a
device cannot publish into another device's topics; a dashboard cannot read events."""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "mqtt"))
import mqtt_helpers as mh  # noqa: E402
import sk  # noqa: E402

STORE, DEVICE = "berlin-3", "edge-1"
PREFIX = "storekeeper/v1/%s/%s/" % (STORE, DEVICE)
USERS = {"store-berlin-3-edge-1": "dev1-secret", "store-berlin-3-edge-2": "dev2-secret",
         "billing": "billing-secret", "dashboard": "dash-secret"}
EXAMPLES = os.path.join(sk.SRC, "docs", "examples", "broker")

CONFIG = """store_id = "%(store)s";
device_id = "%(device)s";
board = "sim";
log = { level = "info"; format = "plain"; };
mqtt = { host = "localhost"; port = %(port)d; reconnect_min_ms = 200; reconnect_max_ms = 1000;
         keepalive_s = 5; cloud_identity = "billing"; %(extra)s };
buses = ( { name = "bus-1"; url = "tcp:127.0.0.1:%(bus)d"; } );
readers = ( { name = "reader-1"; bus = "bus-1"; unit = 1; profile = "generic-epc"; } );
shelves = ( { name = "shelf-a"; reader = "reader-1"; antenna = 1; } );
"""


class ShippedBroker(mh.Broker):
    """docs/examples/broker/mosquitto.conf with this test's paths and a loopback port."""

    def __init__(self, directory, pki):
        super().__init__(directory, "shipped")
        with open(os.path.join(EXAMPLES, "mosquitto.conf")) as f:
            conf = f.read()
        with open(os.path.join(EXAMPLES, "acl")) as f:
            acl = f.read()
        acl_path = os.path.join(directory, "storekeeper.acl")
        with open(acl_path, "w") as f:
            f.write(acl)
        pw = os.path.join(directory, "storekeeper.passwd")
        open(pw, "w").close()
        for user, secret in USERS.items():
            subprocess.run(["mosquitto_passwd", "-b", pw, user, secret], check=True,
                           capture_output=True, timeout=30)
        os.chmod(pw, 0o600)
        subst = {"/etc/mosquitto/storekeeper.passwd": pw,
                 "/etc/mosquitto/storekeeper.acl": acl_path,
                 "/etc/mosquitto/ca_certificates/storekeeper-ca.crt": pki + "/ca.crt",
                 "/etc/mosquitto/certs/broker.crt": pki + "/broker.crt",
                 "/etc/mosquitto/certs/broker.key": pki + "/broker.key"}
        for old, new in subst.items():
            self.assertion(old in conf, "the shipped configuration names " + old)
            conf = conf.replace(old, new)
        conf = re.sub(r"^listener 8883$", "listener %d 127.0.0.1" % self.port, conf, flags=re.M)
        self.assertion(("listener %d" % self.port) in conf, "listener 8883 replaced")
        lines = ["user root"] if os.getuid() == 0 else []
        lines += ["log_dest file %s" % self.log_path, "log_type all", "persistence false"]
        with open(self.conf, "w") as f:
            f.write(conf + "\n" + "\n".join(lines) + "\n")

    @staticmethod
    def assertion(ok, what):
        if not ok:
            raise AssertionError(what)


class BrokerAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = sk.TempDir()
        cls.pki = os.path.join(cls.tmp.path, "pki")
        os.makedirs(cls.pki)
        mh.make_pki(cls.pki)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.broker = ShippedBroker(self.tmp.path, self.pki).start()
        self.procs = []
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
            d.log.close()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        self.broker.stop()

    # ---- clients ----------------------------------------------------------------------

    def tls_args(self, user, password=None, cert=True):
        a = ["-h", "localhost", "-p", str(self.broker.port), "--cafile", self.pki + "/ca.crt",
             "-V", "mqttv5", "-q", "1"]
        if cert:
            a += ["--cert", self.pki + "/device.crt", "--key", self.pki + "/device.key"]
        if user:
            a += ["-u", user, "-P", USERS[user] if password is None else password]
        return a

    def sub(self, user, topics, name):
        out = os.path.join(self.tmp.path, name + ".out")
        cmd = ["mosquitto_sub", *self.tls_args(user), "-i", name, "-F", "%t\t%x", "-v"]
        for t in topics:
            cmd += ["-t", t]
        before = mh.subacks(self.broker, name)
        with open(out, "w") as f:
            p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        self.procs.append(p)
        mh.wait_subscribed(self.broker, name, before, p, out)

        def messages():
            msgs = []
            with open(out) as r:
                for line in r:
                    parts = line.rstrip("\n").split("\t")
                    if len(parts) == 2:
                        try:
                            msgs.append((parts[0], json.loads(bytes.fromhex(parts[1]))))
                        except ValueError:
                            msgs.append((parts[0], None))
            return msgs
        return messages

    def pub(self, user, topic, payload, extra=()):
        """Publishes at QoS 1 (MQTT 5: a refusal by the ACL comes back in the PUBACK)."""
        return subprocess.run(["mosquitto_pub", *self.tls_args(user), "-t", topic, "-s", *extra],
                              input=payload, capture_output=True, text=True, timeout=30)

    def daemon(self, name, extra):
        creds = os.path.join(self.tmp.path, name + ".creds")
        with open(creds, "w") as f:
            f.write("username = store-berlin-3-edge-1\npassword = %s\n" %
                    extra.pop("password", USERS["store-berlin-3-edge-1"]))
        os.chmod(creds, 0o600)
        tls = 'tls = true; ca_file = "%s/ca.crt"; credentials_file = "%s";' % (self.pki, creds)
        if extra.pop("cert", True):
            tls += ' cert_file = "%s/device.crt"; key_file = "%s/device.key";' % (self.pki,
                                                                                  self.pki)
        cfg = self.tmp.file(name + ".cfg", CONFIG % {"store": STORE, "device": DEVICE,
                                                     "port": self.broker.port, "extra": tls,
                                                     "bus": sk.free_port()})
        d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
        self.daemons.append(d)
        return d

    def online(self, watch, timeout=15):
        return mh.wait_until(lambda: any(t == PREFIX + "status" and m and m["state"] == "online"
                                         for t, m in watch()), timeout)

    # ---- tests ------------------------------------------------------------------------

    def test_connection_needs_certificate_and_password(self):
        watch = self.sub("billing", [PREFIX + "status"], "watch-conn")
        d = self.daemon("nocert", {"cert": False})
        self.assertTrue(d.wait_log("mqtt: cannot connect", timeout=15), d.text())
        d.stop()
        d = self.daemon("badpass", {"password": "wrong"})
        self.assertTrue(d.wait_log("not authorized", timeout=15), d.text())
        self.assertNotIn("wrong", d.text().replace("wrong password", ""), "no secret in the log")
        d.stop()
        self.assertFalse(any(t == PREFIX + "status" for t, _ in watch()))
        d = self.daemon("good", {})
        self.assertTrue(self.online(watch), d.text())
        # Clients without TLS, without a certificate, or anonymous are refused.
        plain = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker.port),
                                "-t", "x", "-m", "x", "-u", "billing", "-P",
                                USERS["billing"]], capture_output=True, timeout=30)
        self.assertNotEqual(plain.returncode, 0)
        r = subprocess.run(["mosquitto_pub", *self.tls_args("billing", cert=False), "-t", "x",
                            "-m", "x"], capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        r = subprocess.run(["mosquitto_pub", *self.tls_args(None), "-t", "x", "-m", "x"],
                           capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0, "anonymous")
        r = self.pub("billing", PREFIX + "cmd/ping/billing", "{}")
        self.assertEqual(r.returncode, 0, r.stderr)
        d.stop()
        self.assertEqual(d.proc.returncode, 0)

    def test_command_authorisation(self):
        billing = self.sub("billing", [PREFIX + "#"], "billing")
        dash = self.sub("dashboard", [PREFIX + "reply/#", PREFIX + "event/#"], "dash")
        d = self.daemon("cmd", {})
        self.assertTrue(self.online(billing), d.text())

        def replies(messages, suffix):
            return [m for t, m in messages() if t == PREFIX + "reply/" + suffix]

        # The cloud identity changes state.
        r = self.pub("billing", PREFIX + "cmd/restock_done/billing",
                     '{"all":true,"request_id":"r-bill"}')
        self.assertEqual(r.returncode, 0, r.stderr)
        got = mh.wait_until(lambda: replies(billing, "restock_done/billing"))
        self.assertTrue(got, d.text())
        self.assertEqual((got[0]["status"], got[0]["request_id"]), ("done", "r-bill"))

        # The dashboard may send read-only commands under its own name (the ACL allows them):
        # the broker delivers, the device answers. A state-changing one is stopped by the
        # broker (the device would refuse it too: tests/mqtt/test_mqtt_link.py,
        # test_cloud_identity).
        self.assertEqual(self.pub("dashboard", PREFIX + "cmd/ping/dashboard", "{}").returncode, 0)
        got = mh.wait_until(lambda: replies(dash, "ping/dashboard"))
        self.assertTrue(got and got[0]["ok"], d.text())
        r = self.pub("dashboard", PREFIX + "cmd/catalog_upsert/dashboard",
                     '{"products":[{"sku":"X-1","name":"free","price_minor":0,"currency":"EUR"}]}')
        self.assertIn("not authorized", (r.stdout + r.stderr).lower())

        def marker(user, messages, request_id):
            """A ping sent by user after what must not arrive, and its reply: the broker and
            the device handle messages in order, so what was let through before the ping is
            in the log and in messages() by the time the reply is there. Returns the
            messages received before the reply."""
            self.assertEqual(self.pub(user, PREFIX + "cmd/ping/" + user,
                                      '{"request_id":"%s"}' % request_id).returncode, 0)
            got = mh.wait_until(lambda: [i for i, (t, m) in enumerate(messages())
                                         if t == PREFIX + "reply/ping/" + user and m and
                                         m.get("request_id") == request_id])
            self.assertTrue(got, d.text())
            return messages()[:got[0]]

        # Impersonation: the dashboard publishing under the cloud's name, or without a name,
        # is stopped by the broker: the device never sees it.
        mark = d.mark()
        for topic in (PREFIX + "cmd/restock_done/billing", PREFIX + "cmd/restock_done"):
            r = self.pub("dashboard", topic, '{"all":true,"identity":"billing"}')
            self.assertIn("not authorized", (r.stdout + r.stderr).lower(), topic)
        before = marker("billing", billing, "after-impersonation")
        self.assertEqual([ln.split("mqtt: ", 1)[-1] for ln in d.text(mark).splitlines()
                          if "command " in ln],
                         ["command ping request after-impersonation"],
                         "nothing but the marker reached the device")
        self.assertFalse([m for t, m in before if t == PREFIX + "reply/restock_done"])

        # Another device cannot publish into this device's tree, nor read its commands.
        r = self.pub("store-berlin-3-edge-2", PREFIX + "event/checkout",
                     '{"schema":"storekeeper/v1/event/checkout"}')
        self.assertIn("not authorized", (r.stdout + r.stderr).lower())
        before = marker("billing", billing, "after-edge-2")
        self.assertFalse([t for t, _ in before if t == PREFIX + "event/checkout"])

        # Events reach the cloud, never the dashboard (its subscription to event/# is allowed
        # to exist, but the ACL gives it no message). An event as the device publishes it:
        r = self.pub("store-berlin-3-edge-1", PREFIX + "event/low_stock", '{"sku":"X-1"}')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(mh.wait_until(lambda: [t for t, _ in billing()
                                               if t == PREFIX + "event/low_stock"]))
        before = marker("dashboard", dash, "after-event")
        self.assertFalse([t for t, _ in before if "/event/" in t])
        d.stop()
        self.assertEqual(d.proc.returncode, 0)

    def test_oversized_command_flood(self):
        """Any client the ACL lets publish under cmd/ (the dashboard) sends 30 QoS 1 commands
        above the device's command_max_bytes but within the broker's max_packet_size: each is
        answered too_large, and the device still takes commands afterwards, also after it
        restarts (mosquitto 2.0.11 used to leak a receive slot per message it dropped for the
        device's announced packet limit: twenty left it deaf for good)."""
        dash = self.sub("dashboard", [PREFIX + "reply/#"], "dash-flood")
        billing = self.sub("billing", [PREFIX + "status", PREFIX + "reply/#"], "bill-flood")
        d = self.daemon("flood", {})
        self.assertTrue(self.online(billing), d.text())
        self.assertTrue(mh.wait_until(lambda: "berlin-3-edge-1 1 %scmd/+/+" % PREFIX
                                      in self.broker.log()), self.broker.log())
        big = '{"pad":"' + "x" * 100000 + '"}'
        r = self.pub("dashboard", PREFIX + "cmd/ping/dashboard", big, extra=("--repeat", "30"))
        self.assertEqual(r.returncode, 0, r.stderr)

        def answers(who, suffix):
            return [m for t, m in who() if t == PREFIX + "reply/" + suffix and m]
        self.assertTrue(mh.wait_until(lambda: len(answers(dash, "ping/dashboard")) >= 30, 30),
                        "%d of 30 answered" % len(answers(dash, "ping/dashboard")))
        self.assertEqual({m["error"]["code"] for m in answers(dash, "ping/dashboard")},
                         {"too_large"})
        self.pub("billing", PREFIX + "cmd/restock_done/billing", '{"all":true}')
        self.assertTrue(mh.wait_until(lambda: answers(billing, "restock_done/billing")), d.text())
        d.stop()
        self.assertEqual(d.proc.returncode, 0)
        d = self.daemon("flood-2", {})
        self.assertTrue(mh.wait_until(lambda: len([1 for t, m in billing()
                                                   if t == PREFIX + "status" and m and
                                                   m["state"] == "online"]) >= 2, 15), d.text())
        self.assertTrue(mh.wait_until(lambda: self.broker.log().count(
            "berlin-3-edge-1 1 %scmd/+/+" % PREFIX) >= 2), self.broker.log())
        self.pub("dashboard", PREFIX + "cmd/ping/dashboard", big, extra=("--repeat", "30"))
        self.pub("dashboard", PREFIX + "cmd/ping/dashboard", '{"request_id":"after"}')
        self.assertTrue(mh.wait_until(lambda: [m for m in answers(dash, "ping/dashboard")
                                               if m.get("request_id") == "after"], 30),
                        d.text())
        self.assertEqual(len(answers(dash, "ping/dashboard")), 61)
        d.stop()

    def test_oversized_packet_refused_by_broker(self):
        """max_packet_size: a command far above mqtt.command_max_bytes never reaches anyone."""
        billing = self.sub("billing", [PREFIX + "cmd/#"], "big")
        big = '{"products":[' + ",".join(['{"sku":"S-%d","name":"%s"}' % (i, "x" * 200)
                                         for i in range(800)]) + "]}"
        self.assertGreater(len(big), 131072)
        r = self.pub("billing", PREFIX + "cmd/catalog_upsert/billing", big)
        # The broker announces its limit in CONNACK (MQTT 5), so the client gives up on its
        # own; either way the broker never accepted the publish.
        self.assertNotIn("'%scmd/catalog_upsert/billing'" % PREFIX, self.broker.log())
        # A normal command after it passes, and is the first thing the subscriber gets: the
        # big one would have come before it.
        small = '{"products":[{"sku":"S-1","name":"small"}]}'
        self.pub("billing", PREFIX + "cmd/catalog_upsert/billing", small)
        self.assertTrue(mh.wait_until(billing), "a normal command passes")
        self.assertEqual(billing(), [(PREFIX + "cmd/catalog_upsert/billing", json.loads(small))],
                         "nobody received the big one")


if __name__ == "__main__":
    sk.main()
