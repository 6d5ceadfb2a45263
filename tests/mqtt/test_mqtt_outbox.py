# SPDX-License-Identifier: MIT
"""Outbox delivery against a real mosquitto broker: 10,000 events in order; the broker
stopped while events keep being committed, until the link's back-off grew to seconds and a
thousand events wait (every event arrives, duplicates only with the same id); the daemon
killed with SIGKILL while publishing and restarted (the same, and the last will fires). Events are written into the ledger by tests/mqtt/outbox_tool.c
through the ledger's API, as the core will write them. Every payload is validated against
docs/schema."""
import json
import os
import re
import signal
import time
import unittest

import mqtt_helpers as mh
import sk

STORE = "ob-store"
DEVICE = "edge-1"
PREFIX = "storekeeper/v1/%s/%s/" % (STORE, DEVICE)

CONFIG = """store_id = "%s";
device_id = "%s";
board = "sim";
log = { level = "%%s"; format = "plain"; };
core = { tick_ms = 50; };
ledger = { path = "ledger.db"; };
mqtt = { host = "127.0.0.1"; port = %%d; reconnect_min_ms = 200; reconnect_max_ms = 2000;
         keepalive_s = 5; hwm_interval_ms = 200; %%s };
""" % (STORE, DEVICE)


def time_of(rfc3339):
    """Seconds since the epoch of '2026-11-21T10:00:00.123Z'."""
    import calendar
    base, ms = rfc3339.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(ms) / 1000.0


