#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Lists the global functions named sk_* that no public header declares.

STYLE: `sk_` is the public API (include/storekeeper/); a module's internals are `static` or carry
its private prefix (ledger_, core_, mqtt_, vision_, ...). Reads the symbol tables of the
module libraries of a build (libsk_*.a, through nm) and the public headers; any sk_ function
defined but not declared there fails the check.

usage: check-symbols.py SOURCE_DIR BUILD_DIR [NM]
"""
import pathlib
import re
import subprocess
import sys


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    src, build = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    nm = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else "nm"
    declared = set()
    for h in sorted((src / "include" / "storekeeper").glob("*.h")):
        declared |= set(re.findall(r"\b(sk_[A-Za-z0-9_]+)\b", h.read_text()))
    libs = sorted(p for p in build.rglob("libsk_*.a") if "_deps" not in p.parts)
    if not libs:
        print(f"check-symbols: no libsk_*.a under {build}: build first", file=sys.stderr)
        return 2
    internal = []
    for lib in libs:
        out = subprocess.run([nm, "--defined-only", str(lib)], capture_output=True, text=True,
                             check=True).stdout
        obj = "?"
        for line in out.splitlines():
            if line.endswith(":") and not line.startswith(" "):
                obj = line[:-1]
                continue
            f = line.split()
            if len(f) == 3 and f[1] == "T" and f[2].startswith("sk_") and f[2] not in declared:
                internal.append((lib.name, obj, f[2]))
    for lib, obj, sym in internal:
        print(f"{lib}({obj}): {sym} is global but not declared in include/storekeeper/: make it "
              f"static, or give it its module's private prefix")
    print(f"check-symbols: {len(libs)} libraries, {len(internal)} internal function(s) named sk_")
    return 1 if internal else 0


if __name__ == "__main__":
    sys.exit(main())
