# SPDX-License-Identifier: MIT
"""The command channel cannot be starved (issue 19, finding 2). Debian 12's mosquitto 2.0.11
leaks one receive-maximum slot of a client for every QoS 1 message it drops because the client
announced a smaller maximum packet size; its persistent session keeps the leak across restarts.
Twenty such drops left the device deaf to commands. The device announces no maximum packet
size (the broker's max_packet_size bounds what it receives) and answers too_large itself: 30
oversized QoS 1 commands are each answered, and commands are still answered after them, also
after the device restarts."""
import json
import subprocess
import unittest

import mqtt_helpers as mh
import sk

STORE = "big-store"
DEVICE = "edge-1"
PREFIX = "storekeeper/v1/%s/%s/" % (STORE, DEVICE)

CONFIG = """store_id = "%(store)s";
device_id = "%(device)s";
board = "sim";
log = { level = "info"; format = "plain"; };
core = { tick_ms = 50; };
mqtt = { host = "127.0.0.1"; port = %(port)d; reconnect_min_ms = 200; reconnect_max_ms = 1000;
         keepalive_s = 5; stats_interval_s = 0; command_rate_max = 100; %(mqtt)s };
buses = ( { name = "bus-1"; url = "tcp:127.0.0.1:%(bus_port)d"; } );
readers = ( { name = "reader-1"; bus = "bus-1"; unit = 1; profile = "generic-epc"; } );
shelves = ( { name = "shelf-a"; reader = "reader-1"; antenna = 1; } );
"""

FLOOD = 30


def mosquitto_version():
    r = subprocess.run([mh.MOSQUITTO, "-h"], capture_output=True, text=True)
    return (r.stdout + r.stderr).splitlines()[0]


class OversizeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.schemas = mh.Schemas()
        # As the shipped configuration (docs/examples/broker/mosquitto.conf) bounds packets.
        self.broker = mh.Broker(self.tmp.path, lines=["max_packet_size 131072"]).start()
        self.cloud = mh.Sub(self.broker, ["it/replies/#", PREFIX + "status"], self.tmp.path,
                            "cloud")
        self.assertTrue(mh.wait_until(lambda: "it/replies/#" in self.broker.log(), 10))
        self.daemons = []

    def tearDown(self):
        mh.stop_all(self.daemons, [self.cloud], [self.broker])
        self.tmp.cleanup()

    def start(self, mqtt=""):
        cfg = self.tmp.file("store.cfg", CONFIG % {
            "store": STORE, "device": DEVICE, "port": self.broker.port, "mqtt": mqtt,
            "bus_port": sk.free_port()})
        d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
        self.daemons.append(d)
        return d

    def online(self, count):
        self.assertTrue(self.cloud.wait_for(
            lambda ms: len([m for m in ms if m["topic"] == PREFIX + "status" and
                            json.loads(m["payload"])["state"] == "online"]) >= count, 15),
            self.daemons[-1].text())
        self.assertTrue(mh.wait_until(lambda: self.broker.log().count(
            "%s-%s 1 %scmd/+/+" % (STORE, DEVICE, PREFIX)) >= count, 10), self.broker.log())

    def replies(self, prefix):
        return [json.loads(m["payload"]) for m in self.cloud.messages()
                if m["topic"].startswith("it/replies/" + prefix)]

    def send(self, name, payload, corr):
        mh.publish(self.broker, PREFIX + "cmd/" + name, payload,
                   response_topic="it/replies/" + corr, correlation=corr)

    def answered(self, corr, timeout=10):
        got = self.cloud.wait_for(lambda ms: [m for m in ms if m["topic"] == "it/replies/" + corr],
                                  timeout)
        self.assertTrue(got, "no reply to %s (%s): %s" % (corr, mosquitto_version(),
                                                         self.daemons[-1].text()[-3000:]))
        return self.schemas.check(got[0]["payload"])

    def test_flood_of_oversized_commands(self):
        d = self.start()
        self.online(1)
        # Between the device's limit (64 KiB) and the broker's (128 KiB): the broker takes them.
        big = '{"products":[' + ",".join(['{"sku":"S-%d","name":"%s"}' % (i, "x" * 200)
                                          for i in range(400)]) + "]}"
        self.assertTrue(65536 < len(big) < 131072 - 1024, len(big))
        for i in range(FLOOD):
            self.send("catalog_upsert", big, "big-%d" % i)
        got = mh.wait_until(lambda: len(self.replies("big-")) >= FLOOD, 30)
        self.assertTrue(got, "%d of %d oversized commands answered (%s)" % (
            len(self.replies("big-")), FLOOD, mosquitto_version()))
        for r in self.replies("big-"):
            self.assertEqual(r["error"]["code"], "too_large")
        # Still listening: a read-only and a state-changing command.
        self.send("ping", "{}", "ping-1")
        self.assertEqual(self.answered("ping-1")["status"], "done")
        self.send("restock_done", '{"request_id":"r1","all":true}', "restock-1")
        self.assertEqual(self.answered("restock-1")["status"], "done")
        # The persistent session survives a clean restart of the device: nothing leaked there.
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.text())
        d = self.start()
        self.online(2)
        for i in range(FLOOD):
            self.send("ping", big, "again-%d" % i)
        self.assertTrue(mh.wait_until(lambda: len(self.replies("again-")) >= FLOOD, 30),
                        "%d of %d answered after the restart" % (len(self.replies("again-")),
                                                                 FLOOD))
        self.send("ping", "{}", "ping-2")
        self.assertEqual(self.answered("ping-2")["status"], "done")
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.text())


if __name__ == "__main__":
    sk.main()
