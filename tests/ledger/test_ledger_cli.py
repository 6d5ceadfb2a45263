# SPDX-License-Identifier: MIT
"""`storekeeper ledger` on real files: the example CSVs, import errors by line and column,
stock, movements, outbox, export round trips, census and stocktake over stored presence,
verify on an intact and a tampered chain, exit codes 0/1/2, and writing while the daemon
runs."""
import csv
import io
import json
import os
import re
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "integration"))
import sk  # noqa: E402

EX = os.path.join(sk.SRC, "examples")

CFG = """store_id = "cli-store";
device_id = "cli-01";
board = "sim";
log = { level = "info"; format = "plain"; };
mqtt = { enabled = false; };
core = { tick_ms = 50; };
readers = (
  { name = "reader-a"; bus = "b"; unit = 1; },
  { name = "reader-b"; bus = "b"; unit = 2; }
);
buses = ( { name = "b"; url = "tcp:127.0.0.1:%(port)d"; } );
shelves = (
  { name = "A1"; reader = "reader-a"; antenna = 1; },
  { name = "B1"; reader = "reader-b"; antenna = 1; },
  { name = "C1"; reader = "reader-a"; antenna = 2; },
  { name = "D1"; reader = "reader-b"; antenna = 2; }
);
ledger = { path = "ledger.db"; census_interval_s = 0; };
"""


def sgtin96(gtin14, prefix_digits, serial):
    """SGTIN-96 bytes (GS1 TDS 14.5.1), filter 1, for test tags."""
    parts = {12: (0, 40, 4), 11: (1, 37, 7), 10: (2, 34, 10), 9: (3, 30, 14),
             8: (4, 27, 17), 7: (5, 24, 20), 6: (6, 20, 24)}
    p, cbits, ibits = parts[prefix_digits]
    company = int(gtin14[1:1 + prefix_digits])
    item = int(gtin14[0] + gtin14[1 + prefix_digits:13])
    v = (0x30 << 88) | (1 << 85) | (p << 82) | (company << (82 - cbits)) \
        | (item << (82 - cbits - ibits)) | serial
    return v.to_bytes(12, "big")


