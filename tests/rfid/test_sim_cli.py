# SPDX-License-Identifier: MIT
"""`storekeeper sim reader` read by Debian's mbpoll as an independent Modbus client, over TCP
on 127.0.0.1 and RTU over a socat pty pair; the population and faults changed through stdin
and the control socket while it runs; the command's usage errors."""
import os
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import rfidsim  # noqa: E402
from rfidsim import sk  # noqa: E402

EPC = "3074257BF7194E4000001A85"  # GS1 TDS example: GTIN 80614141123458, serial 6789


def epc_registers(hex_epc):
    return [int(hex_epc[i:i + 4], 16) for i in range(0, len(hex_epc), 4)]


class SimReaderTcp(unittest.TestCase):
    def setUp(self):
        self.sim = rfidsim.SimReader("tcp:127.0.0.1:0", units="1-2")
        self.addCleanup(self.sim.stop)

    def poll(self, unit, start, count, table="4:hex"):
        return rfidsim.mbpoll("-m", "tcp", "-p", str(self.sim.port), "-a", str(unit), "-r",
                              str(start), "-c", str(count), "-t", table, "127.0.0.1")

    def test_mbpoll_reads_the_generic_epc_map(self):
        self.assertEqual(self.sim.cmd("tag add 1 2 %s -65" % EPC), "ok")
        self.sim.wait_rounds()  # the next RF round reads it
        # reading the status block takes the snapshot that the tag table then holds
        rc, regs, out = self.poll(1, 0, 8)
        self.assertEqual(rc, 0, out)
        self.assertEqual(regs[0], 0x534B)  # magic "SK"
        self.assertEqual(regs[1], 1)       # map version
        self.assertEqual(regs[3], 1)       # one tag in the table
        self.assertEqual(regs[6], 64)
        self.assertEqual(regs[7], 20)
        changes = regs[2]
        rc, regs, out = self.poll(1, 0x100, 10)
        self.assertEqual(rc, 0, out)
        self.assertEqual(regs[0x100], 2)                 # antenna
        self.assertEqual(regs[0x101], (-650) & 0xFFFF)   # -65.0 dBm in 0.1 dBm
        self.assertGreaterEqual(regs[0x102], 1)          # reads
        self.assertEqual(regs[0x103], 6 << 11)           # PC: 6 words
        self.assertEqual([regs[0x104 + i] for i in range(6)], epc_registers(EPC))
        # unchanged set: the change counter stays; a removal moves it and empties the table
        rc, regs, _ = self.poll(1, 0, 4)
        self.assertEqual(regs[2], changes)
        self.assertEqual(self.sim.cmd("tag del 1 * %s" % EPC), "ok")
        self.sim.wait_rounds()
        rc, regs, _ = self.poll(1, 0, 4)
        self.assertEqual(regs[3], 0)
        self.assertEqual(regs[2], (changes + 1) & 0xFFFF)
        # the map is read-only: a write is refused with "illegal data address"
        r = subprocess.run(["mbpoll", "-m", "tcp", "-p", str(self.sim.port), "-a", "1", "-0",
                            "-r", "2", "-1", "127.0.0.1", "5"], capture_output=True, text=True,
                           timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("illegal data address", (r.stdout + r.stderr).lower())
        # unit 2 is served by the same server, with its own population
        rc, regs, _ = self.poll(2, 0, 4)
        self.assertEqual((rc, regs[0], regs[3]), (0, 0x534B, 0))

    def test_faults_seen_by_an_independent_client(self):
        self.assertEqual(self.sim.cmd("fault 1 exception 6"), "ok")
        rc, _, out = self.poll(1, 0, 8)
        self.assertNotEqual(rc, 0)
        self.assertIn("busy", out.lower())
        self.assertEqual(self.sim.cmd("fault 1 none"), "ok")
        self.assertEqual(self.sim.cmd("fault 1 silent"), "ok")
        rc, _, out = rfidsim.mbpoll("-m", "tcp", "-p", str(self.sim.port), "-a", "1", "-r",
                                    "0", "-c", "2", "-o", "0.3", "127.0.0.1")
        self.assertNotEqual(rc, 0)
        self.assertIn("timed out", out)
        self.assertEqual(self.sim.cmd("fault * none"), "ok")
        rc, regs, _ = self.poll(1, 0, 2)
        self.assertEqual((rc, regs[0]), (0, 0x534B))
        # a unit the server does not have: the gateway exception
        rc, _, out = self.poll(9, 0, 2)
        self.assertNotEqual(rc, 0)
        # stats count what was served
        self.assertRegex(self.sim.cmd("stats"), r"^ok requests \d+ replies \d+ exceptions [1-9]")

    def test_commands_validate_their_input(self):
        bad = ["", "frobnicate", "tag add", "tag add 1 1 XYZ", "tag add 1 1 ABC",
               "tag add 300 1 %s" % EPC, "tag add 1 0 %s" % EPC, "tag add 7 1 %s" % EPC,
               "tag del 1 1 %s" % EPC, "fault 1 explode", "fault 1 delay", "fault 1 corrupt 101",
               "fault 1 malformed weird", "poke 1 holding 70000 1", "poke 1 nowhere 0 1",
               "tags 9", "tag add 1 1 %s -500" % EPC, "x" * 600]
        for c in bad:
            reply = self.sim.cmd(c)
            self.assertTrue(reply.startswith("error: "), (c, reply))
        self.assertEqual(self.sim.cmd("tag add 1 1 %s" % EPC), "ok")
        self.assertEqual(self.sim.cmd("tags 1"), "ok 1")
        self.assertTrue(self.sim.cmd("help").startswith("ok "))

    def test_control_socket(self):
        path = os.path.join(sk.TempDir().path, "ctl.sock")
        sim = rfidsim.SimReader("tcp:127.0.0.1:0", extra=["--control", path])
        self.addCleanup(sim.stop)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            f = s.makefile("rw")
            f.write("tag add 1 1 %s\ntags 1\nfault 1 readprob 150\n" % EPC)
            f.flush()
            self.assertEqual([f.readline().strip() for _ in range(3)],
                             ["ok", "ok 1", "error: value out of range"])
        rc = sim.stop()
        self.assertEqual(rc, 0)
        self.assertFalse(os.path.exists(path))


class SimReaderRtu(unittest.TestCase):
    def test_mbpoll_over_a_pty_pair(self):
        tmp = sk.TempDir()
        self.addCleanup(tmp.cleanup)
        pty = rfidsim.PtyPair(tmp.path)
        self.addCleanup(pty.stop)
        sim = rfidsim.SimReader("rtu:" + pty.a, units="3,5", tags=2)
        self.addCleanup(sim.stop)
        sim.wait_rounds()  # a first RF round
        args = ["-m", "rtu", "-b", "115200", "-P", "even", "-t", "4:hex"]
        rc, regs, out = rfidsim.mbpoll(*args, "-a", "5", "-r", "0", "-c", "8", pty.b)
        self.assertEqual(rc, 0, out)
        self.assertEqual((regs[0], regs[3]), (0x534B, 2))
        rc, regs, out = rfidsim.mbpoll(*args, "-a", "3", "-r", "0", "-c", "4", pty.b)
        self.assertEqual((rc, regs[3]), (0, 2), out)  # status read: the table is taken now
        rc, regs, out = rfidsim.mbpoll(*args, "-a", "3", "-r", "0x100", "-c", "20", pty.b)
        self.assertEqual(rc, 0, out)
        self.assertEqual(regs[0x103], 6 << 11)
        self.assertEqual(regs[0x104], 0x3034)  # SGTIN-96, filter 1, 7-digit company prefix
        # another unit on the line stays silent, as on RS-485
        rc, _, out = rfidsim.mbpoll(*args, "-a", "4", "-r", "0", "-c", "1", "-o", "0.3", pty.b)
        self.assertNotEqual(rc, 0)
        self.assertIn("timed out", out)
        # a corrupted reply is a CRC error for mbpoll too
        self.assertEqual(sim.cmd("fault 5 corrupt 100"), "ok")
        rc, _, out = rfidsim.mbpoll(*args, "-a", "5", "-r", "0", "-c", "2", "-o", "0.3", pty.b)
        self.assertNotEqual(rc, 0)
        self.assertRegex(out.lower(), "crc|invalid")


class SimUsage(unittest.TestCase):
    def test_usage(self):
        r = sk.run("sim", "reader")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--listen", r.stderr)
        r = sk.run("sim", "reader", "--listen", "udp:1.2.3.4:5")
        self.assertEqual(r.returncode, 2)
        r = sk.run("sim", "reader", "--listen", "tcp:127.0.0.1:0", "--units", "0-3")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--units", r.stderr)
        r = sk.run("sim", "reader", "--listen", "tcp:127.0.0.1:0", "--profile", "no-such")
        self.assertEqual(r.returncode, 2)
        self.assertIn('no profile "no-such"', r.stderr)
        r = sk.run("sim", "reader", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("fault UNIT", r.stdout)
        r = sk.run("sim", "store.scenario")  # scenarios: tests/sim (a missing file: exit 2)
        self.assertEqual(r.returncode, 2)
        self.assertIn("store.scenario: No such file or directory", r.stderr)
        # a port that is taken: exit 1, with the reason
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            r = sk.run("sim", "reader", "--listen", "tcp:127.0.0.1:%d" % s.getsockname()[1],
                       "--duration", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot listen", r.stderr)

    def test_every_shipped_profile_serves(self):
        for name in ["generic-epc", "omron-v780-read-id", "inveo-rfid-ind", "turck-tben-uhf-ch0",
                     "duali-qde-950"]:
            sim = rfidsim.SimReader("tcp:127.0.0.1:0", profile=name, tags=1)
            try:
                self.assertEqual(sim.cmd("tags 1"), "ok 1", name)
            finally:
                self.assertEqual(sim.stop(), 0, name)


if __name__ == "__main__":
    sk.main()
