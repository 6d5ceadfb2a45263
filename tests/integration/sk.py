# SPDX-License-Identifier: MIT
"""Shared helpers of the integration tests: the binary, temp dirs, a daemon under test,
a systemd notify socket, and free loopback ports. Standard library only."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("SK_BIN", "build/storekeeper")
# The tests run as root on CI machines; `storekeeper run` refuses root without this
# (docs/security.md). tests/security/test_privileges.py checks the refusal without it.
os.environ.setdefault("STOREKEEPER_ALLOW_ROOT", "1")
SRC = os.environ.get("SK_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("SK_BUILD_DIR", os.path.join(SRC, "build"))


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

    def __init__(self, args, directory, env=None):
        self.log_path = os.path.join(directory, "daemon.log")
        self.log = open(self.log_path, "w")
        e = dict(os.environ)
        e.pop("NOTIFY_SOCKET", None)
        e.pop("WATCHDOG_USEC", None)
        e.update(env or {})
        self.proc = subprocess.Popen([BIN, *args], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=e)

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, needle, timeout=5.0, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.text().count(needle) >= count:
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        return self.text().count(needle) >= count

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
    unittest.main(verbosity=2)
