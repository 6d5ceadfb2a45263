# SPDX-License-Identifier: MIT
"""Issue 19's smaller findings, with the real binary: paths in the store file that are a FIFO,
/dev/zero or a directory are refused by --check-config instead of hanging or passing (the store
file itself as a FIFO used to hang with SIGTERM blocked); a huge integer is reported as written,
not as -1; a catalog with currency ZZZ is refused; an import from a FIFO does not hang."""
import os
import subprocess
import unittest

import sk

BASE = """store_id = "hi-store";
device_id = "hi-01";
board = "sim";
log = { level = "info"; format = "plain"; };
mqtt = { enabled = false; };
buses = ( { name = "bus-1"; url = "tcp:127.0.0.1:1"; } );
readers = ( { name = "reader-1"; bus = "bus-1"; unit = 1; profile = "generic-epc"; } );
shelves = ( { name = "A1"; reader = "reader-1"; antenna = 1; } );
"""


class HostileInputs(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.fifo = os.path.join(self.tmp.path, "fifo")
        os.mkfifo(self.fifo)

    def tearDown(self):
        self.tmp.cleanup()

    def check(self, extra, name="store.cfg"):
        cfg = self.tmp.file(name, BASE + extra + "\n")
        return sk.run("run", "-c", cfg, "--check-config", timeout=10)

    def test_store_file_that_is_not_a_file(self):
        for path, what in ((self.fifo, "a FIFO, not a regular file"),
                           ("/dev/zero", "a device, not a regular file"),
                           (self.tmp.path, "a directory, not a file")):
            r = sk.run("run", "-c", path, "--check-config", timeout=10)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("%s: %s" % (path, what), r.stderr)

    def test_paths_in_the_store_file(self):
        cases = [
            ('ledger = { path = "/dev/zero"; };', "ledger.path: /dev/zero is a device"),
            ('ledger = { path = "%s"; };' % self.tmp.path,
             "ledger.path: %s is a directory" % self.tmp.path),
            ('products_file = "/dev/zero";', "products_file: /dev/zero is a device"),
            ('products_file = "%s";' % self.tmp.path, "products_file: %s is a directory" %
             self.tmp.path),
            ('products_file = "fifo";', "products_file: ./fifo is a FIFO"),
            ('profiles_dir = "/dev/zero";', "profiles_dir: /dev/zero is not a directory"),
        ]
        for extra, needle in cases:
            with self.subTest(extra):
                r = self.check(extra)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn(needle.replace("./", ""), r.stderr.replace(self.tmp.path + "/", ""))
        tls = BASE.replace("mqtt = { enabled = false; };",
                           'mqtt = { tls = true; ca_file = "/dev/zero"; };')
        cfg = self.tmp.file("tls.cfg", tls)
        r = sk.run("run", "-c", cfg, "--check-config", timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("mqtt.ca_file: /dev/zero is a device", r.stderr)

    def test_huge_integer_reported_as_written(self):
        for value in ("99999999999999999999", "4294967296", "-99999999999999999999",
                      "0x100000000"):
            with self.subTest(value):
                r = self.check("core = { tick_ms = %s; };" % value)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("core.tick_ms: %s is out of range 10..1000" % value, r.stderr)
                self.assertNotIn(": -1 is out of range", r.stderr)

    def test_settings_of_one_name_on_one_line(self):
        """Two readers of one list on one line, each with its own `unit`: each is read as its
        own (the check of the literal once took the line's first `unit =` for both)."""
        two = BASE.replace(
            'readers = ( { name = "reader-1"; bus = "bus-1"; unit = 1; profile = "generic-epc"; } );',
            'readers = ( { name = "reader-1"; bus = "bus-1"; unit = 1; }, '
            '{ name = "reader-2"; bus = "bus-1"; unit = 2; } );')
        self.assertNotEqual(two, BASE)
        cfg = self.tmp.file("two.cfg", two)
        r = sk.run("run", "-c", cfg, "--check-config", timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        wrapped = two.replace("unit = 2;", "unit = 4294967298;")
        cfg = self.tmp.file("wrapped.cfg", wrapped)
        r = sk.run("run", "-c", cfg, "--check-config", timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("readers.[1].unit: 4294967298 is out of range 1..255", r.stderr)

    def test_currency_and_fifo_imports(self):
        cfg = self.tmp.file("store.cfg", BASE)
        csv = self.tmp.file("products.csv", "sku,name,price,currency\nA,Apple,1.00,ZZZ\n")
        r = sk.run("ledger", "-c", cfg, "import", "products", csv)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('currency: "ZZZ" is not an ISO 4217 currency code', r.stdout + r.stderr)
        r = sk.run("ledger", "-c", cfg, "import", "products", self.fifo, timeout=10)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("a FIFO, not a regular file", r.stdout + r.stderr)

    def test_check_config_answers_sigterm(self):
        """Whatever it reads, --check-config ends: SIGTERM is not left blocked on a hang."""
        cfg = self.tmp.file("store.cfg", BASE + 'products_file = "fifo";\n')
        p = subprocess.Popen([sk.BIN, "run", "-c", cfg, "--check-config"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            self.fail("--check-config hung on a FIFO")
        self.assertEqual(p.returncode, 2, err)


if __name__ == "__main__":
    sk.main()
