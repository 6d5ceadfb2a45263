# SPDX-License-Identifier: MIT
"""Exactly-once command effects against a real mosquitto broker (issue 19, finding 1): a
state-changing command sent again with the same request_id (a cloud retry after a lost reply, a
genuine MQTT QoS 1 redelivery, across a clean restart and after SIGKILL) is answered with the
original reply and not applied again; a request_id reused for another command is refused; the
record is per sender; replies leave only after the effects are durable."""
import json
import os
import select
import socket
import subprocess
import threading
import time
import unittest

import mqtt_helpers as mh
import sk

STORE = "once-store"
DEVICE = "edge-1"
PREFIX = "storekeeper/v1/%s/%s/" % (STORE, DEVICE)

CONFIG = """store_id = "%(store)s";
device_id = "%(device)s";
board = "sim";
log = { level = "info"; format = "plain"; };
core = { tick_ms = 50; };
mqtt = { host = "127.0.0.1"; port = %(port)d; reconnect_min_ms = 200; reconnect_max_ms = 1000;
         keepalive_s = 5; stats_interval_s = 0; %(mqtt)s };
buses = ( { name = "bus-1"; url = "tcp:127.0.0.1:%(bus_port)d"; } );
readers = ( { name = "reader-1"; bus = "bus-1"; unit = 1; profile = "generic-epc"; } );
shelves = ( { name = "shelf-a"; reader = "reader-1"; antenna = 1; } );
"""

CATALOG = ('{"request_id":"%s","products":[{"sku":"cola-330","name":"Cola","price_minor":150,'
           '"currency":"EUR"}]}')


class DropPubackProxy:
    """A TCP proxy between the device and the broker that, once armed, swallows the next PUBACK
    the device sends (its acknowledgement of a QoS 1 command) and cuts both connections: the
    broker never learns the command arrived and redelivers it, with DUP set, when the device
    resumes its session. Parses MQTT's fixed header only (packet type and remaining length)."""

    def __init__(self, broker_port):
        self.broker_port = broker_port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.armed = threading.Event()
        self.dropped = threading.Event()
        self.stopping = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                dev, _ = self.lsock.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.broker_port))
            self.conns += [dev, up]
            threading.Thread(target=self._pump, args=(dev, up), daemon=True).start()

    @staticmethod
    def _packet(buf):
        """Length of the first complete MQTT packet in buf, or 0."""
        mult, n, i = 1, 0, 1
        while i < len(buf):
            b = buf[i]
            n += (b & 0x7F) * mult
            i += 1
            if not b & 0x80:
                return i + n if len(buf) >= i + n else 0
            mult *= 128
            if i > 4:
                raise ValueError("bad remaining length")
        return 0

    def _pump(self, dev, up):
        pending = b""
        try:
            while True:
                r, _, _ = select.select([dev, up], [], [], 0.5)
                if self.stopping:
                    break
                if up in r:
                    data = up.recv(65536)
                    if not data:
                        break
                    dev.sendall(data)
                if dev in r:
                    data = dev.recv(65536)
                    if not data:
                        break
                    pending += data
                    while True:
                        n = self._packet(pending)
                        if not n:
                            break
                        pkt, pending = pending[:n], pending[n:]
                        if self.armed.is_set() and pkt[0] >> 4 == 4:  # PUBACK
                            self.armed.clear()
                            self.dropped.set()
                            raise ConnectionAbortedError
                        up.sendall(pkt)
        except (OSError, ConnectionAbortedError, ValueError):
            pass
        for s in (dev, up):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def stop(self):
        self.stopping = True
        self.lsock.close()
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass


