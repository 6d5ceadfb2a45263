# SPDX-License-Identifier: MIT
"""Helpers of the MQTT tests: a real mosquitto broker on a free loopback port (stopped by its
PID), subscribers and publishers (the mosquitto command-line clients), JSON Schema validation of
every payload against docs/schema, certificates made with openssl, and a ledger filler.

A subscriber is returned once the broker has sent its SUBACK (the subscription is in place:
nothing published after it is missed), and a marker (Sub.marker) tells what arrived before a
message published now: "nothing happened" is checked up to a marker, not after a pause."""
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "integration"))
import sk  # noqa: E402

import jsonschema  # noqa: E402  (Debian's python3-jsonschema)

MOSQUITTO = "/usr/sbin/mosquitto"
OUTBOX_TOOL = os.path.join(sk.BUILD, "tests", "mqtt", "outbox_tool")
SCHEMA_BASE = "https://storekeeper.invalid/schema/v1/"


# The one wait of the tests (tests/integration/sk.py), under the name the MQTT tests know.
wait_until = sk.wait_until


def stop_all(daemons=(), subs=(), brokers=()):
    """Stops what a test started: daemons first (killed if still running, their logs closed),
    then subscribers, then brokers, so nothing outlives the test that made it."""
    for d in daemons:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        d.log.close()
    for s in subs:
        s.stop()
    for b in brokers:
        b.stop()


class Broker:
    """mosquitto with its own config, log and persistence in directory; stopped by PID."""

    def __init__(self, directory, name="broker", port=None, lines=(), anonymous=True):
        self.dir = directory
        self.name = name
        self.port = port or sk.free_port()
        self.conf = os.path.join(directory, name + ".conf")
        self.log_path = os.path.join(directory, name + ".log")
        conf = []
        if os.getuid() == 0:
            conf.append("user root")  # mosquitto 2.0 refuses to run as root without it
        conf += [
            "per_listener_settings false",
            "allow_anonymous %s" % ("true" if anonymous else "false"),
            # Subscribers with persistent sessions must not lose what arrives while they
            # reconnect (the default keeps 1000 messages).
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "persistence true",
            "persistence_location %s/" % directory,
            "persistence_file %s.db" % name,
            "autosave_interval 0",
            "log_dest file %s" % self.log_path,
            "log_type all",
            "connection_messages true",
            "listener %d 127.0.0.1" % self.port,
        ]
        conf += list(lines)
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.proc = None

    def start(self, timeout=5.0):
        err_path = os.path.join(self.dir, self.name + ".err")
        with open(err_path, "w") as err:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf],
                                         stdout=subprocess.DEVNULL, stderr=err)

        def up():
            if self.proc.poll() is not None:
                with open(err_path, errors="replace") as f:
                    why = f.read()
                raise RuntimeError("mosquitto exited: %s\n%s" % (why, self.log()[-3000:]))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                return False
        if not wait_until(up, timeout):
            raise RuntimeError("mosquitto did not listen on %d: %s" % (self.port, self.log()))
        return self

    def stop(self):
        """SIGTERM by PID (mosquitto saves its persistence file), then wait."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self, lose_state=False):
        """SIGKILL by PID. lose_state: its persistence file goes too (a node that crashed and
        lost its disk, or was replaced): the sessions and messages it held are gone."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if lose_state:
            for suffix in ("", ".new"):
                try:
                    os.remove(os.path.join(self.dir, self.name + ".db" + suffix))
                except FileNotFoundError:
                    pass

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


MARKER_TOPIC = "sk-test/marker/"


def subacks(broker, client_id):
    """How many SUBACKs the broker has sent to client_id (its log, log_type all): each one
    says a SUBSCRIBE of that client is in place."""
    return broker.log().count("Sending SUBACK to %s\n" % client_id)


def wait_subscribed(broker, client_id, before, proc=None, err_path=None):
    """Waits until the broker sent client_id a SUBACK more than `before`; raises with the
    client's errors when it does not (a refused connection, a TLS problem)."""
    ok = wait_until(lambda: subacks(broker, client_id) > before or
                    (proc is not None and proc.poll() is not None), 10 * sk.SCALE, 0.01)
    if not ok or subacks(broker, client_id) <= before:
        err = ""
        if err_path:
            with open(err_path, errors="replace") as f:
                err = f.read()
        raise AssertionError("subscriber %s got no SUBACK from the broker: %s\n%s" % (
            client_id, err, broker.log()[-2000:]))


