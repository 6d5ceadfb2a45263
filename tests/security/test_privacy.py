# SPDX-License-Identifier: MIT
"""The privacy guarantee (docs/security.md, docs/vision.md): during a whole simulated store with
its overhead camera running, nothing image-like is written to disk or published. The simulator
runs under strace, which lists every file any of its threads opened for writing; a subscriber
to '#' keeps every MQTT payload. Files are scanned for image signatures (PNG, JPEG/JFIF/Exif,
GIF, TIFF, WebP, BMP and PNM headers) and binary content (more than 5 % non-text bytes in any 4 KiB); the ledger by its content (every
text and blob value); payloads must be JSON with no string longer than 1 KiB."""
import json
import os
import re
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "mqtt"))
import mqtt_helpers as mh  # noqa: E402
import sk  # noqa: E402

SCENARIO = os.path.join(sk.SRC, "examples", "scenarios", "05-two-shoppers.scn")
SIGNATURES = [(b"\x89PNG\r\n\x1a\n", "PNG"), (b"JFIF\x00", "JPEG (JFIF)"),
              (b"Exif\x00\x00", "JPEG (Exif)"), (b"\xff\xd8\xff\xdb", "JPEG"),
              (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"II*\x00", "TIFF"),
              (b"MM\x00*", "TIFF"), (b"WEBPVP8", "WebP")]
AT_START = [(re.compile(rb"^BM....\x00\x00\x00\x00", re.S), "BMP"),
            (re.compile(rb"^P[1-6]\s+\d+\s+\d+"), "PNM")]
BINARY_WINDOW = 4096
BINARY_MAX = 0.05
MAX_STRING = 1024
OPEN = re.compile(r'^(\d+)\s+(?:openat\((?:AT_FDCWD|\d+), |open\(|creat\()"([^"]+)", ([A-Z_|]+)')


def image_in(data):
    for sig, name in SIGNATURES:
        at = data.find(sig)
        if at >= 0:
            return "%s signature at byte %d" % (name, at)
    for rx, name in AT_START:
        if rx.match(data):
            return name + " header"
    return None


TEXT = re.compile(rb"[\t\n\r\x20-\x7e]|[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}"
                  rb"|[\xf0-\xf4][\x80-\xbf]{3}")


def binary_fraction(data, window=BINARY_WINDOW):
    """The largest share of bytes that are not text (printable ASCII, white space, UTF-8) in
    any window of the data: 0 for logs, JSON and CSV; most of a raw luma frame or a
    compressed image."""
    flags = bytearray(len(data))  # 1 where a byte is not part of text
    i = 0
    while i < len(data):
        m = TEXT.match(data, i)
        if m:
            i = m.end()
        else:
            flags[i] = 1
            i += 1
    if len(data) <= window:
        return sum(flags) / max(len(data), 1) if len(data) >= 256 else 0.0
    best = cur = sum(flags[:window])
    for k in range(window, len(flags)):
        cur += flags[k] - flags[k - window]
        best = max(best, cur)
    return best / window


