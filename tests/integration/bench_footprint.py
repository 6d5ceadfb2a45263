# SPDX-License-Identifier: MIT
"""Memory and start-up benchmark: the daemon's peak RSS with 16 shelf readers (virtual, over
Modbus/TCP), MQTT and the ledger but no camera, and the same store with one synthetic 640x480
camera; `storekeeper version`'s wall time and CPU time (user + system, what a shared machine's
load changes least) next to the start of /bin/true (the floor any process pays), the two
taking turns. Rounds: --rounds (3); every figure as min/median/max and
one `BENCH {json}` line (scripts/bench.sh writes docs/performance.md from them).

  SK_BIN=build-bench/storekeeper bench_footprint.py [--rounds N] [--version-runs M]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "rfid"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mqtt"))
os.environ.setdefault("SK_SOURCE_DIR",
                      os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
import mqtt_helpers as mh  # noqa: E402
import rfidsim  # noqa: E402
import test_footprint as tf  # noqa: E402
from rfidsim import sk  # noqa: E402


def spread(v):
    v = sorted(v)
    return [v[0], statistics.median(v), v[-1]]


def peak_rss(tmp, sim, broker, camera):
    """The store run until every reader is up and two status ticks passed; VmHWM in kB."""
    cfg = tf.store(tmp, sim.port, broker.port, camera)
    d = sk.Daemon(["run", "-c", cfg, "--allow-root"], tmp.path)
    try:
        ok = all(d.wait_log("reader r%02d: up" % i, 30) for i in range(tf.READERS))
        ok = ok and (not camera or d.wait_log("camera overhead: up", 30))
        ok = ok and d.wait_log("core: status:", 15, count=2, after=d.mark())
        if not ok:
            sys.exit("bench_footprint: the store did not come up:\n" + d.text()[-2000:])
        return int(tf.status_of(d.proc.pid)["VmHWM"].split()[0])
    finally:
        d.stop(timeout=20)


def run_ms(args):
    """(wall, CPU) milliseconds of one run: CPU is the child's user + system time (wait4)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = (time.perf_counter() - t0) * 1000.0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit("bench_footprint: %s exited with %d" % (" ".join(args), p.returncode))
    return wall, (ru.ru_utime + ru.ru_stime) * 1000.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--version-runs", type=int, default=30)
    a = ap.parse_args()
    tmp = sk.TempDir()
    sim = rfidsim.SimReader("tcp:127.0.0.1:0", units="1-%d" % tf.READERS, tags=64)
    broker = mh.Broker(tmp.path).start()
    try:
        nocam, cam = [], []
        for _ in range(a.rounds):
            nocam.append(peak_rss(tmp, sim, broker, False))
            cam.append(peak_rss(tmp, sim, broker, True))
        ours, floor, ours_cpu, floor_cpu = [], [], [], []
        for _ in range(a.version_runs):
            w, c = run_ms([sk.BIN, "version"])
            ours.append(w)
            ours_cpu.append(c)
            w, c = run_ms(["/bin/true"])
            floor.append(w)
            floor_cpu.append(c)
        out = subprocess.run(["/usr/bin/time", "-f", "%M", sk.BIN, "version"],
                             capture_output=True, text=True)
        version_rss = int(out.stderr.strip().splitlines()[-1])
    finally:
        sim.stop()
        broker.stop()
        tmp.cleanup()
    rows = [
        ("peak RSS, %d readers, MQTT, ledger, no camera" % tf.READERS, "kB", spread(nocam),
         "<= 16384 kB"),
        ("peak RSS, the same with one synthetic 640x480 camera", "kB", spread(cam),
         "<= 49152 kB"),
    ]
    for case, unit, v, goal in rows:
        print("%-55s %8d [%d-%d] %s (goal %s)" % (case, v[1], v[0], v[2], unit, goal))
        print("BENCH " + json.dumps({"bench": "memory", "case": case, "unit": unit, "ours": v,
                                     "ref": None, "ratio": None, "ref_name": "", "goal": goal,
                                     "rounds": a.rounds, "lower_is_better": True}))
    for what, mine, ref in (("wall time", ours, floor), ("CPU time (user + system)", ours_cpu,
                                                         floor_cpu)):
        o, f = spread(mine), spread(ref)
        print("storekeeper version, %s: %.2f [%.2f-%.2f] ms; /bin/true %.2f [%.2f-%.2f] ms "
              "(goal <= 5 ms)" % (what, o[1], o[0], o[2], f[1], f[0], f[2]))
        # a round's ratio is ours over the /bin/true run right after it
        rr = spread([x / max(y, 0.001) for x, y in zip(mine, ref)])
        print("BENCH " + json.dumps({"bench": "start-up", "case": "storekeeper version, " + what,
                                     "unit": "ms", "ours": o, "ref": f, "ratio": rr,
                                     "ref_name": "/bin/true (process start)", "goal": "<= 5 ms",
                                     "rounds": a.version_runs, "lower_is_better": True}))
    print("storekeeper version: peak RSS %d kB" % version_rss)
    print("BENCH " + json.dumps({"bench": "start-up", "case": "storekeeper version, peak RSS",
                                 "unit": "kB", "ours": [version_rss] * 3, "ref": None,
                                 "ratio": None, "ref_name": "", "goal": "",
                                 "rounds": 1, "lower_is_better": True}))


if __name__ == "__main__":
    main()
