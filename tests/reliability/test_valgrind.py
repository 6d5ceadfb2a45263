# SPDX-License-Identifier: MIT
"""The daemon under valgrind (memcheck, --track-fds=yes), the short form in the suite
(scripts/valgrind.sh runs every integration test that starts the binary this way): a store with
virtual readers, the synthetic camera, a broker, the control socket and the status page; tags
arrive and leave, a command is answered, SIGHUP reloads, SIGTERM stops. Then no memory error,
no definite or indirect leak, and no descriptor left open but stdin, stdout and stderr; the
same for --check-config, `ledger info` and `version`."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "mqtt"))
sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "rfid"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtt_helpers as mh  # noqa: E402
import rfidsim  # noqa: E402
import sk  # noqa: E402
import vgcheck  # noqa: E402

STORE = """store_id = "vg"; device_id = "vg-1"; board = "sim";
log = {{ level = "info"; }};
core = {{ status_interval_s = 1; }};
buses = ( {{ name = "bus"; url = "tcp:127.0.0.1:{port}"; poll_interval_ms = 200; }} );
readers = ( {{ name = "r1"; bus = "bus"; unit = 1; }}, {{ name = "r2"; bus = "bus"; unit = 2; }} );
shelves = ( {{ name = "A1"; reader = "r1"; antenna = 1; }}, {{ name = "B1"; reader = "r2"; antenna = 1; }} );
cameras = ( {{ name = "cam"; backend = "synthetic"; device = "{scene}"; fps = 5; }} );
mqtt = {{ host = "127.0.0.1"; port = {mqtt}; }};
ledger = {{ path = "{dir}/ledger.db"; }};
control = {{ socket = "{dir}/control.sock"; }};
http = {{ enabled = true; address = "127.0.0.1"; port = {http}; }};
"""
SCALE = sk.SCALE


LEAKY = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int main(void)
{
    char *p = malloc(64); /* lost: the pointer is overwritten */
    memset(p, 1, 64);
    p = NULL;
    int fd = open("/etc/hostname", O_RDONLY); /* never closed */
    int s = socket(AF_UNIX, SOCK_STREAM, 0); /* never closed */
    return (fd < 0) + (s < 0) + (p != NULL);
}
"""


class Valgrind(unittest.TestCase):
    def test_the_checks_catch_leaks(self):
        """The verdict is not "clean" by default: a program that leaks memory, a file and a
        socket is caught on all three."""
        tmp = sk.TempDir()
        self.addCleanup(tmp.cleanup)
        src = tmp.file("leaky.c", LEAKY)
        exe = os.path.join(tmp.path, "leaky")
        subprocess.run(["cc", "-O0", "-g", "-o", exe, src], check=True)
        vg = vgcheck.wrapper(tmp.path, exe)
        subprocess.run([vg], check=False, timeout=120)
        results = vgcheck.verdicts(tmp.path)
        self.assertEqual(len(results), 1, results)
        problems = " | ".join(results[0][2])
        self.assertIn("definitely lost: 64 bytes", problems)
        self.assertIn("/etc/hostname", problems)
        self.assertIn("socket", problems)
        self.assertIn("2 descriptor(s) open at exit", problems)

    def test_daemon_clean_under_memcheck(self):
        tmp = sk.TempDir()
        self.addCleanup(tmp.cleanup)
        vg = vgcheck.wrapper(tmp.path, os.path.abspath(sk.BIN))
        broker = mh.Broker(tmp.path).start()
        self.addCleanup(broker.stop)
        reader = rfidsim.SimReader("tcp:127.0.0.1:0", units="1-2")
        self.addCleanup(reader.stop)
        for u in (1, 2):
            for i in range(3):
                self.assertEqual(reader.cmd("tag add %d 1 3074257BF7194E40%08X -60" % (u, 10 * u + i)),
                                 "ok")
        cfg = tmp.file("store.cfg", STORE.format(
            port=reader.port, mqtt=broker.port, dir=tmp.path, http=sk.free_port(),
            scene=os.path.join(sk.SRC, "examples", "demo-overhead.scene")))
        sub = mh.Sub(broker, ["storekeeper/v1/vg/vg-1/#"], tmp.path, "cloud")
        self.addCleanup(sub.stop)

        log = open(os.path.join(tmp.path, "daemon.log"), "w")
        proc = subprocess.Popen([vg, "run", "-c", cfg], stdout=log, stderr=subprocess.STDOUT)

        def text():
            with open(os.path.join(tmp.path, "daemon.log"), errors="replace") as f:
                return f.read()
        try:
            self.assertTrue(mh.wait_until(lambda: "connected to 127.0.0.1" in text(),
                                          60 * SCALE), text())
            self.assertTrue(mh.wait_until(lambda: "camera cam: up" in text() and
                                          "(6 tags arrived" in text(), 60 * SCALE), text())
            self.assertEqual(reader.cmd("tag del 1 * 3074257BF7194E400000000A"), "ok")
            mh.publish(broker, "storekeeper/v1/vg/vg-1/cmd/ping", '{"request_id":"vg"}')
            self.assertTrue(sub.wait_for(lambda ms: [m for m in ms if "/reply/ping" in m["topic"]],
                                         30 * SCALE), text())
            self.assertTrue(mh.wait_until(lambda: "1 departed)" in text(), 30 * SCALE), text())
            proc.send_signal(1)  # SIGHUP: reload
            self.assertTrue(mh.wait_until(lambda: "config: reloaded" in text(), 30 * SCALE),
                            text())
            # The reloaded daemon at work before the stop: a command answered after the reload.
            mh.publish(broker, "storekeeper/v1/vg/vg-1/cmd/ping", '{"request_id":"vg-reloaded"}')
            self.assertTrue(sub.wait_for(lambda ms: [m for m in ms if "/reply/ping" in m["topic"]
                                                     and b"vg-reloaded" in m["payload"]],
                                         30 * SCALE), text())
            proc.terminate()
            rc = proc.wait(timeout=120 * SCALE)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
        self.assertEqual(rc, 0, text()[-4000:])
        for args in (["run", "-c", cfg, "--check-config"], ["ledger", "-c", cfg, "info"],
                     ["version"]):
            r = subprocess.run([vg, *args], capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, (args, r.stdout, r.stderr[-3000:]))
        results = vgcheck.verdicts(tmp.path)
        self.assertEqual(len(results), 4, results)
        bad = [(os.path.basename(log), cmd, p) for log, cmd, p in results if p is None or p]
        for log, cmd, p in results:
            print("valgrind: %s: %s" % (cmd[-60:], "clean" if not p else p))
        self.assertEqual(bad, [])


if __name__ == "__main__":
    sk.main()
