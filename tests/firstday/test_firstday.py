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
sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "rfid"))
import mqtt_helpers as mh  # noqa: E402
import rfidsim  # noqa: E402
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
        r = sk.run("version", "--modules")
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(sk.run("version", "--modules", "--json").stdout)
        libs = j["libraries"]
        for name in ("sqlite", "libmodbus", "libmosquitto", "cjson", "opencv", "libcamera",
                     "libconfig", "openssl", "libmicrohttpd"):
            self.assertIn(name, libs)
            self.assertIn(name, r.stdout)
        import sqlite3
        self.assertEqual(libs["sqlite"], sqlite3.sqlite_version)
        for key, pkg in (("libmodbus", "libmodbus5"), ("libmosquitto", "libmosquitto1"),
                         ("cjson", "libcjson1"), ("libmicrohttpd", "libmicrohttpd12")):
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
        # libcamera: a version when its module is installed, else null and the module's state.
        if libs["libcamera"] is None:
            self.assertRegex(r.stdout, r"libcamera\s+module camera-libcamera \(not installed")
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
            # its command subscription is in place (the broker sent the SUBACK)
            mh.wait_subscribed(broker, "%s-%s" % (STORE, DEVICE), 0)
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


def store_cfg(tmp, store=STORE, device=DEVICE, extra="", run=True):
    """A small store file in tmp: its ledger and control socket in tmp (tmp/run made, as
    systemd's RuntimeDirectory= would, unless run is False)."""
    if run:
        os.makedirs(os.path.join(tmp.path, "run"), mode=0o750, exist_ok=True)
    return """store_id = "%s"; device_id = "%s"; board = "sim";
log = { level = "info"; format = "plain"; };
core = { status_interval_s = 0; tick_ms = 50; };
ledger = { path = "%s/ledger.db"; };
control = { socket = "%s/run/control.sock"; };
%s
""" % (store, device, tmp.path, tmp.path, extra)


