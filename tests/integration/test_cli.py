# SPDX-License-Identifier: MIT
"""The CLI contract: commands, --help, exit codes 0/1/2, every broken config's exact
messages through the real binary, and the generated key reference."""
import glob
import json
import os
import re
import unittest

import sk

BAD = os.path.join(sk.SRC, "tests", "configs", "bad")
COMMANDS = ["run", "diag", "ledger", "sim", "replay", "version"]


class Cli(unittest.TestCase):
    def test_no_command_is_usage_error(self):
        r = sk.run()
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: storekeeper COMMAND", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_unknown_command(self):
        r = sk.run("dance")
        self.assertEqual(r.returncode, 2)
        self.assertIn('unknown command "dance"', r.stderr)

    def test_help_everywhere(self):
        r = sk.run("--help")
        self.assertEqual(r.returncode, 0)
        for c in COMMANDS:
            self.assertIn(c, r.stdout)
            h = sk.run(c, "--help")
            self.assertEqual(h.returncode, 0, c)
            self.assertIn("usage: storekeeper " + c, h.stdout)
            self.assertIn("exit codes", h.stdout)

    def test_unknown_option_and_missing_config(self):
        r = sk.run("run", "--bogus")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option --bogus", r.stderr)
        r = sk.run("run")
        self.assertEqual(r.returncode, 2)
        self.assertIn("-c STORE.cfg", r.stderr)
        r = sk.run("run", "-c")
        self.assertEqual(r.returncode, 2)
        self.assertIn("needs a value", r.stderr)
        r = sk.run("run", "-c", "x.cfg", "--duration", "soon")
        self.assertEqual(r.returncode, 2)
        self.assertIn('--duration: "soon"', r.stderr)
        r = sk.run("version", "--bogus")
        self.assertEqual(r.returncode, 2)

    def test_missing_file(self):
        r = sk.run("run", "-c", "/nonexistent/store.cfg", "--check-config")
        self.assertEqual(r.returncode, 2)
        self.assertIn("/nonexistent/store.cfg: cannot open: No such file or directory",
                      r.stderr)

    def test_unbuilt_commands_say_so(self):
        """Commands a later issue delivers exit 2 and print nothing on stdout."""
        for c in ["diag", "ledger", "sim", "replay"]:
            r = sk.run(c, "anything")
            if "not available in this version" not in r.stderr:
                continue  # built by now: its own tests cover it
            self.assertEqual(r.returncode, 2, c)
            self.assertEqual(r.stdout, "", c)

    def test_version(self):
        r = sk.run("version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^storekeeper \d+\.\d+\.\d+")
        j = json.loads(sk.run("version", "--json").stdout)
        self.assertRegex(j["version"], r"^\d+\.\d+\.\d+$")

    def test_examples_check(self):
        files = glob.glob(os.path.join(sk.SRC, "examples", "*.cfg"))
        self.assertTrue(files)
        for f in files:
            r = sk.run("run", "-c", f, "--check-config")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("configuration OK", r.stdout)
            self.assertRegex(r.stdout, r"config hash [0-9a-f]{64}")

    def test_check_config_warns_about_unseen_floor_shelves(self):
        """A shelf declared on the floor plan that no camera sees whole loads, with a warning
        naming the shelf on stderr and a count in the summary."""
        with open(os.path.join(sk.SRC, "examples", "floor-store.cfg")) as fh:
            text = fh.read()
        moved = text.replace("floor = [ 6.5, 0.1, 7.5, 0.1, 7.5, 0.8, 6.5, 0.8 ]; "
                             "floor_reach = [ 6.5, 0.1, 7.5, 0.1 ];",
                             "floor = [ 9.5, 0.1, 10.5, 0.1, 10.5, 0.8, 9.5, 0.8 ];")
        self.assertNotEqual(moved, text)
        tmp = sk.TempDir()
        try:
            r = sk.run("run", "-c", tmp.file("store.cfg", moved), "--check-config")
        finally:
            tmp.cleanup()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 warning(s) (on stderr)", r.stdout)
        self.assertRegex(r.stderr, r"^warning: .*store\.cfg:\d+: zones\.\[4\]\.floor: shelf E1 "
                                   r"\(zone front-e1\) is outside every calibrated camera's view")

    def test_every_bad_config_exact_messages(self):
        files = sorted(glob.glob(os.path.join(BAD, "*.cfg")))
        self.assertGreaterEqual(len(files), 25)
        for f in files:
            name = os.path.basename(f)
            with open(f) as fh:
                expect = [l[len("# expect: "):].rstrip("\n") for l in fh
                          if l.startswith("# expect: ")]
            self.assertTrue(expect, name)
            r = sk.run("run", "-c", name, "--check-config", cwd=BAD)
            self.assertEqual(r.returncode, 2, name)
            lines = r.stderr.splitlines()
            self.assertEqual(lines[:-1], expect, name)
            self.assertEqual(lines[-1], "%d error(s); configuration not valid" % len(expect))
            # The daemon refuses to start on the same file, with the same messages.
            d = sk.run("run", "-c", name, "--duration", "1", cwd=BAD)
            self.assertEqual(d.returncode, 2, name)
            self.assertEqual(d.stderr.splitlines(), expect, name)

    def test_reference_is_in_docs(self):
        ref = sk.run("run", "--config-reference").stdout
        with open(os.path.join(sk.SRC, "docs", "config.md")) as f:
            doc = f.read()
        m = re.search(r"<!-- BEGIN KEYS[^\n]*\n(.*)<!-- END KEYS -->", doc, re.S)
        self.assertIsNotNone(m)
        self.assertEqual(m.group(1), ref, "run scripts/update-docs.sh")


if __name__ == "__main__":
    sk.main()
