# SPDX-License-Identifier: MIT
"""Measures the vision pipeline on the annotated real clips (tests/vision/clips/*.json).

Each clip is streamed by vision_trace (the file camera, the board's pacing rule, the default
pipeline) and compared with its annotation: line counts in and out, crossings matched to the
annotated ones (same direction, within 1.5 s: a person stepping out of a group counts when
they part from it), tracks per standing person, the error in people seen at the annotated
frames, and all tracks started.

  real_clips.py --trace build/tests/vision/vision_trace [--fps 15,10,7.5,5] [--markdown]

Used by test_real_clips (the assertions) and for docs/accuracy.md (--markdown).
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CLIPS = os.path.join(HERE, "clips")
BOARDS_DIR = os.path.join(HERE, "..", "..", "boards")


def board_vision(name):
    """What of a board profile (boards/NAME.cfg) the vision depends on: the camera's fps,
    processing.vision_width, _height and vision_max_fps."""
    want = ("fps", "vision_width", "vision_height", "vision_max_fps")
    got = {}
    with open(os.path.join(BOARDS_DIR, name + ".cfg")) as f:
        for text in f:
            m = re.match(r"\s*(\w+)\s*=\s*([0-9.]+)\s*;", text)
            if m and m.group(1) in want:
                got[m.group(1)] = float(m.group(2))
    if len(got) != len(want):
        raise RuntimeError("boards/%s.cfg: expected %s" % (name, ", ".join(want)))
    return tuple(got[k] for k in want)


def board_rate(name):
    """The rate a board profile's vision processes, so the measurement follows the profile."""
    return board_vision(name)[3]


# The profiles the issue names, measured through vision_trace at their caps; every profile in
# boards/ also runs end to end through `storekeeper diag camera` (diag_counts).
BOARDS = {name: board_rate(name) for name in ("generic-x86", "rpi4")}


def board_groups():
    """Every profile in boards/, grouped by what the vision depends on: one run per group
    stands for all of its boards (the rest of a profile is serial ports and limits)."""
    groups = {}
    for n in sorted(os.listdir(BOARDS_DIR)):
        if n.endswith(".cfg"):
            groups.setdefault(board_vision(n[:-4]), []).append(n[:-4])
    return sorted(groups.values())


STORE = """
store_id = "clip"; device_id = "edge-clip"; board = "%s";
mqtt = { enabled = false; };
ledger = { path = "%s"; };
cameras = ( { name = "clip"; backend = "file"; device = "%s"; } );
lines = ( %s );
"""