class FirstStart(unittest.TestCase):
    """The package starts the idle example store on install, which creates a ledger for
    example-store; the operator's own store_id (guide step 5) must start on it (nothing was
    recorded); a ledger that holds records of another store stops the start with exit 2 (not
    restarted by systemd) and one line saying what to fix."""

    def setUp(self):
        self.tmp = sk.TempDir()

    def tearDown(self):
        self.tmp.cleanup()

    def test_example_ledger_is_adopted(self):
        example = self.tmp.file("example.cfg", store_cfg(self.tmp, "example-store", "edge"))
        r = sk.run("run", "-c", example, "--duration", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        own = self.tmp.file("store.cfg", store_cfg(self.tmp))
        r = sk.run("run", "-c", own, "--duration", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("had recorded nothing under example-store/edge: it is now the ledger of "
                      "%s/%s" % (STORE, DEVICE), r.stderr)
        info = json.loads(sk.run("ledger", "--db", os.path.join(self.tmp.path, "ledger.db"),
                                 "--json", "info").stdout)
        self.assertEqual((info["store_id"], info["device_id"]), (STORE, DEVICE))

    def test_guide_order_import_before_start(self):
        # Step 6 imports the catalog by hand before step 7 starts the service.
        example = self.tmp.file("example.cfg", store_cfg(self.tmp, "example-store", "edge"))
        self.assertEqual(sk.run("run", "-c", example, "--duration", "1").returncode, 0)
        own = self.tmp.file("store.cfg", store_cfg(self.tmp))
        csv = self.tmp.file("products.csv", "sku,gtin,name,price,currency,restock_threshold,"
                            "restock_target\nCOLA-033,,Cola,1.49,EUR,0,0\n")
        r = sk.run("ledger", "-c", own, "import", "products", csv)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = sk.run("run", "-c", own, "--duration", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        # While a daemon holds the example ledger, a command does not change its identity.
        other = self.tmp.file("other.db.cfg", store_cfg(self.tmp, "example-store", "edge")
                              .replace("ledger.db", "other.db"))
        d = sk.Daemon(["run", "-c", other], self.tmp.path)
        try:
            self.assertTrue(d.wait_log("core: running", 10), d.text())
            mine = self.tmp.file("mine.cfg", store_cfg(self.tmp).replace("ledger.db", "other.db")
                                 .replace("run/control.sock", "run/c2.sock"))
            r = sk.run("ledger", "-c", mine, "import", "products", csv)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("belongs to store/device", r.stderr)
        finally:
            d.stop()

    def test_used_ledger_of_another_store_is_refused_with_exit_2(self):
        own = self.tmp.file("store.cfg", store_cfg(self.tmp))
        self.assertEqual(sk.run("run", "-c", own, "--duration", "1").returncode, 0)
        csv = self.tmp.file("products.csv", "sku,gtin,name,price,currency,restock_threshold,"
                            "restock_target\nCOLA-033,,Cola,1.49,EUR,0,0\n")
        r = sk.run("ledger", "-c", own, "import", "products", csv)
        self.assertEqual(r.returncode, 0, r.stderr)
        other = self.tmp.file("other.cfg", store_cfg(self.tmp, "shop-9999"))
        r = sk.run("run", "-c", other, "--duration", "1")
        self.assertEqual(r.returncode, 2, "a configuration error: systemd must not restart it")
        self.assertIn('belongs to store/device "%s/%s", the configuration says "shop-9999/%s"'
                      % (STORE, DEVICE, DEVICE), r.stderr)
        self.assertIn("Fix store_id/device_id, or point ledger.path at a new file", r.stderr)
        self.assertNotIn("newer version", r.stderr)
        self.assertIn("start failed: the ledger belongs to another store or device", r.stderr)


class DiagDespiteFile(unittest.TestCase):
    """A broken store file on disk does not lock the technician out of a daemon that runs
    on its last good configuration: diag status, diag all and diag bundle reach it, and
    say what is wrong with the file."""

    def setUp(self):
        self.tmp = sk.TempDir()
        self.cfg = self.tmp.file("store.cfg", store_cfg(self.tmp))
        self.sock = os.path.join(self.tmp.path, "run", "control.sock")
        self.d = sk.Daemon(["run", "-c", self.cfg], self.tmp.path)
        self.assertTrue(self.d.wait_log("core: running", 10), self.d.text())

    def tearDown(self):
        self.d.stop()
        self.tmp.cleanup()

    def test_broken_file(self):
        with open(self.cfg, "a") as f:
            f.write("store_id = \n")  # a half-finished edit: a syntax error on line 7
        r = sk.run("diag", "status", "-c", self.cfg, "--socket", self.sock)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("via the daemon", r.stdout)
        self.assertIn("the file on disk does not load", r.stdout)
        self.assertIn("does not load", r.stderr)
        self.assertIn("--check-config", r.stderr)
        r = sk.run("diag", "all", "-c", self.cfg, "--socket", self.sock)
        self.assertIn("via the daemon", r.stdout)
        self.assertRegex(r.stdout, r"WARN  config: .*store.cfg on disk does not load")
        j = json.loads(sk.run("diag", "status", "--json", "-c", self.cfg, "--socket",
                              self.sock).stdout)
        self.assertIn("disk_error", j["config"])
        out = os.path.join(self.tmp.path, "bundle.tar.gz")
        r = sk.run("diag", "bundle", out, "-c", self.cfg, "--socket", self.sock)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.getsize(out) > 0)
        # Nothing answers: the file's problems and exit 2, as before.
        self.d.stop()
        r = sk.run("diag", "status", "-c", self.cfg, "--socket", self.sock)
        self.assertEqual(r.returncode, 2)
        self.assertIn("store.cfg:7", r.stderr)


class ControlDir(unittest.TestCase):
    """Run by hand (no systemd RuntimeDirectory=), the control socket's directory is missing:
    the daemon's log says so with the one command that makes it, and diag, finding no daemon,
    says why (not a bare "no such file"). Made as said, diag reaches the daemon."""

    def setUp(self):
        self.tmp = sk.TempDir()

    def tearDown(self):
        self.tmp.cleanup()

    def test_missing_dir(self):
        cfg = self.tmp.file("store.cfg", store_cfg(self.tmp, run=False))
        run = os.path.join(self.tmp.path, "run")
        d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
        try:
            self.assertTrue(d.wait_log("core: running", 10), d.text())
            self.assertIn("cannot create the control socket %s/control.sock: its directory %s: "
                          "No such file or directory" % (run, run), d.text())
            self.assertIn("make it first (again after a reboot): sudo install -d -o ", d.text())
            self.assertIn("-g storekeeper -m 0750 %s;" % run, d.text())
            r = sk.run("diag", "status", "-c", cfg, "--probe", "0.5")
            self.assertIn("the directory %s does not exist: a daemon run by hand has no control "
                          "socket until it is made: sudo install -d" % run, r.stdout + r.stderr)
        finally:
            d.stop()
        os.mkdir(run, 0o750)
        d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
        try:
            self.assertTrue(d.wait_log("core: running", 10), d.text())
            r = sk.run("diag", "status", "-c", cfg)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("via the daemon", r.stdout)
        finally:
            d.stop()


class GroupHint(unittest.TestCase):
    """A technician outside the storekeeper group gets one line with the documented fix
    (docs/technician.md), whichever of the store file and the socket stops them."""

    def setUp(self):
        self.tmp = sk.TempDir()
        os.chmod(self.tmp.path, 0o755)

    def tearDown(self):
        self.tmp.cleanup()

    def as_nobody(self, *args, env=None):
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534",
                               "--clear-groups", sk.BIN, *args], capture_output=True, text=True,
                              timeout=60, env=e)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to become another user")
    def test_file_and_socket(self):
        etc = os.path.join(self.tmp.path, "etc")
        os.mkdir(etc, 0o750)  # as /etc/storekeeper: root and the storekeeper group only
        cfg = os.path.join(etc, "store.cfg")
        with open(cfg, "w") as f:
            f.write(store_cfg(self.tmp))
        r = self.as_nobody("diag", "status", env={"STOREKEEPER_CONFIG": cfg})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("not allowed to read %s" % cfg, r.stderr)
        self.assertIn("join its group: sudo usermod -aG storekeeper $USER", r.stderr)
        # The file readable, the socket not (mode 0660, another group).
        os.chmod(etc, 0o755)
        d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
        try:
            self.assertTrue(d.wait_log("core: running", 10), d.text())
            r = self.as_nobody("diag", "all", "-c", cfg)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn("not allowed to use the control socket", r.stderr)
            self.assertIn("sudo usermod -aG storekeeper $USER", r.stderr)
        finally:
            d.stop()


