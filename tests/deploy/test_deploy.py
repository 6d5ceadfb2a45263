# SPDX-License-Identifier: MIT
"""Deployment checks that run with every build: the systemd unit passes
`systemd-analyze verify` and keeps its hardening, the daemon honours the unit's contract
(notify, watchdog, reload signal, stop timeout), `cmake --install` produces a working tree,
the shipped store file and the operator guide's example are valid, and the maintainer
scripts parse. The package itself is checked by scripts/package.sh (lintian) and
scripts/chroot-install-test.sh (a clean Debian 12 root)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "integration"))
import sk  # noqa: E402

UNIT = os.path.join(sk.BUILD, "deploy", "storekeeper.service")


def parse_unit(path):
    """The unit's settings as {key: [values in order]} (sections merged; names are unique)."""
    settings = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;[":
                continue
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def cache_value(name):
    with open(os.path.join(sk.BUILD, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split("=", 1)[1].strip()
    return None


def seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|min)?", text)
    assert m, text
    return int(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "min": 60}[m.group(2)]


class Unit(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.addCleanup(self.tmp.cleanup)
        self.unit = parse_unit(UNIT)

    def verifiable_copy(self):
        """The generated unit with ExecStart on the built binary (verify needs it to exist)
        and MANPATH holding our man page (verify runs `man` for Documentation=man:...)."""
        exec_start = self.unit["ExecStart"][0].split()[0]
        with open(UNIT) as f:
            text = f.read().replace("ExecStart=" + exec_start, "ExecStart=" + os.path.abspath(sk.BIN))
        path = self.tmp.file("storekeeper.service", text)
        man1 = os.path.join(self.tmp.path, "man", "man1")
        os.makedirs(man1)
        shutil.copy(os.path.join(sk.SRC, "docs", "storekeeper.1"), man1)
        return path, dict(os.environ, MANPATH=os.path.join(self.tmp.path, "man"))

    def test_systemd_analyze_verify(self):
        path, env = self.verifiable_copy()
        r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout + r.stderr, "", "verify printed warnings")

    def test_verify_catches_a_broken_unit(self):
        # The check above can fail: a misspelt directive is reported.
        path, env = self.verifiable_copy()
        with open(path, "a") as f:
            f.write("[Service]\nProtectSystm=strict\n")
        r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertIn("ProtectSystm", r.stdout + r.stderr)

    def test_directives(self):
        u = self.unit
        prefix = cache_value("CMAKE_INSTALL_PREFIX")
        etc = "/etc" if prefix == "/usr" else prefix + "/etc"
        state = "/var/lib/storekeeper" if prefix == "/usr" else prefix + "/var/lib/storekeeper"
        self.assertEqual(u["Type"], ["notify"])
        self.assertEqual(u["NotifyAccess"], ["main"])
        self.assertEqual(u["ExecStart"],
                         [f"{prefix}/bin/storekeeper run -c {etc}/storekeeper/store.cfg"])
        self.assertEqual(u["ExecReload"], ["/bin/kill -HUP $MAINPID"])
        self.assertEqual(u["Restart"], ["on-failure"])
        self.assertEqual(u["RestartPreventExitStatus"], ["2"])
        self.assertEqual(u["User"], ["storekeeper"])
        self.assertEqual(sorted(u["SupplementaryGroups"][0].split()), ["dialout", "video"])
        self.assertEqual(u["ProtectSystem"], ["strict"])
        self.assertEqual(u["ReadWritePaths"], [state])
        self.assertEqual(u["WorkingDirectory"], [state])
        for yes in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "ProtectKernelTunables",
                    "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
                    "RestrictSUIDSGID", "RestrictNamespaces", "LockPersonality",
                    "MemoryDenyWriteExecute"):
            self.assertEqual(u.get(yes), ["yes"], yes)
        self.assertEqual(u["CapabilityBoundingSet"], [""])
        self.assertEqual(u["DevicePolicy"], ["closed"])
        allowed = " ".join(u["DeviceAllow"])
        for dev in ("char-ttyAMA", "char-ttyUSB", "char-video4linux", "char-media"):
            self.assertIn(dev + " rw", allowed)
        self.assertEqual(u["RestrictAddressFamilies"], ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"])
        self.assertIn("@system-service", u["SystemCallFilter"])
        # The watchdog must outlast the daemon's own stall detection plus one ping interval,
        # or a slow but healthy loop would be killed before it is even reported stuck.
        self.assertGreaterEqual(seconds(u["WatchdogSec"][0]), 10)

    def test_security_exposure(self):
        path, env = self.verifiable_copy()
        r = subprocess.run(["systemd-analyze", "security", "--offline=true", path],
                           capture_output=True, text=True, env=env, timeout=60)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        print(f"systemd-analyze security: exposure {m.group(1)} (0 best, 10 worst)")
        self.assertLessEqual(float(m.group(1)), 2.0)

    def test_daemon_follows_the_unit(self):
        """What systemd does with this unit, done by hand: start with $NOTIFY_SOCKET and
        $WATCHDOG_USEC from WatchdogSec=, wait for READY=1, reload with ExecReload's signal,
        stop with SIGTERM within TimeoutStopSec=."""
        u = self.unit
        watchdog_s = seconds(u["WatchdogSec"][0])
        notify = sk.NotifySocket(self.tmp.path)
        self.addCleanup(notify.close)
        cfg = os.path.join(sk.SRC, "examples", "store.cfg")
        with open(cfg) as f:
            text = f.read().replace("/var/lib/storekeeper/ledger.db",
                                    os.path.join(self.tmp.path, "ledger.db"))
        cfg = self.tmp.file("store.cfg", text)
        env = dict(os.environ, NOTIFY_SOCKET=notify.path,
                   WATCHDOG_USEC=str(int(watchdog_s * 1e6)), JOURNAL_STREAM="8:1")
        proc = subprocess.Popen([sk.BIN, "run", "-c", cfg], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            self.assertTrue(notify.wait_for("READY=1", timeout=10), "no READY=1")
            proc.send_signal(signal.SIGHUP)  # ExecReload=/bin/kill -HUP $MAINPID
            self.assertTrue(notify.wait_for("RELOADING=1", timeout=10), "no RELOADING=1")
            t = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=seconds(u["TimeoutStopSec"][0]))
            print(f"stopped in {time.monotonic() - t:.2f} s")
            self.assertEqual(rc, 0)
            self.assertTrue(notify.wait_for("STOPPING=1", timeout=1))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out = proc.stdout.read()
            proc.stdout.close()
        # Under systemd ($JOURNAL_STREAM) lines carry a syslog priority for journald.
        self.assertRegex(out, r"(?m)^<\d>")


class Install(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.addCleanup(self.tmp.cleanup)

    def test_cmake_install_tree(self):
        dest = os.path.join(self.tmp.path, "dest")
        r = subprocess.run(["cmake", "--install", sk.BUILD], capture_output=True, text=True,
                           env=dict(os.environ, DESTDIR=dest), timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        prefix = cache_value("CMAKE_INSTALL_PREFIX")
        etc = "/etc" if prefix == "/usr" else prefix + "/etc"
        var = "/var" if prefix == "/usr" else prefix + "/var"
        root = dest + prefix
        expect = [
            "bin/storekeeper", "share/storekeeper/boards/rpi4.cfg",
            "share/storekeeper/boards/rpi5.cfg", "share/storekeeper/boards/cm4.cfg",
            "share/storekeeper/boards/generic-x86.cfg", "share/storekeeper/boards/sim.cfg",
            "share/doc/storekeeper/operator.md", "share/doc/storekeeper/boards.md",
            "share/doc/storekeeper/config.md", "share/doc/storekeeper/copyright",
            "share/man/man1/storekeeper.1.gz", "lib/sysusers.d/storekeeper.conf",
            "lib/tmpfiles.d/storekeeper.conf",
        ]
        for rel in expect:
            self.assertTrue(os.path.exists(os.path.join(root, rel)), rel)
        self.assertTrue(os.path.isfile(dest + etc + "/storekeeper/store.cfg"))
        self.assertTrue(os.path.isdir(dest + var + "/lib/storekeeper"))
        units = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs
                 if f == "storekeeper.service"]
        self.assertEqual(len(units), 1, units)
        unit = parse_unit(units[0])
        self.assertEqual(unit["ExecStart"][0].split()[0], prefix + "/bin/storekeeper")
        self.assertTrue(os.path.exists(dest + unit["ExecStart"][0].split()[0]))

        # The installed binary finds its installed boards (exe/../share/storekeeper), not the
        # source tree, and accepts the installed store file.
        exe = [root + "/bin/storekeeper"]
        emulator = cache_value("SK_QEMU_AARCH64")
        if cache_value("CMAKE_TOOLCHAIN_FILE") and emulator:
            exe = [emulator] + exe
        env = {k: v for k, v in os.environ.items() if k != "STOREKEEPER_DATADIR"}
        r = subprocess.run(exe + ["run", "-c", dest + etc + "/storekeeper/store.cfg",
                                  "--check-config"], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        m = re.search(r"board rpi4 \((.*)\)", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        self.assertEqual(os.path.normpath(m.group(1)),
                         os.path.normpath(root + "/share/storekeeper/boards/rpi4.cfg"))


class Files(unittest.TestCase):
    def test_shipped_store_cfg_is_valid(self):
        r = sk.run("run", "-c", os.path.join(sk.SRC, "examples", "store.cfg"), "--check-config")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("mqtt disabled", r.stdout)
        self.assertIn("ledger /var/lib/storekeeper/ledger.db", r.stdout)

    def test_operator_guide_example_is_valid(self):
        """The complete store file in docs/operator.md (the ```cfg block) validates, on every
        board whose serial port names it uses."""
        with open(os.path.join(sk.SRC, "docs", "operator.md")) as f:
            blocks = re.findall(r"```cfg\n(.*?)```", f.read(), re.S)
        self.assertTrue(blocks, "docs/operator.md has no ```cfg block")
        tmp = sk.TempDir()
        self.addCleanup(tmp.cleanup)
        path = tmp.file("store.cfg", blocks[0])
        r = sk.run("run", "-c", path, "--check-config")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"[1-9]\d* bus\(es\), [1-9]\d* reader\(s\)")

    def test_maintainer_scripts(self):
        for name in ("postinst", "prerm", "postrm"):
            path = os.path.join(sk.SRC, "scripts", "deploy", name)
            self.assertTrue(os.access(path, os.X_OK), name + " is not executable")
            r = subprocess.run(["sh", "-n", path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, name + ": " + r.stderr)
            text = open(path).read()
            self.assertTrue(text.startswith("#!/bin/sh\n"), name)
            self.assertIn("\nset -e\n", text, name)
            # The ledger is never deleted: no rm of the state directory's contents.
            self.assertNotRegex(text, r"rm\s+-[a-zA-Z]*r[a-zA-Z]*\s+\S*(SK_STATE|/var/lib/storekeeper)",
                                name)


if __name__ == "__main__":
    sk.main()
