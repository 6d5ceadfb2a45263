#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Writes the seed corpora of the text fuzz targets from the project's own examples and tests.
"""make_corpus.py [--check]

Seeds for fuzz_config, fuzz_profile, fuzz_command, fuzz_scene, fuzz_csv, fuzz_credentials,
fuzz_scenario, fuzz_record and fuzz_ledger (edits of the ledger it builds), taken from what the project already has: example stores, board profiles,
the broken configurations of tests/configs/bad, shipped and test reader profiles, the
command payloads docs/mqtt.md describes, the demo scene, the example catalog files. Files
are named after their origin (example-, board-, bad-, ...). fuzz_modbus's seeds are
recorded from the simulator by build/fuzz/modbus_seeds (scripts/fuzz.sh --seeds does both).
Inputs named crash-* or regress-* are the fuzzers' findings: this script never touches them.
It also writes the dictionaries (tests/fuzz/dict/TARGET.dict) from the key tables and
keyword lists of the parsers, so they follow the code.

--check: exit 1 when a seed is missing or differs (the committed corpus is up to date).
"""
import os
import re
import sys

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(SRC, "tests", "fuzz", "corpus")


def read(*parts):
    with open(os.path.join(SRC, *parts), "rb") as f:
        return f.read()


def files(folder, ext):
    d = os.path.join(SRC, folder)
    return sorted(n for n in os.listdir(d) if n.endswith(ext))


