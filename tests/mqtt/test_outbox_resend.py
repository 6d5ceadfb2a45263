# SPDX-License-Identifier: MIT
"""outbox_resend against a real mosquitto broker: a delivered range is published again with the
same ids and payloads, behind the live events and with the high-water mark showing it on its
way; a repeated request_id sends nothing again; a range of another ledger, one beyond the
newest event, and one wider than mqtt.resend_max are refused with the field; pruned rows are
counted as missing; more than mqtt.resend_rate_max commands a minute are answered busy; only
mqtt.cloud_identity may ask."""
import json
import os
import unittest

import mqtt_helpers as mh
import sk

STORE = "rs-store"
DEVICE = "edge-1"
PREFIX = "storekeeper/v1/%s/%s/" % (STORE, DEVICE)

CONFIG = """store_id = "%s";
device_id = "%s";
board = "sim";
log = { level = "info"; format = "plain"; };
core = { tick_ms = 50; };
ledger = { path = "ledger.db"; %%s };
mqtt = { host = "127.0.0.1"; port = %%d; reconnect_min_ms = 200; reconnect_max_ms = 1000;
         keepalive_s = 5; hwm_interval_ms = 100; stats_interval_s = 0; cloud_identity = "cloud";
         resend_max = 50; resend_rate_max = 4; };
""" % (STORE, DEVICE)


