#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerates the generated part of docs/config.md from the key table (needs a build).
set -eu
cd "$(dirname "$0")/.."
bin=${SK_BIN:-build/storekeeper}
[ -x "$bin" ] || { echo "update-docs: build first (scripts/setup.sh)" >&2; exit 1; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$bin" run --config-reference > "$tmp.keys"
awk -v keys="$tmp.keys" '
    /<!-- BEGIN KEYS/ { print; while ((getline line < keys) > 0) print line; skip = 1; next }
    /<!-- END KEYS -->/ { skip = 0 }
    !skip { print }
' docs/config.md > "$tmp"
rm -f "$tmp.keys"
cat "$tmp" > docs/config.md
echo "docs/config.md updated"
