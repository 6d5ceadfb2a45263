# SPDX-License-Identifier: MIT
"""The crash loop in the suite (docs/reliability.md): the rush-hour scenario (twelve shoppers in
a minute) with `storekeeper run` SIGKILLed at random moments and restarted each time
(`storekeeper sim --crash`): 50 kills in the dev build, about one a second; 10 under the
sanitizers (SK_CRASH_KILLS, set by tests/reliability/CMakeLists.txt). Then every event the
ledger holds reached the cloud over MQTT at least once, no id names two different events, seq
has no gaps, the ledger passes integrity_check and its hash chain; every item taken was
recorded as a pickup, none more often than it left its shelf, none charged twice, none charged
to a shopper who did not take it unless that checkout went to review, the stock matches the
truth, and every visit the runtime saw whole was charged exactly. The cloud's commands, sent
again after every restart (lost replies), are each applied once and answered alike. The seed of the kill schedule
is printed; SK_TEST_SEED repeats a run (scripts/crash-loop.sh is the long form)."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "integration"))
import sk  # noqa: E402

SCENARIO = os.path.join(sk.SRC, "examples", "scenarios", "14-rush-hour.scn")
KILLS = int(os.environ.get("SK_CRASH_KILLS", "50"))


class CrashLoop(unittest.TestCase):
    def test_crash_loop(self):
        seed = int(os.environ.get("SK_TEST_SEED") or int(time.time() * 1000) % 1000000007)
        print("crash loop: %d kills, seed %d (SK_TEST_SEED=%d repeats it)" % (KILLS, seed, seed))
        tmp = sk.TempDir()
        keep = os.path.join(tmp.path, "store")
        r = subprocess.run([sk.BIN, "sim", SCENARIO, "--crash", str(KILLS), "--crash-seed",
                            str(seed), "--json", "--keep", keep],
                           capture_output=True, text=True, timeout=360)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        rep = json.loads(r.stdout)
        print(json.dumps(rep, indent=1))
        print("crash loop: %d kills survived, %d events in the ledger, %d received, %d items "
              "taken, %d pickups" % (rep["kills"], rep["ledger_events"], rep["received"],
                                     rep["items_taken"], rep["pickups"]))
        with open(os.path.join(keep, "runtime.log"), errors="replace") as f:
            log = f.read()
        why = "seed %d, files in %s\n%s\n%s" % (seed, keep, r.stderr[-3000:], log[-3000:])
        self.assertEqual((rep["kills"], rep["restarts"]), (KILLS, KILLS), why)
        self.assertEqual(rep["unexpected_exits"], 0, why)
        self.assertTrue(rep["clean_exit"], why)
        self.assertGreater(rep["ledger_events"], 12, "a busy store: " + why)
        self.assertEqual(rep["events_missing"], 0, why)
        self.assertGreaterEqual(rep["unique_received"], rep["ledger_events"], why)
        self.assertEqual(rep["id_conflicts"], 0, why)
        self.assertEqual(rep["seq_gaps"], 0, why)
        self.assertEqual(rep["last_seq"], rep["ledger_events"], why)
        self.assertEqual(rep["unparsable"], 0, why)
        self.assertEqual(rep["integrity_check"], "ok", why)
        self.assertEqual(rep["hash_chain"], "ok", why)
        # A shopper restored after a kill is joined to the next track near it: that may be a
        # neighbour, so such a checkout goes to review; none may charge a stranger outright.
        self.assertEqual(rep["phantom_charges_unreviewed"], 0, why)
        self.assertGreater(rep["items_taken"], 10, why)
        self.assertEqual(rep["pickups_missing"], 0, why)
        self.assertEqual(rep["pickups_extra"], 0, why)
        self.assertEqual(rep["double_charged"], 0, why)
        self.assertEqual(rep["stock_errors"], 0, why)
        self.assertEqual(rep["visits_seen_whole_exact"], rep["visits_seen_whole"], why)
        self.assertEqual(rep["visits_seen_whole"] + rep["visits_blinded"], rep["visits"])
        # The cloud sent its commands again after every restart and once more at the end: each
        # answered, applied once, every other reply a repeat with the first one's outcome.
        self.assertGreaterEqual(rep["commands"], 1, why)
        self.assertGreater(rep["command_replies"], rep["commands"], why)
        self.assertEqual(rep["commands_applied_twice"], 0, why)
        self.assertEqual(rep["commands_unanswered"], 0, why)
        self.assertEqual(rep["commands_inconsistent"], 0, why)
        self.assertTrue(rep["ok"], why)
        self.assertEqual(r.returncode, 0, why)
        tmp.cleanup()


if __name__ == "__main__":
    sk.main()