class Sub:
    """mosquitto_sub in the background writing one line per message; parsed on demand.
    A fixed client id with a persistent session (-c) keeps messages through broker restarts.
    The constructor returns once the broker acknowledged the subscription (SUBACK)."""

    def __init__(self, broker, topics, directory, client_id, v5=True, extra=(), wait=True):
        self.broker = broker
        self.client_id = client_id
        self.marker_topic = MARKER_TOPIC + client_id
        self.markers = 0
        self.path = os.path.join(directory, client_id + ".out")
        self.err_path = os.path.join(directory, client_id + ".err")
        # time, retained, topic, correlation data (hex via %D would be raw: keep it printable
        # in tests), payload as hex so that any byte survives the line format.
        fmt = "%U\t%r\t%t\t" + ("%D" if v5 else "") + "\t%x"
        cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
               "-i", client_id, "-c", "-F", fmt]
        if v5:
            cmd += ["-V", "mqttv5", "-x", "3600"]
        else:
            cmd += ["-V", "mqttv311"]
        for t in list(topics) + [self.marker_topic]:
            cmd += ["-t", t]
        cmd += list(extra)
        self.extra = list(extra)  # the connection's options (TLS) for the marker's publisher
        self.out = open(self.path, "w")
        self.err = open(self.err_path, "w")
        before = subacks(broker, client_id)
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err)
        if wait:
            wait_subscribed(broker, client_id, before, self.proc, self.err_path)

    def marker(self, timeout=10.0):
        """Publishes a marker to this subscriber (through the broker, QoS 1) and waits for it;
        returns the messages received before it. The broker delivers in order: whatever it
        routed here before the marker's PUBLISH is in the list."""
        self.markers += 1
        tag = '{"marker":%d}' % self.markers  # JSON, as all the broker carries
        publish(self.broker, self.marker_topic, tag, extra=self.extra)
        if not wait_until(lambda: self._until_marker(tag) is not None, timeout * sk.SCALE):
            raise AssertionError("marker %s never arrived at %s" % (tag, self.client_id))
        return self._until_marker(tag)

    def _until_marker(self, tag):
        before = []
        for m in self._all():
            if m["topic"] == self.marker_topic:
                if m["payload"] == tag.encode():
                    return before
                continue
            before.append(m)
        return None

    def messages(self):
        """Every message received so far, in order (markers left out)."""
        return [m for m in self._all() if m["topic"] != self.marker_topic]

    def _all(self):
        msgs = []
        with open(self.path, "rb") as f:
            data = f.read()
        # The last piece has no newline yet: mosquitto_sub may be writing it right now.
        for line in data.split(b"\n")[:-1]:
            if not line:
                continue
            parts = line.split(b"\t")
            if len(parts) != 5:
                continue
            t, r, topic, corr, hexpayload = parts
            try:
                payload = bytes.fromhex(hexpayload.decode())
            except ValueError:
                continue  # a line still being written
            msgs.append({"time": float(t), "retained": r == b"1", "topic": topic.decode(),
                         "correlation": corr.decode(errors="replace"), "payload": payload})
        return msgs

    def json_on(self, topic):
        return [json.loads(m["payload"]) for m in self.messages() if m["topic"] == topic]

    def json_on_prefix(self, prefix):
        """The payloads of every message on a topic starting with prefix, in order."""
        return [json.loads(m["payload"]) for m in self.messages()
                if m["topic"].startswith(prefix)]

    def wait_for(self, pred, timeout=10.0):
        """Waits until pred(messages) is truthy; returns its value."""
        return wait_until(lambda: pred(self.messages()), timeout, 0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        self.err.close()


def publish(broker, topic, payload, v5=True, response_topic=None, correlation=None, retain=False,
            extra=()):
    cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-t", topic]
    if isinstance(payload, bytes):
        cmd += ["-s"]
    else:
        cmd += ["-m", payload]
    cmd += ["-V", "mqttv5" if v5 else "mqttv311"]
    if response_topic:
        cmd += ["-D", "publish", "response-topic", response_topic]
    if correlation:
        cmd += ["-D", "publish", "correlation-data", correlation]
    if retain:
        cmd += ["-r"]
    cmd += list(extra)
    subprocess.run(cmd, check=True, timeout=10, capture_output=True,
                   input=payload if isinstance(payload, bytes) else None)


class Schemas:
    """Every JSON Schema in docs/schema; validates payloads by their `schema` field."""

    def __init__(self):
        root = os.path.join(sk.SRC, "docs", "schema")
        self.store = {}
        for path in glob.glob(os.path.join(root, "**", "*.json"), recursive=True):
            with open(path) as f:
                s = json.load(f)
            self.store[s["$id"]] = s
        self.validators = {}

    def validator(self, sid):
        if sid not in self.validators:
            schema = self.store[sid]
            resolver = jsonschema.RefResolver.from_schema(schema, store=self.store)
            self.validators[sid] = jsonschema.Draft202012Validator(schema, resolver=resolver)
        return self.validators[sid]

    def check(self, payload):
        """Validates one payload (bytes, str or dict) against the schema it names."""
        doc = json.loads(payload) if isinstance(payload, (bytes, str)) else payload
        name = doc.get("schema", "")
        if not name.startswith("storekeeper/v1/"):
            raise AssertionError("payload names no storekeeper schema: %r" % doc)
        sid = SCHEMA_BASE + name[len("storekeeper/v1/"):] + ".json"
        if sid not in self.store:
            raise AssertionError("no JSON Schema %s for payload %r" % (sid, doc))
        errors = sorted(self.validator(sid).iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            raise AssertionError("%s: %s in %r" % (name, errors[0].message, doc))
        return doc

    def check_stored(self, payload):
        """A payload as the outbox stores it: the link adds publish_time when it publishes."""
        doc = json.loads(payload) if isinstance(payload, (bytes, str)) else dict(payload)
        doc.setdefault("publish_time", doc.get("time"))
        return self.check(doc)

    def check_command(self, name, doc):
        sid = SCHEMA_BASE + "cmd/" + name + ".json"
        errors = list(self.validator(sid).iter_errors(doc))
        return [e.message for e in errors]

    def check_all(self, messages):
        """Validates every message of a subscriber (commands against docs/schema/cmd);
        returns the count."""
        n = 0
        for m in messages:
            parts = m["topic"].split("/")
            if len(parts) == 6 and parts[4] == "cmd":
                try:
                    doc = json.loads(m["payload"])
                except ValueError:
                    continue  # the malformed commands the tests send on purpose
                if ("cmd/%s.json" % parts[5]) in [k[len(SCHEMA_BASE):] for k in self.store]:
                    errors = self.check_command(parts[5], doc)
                    if errors:
                        raise AssertionError("command %s %r: %s" % (parts[5], doc, errors[0]))
            else:
                self.check(m["payload"])
            n += 1
        return n


def outbox(cmd, ledger, store, device, *args, timeout=120):
    r = subprocess.run([OUTBOX_TOOL, cmd, ledger, store, device, *[str(a) for a in args]],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("outbox_tool %s: %s" % (cmd, r.stderr))
    return r.stdout


def outbox_stats(ledger, store, device):
    pending, last, first = (int(x) for x in outbox("stats", ledger, store, device).split())
    return {"pending": pending, "last_seq": last, "first_pending_seq": first}


class Filler(threading.Thread):
    """Writes n events at rate per second into a ledger from another process, in the
    background (the daemon may be running)."""

    def __init__(self, ledger, store, device, n, batch, rate, review_every=0):
        super().__init__(daemon=True)
        self.args = (ledger, store, device, n, batch, rate, review_every)
        self.result = None
        self.error = None

    def run(self):
        try:
            self.result = outbox("fill", *self.args, timeout=600)
        except Exception as e:  # reported by the test
            self.error = e


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(directory):
    """A CA, a broker certificate for localhost (DNS) and 127.0.0.1 (IP), one for another name,
    an expired one, a client certificate, and a second CA that signed none of them."""
    d = directory
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.crt", "-days", "2", "-subj", "/CN=storekeeper test CA", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out",
            "other-ca.crt", "-days", "2", "-subj", "/CN=some other CA", cwd=d)

    def leaf(name, san, days="2", start=None, end=None, ext="serverAuth"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
                name + ".csr", "-subj", "/CN=" + name, cwd=d)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("extendedKeyUsage=%s\n" % ext)
            if san:
                f.write("subjectAltName=%s\n" % san)
        if start:
            # `openssl ca` can backdate; `openssl x509 -req` cannot in OpenSSL 3.0.
            os.makedirs(os.path.join(d, "cadb"), exist_ok=True)
            open(os.path.join(d, "cadb", "index.txt"), "w").close()
            with open(os.path.join(d, "cadb", "serial"), "w") as f:
                f.write("1000\n")
            with open(os.path.join(d, "ca.cnf"), "w") as f:
                f.write("[ca]\ndefault_ca=c\n[c]\ndir=%s/cadb\ndatabase=$dir/index.txt\n"
                        "serial=$dir/serial\nnew_certs_dir=$dir\ndefault_md=sha256\n"
                        "policy=p\ncopy_extensions=copy\n[p]\ncommonName=supplied\n" % d)
            openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key",
                    "-in", name + ".csr", "-out", name + ".crt", "-startdate", start,
                    "-enddate", end, "-extfile", name + ".ext", "-notext", cwd=d)
        else:
            openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                    "-CAcreateserial", "-out", name + ".crt", "-days", days, "-extfile",
                    name + ".ext", cwd=d)

    leaf("broker", "DNS:localhost,IP:127.0.0.1")
    leaf("wrong-name", "DNS:broker.elsewhere.example")
    leaf("expired", "DNS:localhost,IP:127.0.0.1", start="20200101000000Z",
         end="20200102000000Z")
    leaf("device", None, ext="clientAuth")
    return d


