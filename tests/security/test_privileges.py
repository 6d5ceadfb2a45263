# SPDX-License-Identifier: MIT
"""Privileges and secrets at start (docs/security.md): the daemon refuses root unless told;
--user drops root for good before anything is opened, so what it creates belongs to that user
and is not readable by others (umask 027); the credentials file and the TLS client key are
refused when others may read them, their group may change them, or a stranger owns them."""
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "integration"))
import sk  # noqa: E402

CONFIG = """store_id = "s1";
device_id = "d1";
board = "sim";
log = { level = "info"; format = "plain"; };
ledger = { path = "%(ledger)s"; };
mqtt = { enabled = %(mqtt)s; host = "127.0.0.1"; port = 1; %(extra)s };
"""
NOBODY = pwd.getpwnam("nobody")


def run(args, env_allow=None, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "STOREKEEPER_ALLOW_ROOT"}
    if env_allow is not None:
        env["STOREKEEPER_ALLOW_ROOT"] = env_allow
    return subprocess.run([sk.BIN, *args], capture_output=True, text=True, timeout=60, env=env,
                          cwd=cwd)


class Privileges(unittest.TestCase):
    def setUp(self):
        # World-traversable, so that the user the daemon becomes can reach the files.
        self.dir = tempfile.mkdtemp(prefix="sk-priv-")
        os.chmod(self.dir, 0o755)
        self.state = os.path.join(self.dir, "state")
        os.mkdir(self.state)
        self.cfg = os.path.join(self.dir, "store.cfg")
        with open(self.cfg, "w") as f:
            f.write(CONFIG % {"ledger": os.path.join(self.state, "ledger.db"), "mqtt": "false",
                              "extra": ""})
        os.chmod(self.cfg, 0o644)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_root_is_refused_unless_told(self):
        if os.geteuid() != 0:
            r = run(["run", "-c", self.cfg, "--user", "nobody", "--duration", "0.2"])
            self.assertEqual(r.returncode, 2)
            self.assertIn("only root can change user", r.stderr)
            return
        r = run(["run", "-c", self.cfg, "--duration", "0.2"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("refusing to run as root", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.state, "ledger.db")),
                         "refused before opening anything")
        # --check-config is for anyone.
        self.assertEqual(run(["run", "-c", self.cfg, "--check-config"]).returncode, 0)
        for args, env in ((["--allow-root"], None), ([], "1")):
            r = run(["run", "-c", self.cfg, "--duration", "0.2", *args], env_allow=env)
            self.assertEqual(r.returncode, 0, r.stderr)
        r = run(["run", "-c", self.cfg, "--duration", "0.2"], env_allow="0")
        self.assertEqual(r.returncode, 2, "only 1 means yes")
        for user, msg in (("root", "that is root"), ("no-such-user-xyz", "no such user")):
            r = run(["run", "-c", self.cfg, "--duration", "0.2", "--user", user])
            self.assertEqual(r.returncode, 2)
            self.assertIn(msg, r.stderr)

    def test_user_drops_root_before_opening_anything(self):
        if os.geteuid() != 0:
            self.assertEqual(os.geteuid() == 0, False)  # covered by the refusal test
            return
        os.chown(self.state, NOBODY.pw_uid, NOBODY.pw_gid)
        # Even with a permissive umask, what the daemon creates is not world-readable.
        old = os.umask(0)
        try:
            r = run(["run", "-c", self.cfg, "--duration", "1", "--user", "nobody"])
        finally:
            os.umask(old)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("dropped root: running as nobody (uid %d" % NOBODY.pw_uid, r.stderr)
        db = os.path.join(self.state, "ledger.db")
        st = os.stat(db)
        self.assertEqual((st.st_uid, st.st_gid), (NOBODY.pw_uid, NOBODY.pw_gid),
                         "created by the user it became")
        self.assertEqual(stat.S_IMODE(st.st_mode) & 0o027, 0, oct(st.st_mode))
        # A state directory the user cannot write: it fails as that user would, not as root.
        os.chown(self.state, 0, 0)
        os.chmod(self.state, 0o755)
        os.unlink(db)
        r = run(["run", "-c", self.cfg, "--duration", "1", "--user", "nobody"])
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(os.path.exists(db))


class Secrets(unittest.TestCase):
    def setUp(self):
        self.tmp = sk.TempDir()
        self.creds = self.tmp.file("broker.creds", "username = edge\npassword = hunter2-secret\n")
        self.key = self.tmp.file("client.key", "-----BEGIN PRIVATE KEY-----\n")
        self.crt = self.tmp.file("client.crt", "-----BEGIN CERTIFICATE-----\n")

    def tearDown(self):
        self.tmp.cleanup()

    def check(self, extra):
        cfg = self.tmp.file("store.cfg", CONFIG % {
            "ledger": os.path.join(self.tmp.path, "ledger.db"), "mqtt": "true", "extra": extra})
        r = sk.run("run", "-c", cfg, "--check-config")
        self.assertNotIn("hunter2", r.stdout + r.stderr, "never the secret")
        return r

    def test_credentials_file(self):
        extra = 'credentials_file = "%s";' % self.creds
        for mode, ok in ((0o600, True), (0o400, True), (0o640, True), (0o644, False),
                         (0o660, False), (0o604, False), (0o670, False)):
            os.chmod(self.creds, mode)
            r = self.check(extra)
            self.assertEqual(r.returncode, 0 if ok else 2, "%o: %s" % (mode, r.stderr))
            if not ok:
                self.assertIn("mqtt.credentials_file: %s: holds a password but others may "
                              "access it" % self.creds, r.stderr)
                self.assertIn("(mode %04o)" % mode, r.stderr)

    def test_client_key(self):
        extra = 'tls = true; cert_file = "%s"; key_file = "%s";' % (self.crt, self.key)
        os.chmod(self.key, 0o600)
        self.assertEqual(self.check(extra).returncode, 0)
        os.chmod(self.key, 0o644)
        r = self.check(extra)
        self.assertEqual(r.returncode, 2)
        self.assertIn("mqtt.key_file: %s: holds a private key but others may access it "
                      "(mode 0644); chmod 0640 it with group storekeeper and owner root, or 0600"
                      % self.key, r.stderr)

    def test_owner(self):
        if os.geteuid() != 0:
            return  # files of another user cannot be made without root; the mode tests hold
        extra = 'credentials_file = "%s";' % self.creds
        os.chmod(self.creds, 0o600)
        os.chown(self.creds, NOBODY.pw_uid, NOBODY.pw_gid)
        r = self.check(extra)
        self.assertEqual(r.returncode, 2)
        self.assertIn("belongs to uid %d, neither root nor the user storekeeper runs as"
                      % NOBODY.pw_uid, r.stderr)


if __name__ == "__main__":
    sk.main()