def long_strings(value, where, out):
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            out.append("%s: a string of %d characters" % (where, len(value)))
    elif isinstance(value, dict):
        for k, v in value.items():
            long_strings(v, where + "." + k, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            long_strings(v, "%s[%d]" % (where, i), out)


def no_leak_check():
    """The environment for the traced run: LeakSanitizer (ASan build) cannot work under ptrace;
    leaks are the other tests' business (the same run without strace is in tests/sim)."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return dict(os.environ, ASAN_OPTIONS=(asan + ":" if asan else "") + "detect_leaks=0")


class Privacy(unittest.TestCase):
    def test_the_detectors_detect(self):
        png = subprocess.run([os.path.abspath(sk.BIN), "diag", "camera", "--help"],
                             capture_output=True, text=True)
        self.assertEqual(png.returncode, 0)
        self.assertTrue(image_in(b"xx\x89PNG\r\n\x1a\n\x00\x00"))
        self.assertTrue(image_in(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"))
        self.assertTrue(image_in(b"P5\n320 240\n255\n" + bytes(100)))
        frame = bytes((150 + (i * 7919) % 9) % 256 for i in range(320 * 240))  # a grey floor
        self.assertGreater(binary_fraction(frame), 0.9)
        self.assertGreater(binary_fraction(os.urandom(20000)), 0.3)
        self.assertEqual(binary_fraction("grüße, 1.49 EUR\n".encode() * 1000), 0)
        found = []
        long_strings({"a": ["x" * 2000]}, "p", found)
        self.assertEqual(found, ["p.a[0]: a string of 2000 characters"])

    def test_nothing_image_like_leaves_the_camera(self):
        tmp = sk.TempDir()
        self.addCleanup(tmp.cleanup)
        broker = mh.Broker(tmp.path).start()
        self.addCleanup(broker.stop)
        sub = mh.Sub(broker, ["#"], tmp.path, "everything")
        self.addCleanup(sub.stop)
        store = os.path.join(tmp.path, "store")
        trace = os.path.join(tmp.path, "trace.txt")
        r = subprocess.run(["strace", "-f", "-qq", "--seccomp-bpf", "-o", trace, "-e",
                            "trace=open,openat,creat", os.path.abspath(sk.BIN), "sim", SCENARIO, "--json",
                            "--keep", store, "--broker", "127.0.0.1:%d" % broker.port],
                           capture_output=True, text=True, timeout=240, cwd=tmp.path,
                           env=no_leak_check())
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        score = json.loads(r.stdout)
        # The camera really watched: shoppers were followed and charged.
        self.assertGreaterEqual(score["exact_carts"], 1, r.stdout)

        written = set()
        with open(trace, errors="replace") as f:
            for line in f:
                m = OPEN.match(line)
                if not m or "= -1" in line:
                    continue
                path, flags = m.group(2), m.group(3)
                if not any(w in flags for w in ("O_WRONLY", "O_RDWR", "O_CREAT")):
                    continue
                if path.startswith(("/dev/", "/proc/", "/sys/")):
                    continue
                written.add(os.path.normpath(os.path.join(tmp.path, path)))
        self.assertTrue(any(p.endswith("ledger.db") for p in written), sorted(written))
        problems = []
        scanned = 0
        for path in sorted(written):
            if not os.path.isfile(path):
                continue  # removed again (SQLite journals)
            with open(path, "rb") as f:
                data = f.read()
            scanned += 1
            what = image_in(data)
            if what:
                problems.append("%s: %s" % (path, what))
            if path.endswith(("ledger.db", "-wal", "-shm", ".db")):
                continue  # SQLite pages are binary: the ledger is checked by content below
            if path.endswith(".anchor"):
                # The ledger's anchor: text slots padded with NUL bytes (docs/ledger.md).
                data = data.replace(b"\0", b"")
            share = binary_fraction(data)
            if share > BINARY_MAX:
                problems.append("%s: %.0f %% binary bytes in a 4 KiB window" % (path, 100 * share))
        # The ledger, value by value.
        db = sqlite3.connect(os.path.join(store, "ledger.db"))
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        values = 0
        for t in tables:
            for row in db.execute('SELECT * FROM "%s"' % t.replace('"', '""')):
                for v in row:
                    values += 1
                    if isinstance(v, bytes):
                        if len(v) > MAX_STRING or image_in(v):
                            problems.append("ledger %s: a blob of %d bytes" % (t, len(v)))
                    elif isinstance(v, str):
                        b = v.encode()
                        what = image_in(b)
                        if what:
                            problems.append("ledger %s: %s" % (t, what))
                        try:
                            long_strings(json.loads(v), "ledger " + t, problems)
                        except ValueError:
                            if len(v) > 4 * MAX_STRING:
                                problems.append("ledger %s: %d characters" % (t, len(v)))
        db.close()
        # Every payload the broker carried.
        msgs = sub.messages()
        self.assertTrue(any("/event/session" in m["topic"] for m in msgs), "sessions were seen")
        for m in msgs:
            what = image_in(m["payload"])
            if what:
                problems.append("MQTT %s: %s" % (m["topic"], what))
            try:
                long_strings(json.loads(m["payload"]), "MQTT " + m["topic"], problems)
            except ValueError:
                problems.append("MQTT %s: not JSON (%d bytes)" % (m["topic"], len(m["payload"])))
        print("privacy: %d file(s) written and scanned, %d ledger value(s), %d MQTT message(s)"
              % (scanned, values, len(msgs)))
        self.assertEqual(problems, [])


if __name__ == "__main__":
    sk.main()