class DiagDefaults(unittest.TestCase):
    """diag mqtt, diag camera and diag modbus scan take the store file from
    $STOREKEEPER_CONFIG (else /etc/storekeeper/store.cfg) like every other diag command."""

    def test_env(self):
        tmp = sk.TempDir()
        broker = mh.Broker(tmp.path).start()
        reader = rfidsim.SimReader("tcp:127.0.0.1:0", units="3")
        try:
            cfg = tmp.file("store.cfg", store_cfg(tmp, extra="""
mqtt = { host = "127.0.0.1"; port = %d; };
buses = ( { name = "shelves"; url = "%s"; } );
readers = ( { name = "r3"; bus = "shelves"; unit = 3; } );
shelves = ( { name = "A1"; reader = "r3"; antenna = 1; } );
cameras = ( { name = "overhead"; backend = "synthetic"; } );
""" % (broker.port, reader.endpoint)))
            env = dict(os.environ, STOREKEEPER_CONFIG=cfg)
            r = subprocess.run([sk.BIN, "diag", "mqtt"], capture_output=True, text=True,
                               env=env, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("127.0.0.1", r.stdout)
            self.assertTrue(r.stdout.strip().endswith("PASS"), r.stdout)
            r = subprocess.run([sk.BIN, "diag", "modbus", "scan", "shelves", "--units", "1-4"],
                               capture_output=True, text=True, env=env, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertRegex(r.stdout, r"(?m)^\s*3\b")
            r = subprocess.run([sk.BIN, "diag", "camera", "overhead", "--frames", "5"],
                               capture_output=True, text=True, env=env, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("overhead", r.stdout)
            # Without the variable: the default file, named in the error.
            env.pop("STOREKEEPER_CONFIG")
            if not os.path.exists("/etc/storekeeper/store.cfg"):
                r = subprocess.run([sk.BIN, "diag", "mqtt"], capture_output=True, text=True,
                                   env=env, timeout=60)
                self.assertEqual(r.returncode, 2)
                self.assertIn("/etc/storekeeper/store.cfg: cannot open", r.stderr)
        finally:
            reader.stop()
            broker.stop()
            tmp.cleanup()


@unittest.skipUnless(os.geteuid() == 0, "needs root to become another user")
class SerialPermission(unittest.TestCase):
    """A serial port the user may not open ("Permission denied") is answered with the
    dialout group, not with "check the adapter is plugged in": by diag modbus scan, in the
    daemon's log line, and in diag all's advice."""

    def setUp(self):
        self.tmp = sk.TempDir()
        os.chmod(self.tmp.path, 0o777)
        self.pty = rfidsim.PtyPair(self.tmp.path)  # /dev/pts/N of root, mode 0600

    def tearDown(self):
        self.pty.stop()
        self.tmp.cleanup()

    def nobody(self, *args, **kw):
        return ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                sk.BIN, *args]

    def test_dialout_hint(self):
        url = "rtu:%s:19200:8E1" % self.pty.b
        r = subprocess.run(self.nobody("diag", "modbus", "scan", url, "--units", "1-1"),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("Permission denied", r.stdout)
        self.assertIn("add it to the dialout group (sudo usermod -aG dialout $USER", r.stdout)
        self.assertNotIn("plugged in", r.stdout)
        cfg = self.tmp.file("store.cfg", store_cfg(self.tmp, extra="""
buses = ( { name = "shelves"; url = "%s"; reconnect_min_ms = 100; reconnect_max_ms = 200; } );
readers = ( { name = "r1"; bus = "shelves"; unit = 1; } );
shelves = ( { name = "A1"; reader = "r1"; antenna = 1; } );
""" % url))
        os.chmod(cfg, 0o644)
        os.chmod(os.path.join(self.tmp.path, "run"), 0o777)  # the daemon runs as nobody
        log = open(os.path.join(self.tmp.path, "daemon.log"), "w")
        env = dict(os.environ, STOREKEEPER_ALLOW_ROOT="1")
        d = subprocess.Popen(self.nobody("run", "-c", cfg), stdout=log, stderr=subprocess.STDOUT,
                             env=env)
        try:
            def logged():
                with open(log.name) as f:
                    return f.read()
            sk.wait_until(lambda: "dialout" in logged(), 15, 0.1)
            text = logged()
            self.assertIn("Permission denied; retrying with back-off; this user may not open "
                          "the serial port: add it to the dialout group", text)
            sock = os.path.join(self.tmp.path, "run", "control.sock")
            def diag_all():
                return subprocess.run([sk.BIN, "diag", "all", "-c", cfg], capture_output=True,
                                      text=True, timeout=60).stdout
            out = sk.wait_until(lambda: (lambda o: "reader r1" in o and
                                         "no health report yet" not in o and o)(diag_all()),
                                20, 0.5) or diag_all()
            self.assertTrue(os.path.exists(sock))
            self.assertRegex(out, r"reader r1: .*Permission denied.*add it to the dialout group")
        finally:
            d.terminate()
            d.wait(10)
            log.close()


PRODUCTS_HEADER = "sku,gtin,name,price,currency,restock_threshold,restock_target\n"


class CheckConfig(unittest.TestCase):
    """--check-config lists every problem in one run: an unknown reader profile at the
    reader's line together with the file's other problems; and a catalog file that would
    not import at start fails it, with FILE:LINE:COLUMN."""

    def setUp(self):
        self.tmp = sk.TempDir()

    def tearDown(self):
        self.tmp.cleanup()

    def test_every_problem(self):
        cfg = self.tmp.file("store.cfg", """store_id = "s1";
device_id = "d1";
board = "sim";
buses = ( { name = "b"; url = "tcp:127.0.0.1:1502"; } );
readers = (
  { name = "r1"; bus = "b"; unit = 1; profile = "no-such-profile"; },
  { name = "r2"; bus = "b"; unit = 2; }
);
shelves = ( { name = "A1"; reader = "r9"; antenna = 1; } );
""")
        r = sk.run("run", "-c", cfg, "--check-config")
        self.assertEqual(r.returncode, 2)
        self.assertIn('store.cfg:6: readers.[0].profile: no profile "no-such-profile"', r.stderr)
        self.assertIn("name a profile of that folder, or set profiles_dir", r.stderr)
        self.assertIn('store.cfg:9: shelves.[0].reader: no reader named "r9"', r.stderr)
        self.assertIn("2 error(s)", r.stderr)

    def test_catalog(self):
        self.tmp.file("products.csv", PRODUCTS_HEADER + "COLA-033,,Cola,1.49,EUR,0,0\n"
                      "WATER,,Water,abc,EUR,0,0\n")
        self.tmp.file("tags.csv", "epc,sku\n3034257BF400B7800004CB2F,COLA-033\n")
        cfg = self.tmp.file("store.cfg", store_cfg(self.tmp, extra="""
products_file = "products.csv";
tags_file = "tags.csv";
"""))
        r = sk.run("run", "-c", cfg, "--check-config")
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertRegex(r.stderr, r"products.csv:3:4: price: \"abc\" is not a price")
        self.assertFalse(os.path.exists(os.path.join(self.tmp.path, "ledger.db")),
                         "the check writes no ledger")
        # Fixed: passes; the tags refer to a product of the products file (imported first).
        self.tmp.file("products.csv", PRODUCTS_HEADER + "COLA-033,,Cola,1.49,EUR,0,0\n")
        r = sk.run("run", "-c", cfg, "--check-config")
        self.assertEqual(r.returncode, 0, r.stderr)


class Catalog(unittest.TestCase):
    """One source of truth: the ledger holds the catalog; products.csv is an import, applied
    at start and reload only when the file changed since its last import. A cloud
    catalog_upsert survives config_reload and a restart; an edited file is imported; a file
    that fails is a FAIL in diag all (and so on the status page), not only a log line."""

    def setUp(self):
        self.tmp = sk.TempDir()
        self.broker = mh.Broker(self.tmp.path).start()
        self.sub = mh.Sub(self.broker, ["it/replies"], self.tmp.path, "cloud")
        self.csv = self.tmp.file("products.csv", PRODUCTS_HEADER + "COLA-033,,Cola,1.49,EUR,0,0\n")
        self.cfg = self.tmp.file("store.cfg", store_cfg(self.tmp, extra="""
products_file = "products.csv";
mqtt = { host = "127.0.0.1"; port = %d; reconnect_min_ms = 200; };
""" % self.broker.port))
        self.d = None

    def tearDown(self):
        mh.stop_all([self.d] if self.d else [], [self.sub], [self.broker])
        self.tmp.cleanup()

    def start(self):
        self.d = sk.Daemon(["run", "-c", self.cfg], self.tmp.path)
        self.assertTrue(self.d.wait_log("mqtt: connected", 15), self.d.text())

    def command(self, name, payload):
        corr = "c-%s-%f" % (name, time.monotonic())
        mh.publish(self.broker, PREFIX + "cmd/" + name, json.dumps(payload),
                   response_topic="it/replies", correlation=corr)
        msgs = self.sub.wait_for(lambda ms: [m for m in ms if m["correlation"] == corr], 10)
        self.assertTrue(msgs, "no reply to %s" % name)
        return json.loads(msgs[0]["payload"])

    def price(self):
        import sqlite3
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.tmp.path, "ledger.db"),
                             uri=True)
        try:
            return db.execute("SELECT price_minor FROM products WHERE sku = 'COLA-033'"
                              ).fetchone()[0]
        finally:
            db.close()

    def test_cloud_change_survives_reload_and_restart(self):
        self.start()
        self.assertEqual(self.price(), 149)
        rep = self.command("catalog_upsert", {"products": [
            {"sku": "COLA-033", "name": "Cola", "price_minor": 129, "currency": "EUR"}]})
        self.assertTrue(rep["ok"], rep)
        self.assertEqual(self.price(), 129)
        rep = self.command("config_reload", {})
        self.assertTrue(rep["ok"], rep)
        self.assertTrue(self.d.wait_log("unchanged since its last import", 10), self.d.text())
        self.assertEqual(self.price(), 129, "config_reload reverted the cloud's price")
        rc, _ = self.d.stop()
        self.assertEqual(rc, 0)
        self.start()
        self.assertEqual(self.price(), 129, "a restart reverted the cloud's price")
        # The operator edits the file: that is an import, applied at the next reload.
        with open(self.csv, "w") as f:
            f.write(PRODUCTS_HEADER + "COLA-033,,Cola,1.59,EUR,0,0\n")
        self.d.signal(__import__("signal").SIGHUP)
        sk.wait_until(lambda: self.price() == 159, 10)
        self.assertEqual(self.price(), 159)

    def test_failed_import_is_a_fail(self):
        with open(self.csv, "w") as f:
            f.write(PRODUCTS_HEADER + "COLA-033,,Cola,1.49,EURO,0,0\n")
        self.start()
        r = sk.run("diag", "all", "-c", self.cfg)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"FAIL  catalog: a catalog file was not imported: .*"
                                   r"products.csv:2:5: currency")
        self.assertIn("--dry-run", r.stdout)
        j = json.loads(sk.run("diag", "status", "--json", "-c", self.cfg).stdout)
        self.assertIn("products.csv:2", j["runtime"]["catalog_error"])


