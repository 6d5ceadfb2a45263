# SPDX-License-Identifier: MIT
"""Issue 19, findings 3, 4 and 5, with the real binary. A rollback goes noticed: the daemon
SIGKILLed, its -wal file deleted, is refused at start (exit 1, one line with the fix) and
`storekeeper ledger` may read but not write it, until `accept-rollback` records the loss as a
movement and an event; no seq is ever used for two events. A ledger truncated to 0 bytes is
not replaced by a new one. `ledger verify` fails on each tampering the issue found unnoticed
(stock, a pending outbox payload, movements.event_seq and recorded_us, the newest movement
deleted), and the daemon refuses to extend a broken chain. A flipped byte in the header is
refused, not a crash."""
import json
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "integration"))
import sk  # noqa: E402

CFG = """store_id = "it-store";
device_id = "it-01";
board = "sim";
log = { level = "info"; format = "plain"; };
mqtt = { enabled = false; };
ledger = { path = "%(path)s"; batch_delay_ms = 0; };
buses = ( { name = "bus-1"; url = "tcp:127.0.0.1:%(port)d"; } );
readers = ( { name = "reader-1"; bus = "bus-1"; unit = 1; profile = "generic-epc"; } );
shelves = ( { name = "A1"; reader = "reader-1"; antenna = 1; } );
"""

PRODUCTS = "sku,name,price,currency\nCOLA,Cola,1.50,EUR\n"


