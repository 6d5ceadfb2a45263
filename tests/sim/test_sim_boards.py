# SPDX-License-Identifier: MIT
"""A store of two boards in the simulator (examples/scenarios/16-satellite-camera.scn: a
satellite polls every shelf and runs the camera, the hub decides), `storekeeper run` twice as
two processes on one broker, the hub SIGKILLed once mid-scenario (`sim --crash 1`), twice with
two kill times: carts exact as on one board, no wrong charge that escaped review, every event
once, the ledgers whole. The plain runs of the two-board scenarios are in the sim suite."""
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "integration"))
import sk  # noqa: E402

SCENARIO = os.path.join(sk.SRC, "examples", "scenarios", "16-satellite-camera.scn")
SEEDS = [int(x) for x in (os.environ.get("SK_BOARDS_SEEDS") or "3 8").split()]


def run(seed, work):
    keep = os.path.join(work, "seed-%d" % seed)
    r = subprocess.run([sk.BIN, "sim", SCENARIO, "--crash", "1", "--crash-seed", str(seed),
                        "--json", "--keep", keep], capture_output=True, text=True,
                       timeout=300 * sk.SCALE)
    return seed, r


class TwoBoards(unittest.TestCase):
    def test_hub_killed(self):
        with tempfile.TemporaryDirectory(prefix="sk-boards-") as work:
            with concurrent.futures.ThreadPoolExecutor(len(SEEDS)) as pool:
                results = list(pool.map(lambda s: run(s, work), SEEDS))
            for seed, r in results:
                self.assertIn(r.returncode, (0, 1), r.stderr[-3000:])
                rep = json.loads(r.stdout)
                print("seed %d: %d kill(s); visits %d, exact %d (%d blinded, %d of them exact); "
                      "%d reviewed; wrong unreviewed %d; events %d, missing %d" % (
                          seed, rep.get("kills"), rep["visits"], rep["exact_carts"],
                          rep["visits_blinded"], rep["visits_blinded_exact"], rep["reviewed"],
                          rep["wrong_unreviewed"], rep["ledger_events"], rep["events_missing"]))
                self.assertTrue(rep["ok"], "seed %d: %s\n%s" % (seed, rep["detail"],
                                                                 r.stderr[-2000:]))
                self.assertEqual(rep["kills"], 1)
                self.assertTrue(rep["clean_exit_satellite"])
                self.assertEqual(rep["exact_carts"], rep["visits"], rep)
                self.assertEqual(rep["wrong_unreviewed"], 0, rep)
                self.assertEqual(rep["events_missing"], 0, rep)


if __name__ == "__main__":
    sk.main()
