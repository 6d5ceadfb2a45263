# SPDX-License-Identifier: MIT
"""The operator's first day and the technician's visit (issue 16), one class per problem met
following the documentation literally, each against the real binary and real peers (a
mosquitto broker on loopback, virtual Modbus readers, SQLite files)."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "integration"))
sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "mqtt"))
import mqtt_helpers as mh  # noqa: E402
import sk  # noqa: E402

STORE = "shop-0142"
DEVICE = "edge-01"
PREFIX = "storekeeper/v1/%s/%s/" % (STORE, DEVICE)


def dpkg_version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


class Version(unittest.TestCase):
    """`storekeeper version` lists each library's run-time version, and they are the ones
    installed on this machine (not the headers' numbers)."""

    def test_every_library(self):
        r = sk.run("version")
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(sk.run("version", "--json").stdout)
        libs = j["libraries"]
        for name in ("sqlite", "libmodbus", "libmosquitto", "cjson", "opencv", "libcamera",
                     "libconfig", "openssl"):
            self.assertIn(name, libs)
            self.assertIn(name, r.stdout)
        import sqlite3
        self.assertEqual(libs["sqlite"], sqlite3.sqlite_version)
        for key, pkg in (("libmodbus", "libmodbus5"), ("libmosquitto", "libmosquitto1"),
                         ("cjson", "libcjson1")):
            v = dpkg_version(pkg)
            if v:
                self.assertTrue(v.startswith(libs[key]), "%s: %s vs %s" % (key, libs[key], v))
        try:
            import cv2
            self.assertEqual(libs["opencv"], cv2.__version__)
        except ImportError:
            self.assertRegex(libs["opencv"], r"^\d+\.\d+")
        ssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout
        self.assertEqual(libs["openssl"].split()[1], ssl.split()[1])
        # libcamera: a version when built in, else null and "not built in".
        if libs["libcamera"] is None:
            self.assertRegex(r.stdout, r"libcamera\s+not built in")
        else:
            self.assertRegex(libs["libcamera"], r"\d+\.\d+")


class EmptyCommand(unittest.TestCase):
    """An empty command payload is answered malformed_json (docs/mqtt.md), not run as a
    ping; "{}" is still a ping."""

    def test_empty_payload(self):
        tmp = sk.TempDir()
        broker = mh.Broker(tmp.path).start()
        sub = mh.Sub(broker, ["it/replies"], tmp.path, "cloud")
        cfg = tmp.file("store.cfg", """store_id = "%s"; device_id = "%s"; board = "sim";
log = { level = "info"; format = "plain"; };
mqtt = { host = "127.0.0.1"; port = %d; reconnect_min_ms = 200; };
ledger = { path = "%s/ledger.db"; };
""" % (STORE, DEVICE, broker.port, tmp.path))
        d = sk.Daemon(["run", "-c", cfg], tmp.path)
        try:
            self.assertTrue(d.wait_log("mqtt: connected", 15), d.text())
            time.sleep(0.3)
            replies = {}
            for corr, payload in (("empty", ""), ("obj", "{}")):
                mh.publish(broker, PREFIX + "cmd/ping", payload, response_topic="it/replies",
                           correlation=corr)
                msgs = sub.wait_for(lambda ms: [m for m in ms if m["correlation"] == corr], 10)
                self.assertTrue(msgs, "no reply to %r" % payload)
                replies[corr] = json.loads(msgs[0]["payload"])
            self.assertFalse(replies["empty"]["ok"])
            self.assertEqual(replies["empty"]["error"]["code"], "malformed_json")
            self.assertIn("empty", replies["empty"]["error"]["message"])
            self.assertTrue(replies["obj"]["ok"], replies["obj"])
        finally:
            mh.stop_all([d], [sub], [broker])
            tmp.cleanup()


class InstallTree(unittest.TestCase):
    """The package ships what the docs point at: the broker examples beside the installed
    mqtt.md and security.md (their relative links resolve), and a bash completion that
    completes subcommands and options of the installed binary."""

    def setUp(self):
        self.tmp = sk.TempDir()
        self.dest = os.path.join(self.tmp.path, "dest")
        r = subprocess.run(["cmake", "--install", sk.BUILD], capture_output=True, text=True,
                           env=dict(os.environ, DESTDIR=self.dest), timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        prefix = ""
        with open(os.path.join(sk.BUILD, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_INSTALL_PREFIX:"):
                    prefix = line.split("=", 1)[1].strip()
        self.root = self.dest + prefix

    def tearDown(self):
        self.tmp.cleanup()

    def test_broker_examples_linked_from_docs(self):
        doc = os.path.join(self.root, "share", "doc", "storekeeper")
        import re
        links = set()
        for md in ("mqtt.md", "security.md"):
            with open(os.path.join(doc, md)) as f:
                links |= set(re.findall(r"\]\((examples/broker/[^)#]*)\)", f.read()))
        self.assertIn("examples/broker/acl", links)
        for link in links:
            self.assertTrue(os.path.exists(os.path.join(doc, link)), link)
        with open(os.path.join(doc, "examples", "broker", "mosquitto.conf")) as f:
            self.assertIn("acl_file", f.read())

    def test_bash_completion(self):
        comp = os.path.join(self.root, "share", "bash-completion", "completions", "storekeeper")
        self.assertTrue(os.path.isfile(comp))
        exe = os.path.join(self.root, "bin", "storekeeper")
        script = """source %s
c() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _storekeeper
      echo "${COMPREPLY[*]}"; }
c %s ""
c %s di
c %s diag ""
c %s diag reader --wa
c %s ledger -c x.cfg sto
c %s run --check
""" % ((comp,) + (exe,) * 6)
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 6, r.stdout + r.stderr)
        self.assertEqual(lines[0].split(), ["run", "diag", "ledger", "sim", "replay", "version"])
        self.assertEqual(lines[1], "diag")
        self.assertIn("modbus", lines[2].split())
        self.assertIn("bundle", lines[2].split())
        self.assertEqual(lines[3], "--watch")
        self.assertEqual(lines[4].split(), ["stock", "stocktake"])
        self.assertEqual(lines[5], "--check-config")


if __name__ == "__main__":
    unittest.main(verbosity=2)
