# SPDX-License-Identifier: MIT
"""Shared helpers of the Python tests: the binary, temp dirs, a daemon under test, a systemd
notify socket, free loopback ports; waiting on a condition with a deadline (wait_until) and for
a marker in a log (Daemon.mark, Daemon.wait_log); skipping honestly (require_tool, main: a
test that could not run exits with SKIP_CODE, which CTest reports as skipped, never as
passed). Standard library only. Every test file ends with `sk.main()`."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

BIN = os.environ.get("SK_BIN", "build/storekeeper")
# The tests run as root on CI machines; `storekeeper run` refuses root without this
# (docs/security.md). tests/security/test_privileges.py checks the refusal without it.
os.environ.setdefault("STOREKEEPER_ALLOW_ROOT", "1")
SRC = os.environ.get("SK_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("SK_BUILD_DIR", os.path.join(SRC, "build"))
# Emulated or instrumented binaries run slower (CTest sets 4 in the cross build): timeouts
# that bound a wait for the binary multiply by it.
SCALE = float(os.environ.get("SK_TIME_SCALE") or 1)
# The exit code of a test that could not run (a tool missing): tests/CMakeLists.txt gives
# every test SKIP_RETURN_CODE 77, so CTest reports it as skipped, never as passed.
SKIP_CODE = 77
# scripts/test.sh sets it: the suite installs every tool, so there a skip is a failure.
NO_SKIP = os.environ.get("SK_TEST_NO_SKIP") == "1"


def wait_until(cond, timeout=10.0, step=0.05):
    """Calls cond() until it returns something true or timeout seconds pass; returns its
    last value (false on timeout). The one way the tests wait: on a condition with a
    deadline, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(min(step, max(0.0, deadline - time.monotonic())))


def skip(reason):
    """Skips the calling test (unittest.SkipTest, so the file exits SKIP_CODE) because
    something it needs is not here; under SK_TEST_NO_SKIP=1 fails it instead."""
    if NO_SKIP:
        raise AssertionError(reason + "; SK_TEST_NO_SKIP=1 makes a skip a failure")
    raise unittest.SkipTest(reason)


def require_tool(*names, why=""):
    """The path of the first of the programs names on $PATH, or skip() saying which is
    missing (scripts/install-deps.sh --test installs every one the suite uses)."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    skip("%s is not installed%s (scripts/install-deps.sh --test installs it)" % (
        " or ".join(names), ": " + why if why else ""))


def run(*args, cwd=None, timeout=60, env=None):
    """Runs storekeeper with args; returns CompletedProcess with text output."""
    return subprocess.run([BIN, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TempDir:
    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="sk-it-")

    def file(self, name, text):
        p = os.path.join(self.path, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


class NotifySocket:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def wait_for(self, text, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in m for m in self.messages):
                return True
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        return any(text in m for m in self.messages)

    def close(self):
        self.sock.close()


class Daemon:
    """storekeeper run in the background; its log goes to a file we can search."""

    def __init__(self, args, directory, env=None, name="daemon"):
        self.log_path = os.path.join(directory, name + ".log")
        self.log = open(self.log_path, "w")
        e = dict(os.environ)
        e.pop("NOTIFY_SOCKET", None)
        e.pop("WATCHDOG_USEC", None)
        e.update(env or {})
        self.proc = subprocess.Popen([BIN, *args], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=e)

    def mark(self):
        """A position in the log: wait_log(..., after=mark) and text(after=mark) look only at
        what was logged since (a marker: what must not happen is looked for before it)."""
        return len(self.text())

    def text(self, after=0):
        with open(self.log_path, errors="replace") as f:
            return f.read()[after:]

    def wait_log(self, needle, timeout=5.0, count=1, after=0):
        """Until needle was logged count times (since the mark after) or the daemon exited."""
        def found():
            return self.text(after).count(needle) >= count
        wait_until(lambda: found() or self.proc.poll() is not None, timeout, 0.02)
        return found()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=5.0):
        """SIGTERM; returns (exit code, seconds taken)."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc, time.monotonic() - t0


def main():
    """Runs the file's tests. Exit 0 when all passed, 1 when any failed, SKIP_CODE when
    none failed but some did not run (unittest's skips: a tool missing); under
    SK_TEST_NO_SKIP=1 a skip is a failure."""
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.skipped:
        for test, why in r.skipped:
            print("SKIPPED %s: %s" % (test.id(), why), file=sys.stderr)
        if NO_SKIP:
            print("SK_TEST_NO_SKIP=1: a test that did not run is a failure", file=sys.stderr)
            sys.exit(1)
        sys.exit(SKIP_CODE)
    if r.testsRun == 0:
        print("no test ran", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
