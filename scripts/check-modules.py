#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks the module dependency rules of the source tree from its #include lines.

A module is a folder of sources: firmware/<name>/ (base, config, ledger, fusion, core, mqtt,
services, cli) and the top-level drivers/, vision/ and sim/; firmware/main.c is the module
"main". A public header include/storekeeper/X.h belongs to the module that holds X.c (or
X.cpp), or to the module OWNERS names. The rules:

  - a module includes public headers only of itself and of the modules ALLOWED lists for it
    (calls go down only: the order is drawn in docs/development.md);
  - a private header (#include "name.h", no storekeeper/ prefix) is included only from its
    own module's folder;
  - only main.c and CMakeLists.txt stand directly in firmware/;
  - ALLOWED has no cycle.

Inside a module whose files are layered (LAYERS, today fusion), each file calls only
functions of files on lower layers (or its own); its internal functions carry the module's
private prefix (fusion__) or are static, and its sk_ functions are the ones its public header
declares.

Prints each module's real dependencies and every broken rule (file, line, what it includes);
exits 1 if a rule is broken. scripts/check-modules.py [--graph] [SOURCE_DIR]
"""
import os
import re
import sys

ALLOWED = {
    "base": [],
    "config": ["base"],
    "drivers": ["base", "config"],
    "vision": ["base", "config", "drivers"],
    "ledger": ["base", "config"],
    "fusion": ["base", "config", "ledger"],
    "core": ["base", "config", "ledger", "fusion"],
    "mqtt": ["base", "config", "ledger", "fusion", "core"],
    "services": ["base", "config", "drivers", "vision", "ledger", "fusion", "core", "mqtt"],
    "sim": ["base", "config", "drivers", "vision", "ledger", "fusion", "core", "mqtt",
            "services"],
    "cli": ["base", "config", "drivers", "vision", "ledger", "fusion", "core", "mqtt",
            "services", "sim"],
    "main": ["base", "cli", "sim", "core"],
}

# Public headers whose module has no source file of the same name.
OWNERS = {
    "cli.h": "cli",
    "mqtt.h": "mqtt",
    "rfid.h": "services",
    "sim.h": "sim",
}

# Modules layered file by file, bottom up: a file calls functions of lower layers only.
LAYERS = {
    "fusion": {
        "prefix": "fusion__",
        "header": "fusion.h",
        "files": {
            "fusion_base.c": 0,         # clock, emit, catalog, shelves
            "fusion_tracks.c": 1,       # the camera picture
            "fusion_health.c": 1,       # readers and cameras over time
            "fusion_places.c": 1,       # where tags are
            "fusion_stock.c": 2,        # stock, restock sessions
            "fusion_sessions.c": 2,     # sessions, carts, joins, checkout
            "fusion_attribution.c": 3,  # who took a tag
            "fusion_tags.c": 4,         # departures, arrivals, exit portal
            "fusion_state.c": 5,        # durable state
            "fusion.c": 6,              # the dispatcher
            "fusion_ledger.c": 7,       # the engine meets the ledger
        },
    },
}

SOURCE_EXT = (".c", ".cpp", ".h")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def module_of(rel):
    """The module of a source path relative to the root, or None (not a module's file)."""
    parts = rel.split("/")
    if parts[0] == "firmware":
        if len(parts) == 2:
            return "main" if parts[1] == "main.c" else None
        return parts[1]
    if parts[0] in ("drivers", "vision", "sim") and len(parts) >= 2:
        return parts[0]
    return None


def sources(root):
    for top in ("firmware", "drivers", "vision", "sim"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "profiles")
            for f in sorted(filenames):
                if f.endswith(SOURCE_EXT):
                    yield os.path.relpath(os.path.join(dirpath, f), root)


def find_cycle(graph):
    state = {}

    def visit(n, path):
        state[n] = 1
        for m in graph.get(n, []):
            if state.get(m) == 1:
                return path + [n, m]
            if not state.get(m):
                c = visit(m, path + [n])
                if c:
                    return c
        state[n] = 2
        return None

    for n in graph:
        if not state.get(n):
            c = visit(n, [])
            if c:
                return c
    return None


def strip_c(text):
    """C text without comments, string and character literals (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


IDENT_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


def functions(text):
    """(definitions, calls) of stripped C text: definitions as {name: (line, static)}, calls
    as [(name, line)]: an identifier and '(' at file scope whose ')' is followed by '{' is a
    definition; inside a body it is a call."""
    defs, calls = {}, []
    depth, i, start = 0, 0, 0  # start: where the current file-scope declaration began
    n = len(text)
    while i < n:
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                start = i + 1
        elif c == ";" and depth == 0:
            start = i + 1
        elif c.isalpha() or c == "_":
            m = IDENT_CALL.match(text, i)
            if not m:
                j = i
                while j < n and (text[j].isalnum() or text[j] == "_"):
                    j += 1
                i = j
                continue
            name, line = m.group(1), text.count("\n", 0, i) + 1
            if depth > 0:
                calls.append((name, line))
            else:
                k, par = m.end(), 1
                while k < n and par:
                    par += {"(": 1, ")": -1}.get(text[k], 0)
                    k += 1
                rest = text[k:k + 200].lstrip()
                if rest.startswith("{"):
                    defs[name] = (line, "static" in text[start:i].split())
            i = m.end() - 1
        i += 1
    return defs, calls


def check_layers(root, errors):
    """Calls inside layered modules go down only; internals are private or static."""
    for mod, spec in LAYERS.items():
        folder = os.path.join(root, "firmware", mod)
        layer = spec["files"]
        prefix = spec["prefix"]
        with open(os.path.join(root, "include", "storekeeper", spec["header"]),
                  encoding="utf-8") as fh:
            public = set(IDENT_CALL.findall(strip_c(fh.read())))
        parsed = {}
        for f in sorted(os.listdir(folder)):
            if not f.endswith(".c"):
                continue
            if f not in layer:
                errors.append(f"firmware/{mod}/{f}: not in the layer table of {mod} "
                              "(LAYERS in scripts/check-modules.py)")
                continue
            with open(os.path.join(folder, f), encoding="utf-8") as fh:
                parsed[f] = functions(strip_c(fh.read()))
        owner = {}
        for f, (defs, _) in parsed.items():
            for name, (line, static) in defs.items():
                if static:
                    continue
                owner[name] = f
                if not (name.startswith(prefix) or (name.startswith("sk_") and name in public)):
                    errors.append(f"firmware/{mod}/{f}:{line}: {name} is neither API (declared "
                                  f"in include/storekeeper/{spec['header']}) nor internal "
                                  f"({prefix} prefix, or static)")
        for f, (defs, calls) in parsed.items():
            for name, line in calls:
                g = owner.get(name)
                if g and g != f and layer[g] >= layer[f]:
                    errors.append(f"firmware/{mod}/{f}:{line}: calls {name} of {g} (layer "
                                  f"{layer[g]}) from layer {layer[f]}: calls go down only")


def main(argv):
    show_graph = "--graph" in argv
    args = [a for a in argv[1:] if not a.startswith("--")]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), ".."))
    errors = []

    cycle = find_cycle(ALLOWED)
    if cycle:
        errors.append("ALLOWED has a cycle: " + " -> ".join(cycle))

    for f in sorted(os.listdir(os.path.join(root, "firmware"))):
        p = os.path.join(root, "firmware", f)
        if os.path.isfile(p) and f not in ("main.c", "CMakeLists.txt"):
            errors.append(f"firmware/{f}: only main.c and CMakeLists.txt stand in firmware/; "
                          "move it into its module's folder")

    files = list(sources(root))
    owner = {}
    for rel in files:
        base, ext = os.path.splitext(os.path.basename(rel))
        if ext in (".c", ".cpp"):
            owner.setdefault(base + ".h", module_of(rel))
    owner.update(OWNERS)
    inc_dir = os.path.join(root, "include", "storekeeper")
    for h in sorted(os.listdir(inc_dir)):
        if h.endswith(".h") and not owner.get(h):
            errors.append(f"include/storekeeper/{h}: no module owns it (no {h[:-2]}.c): "
                          "add it to OWNERS in scripts/check-modules.py")

    # A public header's own includes are its module's dependencies too.
    headers = [f"include/storekeeper/{h}" for h in sorted(os.listdir(inc_dir)) if h.endswith(".h")]
    deps = {m: set() for m in ALLOWED}
    for rel in files + headers:
        mod = owner.get(os.path.basename(rel)) if rel.startswith("include/") else module_of(rel)
        if mod is None:
            continue
        if mod not in ALLOWED:
            errors.append(f"{rel}: module {mod} is not in ALLOWED (scripts/check-modules.py)")
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                inc = m.group(1)
                if inc.startswith("storekeeper/"):
                    h = inc[len("storekeeper/"):]
                    dep = owner.get(h)
                    if dep is None:
                        continue  # reported above
                    if dep != mod:
                        deps[mod].add(dep)
                        if dep not in ALLOWED[mod]:
                            errors.append(f"{rel}:{lineno}: {mod} includes {inc} of module "
                                          f"{dep}, which it may not use (calls go down only)")
                elif inc == "sk_build_info.h":
                    continue  # generated by CMake for every module
                elif rel.startswith("include/"):
                    errors.append(f"{rel}:{lineno}: a public header includes {inc}: only "
                                  "storekeeper/ headers")
                else:
                    here = os.path.dirname(os.path.join(root, rel))
                    target = os.path.normpath(os.path.join(here, inc))
                    trel = os.path.relpath(target, root)
                    if not os.path.exists(target):
                        errors.append(f"{rel}:{lineno}: private header {inc} is not beside it")
                    elif module_of(trel) != mod:
                        errors.append(f"{rel}:{lineno}: includes {inc}, a private header of "
                                      f"module {module_of(trel)}: use its public header")

    check_layers(root, errors)

    real_cycle = find_cycle({m: sorted(d) for m, d in deps.items()})
    if real_cycle:
        errors.append("include cycle between modules: " + " -> ".join(real_cycle))

    if show_graph or errors:
        for m in ALLOWED:
            print(f"{m:9} uses {', '.join(sorted(deps[m])) or '-'}")
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"check-modules: {len(errors)} broken rule(s)", file=sys.stderr)
        return 1
    print(f"check-modules: {len(files)} files in {len(ALLOWED)} modules, rules hold")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