def seeds():
    out = {}
    # --- store files and board profiles (the config target loads both ways)
    cfg = out.setdefault("config", {})
    for n in files("examples", ".cfg"):
        cfg["example-" + n] = read("examples", n)
    for n in files("boards", ".cfg"):
        cfg["board-" + n] = read("boards", n)
    for n in files("tests/configs/bad", ".cfg"):
        data = read("tests", "configs", "bad", n)
        if b"@include" not in data:
            cfg["bad-" + n] = data
    # --- reader profiles
    prof = out.setdefault("profile", {})
    for n in files("drivers/profiles", ".prof"):
        prof["shipped-" + n] = read("drivers", "profiles", n)
    for kind in ("good", "bad"):
        for n in files("tests/rfid/profiles/" + kind, ".prof"):
            prof[kind + "-" + n] = read("tests", "rfid", "profiles", kind, n)
    # --- commands: byte 0 picks the name (fuzz_command.c's order), then the payload
    names = ["ping", "diag", "rebirth", "catalog_upsert", "session_bind", "restock_done",
             "config_reload", "no_such_command", "outbox_resend"]
    commands = [
        ("ping", b'{"request_id":"r-1"}'),
        ("ping", b""),
        ("diag", b'{"test":"mqtt"}'),
        ("diag", b'{"test":"ledger","request_id":"abc"}'),
        ("rebirth", b"{}"),
        ("config_reload", b'{"request_id":"reload-1"}'),
        ("catalog_upsert", b'{"products":[{"sku":"COLA-033","name":"Cola 0.33 l",'
                           b'"price_minor":149,"currency":"EUR","gtin":"4099999000104",'
                           b'"restock_threshold":6,"restock_target":24}]}'),
        ("catalog_upsert", b'{"products":[{"sku":"chips","name":"Chips \xc3\xa9pic\xc3\xa9s"},'
                           b'{"sku":"a","name":"\\u0041"}]}'),
        ("session_bind", b'{"account_token":"acct_0123456789","next_entry":true}'),
        ("session_bind", b'{"account_token":"acct_0123456789","session_id":"s-1",'
                         b'"expires_s":600,"identity":"cloud"}'),
        ("restock_done", b'{"shelves":["A1","B1"],"restock_id":"rs-9"}'),
        ("restock_done", b'{"all":true}'),
        ("no_such_command", b'{"a":[1,2.5e3,-0,null,false,{"b":"\\ud83d\\ude00"}]}'),
        ("ping", b'{"request_id":"\\u00e9t\\u00e9"}'),
        ("outbox_resend", b'{"from_seq":120,"to_seq":180,"request_id":"gap-1"}'),
        ("outbox_resend", b'{"from_seq":1,"to_seq":1,"ledger_id":"9f0c6a7e-2b1d-4c55-8e0f-1a2b3c4d5e6f"}'),
    ]
    cmd = out.setdefault("command", {})
    for i, (name, payload) in enumerate(commands):
        cmd["doc-%02d-%s" % (i, name)] = bytes([names.index(name)]) + payload
    # --- scenes
    scene = out.setdefault("scene", {})
    for n in files("examples", ".scene"):
        scene["example-" + n] = read("examples", n)
    scene["small-lights.scene"] = (
        b"scene = { floor_luma = 90; noise = 0.0; shadows = false; seed = 7;\n"
        b"          lights = [ 1.0, 0.5, 2.0, 1.5 ]; };\n"
        b"shoppers = ( { luma = 30; radius = 8.0; head_luma = 200;\n"
        b"               path = [ 0.0, 10.0, 10.0, 1.5, 300.0, 230.0 ]; } );\n")
    # --- catalog CSV: byte 0 is the kind (0 products, 1 tags, 2 planogram; 0x10: --replace)
    csv = out.setdefault("csv", {})
    for kind, n in ((0, "products.csv"), (1, "tags.csv"), (2, "planogram.csv")):
        csv["example-" + n] = bytes([kind]) + read("examples", n)
        csv["replace-" + n] = bytes([kind | 0x10]) + read("examples", n)
    csv["quoted-products.csv"] = bytes([0]) + (
        b'sku,name,price,currency,gtin\r\n"A-1","Say ""hi"", twice",1.5,EUR,\r\n'
        b'B-2,"multi\nline",0.05,JPY,00012345600012\r\n')
    # --- simulator scenarios
    scn = out.setdefault("scenario", {})
    for n in files("examples/scenarios", ".scn"):
        scn["example-" + n] = read("examples", "scenarios", n)
    # --- observation recordings (run --record): every kind of line once
    rec = out.setdefault("record", {})
    rec["small.rec"] = "\n".join([
        '{"storekeeper_record":1,"store_id":"sim","device_id":"sim-01","config_hash":"85992623",'
        '"mono":6818763238,"wall":1795311196434476,"last_seq":0,"ledger":"run.rec.ledger"}',
        '{"t":6818772080,"w":1795311196443318,"type":"camera_health","m":6818771351,'
        '"ow":1795311196442588,"src":"overhead","state":1,"reason":0,"errors":0,"rtt":0,'
        '"detail":"320x240 frames from synthetic"}',
        '{"t":6818772192,"w":1795311196443429,"type":"tag_arrived","m":6818772174,'
        '"ow":1795311196443413,"src":"reader-a1","ant":1,"epc":"3034257BF400004000000001",'
        '"rssi":-4500,"reads":2,"seen":0}',
        '{"t":6818872192,"w":1795311196543429,"tick":true}',
        '{"t":6819772192,"w":1795311197443429,"type":"track_new","m":6819772174,'
        '"ow":1795311197443413,"src":"overhead","id":1,"x":300,"y":231.5,"zone":"","dir":0,'
        '"role":0,"dwell":0}',
        '{"t":6819872192,"w":1795311197543429,"type":"line_cross","m":6819872174,'
        '"ow":1795311197543413,"src":"overhead","id":1,"x":300,"y":204,"zone":"door","dir":1,'
        '"role":2,"dwell":0}',
        '{"t":6820872192,"w":1795311198543429,"type":"zone_leave","m":6820872174,'
        '"ow":1795311198543413,"src":"overhead","id":1,"x":40,"y":56,"zone":"front-a1","dir":0,'
        '"role":0,"dwell":3500}',
        '{"t":6821872192,"w":1795311199543429,"type":"tag_departed","m":6821872174,'
        '"ow":1795311199543413,"src":"reader-a1","ant":1,"epc":"3034257BF400004000000001",'
        '"rssi":-4500,"reads":30,"seen":6820372174}',
        '{"t":6822872192,"w":1795311200543429,"type":"mqtt_command","m":6822872174,'
        '"ow":1795311200543413,"src":"","name":"session_bind",'
        '"payload":"{\\"account_token\\":\\"acct-12345\\",\\"next_entry\\":true}",'
        '"plen":44,"rt":"cloud/reply/1","corr":"0102FF","gen":1,"flags":0}',
        '{"t":6823872192,"w":1795311201543429,"type":"flow","m":6823872174,'
        '"ow":1795311201543413,"src":"overhead","entries":1,"exits":0,"occ":1,"fps":10,'
        '"dropped":0,"proc":0.8,"processed":100,"obs_dropped":0}',
        ""]).encode()
    # --- ledger files: edits of the base ledger fuzz_ledger.c builds (mode, then 5-byte edits:
    # page, offset (2 bytes), op (0 set, 1 xor, 2 add, 3 truncate), value)
    def edits(mode, *e):
        out = bytes([mode])
        for page, off, op, val in e:
            out += bytes([page, off >> 8, off & 255, op, val])
        return out
    led = out.setdefault("ledger", {})
    led["clean-reader"] = edits(0)
    led["clean-daemon-anchor-write"] = edits(7)
    led["header-user-version-huge"] = edits(1, (0, 60, 0, 0x7f))
    led["header-application-id"] = edits(1, (0, 68, 1, 0xff))
    led["header-page-size"] = edits(1, (0, 16, 0, 0x03))
    led["header-magic"] = edits(0, (0, 3, 1, 0x20))
    led["header-page-count"] = edits(3, (0, 28, 0, 0x7f), (0, 31, 2, 9))
    led["truncate-half"] = edits(3, (8, 0, 3, 0))
    led["truncate-zero-anchor"] = edits(3, (0, 0, 3, 0))
    led["truncate-mid-page"] = edits(1, (2, 1000, 3, 0))
    led["page-scribble"] = edits(5, (2, 100, 1, 0x5a), (3, 7, 0, 0), (4, 2000, 2, 77),
                                 (5, 4000, 1, 0xff), (6, 12, 0, 13))
    led["page-headers"] = edits(1, (1, 0, 0, 0x0d), (2, 0, 0, 0x05), (3, 3, 1, 0xff),
                                (4, 5, 0, 0xff))
    led["anchor-behind"] = edits(6, (0, 24, 2, 1))
    # --- credentials
    cred = out.setdefault("credentials", {})
    cred["user-password.cred"] = b"# broker account\nusername = store-berlin-3-edge-1\npassword = s3cret\n"
    cred["user-only.cred"] = b"username=device\r\n"
    cred["twice.cred"] = b"username = a\nusername = b\n"
    return out


