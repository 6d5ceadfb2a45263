# SPDX-License-Identifier: MIT
"""The cloud side's first hour: a reference consumer of storekeeper's MQTT events
(docs/mqtt.md), to start from. Python 3 with Debian's python3-paho-mqtt (1.6) and sqlite3.

  python3 consumer.py run --host HOST --db cloud.db [options]    follow the stores, forever
  python3 consumer.py report --db cloud.db [--json]              checkouts, review items, gaps

What it does, and why (examples/cloud/README.md has more):
- a persistent MQTT 5 session (fixed client id, clean start off, a session expiry), so what the
  broker receives while the consumer restarts waits for it;
- every event stored once by its id (INSERT OR IGNORE), committed before the callback returns:
  paho acknowledges a QoS 1 message after the callback, so a crash between the two gets the
  message again, and the id drops it;
- events applied per device and ledger in seq order (one held back until the ones before it
  are there): a checkout that is ready to charge goes to the table `checkouts`, one the device
  flagged for review, an abandoned cart with items, or an exit without checkout to `review`;
- seq gaps: a seq at or below the device's delivered_seq (its retained `outbox` mark) reached
  the broker; one still missing after --gap-grace seconds was lost after the broker, and the
  consumer asks the device for the range with `outbox_resend` (a new request_id each attempt,
  one request per device at a time, --resend-retry seconds apart); what the device no longer
  keeps, or what is still missing after --resend-attempts, is recorded as lost and skipped.
"""
import argparse
import json
import os
import signal
import sqlite3
import sys
import time
import uuid

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
except ImportError:  # report works without it
    mqtt = None

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, store_id TEXT, device_id TEXT, ledger_id TEXT, seq INTEGER,
    type TEXT, time TEXT, received REAL, applied INTEGER NOT NULL DEFAULT 0, payload TEXT);
CREATE INDEX IF NOT EXISTS events_pos ON events (store_id, device_id, ledger_id, seq);
CREATE TABLE IF NOT EXISTS streams (
    store_id TEXT, device_id TEXT, ledger_id TEXT,
    applied_seq INTEGER NOT NULL DEFAULT 0,   -- every seq up to here applied (or lost)
    delivered_seq INTEGER NOT NULL DEFAULT 0, -- the device's high-water mark
    last_seq INTEGER NOT NULL DEFAULT 0,
    missing_at INTEGER, missing_since REAL,   -- the first seq missing, and since when
    PRIMARY KEY (store_id, device_id, ledger_id));
CREATE TABLE IF NOT EXISTS checkouts (
    event_id TEXT PRIMARY KEY, store_id TEXT, device_id TEXT, ledger_id TEXT, seq INTEGER,
    session_id TEXT, account_token TEXT, closed TEXT, total_minor INTEGER, currency TEXT,
    items TEXT, supersedes TEXT, superseded_by TEXT);
CREATE TABLE IF NOT EXISTS review (
    event_id TEXT PRIMARY KEY, store_id TEXT, device_id TEXT, ledger_id TEXT, seq INTEGER,
    type TEXT, session_id TEXT, reasons TEXT, total_minor INTEGER, currency TEXT, payload TEXT);
CREATE TABLE IF NOT EXISTS gaps (
    store_id TEXT, device_id TEXT, ledger_id TEXT, from_seq INTEGER, to_seq INTEGER,
    opened REAL, requests INTEGER NOT NULL DEFAULT 0, request_id TEXT, asked REAL,
    missing_reported INTEGER, state TEXT NOT NULL DEFAULT 'open', closed REAL,
    PRIMARY KEY (store_id, device_id, ledger_id, from_seq));
CREATE TABLE IF NOT EXISTS applied (
    n INTEGER PRIMARY KEY AUTOINCREMENT, store_id TEXT, device_id TEXT, ledger_id TEXT,
    seq INTEGER, event_id TEXT);