def bridge_lines(cloud_port, pki, store):
    """docs/examples/broker/bridge.conf for a test: the cloud on loopback, the test's
    certificates (ca.crt, bridge.crt/key), the test's store id, a reconnect within a second or
    two. Everything else exactly as shipped."""
    import re
    with open(os.path.join(sk.SRC, "docs", "examples", "broker", "bridge.conf")) as f:
        text = f.read()
    subst = [
        (r"^address .*$", "address 127.0.0.1:%d" % cloud_port),
        (r"^bridge_cafile .*$", "bridge_cafile %s/ca.crt" % pki),
        (r"^bridge_certfile .*$", "bridge_certfile %s/bridge.crt" % pki),
        (r"^bridge_keyfile .*$", "bridge_keyfile %s/bridge.key" % pki),
        (r"^restart_timeout .*$", "restart_timeout 1 2"),
    ]
    for pattern, repl in subst:
        text, n = re.subn(pattern, repl, text, flags=re.M)
        assert n == 1, "bridge.conf has one line %s" % pattern
    text = text.replace("shop-0142", store)
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


class Bridged:
    """A store broker bridged to a cloud broker by docs/examples/broker/bridge.conf: the cloud
    has a plain listener for its consumers and a TLS one requiring a client certificate, which
    the bridge presents (the test CA signed both)."""

    def __init__(self, directory, store):
        self.store_id = store
        self.pki = os.path.join(directory, "pki")
        os.makedirs(self.pki)
        make_pki(self.pki)
        for ext in ("crt", "key"):
            os.replace(os.path.join(self.pki, "device." + ext),
                       os.path.join(self.pki, "bridge." + ext))
        self.tls_port = sk.free_port()
        self.cloud = Broker(directory, "cloud", lines=[
            "listener %d 127.0.0.1" % self.tls_port,
            "cafile %s/ca.crt" % self.pki,
            "certfile %s/broker.crt" % self.pki,
            "keyfile %s/broker.key" % self.pki,
            "require_certificate true",
            "tls_version tlsv1.2",
        ]).start()
        self.store = Broker(directory, "store",
                            lines=bridge_lines(self.tls_port, self.pki, store)).start()

    def up(self, count=1, timeout=15.0):
        """The cloud logged the bridge's connection count times and its SUBSCRIBE to commands
        after the last one."""
        needle = "as storekeeper-bridge-%s " % self.store_id
        sub = "Received SUBSCRIBE from storekeeper-bridge-%s" % self.store_id

        def ok():
            log = self.cloud.log()
            return log.count(needle) >= count and sub in log[log.rfind(needle):]
        return wait_until(ok, timeout * sk.SCALE)

    def received_from_bridge(self):
        """PUBLISH packets the cloud received from the bridge (its log, log_type all)."""
        return self.cloud.log().count("Received PUBLISH from storekeeper-bridge-%s " %
                                      self.store_id)

    def stop(self):
        self.store.stop()
        self.cloud.stop()
