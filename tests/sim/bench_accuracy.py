#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The accuracy benchmark: runs every scenario of examples/scenarios and of its hard/ folder
through the simulated store (real runtime, real broker, in real time, several at once), prints
the tables (the hard scenarios by class, with what review would see), and writes them to
docs/accuracy.md (or --out FILE). With --runs N every scenario runs N times and
the table sums them: timing differs from run to run (frames, polls, thread scheduling), so
several runs show how steady the figures are.

    tests/sim/bench_accuracy.py [--runs N] [--parallel P] [--out FILE] [--bin PATH]
                                [--vision-only]
    scripts/accuracy.sh [--runs N]                     (builds first, then this)

--vision-only rewrites the vision section of the file (from "## Vision on real footage" to
the end) and leaves the store's figures as they are: for a change to the vision alone.
"""
import argparse
import concurrent.futures
import datetime
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run(binary, path, work, i):
    name = os.path.basename(path)[:-4]
    keep = os.path.join(work, "%s-%d" % (name, i))
    r = subprocess.run([binary, "sim", path, "--json", "--keep", keep], capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("%s failed (exit %d):\n%s" % (name, r.returncode, r.stderr[-2000:]))
    return name, json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--parallel", type=int, default=7)
    ap.add_argument("--out", default=os.path.join(SRC, "docs", "accuracy.md"))
    ap.add_argument("--bin", default=os.path.join(SRC, "build", "storekeeper"))
    ap.add_argument("--vision-only", action="store_true")
    a = ap.parse_args()
    if a.vision_only:
        with open(a.out) as f:
            text = f.read()
        head = text.split("## Vision on real footage")[0]
        with open(a.out, "w") as f:
            f.write(head + vision(a.bin))
        print("wrote the vision section of", a.out)
        return 0
    files = sorted(glob.glob(os.path.join(SRC, "examples", "scenarios", "*.scn")))
    hard_files = sorted(glob.glob(os.path.join(SRC, "examples", "scenarios", "hard", "*.scn")))
    hard_names = {os.path.basename(f)[:-4] for f in hard_files}
    files += hard_files
    keys = ["visits", "exact_carts", "truth_lines", "charged_lines", "true_positives",
            "phantom_charges", "missed_items", "count_errors", "stock_errors",
            "events_missing", "checkouts", "reviewed", "wrong_unreviewed", "misattributed",
            "taker_flagged", "taker_named", "contested_lines", "exact_tags", "tag_swaps"]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="sk-accuracy-") as work:
        jobs = [(f, i) for i in range(a.runs) for f in files]
        with concurrent.futures.ThreadPoolExecutor(a.parallel) as pool:
            for name, score in pool.map(lambda j: run(a.bin, j[0], work, j[1]), jobs):
                row = rows.setdefault(name, dict.fromkeys(keys, 0))
                row["scenario"] = score["scenario"]
                for k in keys:
                    row[k] += score[k]
    total = dict.fromkeys(keys, 0)
    lines = []
    head = ("| scenario | visits | exact carts | lines taken | charged | precision | recall | "
            "phantom charges | missed items | count errors | stock errors | reviewed |")
    lines.append(head)
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in sorted(rows):
        if name in hard_names:
            continue
        r = rows[name]
        for k in keys:
            total[k] += r[k]
        lines.append(fmt("`%s` %s" % (name, r["scenario"]), r))
    lines.append(fmt("**all**", total, bold=True))
    table = "\n".join(lines)
    print(table)
    hard_table, hard_total = hard_tables(rows, hard_names, keys)
    print(hard_table)
    exact = total["exact_carts"] / total["visits"] if total["visits"] else 1.0
    print("exact carts %.2f %%, phantom charges %d, missed items %d, events lost %d" % (
        100 * exact, total["phantom_charges"], total["missed_items"], total["events_missing"]))
    doc = """# Accuracy of the simulated store and of the vision