def sgtin96(gtin14, prefix_digits, serial):
    """SGTIN-96 (GS1 TDS 14.5.1), filter 1, as hex."""
    parts = {7: (5, 24, 20)}
    p, cbits, ibits = parts[prefix_digits]
    company = int(gtin14[1:1 + prefix_digits])
    item = int(gtin14[0] + gtin14[1 + prefix_digits:13])
    v = (0x30 << 88) | (1 << 85) | (p << 82) | (company << (82 - cbits)) \
        | (item << (82 - cbits - ibits)) | serial
    return "%024X" % v


class FirstFill(unittest.TestCase):
    """The guide's first fill: the stock counted by hand (restock --quantity 24) and then
    the tagged items the readers see arrive are one stock, not two: 24 expected, 5 seen
    (not "expected 29"). Without a hand count the readers' arrivals are the stock; beyond
    what is booked, an arrival is a restock as before."""

    def setUp(self):
        self.tmp = sk.TempDir()
        self.reader = rfidsim.SimReader("tcp:127.0.0.1:0", units="1")
        self.tmp.file("products.csv", PRODUCTS_HEADER +
                      "COLA-033,4099999000104,Cola,1.49,EUR,0,0\n"
                      "WATER-050,4099999000111,Water,0.99,EUR,0,0\n")
        self.cfg = self.tmp.file("store.cfg", store_cfg(self.tmp, extra="""
products_file = "products.csv";
buses = ( { name = "shelves"; url = "%s"; poll_interval_ms = 50; } );
readers = ( { name = "r1"; bus = "shelves"; unit = 1; } );
shelves = ( { name = "A1"; reader = "r1"; antenna = 1; preset = "fast"; },
            { name = "A2"; reader = "r1"; antenna = 2; preset = "fast"; } );
""" % self.reader.endpoint))
        self.d = None

    def tearDown(self):
        if self.d:
            self.d.stop()
        self.reader.stop()
        self.tmp.cleanup()

    def ledger(self, *args):
        r = sk.run("ledger", "-c", self.cfg, "--json", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def stock(self, shelf, sku):
        return {(x["shelf"], x["sku"]): x["quantity"] for x in self.ledger("stock")}.get(
            (shelf, sku), 0)

    def test_hand_count_then_tags(self):
        # The guide's order: the catalog and the hand count before the service starts.
        r = sk.run("run", "-c", self.cfg, "--duration", "0.5")  # registers shelves, imports
        self.assertEqual(r.returncode, 0, r.stderr)
        r = sk.run("ledger", "-c", self.cfg, "restock", "--shelf", "A1", "--sku", "COLA-033",
                   "--quantity", "24", "--note", "first fill")
        self.assertEqual(r.returncode, 0, r.stderr)
        for i in range(5):
            self.assertEqual(self.reader.cmd("tag add 1 1 %s -60" % sgtin96(
                "04099999000104", 7, 100 + i)), "ok")
        # Water was not counted by hand: its 3 tags are its stock.
        for i in range(3):
            self.assertEqual(self.reader.cmd("tag add 1 2 %s -60" % sgtin96(
                "04099999000111", 7, 200 + i)), "ok")
        self.d = sk.Daemon(["run", "-c", self.cfg], self.tmp.path)
        sk.wait_until(lambda: self.stock("A2", "WATER-050") >= 3, 20, 0.2)
        self.assertEqual(self.stock("A2", "WATER-050"), 3, self.d.text())
        # The marker: a fourth water tag put there now arrives polls after the COLA tags did.
        self.assertEqual(self.reader.cmd("tag add 1 2 %s -60" % sgtin96(
            "04099999000111", 7, 203)), "ok")
        sk.wait_until(lambda: self.stock("A2", "WATER-050") >= 4, 20, 0.2)
        self.assertEqual(self.stock("A2", "WATER-050"), 4, self.d.text())
        self.assertEqual(self.stock("A1", "COLA-033"), 24, "hand count and tags counted twice")
        text = sk.run("ledger", "-c", self.cfg, "stocktake").stdout
        self.assertNotIn("29", text, text)
        self.assertRegex(text, r"A1\s+COLA-033\D+24\D+5\b", text)


class ReaderHealth(unittest.TestCase):
    """A reader that never answered is not first reported up (log, event/reader history):
    its first state is down; a truncated reply is bad_reply, not timeout; an outage of a
    flapping reader leaves an event and a log line (the bucket's other cases: the unit test
    test_core's test_reader_history_settles, on a manual clock)."""

    def setUp(self):
        self.tmp = sk.TempDir()
        self.reader = rfidsim.SimReader("tcp:127.0.0.1:0", units="1,2")

    def tearDown(self):
        self.reader.stop()
        self.tmp.cleanup()

    def events(self, cfg):
        r = sk.run("ledger", "-c", cfg, "--json", "outbox", "--list", "--all", "--limit", "500")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        rows = out["rows"]
        return [json.loads(e["payload"]) if isinstance(e.get("payload"), str) else e["payload"]
                for e in rows if e["topic"] == "event/reader"]

    def test_never_answered_and_truncated(self):
        cfg = self.tmp.file("store.cfg", store_cfg(self.tmp, extra="""
buses = ( { name = "shelves"; url = "%s"; poll_interval_ms = 50; response_timeout_ms = 400; } );
readers = ( { name = "ghost"; bus = "shelves"; unit = 7; },
            { name = "cut"; bus = "shelves"; unit = 2; } );
shelves = ( { name = "A1"; reader = "ghost"; antenna = 1; },
            { name = "B1"; reader = "cut"; antenna = 1; } );
""" % self.reader.endpoint))
        self.assertEqual(self.reader.cmd("fault 2 malformed truncated"), "ok")
        d = sk.Daemon(["run", "-c", cfg], self.tmp.path)
        try:
            self.assertTrue(d.wait_log("reader ghost: down", 15), d.text())
            self.assertTrue(d.wait_log("reader cut: down", 15), d.text())
        finally:
            d.stop()
        log = d.text()
        self.assertNotIn("reader ghost: up", log)
        self.assertNotIn("reader ghost: degraded", log)
        self.assertIn("reader ghost: down (", log)  # a TCP gateway answers exception 11
        self.assertIn("reader cut: down (bad_reply", log)
        self.assertIn("cut short", log)
        ev = self.events(cfg)
        ghost = [e for e in ev if e["reader"] == "ghost"]
        self.assertTrue(ghost, ev)
        self.assertEqual(ghost[0]["state"], "down", ghost)
        self.assertNotIn("previous", ghost[0])
        cut = [e for e in ev if e["reader"] == "cut"]
        self.assertEqual([e["reason"] for e in cut if e["state"] != "up"][:1], ["bad_reply"])


class Progress(unittest.TestCase):
    """Long operations show that they move: on a terminal one line rewritten in place, with
    --json one JSON line a second on stderr (stdout keeps the result alone): a Modbus scan
    whose units answer slowly, a large catalog import, the ledger check."""

    def setUp(self):
        self.tmp = sk.TempDir()

    def tearDown(self):
        self.tmp.cleanup()

    def test_scan_json(self):
        reader = rfidsim.SimReader("tcp:127.0.0.1:0", units="1-40")
        try:
            self.assertEqual(reader.cmd("fault * delay 45"), "ok")
            r = subprocess.run([sk.BIN, "diag", "modbus", "scan", reader.endpoint, "--units",
                                "1-40", "--timeout-ms", "1500", "--json"], capture_output=True,
                               text=True, timeout=120)
        finally:
            reader.stop()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["answering"], 40)
        lines = [json.loads(x) for x in r.stderr.splitlines() if x.startswith("{")]
        self.assertTrue(lines, r.stderr)
        self.assertEqual({x["progress"] for x in lines}, {"scan"})
        self.assertEqual(lines[-1]["done"], 40)
        self.assertEqual(lines[-1]["total"], 40)
        dones = [x["done"] for x in lines]
        self.assertEqual(dones, sorted(dones))

    def test_import_and_verify_on_a_terminal(self):
        csv = os.path.join(self.tmp.path, "big.csv")
        with open(csv, "w") as f:
            f.write(PRODUCTS_HEADER)
            for i in range(300000):
                f.write("P%06d,,Product %d,1.00,EUR,0,0\n" % (i, i))
        cfg = self.tmp.file("store.cfg", store_cfg(self.tmp))
        cmd = "%s ledger -c %s import products %s" % (sk.BIN, cfg, csv)
        r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True,
                           timeout=300)
        out = r.stdout.decode()  # bytes: text mode would turn each \r into \n
        self.assertEqual(r.returncode, 0, out)
        self.assertRegex(out, r"\rimport: \d+/300000 rows \(\d+ %\)")
        self.assertIn("300000 row(s): 300000 new", out)
        # Not on a terminal, no --json: the output is what it was.
        r = sk.run("ledger", "-c", cfg, "verify")
        self.assertNotIn("\r", r.stdout + r.stderr)


if __name__ == "__main__":
    sk.main()
