#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes docs/performance.md from the `BENCH {json}` lines the benchmarks print (scripts/bench.sh
collects them): one table of every figure with its reference from the same run, the ratio,
the goal, and the before column (the same programs on an older tree, and the figures issue 17
stated at its start)."""
import argparse
import datetime
import json
import os
import platform

# As issue 17 stated them at the start of its session (release build, 6 interleaved runs,
# medians), for the rows that measure the same thing.
ISSUE = {
    ("ledger", "batch 1"): "0.94x",
    ("ledger", "batch 10"): "0.50x",
    ("ledger", "batch 100"): "0.21x",
    ("ledger", "batch 100, synchronous=OFF (CPU only)"): "0.07x",
    ("ledger", "instructions per movement (callgrind, batch 100)"): "319k (plain: 23-46k)",
    ("memory", "peak RSS, 16 readers, MQTT, ledger, no camera"): "33.6-34.1 MB",
    ("start-up", "storekeeper version, wall time"): "20-30 ms",
    ("start-up", "storekeeper version, peak RSS"): "23 MB",
    ("rfid", "125-register reads, 32 units over TCP"):
        "against mbpoll with its process start; 0.82x a bare libmodbus loop",
    ("vision", "synthetic, 320x240 processing"):
        "\"14.8x MOG2\" (320x240 against 640x480); 2.5x at equal pixels",
    ("mqtt", "outbox drain, QoS 1, 20000 events"): "0.68-2.12 (sides one after the other)",
}


def fmt(v, unit):
    if v is None:
        return "-"
    if unit in ("instructions",):
        return "%.0fk" % (v / 1000.0)
    if unit == "kB":
        return "%.1f MB" % (v / 1024.0)
    if abs(v) >= 100:
        return "%.0f" % v
    return "%.2f" % v


def spread(t, unit, case=""):
    if not t:
        return "-"
    lo, med, hi = t
    if "(p50, p99, max)" in case:  # three percentiles of one run, not a spread of rounds
        return "p50 %s, p99 %s, max %s" % (fmt(lo, unit), fmt(med, unit), fmt(hi, unit))
    if lo == med == hi:
        return fmt(med, unit)
    return "%s [%s-%s]" % (fmt(med, unit), fmt(lo, unit), fmt(hi, unit))


def ratio(t):
    if not t:
        return "-"
    lo, med, hi = t
    if lo == med == hi:
        return "%.2f" % med
    return "%.2f [%.2f-%.2f]" % (med, lo, hi)


def met(row):
    goal = row.get("goal") or ""
    if not goal:
        return ""
    try:
        if goal.startswith("ratio >= "):
            return "yes" if row["ratio"][1] >= float(goal.split()[-1]) else "no"
        if goal.startswith("<= "):
            limit = float(goal.split()[1])
            return "yes" if row["ours"][1] <= limit else "no"
    except (TypeError, ValueError, IndexError):
        pass
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench-lines", required=True)
    ap.add_argument("--footprint")
    ap.add_argument("--before-rev", default="")
    ap.add_argument("--rev", default="")
    ap.add_argument("--load", help="bench.sh's log: 1, 5 and 15 min load averages per step")
    a = ap.parse_args()
    rows, before = [], {}
    with open(a.bench_lines) as f:
        for line in f:
            if not line.startswith("BENCH "):
                continue
            r = json.loads(line[6:])
            if r.get("build") == "before":
                before[(r["bench"], r["case"])] = r
            else:
                rows.append(r)
    out = []
    w = out.append
    w("# Performance")
    w("")
    w("Written by `scripts/bench.sh%s%s` on %s (storekeeper %s), on this project's "
      "development machine (%s, %d cores, shared with other work: read the spreads). Every "
      "figure is the median of its rounds with [min-max]; the reference is measured in the "
      "same run, its rounds taking turns with ours, at equal work. The ratio is ours over the "
      "reference per round (median [min-max]): for rates higher is better; for times, memory "
      "and instructions (marked *) lower is better."
      % (" --before " + a.before_rev if a.before_rev else "",
         " --footprint" if a.footprint else "",
         datetime.date.today().isoformat(), a.rev, platform.machine(), os.cpu_count()))
    w("")
    if a.load and os.path.exists(a.load):
        with open(a.load) as f:
            loads = [float(ln.split()[0]) for ln in f if ln.strip()]
        if loads:
            loads.sort()
            w("Load of the machine during the run (1-minute load average at the start of each "
              "of its %d steps, %d cores): median %.1f, from %.1f to %.1f. Above the number of "
              "cores, other work was waiting for a CPU too: figures of both sides are slower "
              "and spread wider than on an idle board; the ratios, whose sides take turns, "
              "hold better than the absolute rates." % (len(loads), os.cpu_count(),
                                                       loads[len(loads) // 2], loads[0],
                                                       loads[-1]))
            w("")
    w("\"before (issue)\" is what issue 17 stated at the start of its work; \"before\" is "
      "the same benchmark run now against %s (this tree's benchmark program built against "
      "that tree), where it applies." % ("`" + a.before_rev + "`" if a.before_rev
                                         else "an older tree (not run)"))
    w("")
    w("| benchmark | case | unit | before (issue) | before | after | reference (same run) "
      "| ratio | goal | met |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        key = (r["bench"], r["case"])
        b = before.get(key)
        star = " *" if r.get("lower_is_better") else ""
        ref = spread(r.get("ref"), r["unit"])
        if r.get("ref_name"):
            ref = "%s: %s" % (r["ref_name"], ref)
        bcol = "-"
        if b:
            bcol = spread(b["ours"], b["unit"])
            if b.get("ratio"):
                bcol += " (ratio %.2f)" % b["ratio"][1]
        w("| %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["bench"], r["case"], r["unit"], star, ISSUE.get(key, "-"), bcol,
            spread(r["ours"], r["unit"], r["case"]), ref, ratio(r.get("ratio")), r.get("goal") or "-",
            met(r)))
    if a.footprint and os.path.exists(a.footprint):
        w("")
        w("## Install footprint")
        w("")
        w("What a clean Debian 12 root (debootstrap minbase plus systemd, as Raspberry Pi OS "
          "Lite) installs for the packages, recommendations included (`scripts/footprint.sh`; "
          "issue 17 stated 75 packages, about 253 MB, 206 MB of them graphics, before):")
        w("")
        with open(a.footprint) as f:
            out.extend(line.rstrip("\n") for line in f)
    w("")
    w("How each is measured: `tests/ledger/bench_ledger.c` (movements with their outbox "
      "events against plain inserts of rows of the same sizes, same pragmas; instructions "
      "under `valgrind --tool=callgrind --toggle-collect`), `tests/integration/"
      "bench_footprint.py` (peak RSS of `storekeeper run` with 16 virtual readers, MQTT and "
      "the ledger, with and without one synthetic camera; `storekeeper version` against "
      "`/bin/true`), `tests/rfid/bench_rfid.c` (against a bare libmodbus loop on the same "
      "server), `tests/vision/bench_vision.py` (against the plain OpenCV MOG2 pipeline at "
      "equal pixels), `tests/mqtt/bench_mqtt.py` (against `mosquitto_pub -l`, rounds taking "
      "turns), `scripts/footprint.sh`.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