def diag_counts(sk_bin, ann, board, workdir):
    """The clip through `storekeeper diag camera` with the board profile and every default:
    the daemon's own capture, pacing and pipeline. Returns its JSON report."""
    lines = ", ".join(
        '{ name = "%s"; camera = "clip"; role = "count"; points = [ %s ]; inside = "%s"; }'
        % (ln["name"], ", ".join("%.1f" % v for v in ln["points"]), ln["inside"])
        for ln in ann["lines"])
    path = os.path.join(workdir, "store-%s.cfg" % board)
    with open(path, "w") as f:
        f.write(STORE % (board, os.path.join(workdir, "ledger-%s.db" % board),
                         clip_path(ann), lines))
    r = subprocess.run([sk_bin, "diag", "camera", "-c", path, "clip", "--frames",
                        str(ann["frames"] + 100), "--no-pace", "--json"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("diag camera on %s: %s%s" % (board, r.stdout, r.stderr))
    return json.loads(r.stdout)


def annotations():
    for name in sorted(os.listdir(CLIPS)):
        if name.endswith(".json"):
            with open(os.path.join(CLIPS, name)) as f:
                yield json.load(f)


def clip_path(ann):
    """The clip from its Debian package (fetched into the build tree once)."""
    sys.path.insert(0, HERE)
    import test_clip  # noqa: E402  (fetch_clip knows opencv-doc)
    if ann["source"]["package"] != "opencv-doc":
        raise RuntimeError("no fetcher for package %s" % ann["source"]["package"])
    return test_clip.fetch_clip()


def trace(bin_path, path, ann, max_fps):
    args = [bin_path, "--clip", path, "--max-fps", str(max_fps), "--tracks",
            "--box", "%dx%d" % tuple(ann["processing"])]
    for line in ann["lines"]:
        p = line["points"]
        args += ["--line", "%g,%g,%g,%g,%d" % (p[0], p[1], p[2], p[3],
                                                0 if line["inside"] == "left" else 1)]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=600).stdout
    crosses, frames, summary = [], {}, None
    for text in out.splitlines():
        o = json.loads(text)
        if "cross" in o:
            crosses.append(o)
        elif "tracks" in o:
            frames[o["frame"]] = o["tracks"]
        elif o.get("summary"):
            summary = o
    return crosses, frames, summary


def match(truth, seen, tolerance):
    """Greedy one-to-one matching by frame, same direction: (matched, missed, extra)."""
    used, matched = set(), 0
    for t in truth:
        best = None
        for i, s in enumerate(seen):
            if i in used or s["dir"] != t["dir"]:
                continue
            d = abs(s["frame"] - t["frame"])
            if d <= tolerance and (best is None or d < best[0]):
                best = (d, i)
        if best:
            used.add(best[1])
            matched += 1
    return matched, len(truth) - matched, len(seen) - matched


def measure(bin_path, ann, max_fps):
    crosses, frames, summary = trace(bin_path, clip_path(ann), ann, max_fps)
    res = {"clip": ann["clip"], "fps": max_fps, "lines": [], "summary": summary}
    for i, line in enumerate(ann["lines"]):
        seen = [c for c in crosses if c["cross"] == "line%d" % i]
        truth = line["crossings"]
        m, missed, extra = match(truth, seen, int(1.5 * ann["fps"]))
        res["lines"].append({
            "name": line["name"],
            "in": sum(c["dir"] == "in" for c in seen),
            "out": sum(c["dir"] == "out" for c in seen),
            "truth_in": sum(c["dir"] == "in" for c in truth),
            "truth_out": sum(c["dir"] == "out" for c in truth),
            "matched": m, "missed": missed, "extra": extra,
            # a track that crossed the line both ways: one identity given to two people
            "both_ways": len({c["track"] for c in seen if c["dir"] == "in"} &
                             {c["track"] for c in seen if c["dir"] == "out"}),
        })
    standing = []
    for st in ann["standing"]:
        x0, y0, x1, y1 = st["box"]
        ids = set()
        for f in range(st["frames"][0], st["frames"][1] + 1):
            for tr in frames.get(f, []):
                if x0 <= tr[1] <= x1 and y0 <= tr[2] <= y1:
                    ids.add(tr[0])
        standing.append({"name": st["name"], "people": st["people"], "tracks": len(ids)})
    res["standing"] = standing
    errs = []
    for p in ann["people"]:
        near = [f for f in frames if abs(f - p["frame"]) <= 2]
        if near:
            f = min(near, key=lambda f: abs(f - p["frame"]))
            errs.append(len(frames[f]) - p["count"])
    res["people_error"] = errs
    return res


def markdown(results):
    rows = ["| clip, line | fps | in (truth) | out (truth) | matched / missed / extra | "
            "tracks crossing both ways | tracks per standing group (people) | people seen - "
            "truth | tracks started | ms/frame |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for ln in r["lines"]:
            rows.append("| `%s` %s | %g | %d (%d) | %d (%d) | %d / %d / %d | %d | %s | %s | %d | "
                        "%.2f |" % (
                            r["clip"], ln["name"], r["fps"], ln["in"], ln["truth_in"], ln["out"],
                            ln["truth_out"], ln["matched"], ln["missed"], ln["extra"],
                            ln["both_ways"],
                            ", ".join("%d (%d)" % (s["tracks"], s["people"])
                                      for s in r["standing"]),
                            ", ".join("%+d" % e for e in r["people_error"]),
                            r["summary"]["tracks_total"], r["summary"]["ms_per_frame"]))
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trace", required=True)
    ap.add_argument("--fps", default="15,10,7.5,5")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    results = [measure(a.trace, ann, float(f)) for ann in annotations()
               for f in a.fps.split(",")]
    if a.markdown:
        print(markdown(results))
    else:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