class Rollback(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.db = os.path.join(self.tmp.path, "state", "ledger.db")
        self.cfg = self.tmp.file("store.cfg", CFG % {"path": self.db, "port": sk.free_port()})
        products = self.tmp.file("products.csv", PRODUCTS)
        r = self.ledger("import", "products", products)
        self.assertEqual(r.returncode, 0, r.stderr)

    def tearDown(self):
        self.tmp.cleanup()

    def ledger(self, *args):
        return sk.run("ledger", "-c", self.cfg, *args)

    def restock(self, n=1, expect=0):
        for _ in range(n):
            r = self.ledger("restock", "--shelf", "A1", "--sku", "COLA", "--quantity", "1")
            self.assertEqual(r.returncode, expect, r.stderr)
        return r

    def seqs(self):
        db = sqlite3.connect(self.db)
        rows = db.execute("SELECT seq, topic FROM outbox ORDER BY seq").fetchall()
        db.close()
        return rows

    def daemon(self):
        d = sk.Daemon(["run", "-c", self.cfg], self.tmp.path)
        self.assertTrue(d.wait_log("core: running", 10) or d.wait_log("ready", 1), d.text())
        return d

    def one_line_refusal(self, text, needle):
        errs = [ln for ln in text.splitlines() if " err " in ln and "ledger:" in ln]
        self.assertEqual(len(errs), 1, text)
        self.assertIn(needle, errs[0])
        self.assertIn("Fix: ", errs[0])
        self.assertIn("storekeeper ledger -c %s accept-rollback" % self.cfg, errs[0])
        return errs[0]

    def test_lost_wal_refused_until_accepted(self):
        d = self.daemon()
        self.restock(2)
        rc, _ = d.stop()  # a clean stop checkpoints: this much is in ledger.db itself
        self.assertEqual(rc, 0, d.text())
        d = self.daemon()
        self.restock(3)  # these commits live in ledger.db-wal ...
        before = self.seqs()
        d.proc.kill()
        d.proc.wait()
        d.log.close()
        wal = self.db + "-wal"
        self.assertGreater(os.path.getsize(wal), 0)
        os.unlink(wal)  # ... and are lost with it
        if os.path.exists(self.db + "-shm"):
            os.unlink(self.db + "-shm")
        size = os.path.getsize(self.db)

        r = sk.run("run", "-c", self.cfg, "--duration", "2")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.one_line_refusal(r.stderr, "is behind its last known state")
        self.assertEqual(os.path.getsize(self.db), size, "the file is not written")
        # The commands may read it, not write it.
        r = self.ledger("info")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("REFUSED", r.stdout)
        r = self.restock(expect=1)
        self.assertIn("is behind its last known state", r.stderr)
        r = self.ledger("verify")
        self.assertEqual(r.returncode, 1)
        self.assertIn("anchor", r.stdout)
        self.assertIn("FAIL", r.stdout)

        # Accepting records the loss in the chain and as an event.
        r = self.ledger("--json", "accept-rollback", "--note", "wal lost in a power cut")
        self.assertEqual(r.returncode, 0, r.stderr)
        res = json.loads(r.stdout)
        self.assertTrue(res["accepted"])
        lost_from, lost_to = res["lost_from_seq"], res["lost_to_seq"]
        self.assertEqual(lost_to, before[-1][0])
        self.assertLess(lost_from, lost_to)
        r = self.ledger("--json", "movements")
        moves = json.loads(r.stdout)
        moves = moves["movements"] if isinstance(moves, dict) else moves
        self.assertEqual(moves[-1]["type"], "rollback")
        r = self.ledger("verify")
        self.assertEqual(r.returncode, 0, r.stdout)
        d = self.daemon()
        self.restock(1)
        d.stop()
        after = self.seqs()
        topics = dict(after)
        self.assertEqual(topics[lost_to + 1], "event/rollback")
        # No seq the cloud may hold is used again for another event.
        for seq in range(lost_from, lost_to + 1):
            self.assertNotIn(seq, topics)
        self.assertGreater(after[-1][0], lost_to + 1)
        r = self.ledger("accept-rollback")
        self.assertIn("nothing to accept", r.stdout)

    def test_truncated_ledger_not_replaced(self):
        d = self.daemon()
        self.restock(2)
        d.stop()
        with open(self.db, "r+") as f:
            f.truncate(0)
        r = sk.run("run", "-c", self.cfg, "--duration", "2")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.one_line_refusal(r.stderr, "the file is empty (0 bytes)")
        self.assertEqual(os.path.getsize(self.db), 0)
        os.unlink(self.db)
        r = sk.run("run", "-c", self.cfg, "--duration", "2")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.one_line_refusal(r.stderr, "there is no ledger file")
        self.assertFalse(os.path.exists(self.db))
        r = self.ledger("accept-rollback")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("accepted", r.stdout)
        r = sk.run("run", "-c", self.cfg, "--duration", "1")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_flipped_byte_refused_not_crashed(self):
        """Finding 5: user_version made negative by one flipped byte crashed `run` in the
        migration (after writing ledger.db.v-16777212.bak), and `ledger info` called the file
        older. Now both refuse it as a damaged header, write nothing, and exit 1."""
        d = self.daemon()
        self.restock(1)
        rc, _ = d.stop()
        self.assertEqual(rc, 0, d.text())
        with open(self.db, "r+b") as f:
            f.seek(60)
            f.write(b"\xff")
        with open(self.db, "rb") as f:
            before = f.read()
        for args in (["run", "-c", self.cfg, "--duration", "1"], ["ledger", "-c", self.cfg, "info"],
                     ["ledger", "-c", self.cfg, "verify"], ["ledger", "--db", self.db, "info"]):
            r = sk.run(*args)
            self.assertEqual(r.returncode, 1, "%s: %s" % (args, r.stderr))
            self.assertIn("is not one storekeeper writes", r.stderr)
            self.assertIn("the file's header is damaged", r.stderr)
            self.assertNotIn("older", r.stderr)
        with open(self.db, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual([n for n in os.listdir(os.path.dirname(self.db)) if ".bak" in n], [])

    def tamper(self, sql):
        db = sqlite3.connect(self.db)
        db.executescript("DROP TRIGGER IF EXISTS movements_append_only_update;"
                         "DROP TRIGGER IF EXISTS movements_append_only_delete;" + sql)
        db.commit()
        db.close()

    def test_verify_catches_tampering(self):
        cases = [
            ("stock 13 -> 1000", "UPDATE stock SET quantity = 1000", "stock"),
            ("a pending outbox payload", "UPDATE outbox SET payload = replace(payload, "
             "'\"quantity\":1', '\"quantity\":9') WHERE seq = (SELECT max(seq) FROM outbox)",
             "event"),
            ("movements.event_seq", "UPDATE movements SET event_seq = event_seq + 1 "
             "WHERE id = 2", "chain"),
            ("movements.recorded_us", "UPDATE movements SET recorded_us = recorded_us - 1 "
             "WHERE id = 1", "chain"),
            ("the last movement deleted", "DELETE FROM movements WHERE id = "
             "(SELECT max(id) FROM movements)", "stock"),
        ]
        self.restock(13)
        r = self.ledger("verify")
        self.assertEqual(r.returncode, 0, r.stdout)
        clean = os.path.join(self.tmp.path, "clean.db")
        src = sqlite3.connect(self.db)
        dst = sqlite3.connect(clean)
        src.backup(dst)
        src.close()
        dst.close()
        for what, sql, check in cases:
            with self.subTest(what):
                with open(clean, "rb") as f, open(self.db, "wb") as g:
                    g.write(f.read())
                for ext in ("-wal", "-shm"):
                    if os.path.exists(self.db + ext):
                        os.unlink(self.db + ext)
                self.tamper(sql)
                r = self.ledger("verify")
                self.assertEqual(r.returncode, 1, what + ": " + r.stdout)
                self.assertIn("FAIL", r.stdout)
                self.assertRegex(r.stdout, r"(?m)^%s +BROKEN" % check, what)
                # Without the anchor (a copy under --db) the book itself still tells.
                r = sk.run("ledger", "--db", self.db, "verify")
                self.assertEqual(r.returncode, 1, what + " (--db): " + r.stdout)

    def test_daemon_refuses_a_broken_chain(self):
        self.restock(3)
        self.tamper("UPDATE movements SET quantity = 5 WHERE id = 3")
        r = sk.run("run", "-c", self.cfg, "--duration", "2")
        self.assertEqual(r.returncode, 1, r.stderr)
        errs = [ln for ln in r.stderr.splitlines() if " err " in ln and "ledger:" in ln]
        self.assertEqual(len(errs), 1, r.stderr)
        self.assertIn("refusing to extend a broken chain", errs[0])
        self.assertIn("verify", errs[0])


if __name__ == "__main__":
    sk.main()
