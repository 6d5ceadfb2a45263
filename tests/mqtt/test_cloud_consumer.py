# SPDX-License-Identifier: MIT
"""The reference cloud consumer (examples/cloud/consumer.py, paho-mqtt) through the bridge
(docs/examples/broker/bridge.conf, TLS client certificate) while a device commits checkouts at
a steady rate, one in seven for review:

1. the consumer is SIGKILLed mid-stream and started again: its persistent session kept what
   arrived meanwhile, and what it had stored but not acknowledged comes again and is dropped by
   id;
2. it stops cleanly, and the cloud broker crashes and loses its state (SIGKILL and its
   persistence file removed: the consumer's session and what it queued for it are gone): the
   consumer, started again with a new session, sees the gap below the device's delivered_seq,
   asks the device with outbox_resend through the bridge, and gets it.

At the end the consumer's SQLite file holds every event once, applied in seq order, every
checkout either ready to charge or listed for review, and the gap filled."""
import json
import os
import signal
import sqlite3
import subprocess
import unittest

import mqtt_helpers as mh
import sk

STORE = "cc-store"
DEVICE = "edge-1"
N = int(os.environ.get("SK_CONSUMER_EVENTS") or 600)
RATE = 60.0
REVIEW_EVERY = 7
CONSUMER = os.path.join(sk.SRC, "examples", "cloud", "consumer.py")

CONFIG = """store_id = "%s";
device_id = "%s";
board = "sim";
log = { level = "info"; format = "plain"; };
core = { tick_ms = 50; };
ledger = { path = "ledger.db"; };
mqtt = { host = "127.0.0.1"; port = %%d; reconnect_min_ms = 200; reconnect_max_ms = 1000;
         keepalive_s = 5; hwm_interval_ms = 200; stats_interval_s = 0;
         cloud_identity = "cloud"; };
""" % (STORE, DEVICE)