class OutboxTest(unittest.TestCase):
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

    def start(self, mqtt="", level="info"):
        cfg = self.tmp.file("store.cfg", CONFIG % (level, self.broker.port, mqtt))
        d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
        self.daemons.append(d)
        return d

    def sub(self, name, topics=(PREFIX + "event/#",)):
        s = mh.Sub(self.broker, list(topics), self.tmp.path, name)  # subscribed (SUBACK)
        self.subs.append(s)
        return s

    def events(self, sub):
        return [json.loads(m["payload"]) for m in sub.messages()
                if m["topic"].startswith(PREFIX + "event/")]

    def wait_all(self, sub, n, timeout, d=None):
        """Waits until seqs 1..n all arrived; returns the events (validated)."""
        def complete(ms):
            seqs = {json.loads(m["payload"])["seq"] for m in ms
                    if m["topic"].startswith(PREFIX + "event/")}
            return len(seqs) >= n
        ok = sub.wait_for(complete, timeout)
        evs = self.events(sub)
        got = {e["seq"] for e in evs}
        self.assertTrue(ok, "%d of %d events arrived; missing e.g. %s\n%s" % (
            len(got), n, sorted(set(range(1, n + 1)) - got)[:10], d.text()[-3000:] if d else ""))
        self.assertEqual(got, set(range(1, n + 1)), "exactly seqs 1..%d" % n)
        return evs

    def check_duplicates(self, evs):
        """A seq seen twice must be the same event: same id, same payload but publish_time."""
        first = {}
        dups = 0
        for e in evs:
            body = dict(e)
            body.pop("publish_time")
            if e["seq"] in first:
                dups += 1
                self.assertEqual(first[e["seq"]], body, "a re-sent event must be identical")
            else:
                first[e["seq"]] = body
        ids = {b["id"] for b in first.values()}
        self.assertEqual(len(ids), len(first), "one id per seq")
        return dups

    def test_10000_in_order(self):
        mh.outbox("fill", self.ledger, STORE, DEVICE, 10000, 1000)
        sub = self.sub("in-order", [PREFIX + "event/#", PREFIX + "outbox"])
        d = self.start()
        evs = self.wait_all(sub, 10000, 60, d)
        seqs = [e["seq"] for e in evs]
        self.assertEqual(seqs, list(range(1, 10001)), "in seq order, no duplicate")
        self.assertEqual(len({e["id"] for e in evs}), 10000)
        self.assertTrue(all(e["ledger_id"] == evs[0]["ledger_id"] for e in evs))
        # The retained high-water mark reaches the end of the stream.
        hwm = sub.wait_for(lambda ms: [json.loads(m["payload"]) for m in ms
                                       if m["topic"] == PREFIX + "outbox" and
                                       json.loads(m["payload"])["delivered_seq"] == 10000], 10)
        self.assertTrue(hwm, [m["payload"] for m in sub.messages() if "outbox" in m["topic"]])
        self.assertEqual((hwm[-1]["last_seq"], hwm[-1]["pending"]), (10000, 0))
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.text())
        self.assertEqual(mh.outbox_stats(self.ledger, STORE, DEVICE)["pending"], 0)
        self.assertEqual(self.schemas.check_all(sub.messages()), len(sub.messages()))

    def test_live_events_overtake_backlog(self):
        """A long backlog (sent at mqtt.replay_rate_max) does not delay events committed now."""
        backlog = 20000
        mh.outbox("fill", self.ledger, STORE, DEVICE, backlog, 1000)
        sub = self.sub("live")
        d = self.start("replay_rate_max = 500;")  # 40 s of backlog
        self.assertTrue(sub.wait_for(lambda ms: len(ms) >= 200, 15), d.text())
        live = 20
        filler = mh.Filler(self.ledger, STORE, DEVICE, live, 1, 10)
        filler.start()
        filler.join(30)
        self.assertIsNone(filler.error)

        def live_events(ms):
            return [(m["time"], json.loads(m["payload"])) for m in ms
                    if json.loads(m["payload"])["seq"] > backlog]
        got = sub.wait_for(lambda ms: len(live_events(ms)) >= live and live_events(ms), 10)
        self.assertTrue(got, "live events arrived")
        evs = self.events(sub)
        backlog_done = len({e["seq"] for e in evs if e["seq"] <= backlog})
        self.assertLess(backlog_done, backlog // 2, "the backlog was still being sent")
        # Each live event within 1.5 s of its commit (the link polls rows other processes
        # commit every 250 ms; in the daemon a commit cues it at once), in seq order.
        for t, e in live_events(sub.messages()):
            committed = time_of(e["time"])
            self.assertLess(t - committed, 1.5, e)
        seqs = [e["seq"] for _, e in live_events(sub.messages())]
        self.assertEqual(seqs, sorted(seqs))
        print("live: %d live events during a backlog, %d of %d backlog events sent by then" % (
            live, backlog_done, backlog))
        d.stop()

    def test_broker_stopped(self):
        sub = self.sub("outage")
        d = self.start(level="debug")
        self.assertTrue(d.wait_log("mqtt: connected to", timeout=10), d.text())
        total = 4000
        filler = mh.Filler(self.ledger, STORE, DEVICE, total, 10, 400)  # 10 s of events
        filler.start()
        self.assertTrue(sub.wait_for(lambda ms: len(ms) >= 300, 15), "events flow live")
        mark = d.mark()
        last_seq = mh.outbox_stats(self.ledger, STORE, DEVICE)["last_seq"]
        self.broker.stop()
        # The broker stays away until the daemon noticed ("connection lost"), its back-off
        # grew to seconds (two retries at least 1 s away: near reconnect_max_ms, with equal
        # jitter), it reported the outage once more, rate-limited ("retrying in", 10 s after
        # the first report), and a thousand events were committed meanwhile; nothing is lost.
        slow = re.compile(r"mqtt: attempt \d+ failed: .*; next in \d{4,} ms")

        def outage_done():
            text = d.text(mark)
            committed = mh.outbox_stats(self.ledger, STORE, DEVICE)["last_seq"] - last_seq
            return ("mqtt: connection lost" in text and "retrying in" in text and
                    len(slow.findall(text)) >= 2 and committed >= 1000)
        self.assertTrue(mh.wait_until(outage_done, 60 * sk.SCALE, 0.2),
                        d.text(mark)[-3000:])
        self.broker.start()
        filler.join(60)
        self.assertIsNone(filler.error)
        evs = self.wait_all(sub, total, 60, d)
        self.assertTrue(d.wait_log("mqtt: broker reachable again"), d.text())
        dups = self.check_duplicates(evs)
        print("outage: %d events, %d duplicates (same id)" % (len(evs), dups))
        rc, _ = d.stop()
        self.assertEqual(rc, 0)
        self.assertEqual(mh.outbox_stats(self.ledger, STORE, DEVICE)["pending"], 0)
        self.schemas.check_all(sub.messages())

    def test_sigkill_while_publishing(self):
        total = 20000
        mh.outbox("fill", self.ledger, STORE, DEVICE, total, 1000)
        sub = self.sub("killed", [PREFIX + "event/#", PREFIX + "status"])
        # A backlog rate limit keeps the daemon publishing for a few seconds.
        d = self.start("replay_rate_max = 3000;")
        self.assertTrue(sub.wait_for(lambda ms: len(ms) >= 3000, 20), d.text())
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        got_before = len({e["seq"] for e in self.events(sub)})
        self.assertLess(got_before, total, "killed while publishing")
        # The last will: the broker saw the connection die.
        will = sub.wait_for(lambda ms: [json.loads(m["payload"]) for m in ms
                                        if m["topic"] == PREFIX + "status" and
                                        json.loads(m["payload"])["state"] == "offline"], 15)
        self.assertTrue(will, "last will after SIGKILL")
        pending = mh.outbox_stats(self.ledger, STORE, DEVICE)["pending"]
        self.assertGreater(pending, 0)
        d2 = self.start("replay_rate_max = 0;")
        evs = self.wait_all(sub, total, 60, d2)
        dups = self.check_duplicates(evs)
        print("sigkill: %d received before the kill, %d pending after it, %d duplicates" % (
            got_before, pending, dups))
        online = [json.loads(m["payload"]) for m in sub.messages()
                  if m["topic"] == PREFIX + "status" and
                  json.loads(m["payload"])["state"] == "online"]
        self.assertEqual(len(online), 2)
        rc, _ = d2.stop()
        self.assertEqual(rc, 0)
        self.assertEqual(mh.outbox_stats(self.ledger, STORE, DEVICE)["pending"], 0)
        self.schemas.check_all(sub.messages())


if __name__ == "__main__":
    sk.main()
