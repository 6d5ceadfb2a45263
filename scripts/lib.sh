# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# Shared by the scripts that take options (sourced, not run; each script first does
# `cd "$(dirname "$0")/.."`): their --help and their usage error.

# The script's --help: its header comment, from the line after the SPDX line to the one
# before `set -eu`; exit 0.
script_help() {
    sed -n '3,/^set -eu$/{/^set -eu$/!p;}' "$0"
    exit 0
}

# NAME OPTION: the usage error of every script, "NAME: unknown option OPTION", exit 2.
unknown_option() {
    echo "$1: unknown option $2" >&2
    exit 2
}