class ConsumerTest(unittest.TestCase):
    def setUp(self):
        sk.require_tool("openssl", why="the bridge runs over TLS with a client certificate")
        try:
            import paho.mqtt.client  # noqa: F401
        except ImportError:
            sk.skip("python3-paho-mqtt is not installed (scripts/install-deps.sh --test)")
        self.tmp = sk.TempDir()
        self.bridged = mh.Bridged(self.tmp.path, STORE)
        self.cloud = self.bridged.cloud
        self.db = os.path.join(self.tmp.path, "consumer.db")  # cloud.db: the broker's
        self.ledger = os.path.join(self.tmp.path, "ledger.db")
        self.consumer = None
        self.runs = 0
        self.daemons = []

    def tearDown(self):
        self.stop_consumer(signal.SIGKILL)
        mh.stop_all(self.daemons, (), [self.bridged])
        if os.environ.get("SK_KEEP_TMP"):
            print("kept", self.tmp.path)
        else:
            self.tmp.cleanup()

    def start_consumer(self):
        self.runs += 1
        self.clog = os.path.join(self.tmp.path, "consumer-%d.log" % self.runs)
        before = mh.subacks(self.cloud, "test-consumer")
        with open(self.clog, "w") as err:
            self.consumer = subprocess.Popen(
                ["/usr/bin/python3", CONSUMER, "run", "--host", "127.0.0.1", "--port",
                 str(self.cloud.port), "--db", self.db, "--store", STORE, "--client-id",
                 "test-consumer", "--gap-grace", "1", "--resend-retry", "5"],
                stdout=subprocess.DEVNULL, stderr=err)
        mh.wait_subscribed(self.cloud, "test-consumer", before, self.consumer, self.clog)

    def stop_consumer(self, sig):
        if self.consumer and self.consumer.poll() is None:
            self.consumer.send_signal(sig)
            self.consumer.wait(timeout=10)
        self.consumer = None

    def consumer_log(self):
        text = ""
        for i in range(1, self.runs + 1):
            with open(os.path.join(self.tmp.path, "consumer-%d.log" % i)) as f:
                text += "--- run %d\n%s" % (i, f.read())
        return text

    def count(self, sql):
        db = sqlite3.connect(self.db, timeout=10)
        try:
            return db.execute(sql).fetchone()[0]
        except sqlite3.OperationalError:
            return 0
        finally:
            db.close()

    def test_restarts_and_a_gap(self):
        self.assertTrue(self.bridged.up(1), self.bridged.store.log()[-3000:])
        self.start_consumer()
        cfg = self.tmp.file("store.cfg", CONFIG % self.bridged.store.port)
        d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
        self.daemons.append(d)
        # The daemon made its ledger before another process writes into it.
        self.assertTrue(d.wait_log("connected to 127.0.0.1", 15 * sk.SCALE), d.text())
        filler = mh.Filler(self.ledger, STORE, DEVICE, N, 3, RATE, REVIEW_EVERY)
        filler.start()
        T = 30 * sk.SCALE

        # 1. A crash of the consumer mid-stream.
        self.assertTrue(sk.wait_until(lambda: self.count("SELECT count(*) FROM events") >= N / 6,
                                      T), self.consumer_log() + d.text()[-2000:])
        self.stop_consumer(signal.SIGKILL)
        at = self.bridged.received_from_bridge()
        self.assertTrue(sk.wait_until(lambda: self.bridged.received_from_bridge() >= at + 30, T))
        self.start_consumer()

        # 2. A clean stop, then the cloud broker crashes with what it held for the consumer.
        self.assertTrue(sk.wait_until(lambda: self.count("SELECT count(*) FROM events") >= N / 2,
                                      T), self.consumer_log())
        self.stop_consumer(signal.SIGTERM)
        at = self.bridged.received_from_bridge()
        self.assertTrue(sk.wait_until(lambda: self.bridged.received_from_bridge() >= at + 40, T))
        held = self.count("SELECT max(seq) FROM events")
        self.cloud.kill(lose_state=True)
        self.assertTrue(os.path.exists(self.db))
        self.cloud.start()
        self.assertTrue(self.bridged.up(2), self.bridged.store.log()[-3000:])
        self.start_consumer()

        filler.join(timeout=120)
        self.assertIsNone(filler.error)
        done = sk.wait_until(lambda: self.count("SELECT min(applied_seq) FROM streams") >= N,
                             60 * sk.SCALE)
        log = self.consumer_log()
        self.assertTrue(done, "the consumer applied up to seq %d of %d\n%s\n%s" % (
            self.count("SELECT min(applied_seq) FROM streams"), N, log, d.text()[-3000:]))
        self.stop_consumer(signal.SIGTERM)

        db = sqlite3.connect(self.db)
        events = db.execute("SELECT count(*), count(DISTINCT seq) FROM events").fetchone()
        self.assertEqual(events, (N, N), "every event once")
        order = [r[0] for r in db.execute("SELECT seq FROM applied ORDER BY n")]
        self.assertEqual(order, list(range(1, N + 1)), "applied once each, in seq order")
        checkouts = db.execute("SELECT count(*) FROM checkouts").fetchone()[0]
        review = db.execute("SELECT count(*) FROM review").fetchone()[0]
        self.assertEqual(review, N // REVIEW_EVERY)
        self.assertEqual(checkouts + review, N)
        self.assertEqual(db.execute("SELECT count(*) FROM review WHERE reasons NOT LIKE "
                                    "'%low_confidence%'").fetchone()[0], 0)
        gaps = db.execute("SELECT from_seq, to_seq, requests, state FROM gaps").fetchall()
        self.assertTrue(gaps, "the broker's crash left a gap: " + log)
        self.assertTrue(all(g[3] == "filled" and g[2] >= 1 for g in gaps), gaps)
        self.assertTrue(any(g[0] <= held + 1 <= g[1] or g[0] > held for g in gaps), gaps)
        self.assertIn("outbox_resend: ", d.text(), "the device was asked")
        dups = sum(int(line.split("(")[1].split()[0]) for line in log.splitlines()
                   if line.startswith("consumer: stopped ("))
        print("consumer: %d events, %d checkouts to charge, %d for review; gaps %s; %d "
              "duplicate(s) dropped" % (N, checkouts, review,
                                        ["%d..%d (%d request(s))" % g[:3] for g in gaps], dups))
        # The report a person reads.
        out = subprocess.run(["/usr/bin/python3", CONSUMER, "report", "--db", self.db, "--json"],
                             capture_output=True, text=True, check=True)
        rep = json.loads(out.stdout)
        self.assertEqual(len(rep["checkouts"]), checkouts)
        self.assertEqual(rep["streams"][0]["applied_seq"], N)
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.text())


if __name__ == "__main__":
    sk.main()
