# SPDX-License-Identifier: MIT
"""The event schemas in docs/schema are the contract: every payload the fusion engine and the
ledger really write (tests/mqtt/fusion_payloads.c runs fusion scripts through the core into a
real ledger) validates against the schema it names, and every event topic has a schema."""
import collections
import json
import os
import subprocess
import unittest

import mqtt_helpers as mh
import sk


class SchemaTest(unittest.TestCase):
    def test_real_payloads_validate(self):
        tool = os.path.join(sk.BUILD, "tests", "mqtt", "fusion_payloads")
        env = dict(os.environ, TMPDIR="/dev/shm" if os.path.isdir("/dev/shm") else "/tmp")
        r = subprocess.run([tool], capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        schemas = mh.Schemas()
        seen = collections.Counter()
        for line in r.stdout.splitlines():
            topic, payload = line.split("\t", 1)
            doc = schemas.check_stored(payload)
            self.assertEqual(doc["schema"], "storekeeper/v1/" + topic)
            seen[topic] += 1
        print("validated:", dict(seen))
        for topic in ("event/session", "event/pickup", "event/put_back", "event/checkout",
                      "event/restock", "event/discrepancy", "event/exit_without_checkout",
                      "event/cart_abandoned"):
            self.assertIn(topic, seen, "the scripts write every fusion event kind")

    def test_ledger_command_payloads_validate(self):
        """event/movement and event/low_stock, as `storekeeper ledger` writes them."""
        tmp = sk.TempDir()
        try:
            cfg = tmp.file("store.cfg", """store_id = "s1";
device_id = "d1";
board = "sim";
mqtt = { enabled = false; };
buses = ( { name = "bus-1"; url = "tcp:127.0.0.1:1502"; } );
readers = ( { name = "r1"; bus = "bus-1"; unit = 1; profile = "generic-epc"; } );
shelves = ( { name = "A1"; reader = "r1"; antenna = 1; } );
""")
            products = os.path.join(sk.SRC, "examples", "products.csv")
            steps = [["import", "products", products],
                     ["restock", "--shelf", "A1", "--sku", "COLA-033", "--quantity", "10"],
                     ["shrink", "--shelf", "A1", "--sku", "COLA-033", "--quantity", "5",
                      "--note", "broken"],
                     ["adjust", "--shelf", "A1", "--sku", "COLA-033", "--quantity", "-1"]]
            # The daemon registers the configured shelves in the ledger; a short run does it.
            r = sk.run("run", "-c", cfg, "--duration", "0.5")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            for st in steps:
                r = sk.run("ledger", "-c", cfg, *st)
                self.assertEqual(r.returncode, 0, "%s: %s" % (st, r.stdout + r.stderr))
            ledger = os.path.join(tmp.path, "ledger.db")
            schemas = mh.Schemas()
            seen = collections.Counter()
            for line in mh.outbox("dump", ledger, "s1", "d1").splitlines():
                doc = schemas.check_stored(line)
                seen[doc["schema"]] += 1
            print("validated:", dict(seen))
            self.assertEqual(seen["storekeeper/v1/event/movement"], 3)
            self.assertEqual(seen["storekeeper/v1/event/low_stock"], 1)
        finally:
            tmp.cleanup()

    def test_every_event_topic_has_a_schema(self):
        schemas = mh.Schemas()
        with open(os.path.join(sk.SRC, "docs", "mqtt.md")) as f:
            src = f.read()
        for sid in schemas.store:
            rel = sid[len(mh.SCHEMA_BASE):-len(".json")]
            if rel.startswith("event/"):
                self.assertTrue("`%s`" % rel in src, "docs/mqtt.md does not document %s" % rel)


if __name__ == "__main__":
    sk.main()