class LedgerCli(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.cfg = self.tmp.file("store.cfg", CFG % {"port": sk.free_port()})
        self.db = os.path.join(self.tmp.path, "ledger.db")

    def tearDown(self):
        self.tmp.cleanup()

    def ledger(self, *args, code=0):
        r = sk.run("ledger", "-c", self.cfg, *args)
        self.assertEqual(r.returncode, code, "%s\n%s\n%s" % (args, r.stdout, r.stderr))
        return r

    def json(self, *args):
        return json.loads(self.ledger("--json", *args).stdout)

    def load_examples(self):
        for kind in ("products", "tags", "planogram"):
            r = self.ledger("import", kind, os.path.join(EX, kind + ".csv"))
            self.assertIn("new", r.stdout)

    def test_help_and_usage_errors(self):
        r = sk.run("ledger", "--help")
        self.assertEqual(r.returncode, 0)
        for word in ["info", "import", "stock", "movements", "outbox", "discrepancies", "census",
                     "stocktake", "restock", "adjust", "shrink", "export", "verify", "migrate",
                     "--replace", "--dry-run", "--since", "--session", "--format", "--table",
                     "--apply", "--json", "--db", "exit codes"]:
            self.assertIn(word, r.stdout)
        self.assertIn("usage: storekeeper ledger", sk.run("ledger", "stock", "--help").stdout)
        for args in [[], ["-c", self.cfg], ["-c", self.cfg, "fly"], ["stock"],
                     ["-c", self.cfg, "stock", "--bogus"],
                     ["-c", self.cfg, "movements", "--since", "yesterday-ish"],
                     ["-c", self.cfg, "restock", "--shelf", "A1", "--sku", "X"],
                     ["-c", self.cfg, "restock", "--shelf", "A1", "--sku", "X",
                      "--quantity", "-3"],
                     ["-c", self.cfg, "import", "cheese", "x.csv"],
                     ["-c", self.cfg, "export", "--format", "xml"],
                     ["-c", self.cfg, "export", "--table", "secrets"],
                     ["--db", self.db, "census"],
                     ["-c", self.cfg, "--db", self.db, "info"],
                     ["-c", "/nonexistent.cfg", "info"]]:
            r = sk.run("ledger", *args)
            self.assertEqual(r.returncode, 2, "%s: %s" % (args, r.stderr))
            self.assertEqual(r.stdout, "", args)

    def test_missing_and_foreign_ledgers(self):
        r = self.ledger("info", code=1)
        self.assertIn("no ledger here", r.stderr)
        self.assertFalse(os.path.exists(self.db))
        with open(self.db, "w") as f:
            f.write("hello")
        r = self.ledger("stock", code=1)
        self.assertIn("not an SQLite database", r.stderr)
        r = self.ledger("import", "products", os.path.join(EX, "products.csv"), code=1)
        with open(self.db) as f:
            self.assertEqual(f.read(), "hello")

    def test_examples_stock_movements_outbox(self):
        self.load_examples()  # creates the ledger
        info = self.json("info")
        self.assertEqual(info["products"], 11)
        self.assertEqual(info["tags"], 6)
        self.assertEqual(info["planogram"], 11)
        self.assertEqual(info["store_id"], "cli-store")
        r = self.ledger("restock", "--shelf", "A1", "--sku", "COLA-033", "--quantity", "12",
                        "--note", "delivery 4711")
        self.assertIn("stock there now 12", r.stdout)
        self.ledger("shrink", "--shelf", "A1", "--sku", "COLA-033", "--quantity", "2")
        j = self.json("adjust", "--shelf", "B1", "--sku", "CHIPS-PAPRIKA", "--quantity", "5")
        self.assertEqual(j["shelf_stock"], 5)
        # A tag that carries no GTIN, by its explicit mapping.
        j = self.json("restock", "--shelf", "C1", "--epc", "E28011606000021000000001",
                      "--quantity", "1")
        self.assertEqual(j["sku"], "BREAD-ROLL")
        # Unknown sku / shelf: exit 1 with the reason.
        r = self.ledger("restock", "--shelf", "A1", "--sku", "NOPE", "--quantity", "1", code=1)
        self.assertIn('unknown sku "NOPE"', r.stderr)
        r = self.ledger("restock", "--shelf", "Z9", "--sku", "COLA-033", "--quantity", "1",
                        code=1)
        self.assertIn('unknown shelf "Z9"', r.stderr)

        stock = {(s["shelf"], s["sku"]): s for s in self.json("stock")}
        self.assertEqual(stock[("A1", "COLA-033")]["quantity"], 10)
        self.assertEqual(stock[("A1", "WATER-050")]["quantity"], 0)
        self.assertTrue(stock[("A1", "WATER-050")]["planned"])
        self.assertEqual(len(self.json("stock", "--shelf", "B1")), 3)
        text = self.ledger("stock", "--sku", "COLA-033").stdout
        self.assertIn("Cola 0.33 l", text)

        moves = self.json("movements")
        self.assertEqual([m["type"] for m in moves], ["restock", "shrink", "adjustment",
                                                      "restock"])
        self.assertEqual(moves[0]["evidence"]["note"], "delivery 4711")
        self.assertEqual(len(self.json("movements", "--sku", "COLA-033")), 2)
        self.assertEqual(len(self.json("movements", "--shelf", "B1")), 1)
        self.assertEqual(len(self.json("movements", "--since", "1h")), 4)
        self.assertEqual(len(self.json("movements", "--since", "2999-01-01")), 0)
        self.assertEqual(len(self.json("movements", "--limit", "1", "--after", "2")), 1)

        ob = self.json("outbox", "--list")
        self.assertEqual(ob["pending"], 4)
        self.assertEqual(ob["last_seq"], 4)
        self.assertEqual([row["seq"] for row in ob["rows"]], [1, 2, 3, 4])
        payload = ob["rows"][0]["payload"]
        for key in ["schema", "id", "seq", "ledger_id", "store_id", "device_id", "time"]:
            self.assertIn(key, payload)
        self.assertEqual(payload["schema"], "storekeeper/v1/event/movement")
        self.assertEqual(payload["device_id"], "cli-01")
        self.assertIn("pending    4", self.ledger("outbox").stdout)

        r = self.ledger("verify")
        self.assertIn("PASS", r.stdout)
        self.assertTrue(self.json("verify")["ok"])

    def test_import_errors_by_line_and_column(self):
        self.load_examples()
        bad = self.tmp.file("products.csv",
                            "sku,gtin,name,price,currency\n"
                            "NEW-1,,New one,1.00,EUR\n"
                            "NEW-2,4099999000105,Bad check digit,1.00,EUR\n"
                            "NEW-3,,Too precise,1.001,EUR\n")
        r = self.ledger("import", "products", bad, code=1)
        self.assertIn(bad + ":3:2: gtin: \"4099999000105\": wrong check digit", r.stderr)
        self.assertIn(bad + ":4:4: price: \"1.001\" has more decimals than EUR has (2)",
                      r.stderr)
        self.assertIn("nothing imported", r.stderr)
        self.assertEqual(self.json("info")["products"], 11)
        # --dry-run on a good file writes nothing; the real import then does.
        good = self.tmp.file("good.csv", "sku,name,price,currency\nNEW-1,New one,1.00,EUR\n")
        self.assertIn("dry run", self.ledger("import", "products", good, "--dry-run").stdout)
        self.assertEqual(self.json("info")["products"], 11)
        self.ledger("import", "products", good)
        self.assertEqual(self.json("info")["products"], 12)
        j = json.loads(sk.run("ledger", "-c", self.cfg, "--json", "import", "products",
                              bad).stdout)
        self.assertEqual(j["problems"], 2)
        self.assertFalse(j["imported"])

    def test_export_round_trip(self):
        self.load_examples()
        self.ledger("restock", "--shelf", "A1", "--sku", "COLA-033", "--quantity", "3")
        out = os.path.join(self.tmp.path, "products-out.csv")
        r = self.ledger("export", "--table", "products", "-o", out)
        self.assertIn("11 row(s) of products", r.stderr)
        with open(out) as f:
            rows = list(csv.DictReader(f))
        cola = [x for x in rows if x["sku"] == "COLA-033"][0]
        self.assertEqual(cola["price"], "1.49")
        self.assertEqual(cola["gtin"], "04099999000104")
        # Into a fresh ledger of another device: the export imports unchanged.
        other = self.tmp.file("other.cfg", (CFG % {"port": 1}).replace(
            "ledger.db", "other.db").replace("cli-01", "cli-02"))
        for table in ("products", "tags", "planogram"):
            path = os.path.join(self.tmp.path, table + "-x.csv")
            self.ledger("export", "--table", table, "-o", path)
            r = sk.run("ledger", "-c", other, "import", table, path)
            self.assertEqual(r.returncode, 0, r.stderr)
        for table in ("products", "tags", "planogram"):
            a = self.ledger("export", "--table", table).stdout
            b = sk.run("ledger", "-c", other, "export", "--table", table).stdout
            self.assertEqual(a, b, table)
        moves = json.loads(self.ledger("export", "--format", "json").stdout)
        self.assertEqual(moves[0]["type"], "restock")
        self.assertEqual(len(moves[0]["hash"]), 64)
        ob = json.loads(self.ledger("--json", "export", "--table", "outbox").stdout)
        self.assertEqual(ob[0]["payload"]["seq"], 1)
        text = self.ledger("export", "--table", "movements").stdout
        self.assertEqual(next(csv.reader(io.StringIO(text)))[:3], ["id", "time", "type"])

    def test_census_and_stocktake_from_stored_presence(self):
        self.load_examples()
        self.ledger("restock", "--shelf", "A1", "--sku", "COLA-033", "--quantity", "3")
        # The daemon's present set, as it stores it: 2 colas on A1, a water on B1.
        db = sqlite3.connect(self.db)
        rows = [("reader-a", 1, sgtin96("04099999000104", 7, s), 1) for s in (1, 2)]
        rows.append(("reader-b", 1, sgtin96("04099999000111", 7, 9), 1))
        db.executemany("INSERT INTO present VALUES (?, ?, ?, ?)", rows)
        db.commit()
        db.close()
        j = self.json("census")
        found = {(f["kind"], f["shelf"], f["sku"]): f for f in j["findings"]}
        self.assertEqual(found[("missing", "A1", "COLA-033")]["quantity"], 1)
        self.assertEqual(found[("misplaced", "B1", "WATER-050")]["seen"], 1)
        self.assertEqual(j["tags"], 3)
        self.assertEqual(self.json("discrepancies"), [])  # a dry run wrote nothing
        plan = self.json("stocktake")
        self.assertFalse(plan["applied"])
        adj = {(a["shelf"], a["sku"]): a["adjustment"] for a in plan["adjustments"]}
        self.assertEqual(adj, {("A1", "COLA-033"): -1, ("B1", "WATER-050"): 1})
        self.assertIn("2 adjustment(s) written", self.ledger("stocktake", "--apply").stdout)
        self.assertEqual(self.json("census")["findings"], [])
        self.assertIn("nothing to adjust", self.ledger("stocktake").stdout)
        self.assertEqual(len(self.json("movements")), 3)

    def test_verify_names_the_broken_movement(self):
        self.load_examples()
        for q in ("1", "2", "3"):
            self.ledger("restock", "--shelf", "A1", "--sku", "COLA-033", "--quantity", q)
        db = sqlite3.connect(self.db)
        db.execute("DROP TRIGGER movements_append_only_update")
        db.execute("UPDATE movements SET quantity = 30 WHERE id = 2")
        db.commit()
        db.close()
        r = self.ledger("verify", code=1)
        self.assertIn("BROKEN at movement 2", r.stdout)
        self.assertIn("FAIL", r.stdout)
        j = json.loads(sk.run("ledger", "--db", self.db, "--json", "verify").stdout)
        self.assertFalse(j["ok"])
        self.assertEqual(j["chain"]["first_bad_movement"], 2)

    def test_restock_on_a_fresh_ledger(self):
        """Only products imported: the configured shelves are known to a write anyway."""
        self.ledger("import", "products", os.path.join(EX, "products.csv"))
        r = self.ledger("restock", "--shelf", "D1", "--sku", "COFFEE-BEANS", "--quantity", "2")
        self.assertIn("stock there now 2", r.stdout)
        r = self.ledger("restock", "--shelf", "Z9", "--sku", "COFFEE-BEANS", "--quantity", "2",
                        code=1)
        self.assertEqual(r.stderr.strip(), "storekeeper ledger: %s: unknown shelf \"Z9\"" % self.db)

    def test_migrate_and_db_option(self):
        self.load_examples()
        self.assertIn("nothing to do", self.ledger("migrate").stdout)
        r = sk.run("ledger", "--db", self.db, "stock")
        self.assertEqual(r.returncode, 0, r.stderr)
        # --db cannot create a ledger (it would not know its store and device).
        r = sk.run("ledger", "--db", os.path.join(self.tmp.path, "new.db"), "import",
                   "products", os.path.join(EX, "products.csv"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("no ledger here", r.stderr)

    def test_writes_while_the_daemon_runs(self):
        self.load_examples()
        d = sk.Daemon(["run", "-c", self.cfg], self.tmp.path)
        try:
            self.assertTrue(d.wait_log("core: running", timeout=10), d.text())
            r = self.ledger("restock", "--shelf", "D1", "--sku", "COFFEE-BEANS", "--quantity",
                            "4")
            # the event joins the daemon's (its readers' state changes, event/reader) in the
            # one gap-free outbox sequence; nothing is delivered (no broker), all pending
            m = re.search(r"event seq (\d+)", r.stdout)
            self.assertTrue(m, r.stdout)
            self.assertGreaterEqual(self.json("outbox")["pending"], int(m.group(1)))
            self.assertIsNone(d.proc.poll())
        finally:
            rc, _ = d.stop()
        self.assertEqual(rc, 0)
        self.assertTrue(self.json("verify")["ok"])


if __name__ == "__main__":
    sk.main()
