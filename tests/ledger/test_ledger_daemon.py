# SPDX-License-Identifier: MIT
"""The daemon and its ledger file: created at start, refused (exit 1, file untouched) when
it is foreign, corrupt, newer or another device's, and owned by one daemon at a time."""
import json
import os
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "integration"))
import sk  # noqa: E402

CFG = """store_id = "it-store";
device_id = "%(device)s";
board = "sim";
log = { level = "info"; format = "plain"; };
mqtt = { enabled = false; };
ledger = { path = "%(path)s"; };
"""


class LedgerDaemon(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.db = os.path.join(self.tmp.path, "state", "ledger.db")
        self.cfg = self.config("it-01")

    def tearDown(self):
        self.tmp.cleanup()

    def config(self, device, name="store.cfg"):
        return self.tmp.file(name, CFG % {"device": device, "path": self.db})

    def run_briefly(self, cfg=None):
        return sk.run("run", "-c", cfg or self.cfg, "--duration", "0.3")

    def bytes(self):
        with open(self.db, "rb") as f:
            return f.read()

    def assert_refused(self, needle, cfg=None, code=1):
        before = self.bytes()
        r = self.run_briefly(cfg)
        self.assertEqual(r.returncode, code, r.stderr)
        self.assertIn(needle, r.stderr)
        self.assertIn(self.db, r.stderr)
        self.assertEqual(self.bytes(), before)

    def import_cola(self):
        """One product imported by the ledger command (a write beside the daemon's)."""
        csv = os.path.join(self.tmp.path, "p.csv")
        with open(csv, "w") as f:
            f.write("sku,gtin,name,price,currency,restock_threshold,restock_target\n"
                    "COLA,,Cola,1.49,EUR,0,0\n")
        r = sk.run("ledger", "-c", self.cfg, "import", "products", csv)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_created_then_reused(self):
        r = self.run_briefly()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"schema \d+, ledger ")
        db = sqlite3.connect(self.db)
        self.assertEqual(db.execute("PRAGMA application_id").fetchone()[0], 0x534B4C47)
        self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        ledger_id = db.execute("SELECT value FROM meta WHERE key='ledger_id'").fetchone()[0]
        db.close()
        r = self.run_briefly()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ledger " + ledger_id, r.stderr)

    def test_directory_not_writable_is_named(self):
        """A ledger in a directory the daemon may not write (the service's read-only /etc when a
        store file has no ledger.path): the error names the directory and the fix, not
        SQLite's "unable to open database file"."""
        ro = os.path.join(self.tmp.path, "ro")
        os.mkdir(ro, 0o555)
        self.db = os.path.join(ro, "ledger.db")
        cfg = self.config("it-01", "ro.cfg")
        argv = [sk.BIN, "run", "-c", cfg, "--duration", "0.3"]
        why = "Permission denied"
        if os.geteuid() == 0:  # root writes anywhere: a read-only mount, as the unit's sandbox
            argv = ["unshare", "-m", "sh", "-c",
                    'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && shift && '
                    'exec "$@"', ro, "--"] + argv
            why = "Read-only file system"
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s: cannot create: directory %s: %s" % (self.db, ro, why), r.stderr)
        self.assertIn("set ledger.path to a file in a directory this user may write", r.stderr)
        self.assertFalse(os.path.exists(self.db))

    def test_refuses_foreign_and_newer(self):
        os.makedirs(os.path.dirname(self.db))
        with open(self.db, "w") as f:
            f.write("not a database at all, but someone's notes\n" * 100)
        self.assert_refused("not an SQLite database")
        os.unlink(self.db)
        db = sqlite3.connect(self.db)
        db.execute("CREATE TABLE photos (name TEXT)")
        db.commit()
        db.close()
        self.assert_refused("another application")
        os.unlink(self.db)
        self.assertEqual(self.run_briefly().returncode, 0)
        db = sqlite3.connect(self.db)
        db.execute("PRAGMA user_version = 999")
        db.close()
        self.assert_refused("is newer than this storekeeper")

    def test_refuses_corrupt(self):
        self.assertEqual(self.run_briefly().returncode, 0)
        db = sqlite3.connect(self.db)
        db.execute("CREATE TABLE IF NOT EXISTS pad (x BLOB)")  # extra pages to damage
        # (a ledger with a foreign table is still ours; the damage is what must be caught)
        for _ in range(64):
            db.execute("INSERT INTO pad VALUES (randomblob(3000))")
        db.commit()
        db.close()
        size = os.path.getsize(self.db)
        with open(self.db, "r+b") as f:
            f.seek((size // 4096 - 3) * 4096)
            f.write(bytes((i * 13 + 5) & 0xFF for i in range(4096)))
        self.assert_refused("fails its integrity check")

    def test_refuses_other_device_and_second_daemon(self):
        self.assertEqual(self.run_briefly().returncode, 0)
        self.import_cola()
        other = self.config("it-02", "other.cfg")
        # A configuration error (exit 2): systemd does not restart it (an empty ledger would
        # have been adopted: tests/firstday).
        self.assert_refused('/it-01", the configuration says', other, code=2)
        d = sk.Daemon(["run", "-c", self.cfg], self.tmp.path)
        try:
            self.assertTrue(d.wait_log("core: running"), d.text())
            r = self.run_briefly()
            self.assertEqual(r.returncode, 1)
            self.assertIn("another storekeeper daemon is using this ledger", r.stderr)
        finally:
            rc, _ = d.stop()
        self.assertEqual(rc, 0)

    def test_file_removed_or_replaced_under_the_daemon(self):
        self.assertEqual(self.run_briefly().returncode, 0)
        d = sk.Daemon(["run", "-c", self.cfg], self.tmp.path)
        try:
            self.assertTrue(d.wait_log("core: running"), d.text())
            self.import_cola()
            # Another file put in its place: said, and the daemon goes on.
            copy = self.db + ".copy"
            with open(self.db, "rb") as src, open(copy, "wb") as dst:
                dst.write(src.read())
            os.replace(copy, self.db)
            self.assertTrue(d.wait_log("is no longer the file the daemon opened",
                                       timeout=30), d.text())
            self.assertIsNone(d.proc.poll(), d.text())
            # Removed: the daemon stops, writes the file it has open back, exits 1.
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.db + suffix):
                    os.unlink(self.db + suffix)
            self.assertEqual(d.proc.wait(timeout=30 * sk.SCALE), 1, d.text())
        finally:
            if d.proc.poll() is None:
                d.stop()
            d.log.close()
        self.assertIn("was removed while the daemon had it open", d.text())
        self.assertTrue(os.path.exists(self.db), d.text())
        r = sk.run("ledger", "-c", self.cfg, "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = sk.run("ledger", "-c", self.cfg, "--json", "info")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["products"], 1)
        self.assertEqual(self.run_briefly().returncode, 0)


if __name__ == "__main__":
    sk.main()
