#!/bin/sh
# SPDX-License-Identifier: MIT
# The demo: builds storekeeper and runs the simulated store for about a minute: eight
# shoppers walk in, take items from seven shelves (one puts something back on the wrong
# shelf), and leave; each checkout is printed as the cloud receives it over MQTT, then the
# score against the scenario's truth.   scripts/demo.sh [SCENARIO]
#
# Everything runs on this machine (docs/simulator.md): virtual Modbus shelf readers on
# loopback, a synthetic overhead camera rendering the shoppers, a mosquitto broker on a
# free port, and storekeeper's own runtime. Its files stay in /tmp/storekeeper-demo: the
# store it built, the ledger, the truth and every event received. Ctrl-C stops it cleanly.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
scenario=${1:-examples/scenarios/13-crowd.scn}
demo=/tmp/storekeeper-demo
echo "demo: the simulated store, scenario $scenario (about a minute, in real time)"
echo "demo: checkouts as the cloud receives them over MQTT:"
build/storekeeper sim "$scenario" --live --score --keep "$demo"
echo "demo: the store's files, its ledger (storekeeper ledger --db $demo/ledger.db stock),"
echo "      the truth and every event received are in $demo"
