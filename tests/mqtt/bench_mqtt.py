# SPDX-License-Identifier: MIT
"""Benchmark of the MQTT link against a real mosquitto broker on loopback, in one run:

1. outbox drain rate at QoS 1: N events committed to the ledger, then `storekeeper run`
   publishes them; next to `mosquitto_pub -l -q 1` publishing the same N payloads (dumped
   from the ledger) to the same broker. Both timed at a QoS 1 subscriber from its first to
   its last message (neither pays its process start); the two take turns for ROUNDS rounds
   (--rounds, 5), each round from a fresh copy of the filled ledger; the ratio is
   storekeeper's rate over mosquitto_pub's, per round, min/median/max.
2. latency from ledger commit to receipt by a subscriber: the real runtime and MQTT service
   with a producer committing one event per transaction (tests/mqtt/bench_latency.c);
   p50, p99 and max.

  bench_mqtt.py [--events N] [--latency-events M] [--rate R]
Defaults are the short form the suite runs (ctest label `bench`: 5,000 / 300 / 200 per s);
scripts/bench-mqtt.sh runs the full one (20,000 a round / 2,000). mosquitto_pub -l at QoS 1 stops early after 65,535 lines (2.0.11): N stays
below that and both sides are counted at the subscriber."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

import mqtt_helpers as mh
import sk

STORE = "bench"
DEVICE = "edge-1"
PREFIX = "storekeeper/v1/%s/%s/" % (STORE, DEVICE)
CONFIG = """store_id = "%s";
device_id = "%s";
board = "sim";
log = { level = "notice"; format = "plain"; };
ledger = { path = "%%s"; };
mqtt = { host = "127.0.0.1"; port = %%d; stats_interval_s = 0; %%s };
""" % (STORE, DEVICE)


def subscriber(broker, topic, count, directory, name):
    path = os.path.join(directory, name + ".out")
    out = open(path, "w")
    before = mh.subacks(broker, name)
    p = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                          "-t", topic, "-C", str(count), "-F", "%U %p", "-i", name],
                         stdout=out, stderr=subprocess.DEVNULL)
    mh.wait_subscribed(broker, name, before, p)
    return p, out, path


def receipt_times(path):
    times = []
    with open(path) as f:
        for line in f:
            t, _, payload = line.partition(" ")
            if payload.strip():
                times.append((float(t), payload))
    return times


def rate(ts):
    span = ts[-1][0] - ts[0][0]
    return (len(ts) - 1) / span if span > 0 else float("inf")


def drain_sk(broker, tmp, template, n, i):
    """storekeeper drains a fresh copy of the filled outbox."""
    ledger = os.path.join(tmp.path, "drain-%d.db" % i)
    shutil.copy(template, ledger)
    if os.path.exists(template + ".anchor"):
        shutil.copy(template + ".anchor", ledger + ".anchor")
    sub, out, path = subscriber(broker, PREFIX + "event/#", n, tmp.path, "drain-sk-%d" % i)
    cfg = tmp.file("drain-%d.cfg" % i, CONFIG % (ledger, broker.port, ""))
    d = sk.Daemon(["run", "-c", cfg], tmp.path)
    try:
        sub.wait(timeout=600)
    finally:
        d.stop()
        d.log.close()
        stop(sub)
        out.close()
    times = receipt_times(path)
    seqs = [json.loads(p)["seq"] for _, p in times]
    assert seqs == list(range(1, n + 1)), "storekeeper delivered every event in order"
    return rate(times)


def drain_pub(broker, tmp, payloads, n, i):
    """mosquitto_pub -l with the same payloads to the same broker."""
    sub, out, path = subscriber(broker, "bench/pub", n, tmp.path, "drain-pub-%d" % i)
    try:
        with open(payloads) as f:
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q",
                            "1", "-V", "mqttv5", "-t", "bench/pub", "-l"], stdin=f, check=True,
                           timeout=600)
        sub.wait(timeout=600)
    finally:
        stop(sub)
        out.close()
    times = receipt_times(path)
    assert len(times) == n, "mosquitto_pub delivered %d of %d" % (len(times), n)
    return rate(times)


def drain(broker, tmp, n, rounds):
    template = os.path.join(tmp.path, "drain.db")
    mh.outbox("fill", template, STORE, DEVICE, n, 1000, timeout=600)
    payloads = os.path.join(tmp.path, "payloads.txt")
    with open(payloads, "w") as f:
        f.write(mh.outbox("dump", template, STORE, DEVICE, timeout=600))
    sk_rates, pub_rates = [], []
    for i in range(rounds):
        sk_rates.append(drain_sk(broker, tmp, template, n, i))
        pub_rates.append(drain_pub(broker, tmp, payloads, n, i))
    size = os.path.getsize(payloads) / n
    return sk_rates, pub_rates, size


def spread(v):
    v = sorted(v)
    return [v[0], statistics.median(v), v[-1]]


def stop(proc):
    """Ends a subscriber that is still waiting (after a failure), by its PID."""
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)


def latency(broker, tmp, m, per_s):
    ledger = os.path.join(tmp.path, "latency.db")
    cfg = tmp.file("latency.cfg", CONFIG % (ledger, broker.port, ""))
    sub, out, path = subscriber(broker, PREFIX + "event/#", m, tmp.path, "latency")
    commits = os.path.join(tmp.path, "commits.txt")
    tool = os.path.join(sk.BUILD, "tests", "mqtt", "bench_latency")
    env = dict(os.environ, STOREKEEPER_DATADIR=os.path.join(sk.BUILD, "share", "storekeeper"))
    try:
        p = subprocess.run([tool, cfg, str(m), str(per_s), commits], capture_output=True,
                           text=True, timeout=m / per_s + 60, env=env)
        if p.returncode != 0:
            raise RuntimeError(p.stderr)
        sub.wait(timeout=30)
    finally:
        stop(sub)
        out.close()
    got = {json.loads(pl)["seq"]: t for t, pl in receipt_times(path)}
    lat = []
    with open(commits) as f:
        for line in f:
            seq, us = (int(x) for x in line.split())
            if seq in got:
                lat.append((got[seq] - us / 1e6) * 1000.0)
    assert len(lat) == m, "%d of %d events received" % (len(lat), m)
    lat.sort()
    return lat


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--latency-events", type=int, default=300)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    if a.events >= 65535:
        sys.exit("--events must stay below 65,535 (mosquitto_pub -l at QoS 1)")
    tmp = sk.TempDir()
    broker = mh.Broker(tmp.path).start()
    try:
        sk_rates, pub_rates, size = drain(broker, tmp, a.events, a.rounds)
        o, r = spread(sk_rates), spread(pub_rates)
        q = spread([x / y for x, y in zip(sk_rates, pub_rates)])
        print("drain, QoS 1, %d events of about %.0f bytes, %d rounds taking turns, "
              "median [min-max]:" % (a.events, size, a.rounds))
        print("  storekeeper outbox  %9.0f [%.0f-%.0f] msg/s" % (o[1], o[0], o[2]))
        print("  mosquitto_pub -l    %9.0f [%.0f-%.0f] msg/s" % (r[1], r[0], r[2]))
        print("  ratio               %9.2f [%.2f-%.2f] (storekeeper / mosquitto_pub)" % (
            q[1], q[0], q[2]))
        print("BENCH " + json.dumps({
            "bench": "mqtt", "case": "outbox drain, QoS 1, %d events" % a.events,
            "unit": "msg/s", "ours": o, "ref": r, "ratio": q,
            "ref_name": "mosquitto_pub -l, same payloads and broker", "goal": "",
            "rounds": a.rounds}))
        lat = latency(broker, tmp, a.latency_events, a.rate)
        print("commit-to-receipt latency, %d events at %d/s, one transaction each:" % (
            len(lat), a.rate))
        p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print("  p50 %.2f ms  p99 %.2f ms  max %.2f ms  mean %.2f ms" % (
            p50, p99, lat[-1], statistics.mean(lat)))
        print("BENCH " + json.dumps({
            "bench": "mqtt", "case": "commit-to-receipt latency (p50, p99, max)", "unit": "ms",
            "ours": [p50, p99, lat[-1]], "ref": None, "ratio": None, "ref_name": "",
            "goal": "", "rounds": 1, "lower_is_better": True}))
    finally:
        broker.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
