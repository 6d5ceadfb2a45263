# SPDX-License-Identifier: MIT
"""The annotated real clips (tests/vision/clips/) through the file camera, the board's pacing
and the default pipeline, at the rates of the board profiles (generic-x86, rpi4) and at 7.5
and 5 fps: line counts, crossings matched to the annotation, tracks per standing person; and
end to end through `storekeeper diag camera` with every board profile in boards/.

The bounds are what the pipeline achieves today on an oblique, crowded plaza (docs/accuracy.md
has the figures), held so that a change that loses people or identities fails: at the board
profiles' rate the counts are exact, every annotated crossing matched and none extra; at 7.5
and 5 fps each direction's count is within 1 of the truth and at least 90 % of the crossings
are matched; at most one extra track per standing group; fewer than 30 tracks started over
the clip (49 before the tracker shared groups out and joined fragments)."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_clips  # noqa: E402

TRACE = os.environ.get("SK_VISION_TRACE", "")


class RealClips(unittest.TestCase):
    def check(self, fps, exact):
        for ann in real_clips.annotations():
            r = real_clips.measure(TRACE, ann, fps)
            print("%s at %g fps: %s" % (ann["clip"], fps, real_clips.markdown([r]).splitlines()[-1]))
            self.assertEqual(r["summary"]["end"], "clip")
            self.assertEqual(r["summary"]["frames"], ann["frames"])
            for ln in r["lines"]:
                crossings = ln["truth_in"] + ln["truth_out"]
                if exact:
                    self.assertEqual(ln["in"], ln["truth_in"], ln)
                    self.assertEqual(ln["out"], ln["truth_out"], ln)
                    self.assertEqual(ln["matched"], crossings, ln)
                    self.assertEqual(ln["extra"], 0, ln)
                else:
                    self.assertLessEqual(abs(ln["in"] - ln["truth_in"]), 1, ln)
                    self.assertLessEqual(abs(ln["out"] - ln["truth_out"]), 1, ln)
                    self.assertGreaterEqual(ln["matched"], 0.9 * crossings, ln)
            for st in r["standing"]:
                self.assertGreaterEqual(st["tracks"], 1, st)  # standing people are seen
                self.assertLessEqual(st["tracks"], st["people"] + 1, st)
            self.assertLess(r["summary"]["tracks_total"], 30, r["summary"])

    def test_board_profiles(self):
        for board, fps in sorted(real_clips.BOARDS.items()):
            with self.subTest(board=board):
                self.check(fps, exact=True)

    def test_every_board_profile_through_diag_camera(self):
        """What an installer sees: `diag camera` with the board's profile and no setting but
        the lines gives the annotated counts, on every profile in boards/ (one run for the
        profiles whose camera and processing settings are the same)."""
        sk_bin = os.environ.get("SK_BIN", "")
        with tempfile.TemporaryDirectory() as work:
            for ann in real_clips.annotations():
                truth_in = sum(c["dir"] == "in" for ln in ann["lines"] for c in ln["crossings"])
                truth_out = sum(c["dir"] == "out" for ln in ann["lines"] for c in ln["crossings"])
                for group in real_clips.board_groups():
                    board = group[0]
                    with self.subTest(clip=ann["clip"], board=board):
                        rep = real_clips.diag_counts(sk_bin, ann, board, work)
                        print("%s on %s (cap %g fps): %d in (truth %d), %d out (truth %d), %d "
                              "tracks, %d frames processed" % (
                                  ann["clip"], "/".join(group), rep["max_fps"], rep["crossings_in"],
                                  truth_in, rep["crossings_out"], truth_out,
                                  rep["tracks_total"], rep["processed"]))
                        self.assertEqual(rep["frames"], ann["frames"])
                        self.assertEqual(rep["crossings_in"], truth_in)
                        self.assertEqual(rep["crossings_out"], truth_out)

    def test_low_frame_rates(self):
        for fps in (7.5, 5):
            with self.subTest(fps=fps):
                self.check(fps, exact=False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