class ResendTest(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.schemas = mh.Schemas()
        self.broker = mh.Broker(self.tmp.path).start()
        self.ledger = os.path.join(self.tmp.path, "ledger.db")
        self.subs = []
        self.daemons = []

    def tearDown(self):
        mh.stop_all(self.daemons, self.subs, [self.broker])
        self.tmp.cleanup()

    def start(self, ledger=""):
        cfg = self.tmp.file("store.cfg", CONFIG % (ledger, self.broker.port))
        d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
        self.daemons.append(d)
        return d

    def sub(self, name, topics):
        s = mh.Sub(self.broker, topics, self.tmp.path, name)
        self.subs.append(s)
        return s

    def events(self, sub):
        return sub.json_on_prefix(PREFIX + "event/")

    def ask(self, replies, payload, identity="cloud"):
        """Sends outbox_resend as identity; returns its reply (matched by request_id)."""
        rid = json.loads(payload)["request_id"]
        seen = len(replies.messages())
        mh.publish(self.broker, PREFIX + "cmd/outbox_resend/" + identity, payload, v5=False)
        got = replies.wait_for(lambda ms: [json.loads(m["payload"]) for m in ms[seen:]
                                           if json.loads(m["payload"]).get("request_id") == rid],
                               10 * sk.SCALE)
        self.assertTrue(got, "a reply to %s" % rid)
        self.assertEqual(len(got), 1, "exactly one reply")
        self.schemas.check(got[0])
        return got[0]

    def test_resend(self):
        mh.outbox("fill", self.ledger, STORE, DEVICE, 100, 20)
        sub = self.sub("events", [PREFIX + "event/#", PREFIX + "outbox"])
        replies = self.sub("replies", [PREFIX + "reply/#"])
        d = self.start()
        self.assertTrue(sub.wait_for(lambda ms: len({e["seq"] for e in self.events(sub)}) >= 100,
                                     20 * sk.SCALE), d.text())
        first = {e["seq"]: e for e in self.events(sub)}
        ledger_id = first[1]["ledger_id"]
        before = len(self.events(sub))

        r = self.ask(replies, json.dumps({"request_id": "gap-1", "from_seq": 40, "to_seq": 59,
                                          "ledger_id": ledger_id}))
        self.assertTrue(r["ok"], r)
        self.assertEqual((r["status"], r["result"]["count"], r["result"]["missing"]),
                         ("done", 20, 0), r)
        again = lambda: self.events(sub)[before:]  # noqa: E731
        self.assertTrue(sub.wait_for(lambda ms: len(again()) >= 20, 10 * sk.SCALE), d.text())
        resent = again()
        self.assertEqual(sorted(e["seq"] for e in resent), list(range(40, 60)))
        for e in resent:
            self.schemas.check(e)
            a, b = dict(e), dict(first[e["seq"]])
            a.pop("publish_time")
            b.pop("publish_time")
            self.assertEqual(a, b, "the same event, id and payload")
        # Delivered again: the mark comes back to the head.
        self.assertTrue(sub.wait_for(lambda ms: any(
            json.loads(m["payload"])["delivered_seq"] == 100 for m in ms[-5:]
            if m["topic"] == PREFIX + "outbox"), 10 * sk.SCALE))

        # The same request again: the first reply, marked repeat, and nothing sent again. The
        # marker is published after the repeat's reply: what it would have sent comes before.
        r2 = self.ask(replies, json.dumps({"request_id": "gap-1", "from_seq": 40, "to_seq": 59,
                                           "ledger_id": ledger_id}))
        self.assertTrue(r2.get("repeat"), r2)
        self.assertEqual(r2["result"]["count"], 20)
        sub.marker()
        self.assertEqual(len(self.events(sub)), before + 20, "a repeat sends nothing")

        # Refusals name the field.
        bad = [({"from_seq": 1, "to_seq": 2, "ledger_id": "another-ledger"}, "ledger_id"),
               ({"from_seq": 101, "to_seq": 120}, "from_seq"),
               ({"from_seq": 1, "to_seq": 51}, "to_seq"),
               ({"from_seq": 9, "to_seq": 8}, "to_seq")]
        for i, (p, field) in enumerate(bad):
            p["request_id"] = "bad-%d" % i
            r = self.ask(replies, json.dumps(p))
            self.assertEqual((r["ok"], r["error"]["code"], r["error"].get("field")),
                             (False, "invalid", field), r)
        # Only the cloud may ask (mqtt.cloud_identity).
        r = self.ask(replies, json.dumps({"request_id": "intruder", "from_seq": 1, "to_seq": 2}),
                     identity="dashboard")
        self.assertEqual(r["error"]["code"], "forbidden", r)
        # A range cut at the newest event; then the bucket (4 a minute) is empty: busy, which
        # is not recorded, so the same request_id is applied later.
        r = self.ask(replies, json.dumps({"request_id": "tail", "from_seq": 95, "to_seq": 140}))
        self.assertEqual((r["status"], r["result"]["count"]), ("done", 6), r)
        self.ask(replies, json.dumps({"request_id": "t2", "from_seq": 1, "to_seq": 1}))
        self.ask(replies, json.dumps({"request_id": "t3", "from_seq": 1, "to_seq": 1}))
        r = self.ask(replies, json.dumps({"request_id": "t4", "from_seq": 1, "to_seq": 1}))
        self.assertEqual(r["error"]["code"], "busy", r)
        self.assertIn("mqtt.resend_rate_max", r["error"]["message"])
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.text())

    def test_pruned_rows_are_missing(self):
        """Delivered rows beyond ledger.outbox_keep_delivered_max are gone: counted missing."""
        mh.outbox("fill", self.ledger, STORE, DEVICE, 60, 20)
        sub = self.sub("events", [PREFIX + "event/#"])
        replies = self.sub("replies", [PREFIX + "reply/#"])
        d = self.start("outbox_keep_delivered_max = 10;")
        self.assertTrue(sub.wait_for(lambda ms: len(ms) >= 60, 20 * sk.SCALE), d.text())
        # The retention pass runs every 10 s: wait until the oldest rows are gone.
        self.assertTrue(sk.wait_until(lambda: self.kept() <= 10, 30 * sk.SCALE, 0.5), d.text())
        r = self.ask(replies, json.dumps({"request_id": "old", "from_seq": 41, "to_seq": 60}))
        self.assertEqual((r["result"]["count"], r["result"]["missing"]), (10, 10), r)
        self.assertIn("no longer kept", r["result"]["detail"])
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.text())

    def kept(self):
        """Rows the device's outbox still holds (delivered or not)."""
        out = sk.run("ledger", "--db", self.ledger, "--json", "outbox", cwd=self.tmp.path)
        try:
            doc = json.loads(out.stdout)
            return doc["delivered"] + doc["pending"]
        except (ValueError, KeyError):
            return 10 ** 9


if __name__ == "__main__":
    sk.main()