"""

# Events that need a person before anyone is charged (docs/mqtt.md, event types).
REVIEW_TYPES = ("exit_without_checkout",)


def log(msg):
    print("consumer: " + msg, file=sys.stderr, flush=True)


class Consumer:
    def __init__(self, args):
        self.a = args
        self.db = sqlite3.connect(args.db, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self.client = None
        self.stopping = False
        self.duplicates = 0

    # ---- the MQTT side ---------------------------------------------------------------------

    def connect(self):
        c = mqtt.Client(client_id=self.a.client_id, protocol=mqtt.MQTTv5)
        if self.a.cafile or self.a.cert:
            c.tls_set(ca_certs=self.a.cafile, certfile=self.a.cert, keyfile=self.a.key)
        if self.a.username:
            password = None
            if self.a.password_file:
                with open(self.a.password_file) as f:
                    password = f.read().strip()
            c.username_pw_set(self.a.username, password)
        c.on_connect = self.on_connect
        c.on_message = self.on_message
        c.on_disconnect = self.on_disconnect
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.a.session_expiry
        # clean_start False on every connect: the broker keeps the subscriptions and queues
        # QoS 1 messages for this client id while it is away (up to the session expiry).
        c.connect_async(self.a.host, self.a.port, keepalive=30, clean_start=False,
                        properties=props)
        c.reconnect_delay_set(1, 30)
        self.client = c

    def on_disconnect(self, client, userdata, rc, properties=None):
        if not self.stopping:
            log("disconnected (%s); reconnecting" % rc)

    def topics(self):
        base = "storekeeper/v1/%s/+/" % self.a.store
        return [base + "event/#", base + "outbox",
                base + "reply/outbox_resend/" + self.a.identity]

    def on_connect(self, client, userdata, flags, rc, properties=None):
        if rc != 0:
            log("the broker refused the connection: %s" % rc)
            return
        present = flags.get("session present")
        log("connected (%s)" % ("session resumed" if present else "new session"))
        # Subscribing again is harmless with a resumed session, and needed without one (the
        # broker lost it: what it held for us is gone, the gap check asks for it).
        client.subscribe([(t, 1) for t in self.topics()])

    def on_message(self, client, userdata, msg):
        parts = msg.topic.split("/")
        if len(parts) < 5 or parts[0] != "storekeeper" or parts[1] != "v1":
            return
        try:
            doc = json.loads(msg.payload)
        except ValueError:
            log("not JSON on %s: dropped" % msg.topic)
            return
        if not isinstance(doc, dict):
            return
        kind = parts[4]
        # One transaction per message, committed before returning: then paho sends the PUBACK.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if kind == "event" and len(parts) == 6:
                self.on_event(parts[5], doc)
            elif kind == "outbox":
                self.on_mark(doc)
            elif kind == "reply":
                self.on_reply(doc)
            self.db.execute("COMMIT")
        except Exception:
            self.db.execute("ROLLBACK")
            raise

    def ask(self, store, device, ledger, lo, hi):
        rid = str(uuid.uuid4())
        topic = "storekeeper/v1/%s/%s/cmd/outbox_resend/%s" % (store, device, self.a.identity)
        body = {"request_id": rid, "from_seq": lo, "to_seq": hi, "ledger_id": ledger}
        self.client.publish(topic, json.dumps(body), qos=1)
        log("gap %d..%d of %s/%s: asked the device to send it again (request %s)" % (
            lo, hi, store, device, rid))
        return rid

    # ---- events in seq order ---------------------------------------------------------------

    def stream(self, store, device, ledger):
        self.db.execute("INSERT OR IGNORE INTO streams (store_id, device_id, ledger_id) "
                        "VALUES (?, ?, ?)", (store, device, ledger))
        return self.db.execute("SELECT applied_seq, delivered_seq, last_seq FROM streams WHERE "
                               "store_id=? AND device_id=? AND ledger_id=?",
                               (store, device, ledger)).fetchone()

    def on_event(self, etype, e):
        try:
            key = (str(e["store_id"]), str(e["device_id"]), str(e["ledger_id"]))
            seq, eid = int(e["seq"]), str(e["id"])
        except (KeyError, TypeError, ValueError):
            log("event without id, seq or ledger_id: dropped")
            return
        cur = self.db.execute(
            "INSERT OR IGNORE INTO events (id, store_id, device_id, ledger_id, seq, type, time, "
            "received, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (eid, *key, seq, etype, e.get("time"), time.time(), json.dumps(e)))
        if cur.rowcount == 0:
            self.duplicates += 1  # the same event again (QoS 1, a resend): already stored
            return
        applied, _, last = self.stream(*key)
        if seq > last:
            self.db.execute("UPDATE streams SET last_seq=? WHERE store_id=? AND device_id=? AND "
                            "ledger_id=?", (seq, *key))
        if seq <= applied:
            # A seq given up as lost arrived after all (or a restored ledger numbered it again):
            # applied now, out of order.
            log("seq %d of %s/%s arrived after it was given up: applied late" % (
                seq, key[0], key[1]))
            self.apply(key, seq, eid, etype, e)
        self.advance(key)

    def advance(self, key):
        """Applies the events that are next in seq order; steps over ranges given up."""
        applied = self.stream(*key)[0]
        while True:
            nxt = applied + 1
            row = self.db.execute("SELECT id, type, payload FROM events WHERE store_id=? AND "
                                  "device_id=? AND ledger_id=? AND seq=? AND applied=0",
                                  (*key, nxt)).fetchone()
            if row:
                self.apply(key, nxt, row[0], row[1], json.loads(row[2]))
                applied = nxt
                continue
            lost = self.db.execute("SELECT to_seq FROM gaps WHERE store_id=? AND device_id=? AND "
                                   "ledger_id=? AND state='lost' AND from_seq<=? AND to_seq>=?",
                                   (*key, nxt, nxt)).fetchone()
            if lost:
                applied = nxt  # given up: the next one may be here
                continue
            break
        self.db.execute("UPDATE streams SET applied_seq=? WHERE store_id=? AND device_id=? AND "
                        "ledger_id=?", (applied, *key))
        # Gaps below the applied seq are filled.
        self.db.execute("UPDATE gaps SET state='filled', closed=? WHERE store_id=? AND "
                        "device_id=? AND ledger_id=? AND state='open' AND to_seq<=?",
                        (time.time(), *key, applied))

    def apply(self, key, seq, eid, etype, e):
        self.db.execute("UPDATE events SET applied=1 WHERE id=?", (eid,))
        self.db.execute("INSERT INTO applied (store_id, device_id, ledger_id, seq, event_id) "
                        "VALUES (?, ?, ?, ?, ?)", (*key, seq, eid))
        review = (etype == "checkout" and e.get("review")) or etype in REVIEW_TYPES or (
            etype == "cart_abandoned" and e.get("items"))
        if review:
            self.db.execute(
                "INSERT OR IGNORE INTO review (event_id, store_id, device_id, ledger_id, seq, "
                "type, session_id, reasons, total_minor, currency, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (eid, *key, seq, etype, e.get("session_id"),
                 json.dumps(e.get("review_reasons") or [e.get("reason")]), e.get("total_minor"),
                 e.get("currency"), json.dumps(e)))
        elif etype == "checkout":
            self.db.execute(
                "INSERT OR IGNORE INTO checkouts (event_id, store_id, device_id, ledger_id, seq, "
                "session_id, account_token, closed, total_minor, currency, items, supersedes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (eid, *key, seq, e.get("session_id"), e.get("account_token"), e.get("closed"),
                 e.get("total_minor"), e.get("currency"), json.dumps(e.get("items")),
                 e.get("supersedes")))
            if e.get("supersedes"):
                # A correction: the checkout it replaces is not charged twice.
                self.db.execute("UPDATE checkouts SET superseded_by=? WHERE session_id=? AND "
                                "event_id<>? AND store_id=?",
                                (eid, e["supersedes"], eid, key[0]))

    # ---- the high-water mark, gaps and replies ------------------------------------------------

    def on_mark(self, m):
        try:
            key = (str(m["store_id"]), str(m["device_id"]), str(m["ledger_id"]))
            delivered, last = int(m["delivered_seq"]), int(m["last_seq"])
        except (KeyError, TypeError, ValueError):
            return
        self.stream(*key)
        self.db.execute("UPDATE streams SET delivered_seq=?, last_seq=max(last_seq, ?) WHERE "
                        "store_id=? AND device_id=? AND ledger_id=?", (delivered, last, *key))

    def on_reply(self, r):
        rid = r.get("request_id")
        gap = self.db.execute("SELECT store_id, device_id, ledger_id, from_seq FROM gaps WHERE "
                              "request_id=? AND state='open'", (rid,)).fetchone()
        if not gap:
            return
        if r.get("ok"):
            missing = (r.get("result") or {}).get("missing") or 0
            self.db.execute("UPDATE gaps SET missing_reported=? WHERE request_id=?",
                            (missing, rid))
            log("the device sends %s event(s) again; %s no longer kept" % (
                (r.get("result") or {}).get("count"), missing))
        else:
            err = r.get("error") or {}
            log("outbox_resend refused: %s: %s" % (err.get("code"), err.get("message")))
            if err.get("code") == "invalid":
                # Another ledger now, or nothing of it kept: no retry will help.
                self.give_up(gap[:3], gap[3], "the device refused: %s" % err.get("message"))
            else:
                self.db.execute("UPDATE gaps SET request_id=NULL WHERE request_id=?", (rid,))

    def give_up(self, key, from_seq, why):
        row = self.db.execute("SELECT to_seq FROM gaps WHERE store_id=? AND device_id=? AND "
                              "ledger_id=? AND from_seq=?", (*key, from_seq)).fetchone()
        log("gap %d..%d of %s/%s given up: %s" % (from_seq, row[0], key[0], key[1], why))
        self.db.execute("UPDATE gaps SET state='lost', closed=? WHERE store_id=? AND device_id=? "
                        "AND ledger_id=? AND from_seq=?", (time.time(), *key, from_seq))
        self.advance(key)

    def check_gaps(self):
        """Asks for missing seqs the broker acknowledged (at or below delivered_seq)."""
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            streams = self.db.execute("SELECT store_id, device_id, ledger_id, applied_seq, "
                                      "delivered_seq, missing_at, missing_since "
                                      "FROM streams").fetchall()
            for store, device, ledger, applied, delivered, at, since in streams:
                key = (store, device, ledger)
                lo = applied + 1
                # Under load the next seq is nearly always in flight: the clock runs for one seq
                # and starts again when it arrives; a lost one keeps it running.
                if delivered < lo:
                    if at is not None:
                        self.db.execute("UPDATE streams SET missing_at=NULL, missing_since=NULL "
                                        "WHERE store_id=? AND device_id=? AND ledger_id=?", key)
                    continue
                if at != lo:
                    self.db.execute("UPDATE streams SET missing_at=?, missing_since=? WHERE "
                                    "store_id=? AND device_id=? AND ledger_id=?",
                                    (lo, now, *key))
                    continue
                if now - since >= self.a.gap_grace:
                    self.handle_gap(key, lo, delivered, now)
            self.db.execute("COMMIT")
        except Exception:
            self.db.execute("ROLLBACK")
            raise

    def handle_gap(self, key, lo, delivered, now):
        """The first run of missing seqs from lo (up to delivered): one request at a time."""
        have = {r[0] for r in self.db.execute(
            "SELECT seq FROM events WHERE store_id=? AND device_id=? AND ledger_id=? AND seq>=? "
            "AND seq<=?", (*key, lo, delivered))}
        if lo in have:
            return  # applied on the next message; nothing is missing at the front
        hi = lo
        while hi + 1 <= delivered and hi + 1 not in have and hi + 1 - lo < self.a.resend_max:
            hi += 1
        gap = self.db.execute("SELECT from_seq, to_seq, requests, request_id, asked, "
                              "missing_reported FROM gaps WHERE store_id=? AND device_id=? AND "
                              "ledger_id=? AND state='open' AND from_seq<=? AND to_seq>=?",
                              (*key, lo, lo)).fetchone()
        if gap is None:
            self.db.execute("INSERT OR REPLACE INTO gaps (store_id, device_id, ledger_id, "
                            "from_seq, to_seq, opened) VALUES (?, ?, ?, ?, ?, ?)",
                            (*key, lo, hi, now))
            gap = (lo, hi, 0, None, None, None)
        from_seq, to_seq, requests, rid, asked, missing = gap
        if asked is not None and now - asked < self.a.resend_retry:
            return  # the answer may still be on its way
        if requests >= self.a.resend_attempts or (missing and requests > 0):
            self.give_up(key, from_seq, "still missing after %d request(s)%s" % (
                requests, ", the device no longer keeps %d" % missing if missing else ""))
            return
        rid = self.ask(*key, from_seq, to_seq)
        self.db.execute("UPDATE gaps SET requests=requests+1, request_id=?, asked=? WHERE "
                        "store_id=? AND device_id=? AND ledger_id=? AND from_seq=?",
                        (rid, now, *key, from_seq))

    def run(self):
        self.connect()
        last_check = 0.0
        while not self.stopping:
            rc = self.client.loop(timeout=0.2)
            if rc != mqtt.MQTT_ERR_SUCCESS and not self.stopping:
                time.sleep(1)
                try:
                    self.client.reconnect()
                except OSError as e:
                    log("cannot reach %s:%d: %s" % (self.a.host, self.a.port, e))
            if time.monotonic() - last_check >= 0.5:
                last_check = time.monotonic()
                self.check_gaps()
        self.client.disconnect()
        self.client.loop(timeout=1)
        log("stopped (%d duplicate(s) dropped)" % self.duplicates)


def report(args):
    db = sqlite3.connect(args.db)
    db.executescript(SCHEMA)

    def q(sql):
        cur = db.execute(sql)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]
    out = {
        "streams": q("SELECT * FROM streams ORDER BY store_id, device_id"),
        "checkouts": q("SELECT event_id, store_id, device_id, seq, session_id, total_minor, "
                       "currency, superseded_by FROM checkouts ORDER BY store_id, device_id, "
                       "seq"),
        "review": q("SELECT event_id, store_id, device_id, seq, type, session_id, reasons, "
                    "total_minor FROM review ORDER BY store_id, device_id, seq"),
        "gaps": q("SELECT * FROM gaps ORDER BY store_id, device_id, from_seq"),
        "events": db.execute("SELECT count(*) FROM events").fetchone()[0],
    }
    if args.json:
        json.dump(out, sys.stdout, indent=1)
        print()
        return 0
    for s in out["streams"]:
        print("%(store_id)s/%(device_id)s ledger %(ledger_id)s: applied up to seq "
              "%(applied_seq)d, device delivered %(delivered_seq)d, newest %(last_seq)d" % s)
    charge = [c for c in out["checkouts"] if not c["superseded_by"]]
    print("%d event(s); %d checkout(s) to charge, %d for review" % (
        out["events"], len(charge), len(out["review"])))
    for r in out["review"]:
        print("  review: %(store_id)s/%(device_id)s seq %(seq)d %(type)s session %(session_id)s "
              "reasons %(reasons)s" % r)
    for g in out["gaps"]:
        print("  gap %(from_seq)d..%(to_seq)d of %(store_id)s/%(device_id)s: %(state)s after "
              "%(requests)d request(s)" % g)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="follow the stores' events, forever (SIGTERM stops)")
    r.add_argument("--host", required=True)
    r.add_argument("--port", type=int, default=1883)
    r.add_argument("--db", required=True, help="the SQLite file (created)")
    r.add_argument("--store", default="+", help="one store id, or + for every store")
    r.add_argument("--client-id", default="storekeeper-cloud-consumer",
                   help="stable: the broker keeps the session under it")
    r.add_argument("--identity", default="cloud",
                   help="who sends commands: cmd/<name>/<identity> (the device's "
                        "mqtt.cloud_identity)")
    r.add_argument("--session-expiry", type=int, default=7 * 86400,
                   help="seconds the broker keeps the session while this consumer is away")
    r.add_argument("--gap-grace", type=float, default=3.0,
                   help="seconds a seq the broker acknowledged may be missing before asking")
    r.add_argument("--resend-retry", type=float, default=15.0,
                   help="seconds before asking again for a range still missing")
    r.add_argument("--resend-attempts", type=int, default=4)
    r.add_argument("--resend-max", type=int, default=5000,
                   help="seqs per request at most (the device's mqtt.resend_max)")
    r.add_argument("--cafile")
    r.add_argument("--cert", help="client certificate (with --key)")
    r.add_argument("--key")
    r.add_argument("--username")
    r.add_argument("--password-file")
    rep = sub.add_parser("report", help="checkouts, review items, gaps")
    rep.add_argument("--db", required=True)
    rep.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.cmd == "report":
        return report(args)
    if mqtt is None:
        print("consumer: python3-paho-mqtt is not installed (apt install python3-paho-mqtt)",
              file=sys.stderr)
        return 2
    c = Consumer(args)

    def stop(*_):
        c.stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    c.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
