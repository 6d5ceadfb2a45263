# SPDX-License-Identifier: MIT
"""Helpers of the RFID integration tests: virtual readers (`storekeeper sim reader`) as child
processes driven through stdin, socat pty pairs, mbpoll. Every process is stopped by PID."""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "integration"))
import sk  # noqa: E402


class Proc:
    """A child process stopped by PID (SIGTERM, then SIGKILL)."""

    def __init__(self, args, **kw):
        self.p = subprocess.Popen(args, **kw)

    def stop(self, timeout=5):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            if f:
                f.close()
        return self.p.returncode


class SimReader(Proc):
    """storekeeper sim reader; commands go to its stdin, one answer line each."""

    def __init__(self, listen, units="1", profile=None, tags=0, extra=()):
        args = [sk.BIN, "sim", "reader", "--listen", listen, "--units", units,
                "--round-ms", "20"]
        if profile:
            args += ["--profile", profile]
        if tags:
            args += ["--tags", str(tags)]
        args += list(extra)
        super().__init__(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, bufsize=1)
        line = self.p.stdout.readline()
        m = re.match(r"listening (\S+) units (\S+) profile (\S+)", line)
        if not m:
            err = self.p.stderr.read() if self.p.poll() is not None else ""
            raise RuntimeError("sim reader did not start: %r %r" % (line, err))
        self.endpoint = m.group(1)
        self.port = int(self.endpoint.rsplit(":", 1)[1]) if self.endpoint.startswith("tcp:") else 0

    def cmd(self, text):
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def rounds(self):
        """RF rounds run so far (the `stats` command)."""
        return int(re.search(r" rounds (\d+)", self.cmd("stats")).group(1))

    def wait_rounds(self, n=1, timeout=5.0):
        """Until n more RF rounds ran: a change made before the call (a tag added or taken)
        is then in what the readers answer. A round and a command exclude each other, so
        one round after the command's "ok" is enough."""
        start = self.rounds()
        if not sk.wait_until(lambda: self.rounds() >= start + n, timeout * sk.SCALE, 0.01):
            raise AssertionError("the virtual reader ran no RF round in %.0f s" % timeout)


class PtyPair(Proc):
    """socat pty pair: `a` for the simulator, `b` for the bus."""

    def __init__(self, directory, a="pty-sim", b="pty-bus"):
        self.a = os.path.join(directory, a) if not a.startswith("/") else a
        self.b = os.path.join(directory, b) if not b.startswith("/") else b
        sk.require_tool("socat", why="RTU runs over a socat pty pair")
        for path in (self.a, self.b):
            if os.path.lexists(path):
                os.unlink(path)
        super().__init__(["socat", "pty,raw,echo=0,link=" + self.a,
                          "pty,raw,echo=0,link=" + self.b],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not sk.wait_until(lambda: os.path.exists(self.a) and os.path.exists(self.b), 5,
                             0.01):
            raise RuntimeError("socat made no pty pair")


def mbpoll(*args, timeout=10):
    """mbpoll once; returns (returncode, {register: value})."""
    sk.require_tool("mbpoll", why="the independent Modbus client")
    r = subprocess.run(["mbpoll", "-1", "-0", *args], capture_output=True, text=True,
                       timeout=timeout)
    values = {}
    for m in re.finditer(r"^\[(\d+)\]:\s+(-?\w+)", r.stdout, re.M):
        values[int(m.group(1))] = int(m.group(2), 0)
    return r.returncode, values, r.stdout + r.stderr