Written by `tests/sim/bench_accuracy.py` (`scripts/accuracy.sh`) on %s: every scenario of
`examples/scenarios/` run %d time(s) through the simulated store ([simulator.md](simulator.md)):
virtual Modbus readers, the synthetic overhead camera through the vision pipeline, the real
runtime with fusion and the ledger, a mosquitto broker; the checkouts received over MQTT
scored against each scenario's truth. %s, %s.

A cart is exact when its checkout charges exactly the products (and counts) the visit took
out: the store charges products, so two interchangeable tags of one product whose hands the
store could not tell apart still make two exact carts (counted apart as *tag swaps*). A
phantom charge is a unit charged beyond what the visit took of that product; a missed item
one taken and not charged; count errors compare quantities per product; stock errors compare
the ledger's final stock with the truth; precision and recall are over cart lines.

%s

Over all: **%.1f %% exact carts, %d phantom charges, %d missed items**; %d events the ledger
wrote did not reach the subscriber; **%d of %d checkouts sent to review** (before reach
evidence: 5 of 42 per run, 12-busy-shelf 3 of 4 and 13-crowd 2 of 8), %d wrong and unreviewed.

## Hard scenarios, by class

`examples/scenarios/hard/` holds scenarios written from how real stores go wrong (issue 14):
class 1, two or three shoppers at one shelf when a tag leaves (shoulder to shoulder,
closer than people walk, three abreast, a browser stepping up beside the taker, takes a
second apart, a put-back beside a take, two pairs at two shelves, one reaching across the
other); class 2, a reader down or
slower than the bus timeout while an item is taken (silent, slow, flaky, exception replies,
corrupted frames, the taker leaving before it answers again, two takers across one outage);
class 3, a shopper the camera hardly sees (a child beside a parent, a slight shopper in grey
beside a visible one); and store moments (an item handed over, out of view at the picture's
edge, out through the entry, a stocker on camera, a put-back at another shelf beside a take,
a shopper who leaves and comes back, two companions walking together, two friends paying
with one account). What
review would see ([simulator.md](simulator.md#scores)): *reviewed*, checkouts sent to review;
*wrong unreviewed*, phantom charges in checkouts not sent to review and items one visit took
and another was charged for whose taker's checkout went out without review (must be 0);
*misattributed*, items one visit took and another was charged for; *taker flagged*, of those,
the ones whose taker's checkout went to review listing them (or whose charged line is in
unseen-taker doubt when the taker was never followed); *contested*, charged lines marked
contested; *tag swaps*, right products charged with another visit's tag of that product
(interchangeable tags, [fusion.md](fusion.md#interchangeable-tags)).

%s

A neighbour is ruled out when vision saw the arm out of its reach (a *sole* reach,
[fusion.md](fusion.md#doubt-and-the-review-rule)); before that evidence the first sixteen
of these scenarios sent 56 of 72 checkouts to review over two runs (c1 26 of 30, c2 18 of
20, c3 6 of 6, store moments 6 of 16) with 62 of 74 carts exact.

Before the changes of issue 14's second round (two runs, the twenty-two scenarios then):
class 1 38 of 38 carts exact, 4 of 38 checkouts to review; class 2 24 of 28, 4 of 28; class
3 0 of 8, 6 of 6; store moments 32 of 32, 0 of 32. What changed: two tags of one product
and price gone while as many shoppers each reached once are settled by product, not
contested ([fusion.md](fusion.md#interchangeable-tags): two takers across one outage, takes
half a second apart); a slight shopper's two-pixel arm is read across the band in the raw
foreground; an arm's direction across the band is traced back to the shoulders it comes
from (reaching across a neighbour); the measured person size is used after four samples,
so a child walking in beside an adult is followed by the time it stands at a shelf; and a
party pays with one account (`session_bind` with `persons`).

Where they fall short: the child is followed only from the shelf on, not from the door, so
its checkout goes to review as `no_entry` (class 3, 2 of 4). Which of two interchangeable
tags left in whose hand is not known: the money is right, the tags are counted as swapped
(*tag swaps*, `c2-outage-two-takers`). A child who never stands apart from the adult (one
blob throughout) stays unseen: its take goes to the adult in review as an unseen taker.

The CI suite (`tests/sim/test_sim_suite.py`) runs the same scenarios and asserts, over the
everyday ones, at least 99 %% exact carts, no phantom charge and no more checkouts to review
than before; over all of them, nothing wrong and unreviewed.

## The core's cost

`build/tests/fusion/bench_fusion` feeds a crowded store's observations (a shopper a second,
about 35 inside, 4 shelves each, one or two items at each, a put-back in five) through the
core with the ledger in its production pragmas (WAL, synchronous FULL, on disk), 64
observations per transaction, next to plain SQLite inserts of the same observations with
the same pragmas and transactions, in the same program:

```
%s
```

%s""" % (datetime.date.today().isoformat(), a.runs, platform.machine(),
       "%d CPUs" % os.cpu_count(), table, 100 * exact, total["phantom_charges"],
       total["missed_items"], total["events_missing"], total["reviewed"], total["checkouts"],
       total["wrong_unreviewed"], hard_table, bench(a.bin), vision(a.bin))
    with open(a.out, "w") as f:
        f.write(doc)
    print("wrote", a.out)
    return 0 if (exact >= 0.99 and total["phantom_charges"] == 0 and
                 total["wrong_unreviewed"] + hard_total["wrong_unreviewed"] == 0) else 1


CLASSES = [("c1-", "1: two or three at one shelf"), ("c2-", "2: a reader down or slow"),
           ("c3-", "3: a shopper the camera hardly sees"), ("m-", "store moments")]


def hard_tables(rows, names, keys):
    """The hard scenarios' table: one row each, one per class, one over all."""
    head = ("| scenario | visits | exact carts | reviewed | wrong unreviewed | misattributed | "
            "taker flagged | contested | phantom charges | missed items | tag swaps |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|---|"]
    total = dict.fromkeys(keys, 0)
    for prefix, title in CLASSES:
        cls = dict.fromkeys(keys, 0)
        for name in sorted(n for n in names if n.startswith(prefix) and n in rows):
            r = rows[name]
            for k in keys:
                cls[k] += r[k]
                total[k] += r[k]
            lines.append(hard_row("`%s` %s" % (name, r["scenario"]), r))
        lines.append(hard_row("**class %s**" % title, cls, bold=True))
    lines.append(hard_row("**all hard**", total, bold=True))
    return "\n".join(lines), total


def hard_row(title, r, bold=False):
    pct = lambda a, b: "%d (%.0f %%)" % (a, 100 * a / b if b else 100)  # noqa: E731
    cells = [title, r["visits"], pct(r["exact_carts"], r["visits"]),
             "%d of %d (%.0f %%)" % (r["reviewed"], r["checkouts"],
                                     100 * r["reviewed"] / r["checkouts"] if r["checkouts"]
                                     else 0),
             r["wrong_unreviewed"], r["misattributed"], r["taker_flagged"],
             r["contested_lines"], r["phantom_charges"], r["missed_items"], r["tag_swaps"]]
    if bold:
        cells = ["**%s**" % c if i else c for i, c in enumerate(cells)]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def vision(binary):
    """The vision section: the annotated real clips and the synthetic scenes' figures."""
    build = os.path.dirname(binary)
    trace = os.path.join(build, "tests", "vision", "vision_trace")
    scenes = os.path.join(build, "tests", "vision", "test_scenes")
    if not (os.access(trace, os.X_OK) and os.access(scenes, os.X_OK)):
        return "## Vision\n\n(vision_trace or test_scenes not built: cmake --build --preset dev)\n"
    env = dict(os.environ, SK_SOURCE_DIR=SRC, SK_BUILD_DIR=build, SK_BIN=binary)
    # the file camera is a module (the camera package): the build's, as ctest gives it
    env.setdefault("STOREKEEPER_MODULEDIR", os.path.join(build, "lib", "storekeeper"))
    real = subprocess.run([sys.executable, os.path.join(SRC, "tests", "vision", "real_clips.py"),
                           "--trace", trace, "--markdown"], capture_output=True, text=True,
                          env=env, timeout=1800)
    syn = subprocess.run([scenes], capture_output=True, text=True, timeout=600)
    syn_lines = "\n".join(line for line in syn.stdout.splitlines()
                          if line and not line.startswith("["))
    return VISION_DOC % (real.stdout.strip() if real.returncode == 0
                         else "real_clips failed:\n" + real.stderr, syn_lines)


VISION_DOC = """## Vision on real footage

The one real footage of people found in Debian's archive is `vtest.avi` of `opencv-doc`
(PETS 2009 S2L1: a plaza seen obliquely from a first-floor window, 768 x 576, 10 fps, 795
frames; walkers alone and in groups, crossing each other, two groups and a man standing).
The team annotated it (`tests/vision/clips/vtest.json`, how: `tests/vision/clips/README.md`):
27 crossings of a line across the walkway (12 in, 15 out), by frame and direction, people in
view at four frames, three standing groups; three crossings (two people passing the line in
one blob) were found missing and added after checking the frames at full size (frames 341,
710, 754). `tests/vision/real_clips.py` streams it through the file
camera, the board's pacing rule and the default pipeline (`vision_trace`) at the caps of the
generic-x86 and rpi4 profiles (both 15 fps: every frame of this 10 fps clip) and at 7.5 and
5 fps, with the documented defaults (no setting tuned for the clip). `test_real_clips` also
runs it through `storekeeper diag camera` with every board profile of `boards/` and nothing
set but the line, and holds the exact counts there (12 in, 15 out on all five):

%s

Matched: an annotated crossing counted by the pipeline in the same direction within 1.5 s;
extra: counted crossings that match none. Tracks crossing both ways: one track counted in
both directions: either one person walking back (track 1, checked at frames 20 and 90: the
man who walks in to the group by the sign, steps out to the left and comes back) or an
identity carried from one person to another in a group passing the line (the others are not
checked one by one). Standing groups: distinct tracks
on the group's place while it stands (people in brackets): no more than one extra track per
standing person. People seen - truth: confirmed tracks minus people in view at the four
annotated frames. ms/frame: the debug build, on a shared machine (the cost is measured by
`scripts/bench-vision.sh`, [vision.md](vision.md#performance)).

The synthetic scenes (`tests/vision/test_scenes`, exact truth; the hard scene has striped
clothing, arms, perspective, shadows, drift, a dimmed lamp and two shoppers standing 15 and
25 s; the entrance has the lights switched up and down at once, two shoppers side by side
and one standing 90 s; the door scene a leaf swinging open beside the shoppers, and two
leaves swinging across counting lines (each line's counts: the leaves must add nothing); the
pair scenes two shoppers who come into view touching; the table six shoppers standing side
by side in a 16:9 picture, the number of distinct tracks seen on each over their visit):

```
%s
```
"""


def bench(binary):
    """The throughput benchmark's own report, or why there is none."""
    path = os.path.join(os.path.dirname(binary), "tests", "fusion", "bench_fusion")
    if not os.access(path, os.X_OK):
        return "(bench_fusion was not built: cmake --build --preset dev)"
    r = subprocess.run([path, "--dir", os.path.dirname(binary)], capture_output=True, text=True,
                       timeout=600)
    print(r.stdout, end="")
    return r.stdout.strip() if r.returncode == 0 else "bench_fusion failed:\n" + r.stderr


def fmt(title, r, bold=False):
    prec = r["true_positives"] / r["charged_lines"] if r["charged_lines"] else 1.0
    rec = r["true_positives"] / r["truth_lines"] if r["truth_lines"] else 1.0
    cells = [title, r["visits"], "%d (%.0f %%)" % (r["exact_carts"],
                                                   100 * r["exact_carts"] / r["visits"]
                                                   if r["visits"] else 100),
             r["truth_lines"], r["charged_lines"], "%.3f" % prec, "%.3f" % rec,
             r["phantom_charges"], r["missed_items"], r["count_errors"], r["stock_errors"],
             "%d of %d" % (r["reviewed"], r["checkouts"])]
    if bold:
        cells = ["**%s**" % c if i else c for i, c in enumerate(cells)]
    return "| " + " | ".join(str(c) for c in cells) + " |"


if __name__ == "__main__":
    sys.exit(main())
