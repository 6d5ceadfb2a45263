# SPDX-License-Identifier: MIT
"""TLS and credentials against real mosquitto brokers: a CA, broker and client certificates
made by openssl in the test; the daemon and `diag mqtt` over TLS with a client certificate;
diag's plain-words failures (certificate mismatch, untrusted, expired, no TLS on the port,
client certificate refused, refused, unreachable); a wrong password (clear error, retries
with growing back-off, password never printed, fixed without a restart)."""
import json
import os
import re
import socket
import subprocess
import unittest

import mqtt_helpers as mh
import sk

STORE = "tls-store"
DEVICE = "edge-2"
PREFIX = "storekeeper/v1/%s/%s/" % (STORE, DEVICE)

CONFIG = """store_id = "%s";
device_id = "%s";
board = "sim";
log = { level = "%%(level)s"; format = "plain"; };
mqtt = { host = "%%(host)s"; port = %%(port)d; reconnect_min_ms = 200; reconnect_max_ms = 1600;
         keepalive_s = 5; connect_timeout_s = %%(timeout)d; %%(extra)s };
""" % (STORE, DEVICE)



def syn_sent_to(port):
    """True while a socket on this machine waits for the answer to its SYN to 127.0.0.1:port
    (state SYN_SENT in /proc/net/tcp)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2] == "0100007F:%04X" % port and fields[3] == "02":
                return True
    return False

class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = sk.TempDir()
        cls.pki = mh.make_pki(cls.tmp.path)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.brokers = []
        self.daemons = []

    def tearDown(self):
        mh.stop_all(self.daemons, brokers=self.brokers)

    def broker(self, name, cert="broker", client_cert=True):
        p = self.pki
        lines = ["cafile %s/ca.crt" % p, "certfile %s/%s.crt" % (p, cert),
                 "keyfile %s/%s.key" % (p, cert),
                 "require_certificate %s" % ("true" if client_cert else "false")]
        b = mh.Broker(self.tmp.path, name, lines=lines).start()
        self.brokers.append(b)
        return b

    def config(self, name, port, extra="", host="localhost", level="info", timeout=2):
        return self.tmp.file(name, CONFIG % {"host": host, "port": port, "extra": extra,
                                             "level": level, "timeout": timeout})

    def tls(self, ca="ca.crt", cert="device"):
        s = 'tls = true; ca_file = "%s/%s";' % (self.pki, ca)
        if cert:
            s += ' cert_file = "%s/%s.crt"; key_file = "%s/%s.key";' % (self.pki, cert,
                                                                       self.pki, cert)
        return s

    def diag(self, cfg):
        r = sk.run("diag", "mqtt", "-c", cfg, "--timeout", "3")
        return r.returncode, r.stdout + r.stderr

    def test_tls_daemon_and_diag(self):
        b = self.broker("tls")
        cfg = self.config("good.cfg", b.port, self.tls())
        rc, out = self.diag(cfg)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"tls +PASS +TLSv1\.[23], ")
        self.assertIn("names DNS:localhost, IP:127.0.0.1", out)
        self.assertIn("issued by /CN=storekeeper test CA", out)
        self.assertRegex(out, r"round trip +PASS")

        # The daemon over TLS with its client certificate; payloads validate.
        schemas = mh.Schemas()
        sub = mh.Sub(b, [PREFIX + "#"], self.tmp.path, "tls-watcher",
                     extra=["--cafile", "%s/ca.crt" % self.pki, "--cert",
                            "%s/device.crt" % self.pki, "--key", "%s/device.key" % self.pki])
        try:
            d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
            self.daemons.append(d)
            self.assertTrue(d.wait_log("(MQTT 5, TLSv1.3)", timeout=10), d.text())
            birth = sub.wait_for(lambda ms: [json.loads(m["payload"]) for m in ms
                                             if m["topic"] == PREFIX + "status"], 10)
            self.assertEqual(birth[0]["state"], "online")
            rc, _ = d.stop()
            self.assertEqual(rc, 0)
            schemas.check_all(sub.messages())
        finally:
            sub.stop()

        # By IP address: the broker's certificate has IP:127.0.0.1 too.
        rc, out = self.diag(self.config("ip.cfg", b.port, self.tls(), host="127.0.0.1"))
        self.assertEqual(rc, 0, out)

    def test_diag_explains_tls_failures(self):
        b = self.broker("tls2")
        rc, out = self.diag(self.config("no-cert.cfg", b.port, self.tls(cert=None)))
        self.assertEqual(rc, 1, out)
        self.assertIn("the broker refused our client certificate (none is configured", out)

        rc, out = self.diag(self.config("other-ca.cfg", b.port, self.tls(ca="other-ca.crt")))
        self.assertEqual(rc, 1, out)
        self.assertIn("is not signed by a CA in %s/other-ca.crt" % self.pki, out)

        wrong = self.broker("wrong-name", cert="wrong-name")
        rc, out = self.diag(self.config("mismatch.cfg", wrong.port, self.tls()))
        self.assertEqual(rc, 1, out)
        self.assertIn("certificate mismatch: the broker's certificate is for "
                      "DNS:broker.elsewhere.example, CN=wrong-name, not for \"localhost\"", out)

        old = self.broker("expired", cert="expired")
        rc, out = self.diag(self.config("expired.cfg", old.port, self.tls()))
        self.assertEqual(rc, 1, out)
        self.assertIn("expired on 2020-01-02 00:00:00 UTC", out)

        plain = mh.Broker(self.tmp.path, "plain").start()
        self.brokers.append(plain)
        rc, out = self.diag(self.config("plain.cfg", plain.port, self.tls()))
        self.assertEqual(rc, 1, out)
        self.assertIn("may not speak TLS", out)

        rc, out = self.diag(self.config("refused.cfg", sk.free_port(), ""))
        self.assertEqual(rc, 1, out)
        self.assertIn("refused: 127.0.0.1 answers, but nothing listens on port", out)

        # A black hole: a listening socket whose accept queue is full drops further SYNs,
        # as a firewall that drops packets does.
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(0)
        filler = socket.create_connection(hole.getsockname())
        try:
            rc, out = self.diag(self.config("unreachable.cfg", hole.getsockname()[1], ""))
            self.assertEqual(rc, 1, out)
            self.assertIn("unreachable: no answer from 127.0.0.1 port %d within 3000 ms"
                          % hole.getsockname()[1], out)
            # The daemon trying to reach it still stops at once (its TCP probe is bounded
            # and watches the stop signal; libmosquitto's connect would block for minutes).
            d = sk.Daemon(["run", "-c", self.config("hole.cfg", hole.getsockname()[1],
                                                    timeout=30)], self.tmp.path)
            self.daemons.append(d)
            self.assertTrue(d.wait_log("core: running", timeout=5), d.text())
            # Stopped while its connect waits for an answer: its SYN to the hole is out.
            self.assertTrue(mh.wait_until(lambda: syn_sent_to(hole.getsockname()[1]), 10),
                            "the daemon never tried to connect\n" + d.text())
            rc, took = d.stop()
            self.assertEqual(rc, 0, d.text())
            self.assertLess(took, 2.0)
        finally:
            filler.close()
            hole.close()

        rc, out = self.diag(self.config("dns.cfg", 1883, "", host="no-such-host.invalid"))
        self.assertEqual(rc, 1, out)
        self.assertIn('the host name "no-such-host.invalid" does not resolve', out)

        # The daemon meets the same untrusted certificate: a clear error, and it keeps trying.
        d = sk.Daemon(["run", "-c", self.config("d.cfg", b.port, self.tls(ca="other-ca.crt"))],
                      self.tmp.path)
        self.daemons.append(d)
        self.assertTrue(d.wait_log("TLS: the broker's certificate is not trusted", timeout=10),
                        d.text())
        self.assertIsNone(d.proc.poll())


class AuthTest(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        pw = os.path.join(self.tmp.path, "passwd")
        subprocess.run(["mosquitto_passwd", "-b", "-c", pw, "store-user", "right-secret"],
                       check=True, capture_output=True)
        self.broker = mh.Broker(self.tmp.path, anonymous=False,
                                lines=["password_file %s" % pw]).start()
        self.creds = os.path.join(self.tmp.path, "broker.creds")

    def tearDown(self):
        self.broker.stop()
        self.tmp.cleanup()

    def write_creds(self, password, mode=0o600):
        with open(self.creds, "w") as f:
            f.write("# broker account of this store\nusername = store-user\npassword = %s\n"
                    % password)
        os.chmod(self.creds, mode)

    def test_wrong_password(self):
        self.write_creds("wrong-secret")
        cfg = self.tmp.file("store.cfg", CONFIG % {
            "host": "127.0.0.1", "port": self.broker.port, "level": "debug", "timeout": 2,
            "extra": 'credentials_file = "broker.creds";'})
        r = sk.run("diag", "mqtt", "-c", cfg)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn('credentials: user "store-user" with a password', r.stdout)
        self.assertRegex(r.stdout, r"mqtt +FAIL +bad credentials: broker refused the "
                                   r"connection: not authorized")
        self.assertNotIn("wrong-secret", r.stdout + r.stderr)

        d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
        try:
            self.assertTrue(d.wait_log("attempt 5 failed", timeout=15), d.text())
            log = d.text()
            self.assertRegex(log, r"err +mqtt: cannot connect to 127\.0\.0\.1:\d+: broker refused "
                                  r"the connection: not authorized \(bad credentials, or not "
                                  r"allowed\); retrying in")
            self.assertNotIn("wrong-secret", log)
            # Back-off: min 200 ms doubling to max 1600 ms, each delay in [d/2, d].
            delays = [int(x) for x in re.findall(r"attempt \d+ failed: .*; next in (\d+) ms", log)]
            nominal = [200, 400, 800, 1600, 1600]
            for got, want in zip(delays, nominal):
                self.assertGreaterEqual(got, want // 2, delays)
                self.assertLessEqual(got, want, delays)
            self.assertGreater(max(delays[3:5]), max(delays[0:2]), delays)
            # The operator fixes the file: the next attempt reads it; no restart.
            self.write_creds("right-secret")
            self.assertTrue(d.wait_log("mqtt: connected to", timeout=10), d.text())
            self.assertTrue(d.wait_log("mqtt: broker reachable again"), d.text())
            rc, _ = d.stop()
            self.assertEqual(rc, 0)
            self.assertNotIn("right-secret", d.text())
        finally:
            if d.proc.poll() is None:
                d.proc.kill()
            d.log.close()
        r = sk.run("diag", "mqtt", "-c", cfg)
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_credentials_file_checked(self):
        self.write_creds("right-secret", 0o644)
        cfg = self.tmp.file("store.cfg", CONFIG % {
            "host": "127.0.0.1", "port": self.broker.port, "level": "info", "timeout": 2,
            "extra": 'credentials_file = "broker.creds";'})
        r = sk.run("run", "-c", cfg, "--check-config")
        self.assertEqual(r.returncode, 2)
        self.assertIn("mqtt.credentials_file: %s: holds a password but others may access it "
                      "(mode 0644); chmod 0640 it with group storekeeper and owner root, or 0600"
                      % self.creds, r.stderr)
        self.assertNotIn("right-secret", r.stdout + r.stderr)


if __name__ == "__main__":
    sk.main()