def literals(path, pattern):
    """String literals of the C source matched by the regex pattern's first group."""
    text = open(os.path.join(SRC, path), encoding="utf-8").read()
    words = set()
    for block in re.findall(pattern, text, re.S):
        words.update(re.findall(r'"([A-Za-z0-9_.]+)"', block))
    return words


def dict_text(comment, tokens):
    lines = ["# " + comment, "# Written by tests/fuzz/make_corpus.py; do not edit by hand."]
    for t in sorted(tokens):
        esc = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c)
                      for c in t)
        lines.append('"%s"' % esc)
    return ("\n".join(lines) + "\n").encode()


def dictionaries():
    out = {}
    # store file: every key of the table (each level), libconfig's syntax
    keys = set()
    for path in re.findall(r'K_[A-Z]+\("([^"]+)"', open(os.path.join(
            SRC, "firmware", "config", "config_keys.c"), encoding="utf-8").read()):
        keys.update(p for p in path.replace("[]", "").split(".") if p)
    syntax = {"=", ";", ":", "{", "}", "(", ")", "[", "]", ",", "true", "false", "0x", "1e3",
              "L", "\"", "#", "//", "/*", "*/", "@include", "sim", "tcp:127.0.0.1:502",
              "rtu:rs485-0:115200:8E1", "-1", "4294967296"}
    out["config"] = dict_text("fuzz_config: store file keys and libconfig syntax", keys | syntax)
    prof = literals("drivers/profile.c", r"static const char \*const \w+\[\] = \{(.*?)\};")
    prof |= {"[", "]", "=", "#", ";", "0x", "40001", "30001", "10001", "00001", "-1"}
    out["profile"] = dict_text("fuzz_profile: sections, keys and values of reader profiles",
                               prof)
    cmd = literals("firmware/core/command.c", r"(.*)")
    cmd = {w for w in cmd if len(w) > 1}
    cmd |= {"{", "}", "[", "]", ":", ",", "\"", "true", "false", "null", "\\u0000",
            "\\ud83d", "1e308", "-0", "0.5"}
    out["command"] = dict_text("fuzz_command: command fields and JSON syntax", cmd)
    scene = literals("drivers/synth.c", r"(.*)")
    scene |= {"scene", "shoppers", "path", "=", ";", "{", "}", "(", ")", "[", "]", ",",
              "0.0", "1e9", "-1"}
    out["scene"] = dict_text("fuzz_scene: scene keys and libconfig syntax", scene)
    csv = {"sku", "gtin", "name", "price", "currency", "restock_threshold", "restock_target",
           "epc", "shelf", "capacity", ",", "\"", "\"\"", "\r\n", "\n", "#", "EUR", "JPY",
           "4099999000104", "E28011606000021000000001", "A1", "COLA-033", "1.49"}
    out["csv"] = dict_text("fuzz_csv: catalog columns and CSV syntax", csv)
    scen = literals("sim/scenario.c", r"strcmp\([^,]*, (\"[a-z_]+\")\)")
    scen |= {"shopper", "end", "at", "go", "take", "put", "leave", "stock", "\n", "  ", "#"}
    out["scenario"] = dict_text("fuzz_scenario: scenario keywords", scen)
    rec = {"storekeeper_record", "store_id", "device_id", "config_hash", "mono", "wall",
           "last_seq", "ledger", "t", "w", "tick", "type", "m", "ow", "src", "ant", "epc", "rssi",
           "reads", "seen", "state", "reason", "errors", "rtt", "detail", "id", "x", "y", "zone",
           "dir", "role", "dwell", "entries", "exits", "occ", "fps", "dropped", "proc",
           "processed", "obs_dropped", "name", "payload", "plen", "rt", "corr", "gen", "flags",
           "event", "mid", "rc", "proto", "retry", "true", "null", "\n", "{", "}", ":", ","}
    rec |= literals("firmware/base/obs.c", r"(\[SK_OBS_[A-Z_]+\] = \"[a-z_]+\")")
    out["record"] = dict_text("fuzz_record: the recording's keys and observation types", rec)
    out["ledger"] = dict_text("fuzz_ledger: modes and edits of the header's fields",
                              {"\x01\x00\x00\x3c\x00", "\x01\x00\x00\x44\x01",
                               "\x03\x00\x00\x10\x00", "\x07\x00\x00\x00\x03",
                               "\x00\x00\x00\x1c\x00", "\xff", "\x80", "\x7f"})
    out["credentials"] = dict_text("fuzz_credentials: the two keys",
                                   {"username", "password", "=", "#", "\n", "\r\n", " "})
    out["modbus"] = dict_text("fuzz_modbus: control bytes of the script and EPC prefixes",
                              {"\x00", "\xe0\x02", "\xe0\x06", "\xe8", "\xf0", "\xf4",
                               "\xf8", "\xfc", "\xe2\x80\x11\x60", "\x30\x00",
                               "\x00\x00\x00\x00"})
    return out


def main():
    check = "--check" in sys.argv[1:]
    stale = 0
    for target, data in dictionaries().items():
        path = os.path.join(SRC, "tests", "fuzz", "dict", target + ".dict")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        old = open(path, "rb").read() if os.path.exists(path) else None
        if old != data:
            if check:
                print("stale dictionary: %s" % os.path.relpath(path, SRC))
                stale += 1
            else:
                with open(path, "wb") as f:
                    f.write(data)
                print("wrote %s" % os.path.relpath(path, SRC))
    for target, items in seeds().items():
        d = os.path.join(CORPUS, target)
        os.makedirs(d, exist_ok=True)
        for name, data in items.items():
            path = os.path.join(d, name)
            old = open(path, "rb").read() if os.path.exists(path) else None
            if old == data:
                continue
            if check:
                print("stale seed: %s" % os.path.relpath(path, SRC))
                stale += 1
            else:
                with open(path, "wb") as f:
                    f.write(data)
                print("wrote %s" % os.path.relpath(path, SRC))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