class OnceTest(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.schemas = mh.Schemas()
        self.broker = mh.Broker(self.tmp.path).start()
        self.subs = []
        self.daemons = []
        self.proxy = None
        self.cloud = mh.Sub(self.broker, ["it/replies/#", PREFIX + "status"], self.tmp.path,
                            "cloud")
        self.subs.append(self.cloud)
        # Subscribed when the broker logs it (no fixed sleep).
        self.assertTrue(mh.wait_until(lambda: "it/replies/#" in self.broker.log(), 10))

    def tearDown(self):
        if self.proxy:
            self.proxy.stop()
        mh.stop_all(self.daemons, self.subs, [self.broker])
        self.tmp.cleanup()

    def start(self, port=None, mqtt=""):
        cfg = self.tmp.file("store.cfg", CONFIG % {
            "store": STORE, "device": DEVICE, "port": port or self.broker.port, "mqtt": mqtt,
            "bus_port": sk.free_port()})
        d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
        self.daemons.append(d)
        return d

    def online(self, count):
        ok = self.cloud.wait_for(lambda ms: len([m for m in ms if m["topic"] == PREFIX + "status"
                                                 and json.loads(m["payload"])["state"] == "online"])
                                 >= count, 15)
        self.assertTrue(ok, self.daemons[-1].text())
        # The device subscribes right after its birth; a command sent before the SUBACK would be
        # lost (no session yet on the first start). Wait for the broker to note it.
        self.assertTrue(mh.wait_until(lambda: self.broker.log().count(
            "%s-%s 1 %scmd/+/+" % (STORE, DEVICE, PREFIX)) >= count, 10), self.broker.log())

    def send(self, name, payload, corr, identity=None):
        topic = PREFIX + "cmd/" + name + ("/" + identity if identity else "")
        mh.publish(self.broker, topic, payload, response_topic="it/replies/" + corr,
                   correlation=corr)

    def replies(self, corr, count=1, timeout=10):
        got = self.cloud.wait_for(lambda ms: [m for m in ms if m["topic"] == "it/replies/" + corr]
                                  [count - 1:], timeout)
        self.assertTrue(got, "no reply %d for %s: %s" % (count, corr, self.daemons[-1].text()))
        msgs = [m for m in self.cloud.messages() if m["topic"] == "it/replies/" + corr]
        return [self.schemas.check(m["payload"]) for m in msgs]

    def ask(self, name, payload, corr, identity=None):
        self.send(name, payload, corr, identity)
        r = self.replies(corr)
        self.assertEqual(len(r), 1, r)
        return r[0]

    def test_repeats_answered_not_applied(self):
        d = self.start()
        self.online(1)
        first = self.ask("catalog_upsert", CATALOG % "cat-1", "c1")
        self.assertEqual(first["result"]["detail"], "1 product(s) added, 0 updated")
        self.assertNotIn("repeat", first)
        # The cloud lost the reply and sends the same request again: the original reply, not
        # "0 added, 1 updated" (which applying it again would say).
        again = self.ask("catalog_upsert", CATALOG % "cat-1", "c2")
        self.assertEqual((again["status"], again["result"]), (first["status"], first["result"]))
        self.assertTrue(again["repeat"])
        self.assertIn("first_reply", again)
        # Re-serialised with another key order and white space: still the same request.
        again = self.ask("catalog_upsert", '{ "products" : [ {"currency":"EUR","price_minor":150,'
                         '"name":"Cola","sku":"cola-330"} ], "request_id" : "cat-1" }', "c3")
        self.assertTrue(again["repeat"])
        # A new request is applied.
        new = self.ask("catalog_upsert", CATALOG % "cat-2", "c4")
        self.assertEqual(new["result"]["detail"], "0 product(s) added, 1 updated")
        # The case: a bind for the next shopper sent twice is held once (its expiry
        # is the first one's; applying it again would move it).
        bind = '{"request_id":"bind-1","account_token":"acct_0123456789","next_entry":true}'
        b1 = self.ask("session_bind", bind, "b1")
        self.assertEqual(b1["status"], "queued")
        time.sleep(1.1)  # a re-application would now give an expiry at least a second later
        b2 = self.ask("session_bind", bind, "b2")
        self.assertTrue(b2["repeat"])
        self.assertEqual(b2["result"], b1["result"])
        rs = '{"request_id":"rs-1","shelves":["shelf-a"],"restock_id":"truck-7"}'
        r1 = self.ask("restock_done", rs, "r1")
        r2 = self.ask("restock_done", rs, "r2")
        self.assertEqual((r2["repeat"], r2["result"]), (True, r1["result"]))
        self.assertEqual(d.text().count("restock done on 1 shelf(ves), id truck-7"), 1)
        # The same request_id for another command is not a repeat: refused, nothing applied.
        other = self.ask("restock_done", '{"request_id":"rs-1","all":true}', "r3")
        self.assertEqual((other["error"]["code"], other["error"]["field"]),
                         ("invalid", "request_id"))
        self.assertIn("used for another restock_done command", other["error"]["message"])
        # Request ids count per sender (cloud_identity is empty: anyone may change state).
        mine = self.ask("restock_done", rs, "r4", identity="dashboard")
        self.assertNotIn("repeat", mine)
        self.assertEqual(d.text().count("restock done on 1 shelf(ves), id truck-7"), 2)
        # A refusal that means "try again" (busy) is not kept; an invalid one is answered again.
        bad = '{"request_id":"bad-1","account_token":"acct_0123456789","session_id":"nobody"}'
        e1 = self.ask("session_bind", bad, "e1")
        e2 = self.ask("session_bind", bad, "e2")
        self.assertEqual(e1["error"], e2["error"])
        self.assertTrue(e2["repeat"])

        # Across a clean restart ...
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.text())
        d = self.start()
        self.online(2)
        again = self.ask("catalog_upsert", CATALOG % "cat-1", "c5")
        self.assertEqual((again["repeat"], again["result"]), (True, first["result"]))
        # ... and after SIGKILL.
        k1 = self.ask("restock_done", '{"request_id":"rs-2","all":true}', "k1")
        d.proc.kill()
        d.proc.wait()
        d = self.start()
        self.online(3)
        k2 = self.ask("restock_done", '{"request_id":"rs-2","all":true}', "k2")
        self.assertEqual((k2["repeat"], k2["result"]), (True, k1["result"]))
        self.assertEqual(d.text().count("restock done on"), 0, d.text())
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.text())

    def test_cloud_retry_while_the_device_is_down(self):
        """Commands the broker held for the device's session while it was down, and the cloud's
        retry of one of them: applied once."""
        d = self.start()
        self.online(1)
        d.proc.kill()
        d.proc.wait()
        # Sent while the device is down: the broker keeps them for its session.
        self.send("catalog_upsert", CATALOG % "down-1", "d1")
        self.send("catalog_upsert", CATALOG % "down-1", "d2")  # the cloud's retry
        d = self.start()
        r1 = self.replies("d1")
        r2 = self.replies("d2")
        self.assertEqual(r1[0]["result"]["detail"], "1 product(s) added, 0 updated")
        self.assertNotIn("repeat", r1[0])
        self.assertTrue(r2[0]["repeat"])
        self.assertEqual(r2[0]["result"], r1[0]["result"])
        d.stop()

    def test_qos1_redelivery(self):
        """A genuine QoS 1 redelivery: the device's PUBACK is lost with its connection, so the
        broker sends the command again (DUP) when the device resumes its session."""
        self.proxy = DropPubackProxy(self.broker.port)
        d = self.start(port=self.proxy.port)
        self.online(1)
        self.proxy.armed.set()
        self.send("catalog_upsert", CATALOG % "qos-1", "q1")
        self.assertTrue(self.proxy.dropped.wait(10), d.text())
        # Reconnected, the session resumed, the command delivered again with DUP set.
        got = self.replies("q1", timeout=20)
        self.assertTrue(mh.wait_until(lambda: "(d1, q1, r0, m" in self.broker.log(), 10),
                        "the broker did not redeliver: " + self.broker.log())
        self.assertTrue(d.wait_log("session resumed", 10), d.text())
        # Whatever reached the cloud: one application ("1 added"), and a repeat for the
        # redelivered copy (the first reply died with the connection, or arrived as well).
        got = self.cloud.wait_for(lambda ms: [json.loads(m["payload"]) for m in ms
                                              if m["topic"] == "it/replies/q1" and
                                              json.loads(m["payload"]).get("repeat")], 10)
        self.assertTrue(got, d.text())
        replies = self.replies("q1")
        for r in replies:
            self.assertEqual(r["result"]["detail"], "1 product(s) added, 0 updated")
        self.assertEqual(len([r for r in replies if not r.get("repeat")]), len(replies) - 1)
        self.assertEqual(d.text().count("catalog: 1 product(s) added, 0 updated by a command"), 1)
        d.stop()


if __name__ == "__main__":
    sk.main()
