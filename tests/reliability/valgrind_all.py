#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Runs integration tests with the binary under valgrind (scripts/valgrind.sh): every test
CTest knows with the given label, its command and environment as CTest would run it, but
SK_BIN pointing at a valgrind wrapper and SK_TIME_SCALE raised for the slower binary. Then
every valgrind log is judged (vgcheck.py) and a summary printed. Exit 1 when a test failed or
a process leaked memory or descriptors or made a memory error."""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vgcheck  # noqa: E402


def main():
    build = sys.argv[1]
    label = sys.argv[2] if len(sys.argv) > 2 else "integration"
    only = sys.argv[3:]
    binary = os.path.abspath(os.path.join(build, "storekeeper"))
    out = subprocess.run(["ctest", "--test-dir", build, "-L", label, "--show-only=json-v1"],
                         capture_output=True, text=True, check=True).stdout
    tests = json.loads(out)["tests"]
    logs = tempfile.mkdtemp(prefix="sk-valgrind-")
    wrapper = vgcheck.wrapper(logs, binary)
    failed = []
    for t in tests:
        if only and t["name"] not in only:
            continue
        if t["name"] == "test_valgrind":
            continue  # already the short form of this
        env = dict(os.environ)
        for p in t.get("properties", []):
            if p["name"] == "ENVIRONMENT":
                for kv in p["value"]:
                    k, _, v = kv.partition("=")
                    env[k] = v
        env["SK_BIN"] = wrapper
        env["SK_TIME_SCALE"] = os.environ.get("SK_VALGRIND_TIME_SCALE", "8")
        t0 = time.monotonic()
        r = subprocess.run(t["command"], env=env, capture_output=True, text=True)
        took = time.monotonic() - t0
        print("%-28s %s  %5.0f s" % (t["name"], "ok  " if r.returncode == 0 else "FAIL", took),
              flush=True)
        if r.returncode != 0:
            failed.append(t["name"])
            sys.stdout.write(r.stdout[-2000:] + r.stderr[-2000:])
    results = vgcheck.verdicts(logs)
    judged = [x for x in results if x[2] is not None]
    bad = [x for x in judged if x[2]]
    print("\nvalgrind: %d process(es) of storekeeper, %d exited and were judged, %d killed on "
          "purpose (not judged); %d with problems; logs in %s"
          % (len(results), len(judged), len(results) - len(judged), len(bad), logs))
    for log, cmd, problems in bad:
        print("  %s\n    %s\n    %s" % (os.path.basename(log), cmd, "\n    ".join(problems)))
    if failed:
        print("tests that failed under valgrind: " + ", ".join(failed))
    return 1 if bad or failed else 0


if __name__ == "__main__":
    sys.exit(main())
