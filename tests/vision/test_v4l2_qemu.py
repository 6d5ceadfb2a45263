# SPDX-License-Identifier: MIT
"""V4L2 capture from a real kernel driver: a Debian kernel booted under qemu-system (software
emulation, about 5 s) loads the vivid test driver, and the V4L2 backend
(built into a static probe) streams frames from /dev/video0 with mmap.

The container cannot load kernel modules itself, hence the virtual machine. Its parts come
from Debian's archive in the test's set-up (cached in the build tree, never committed): the
kernel (linux-image-amd64's current image, about 70 MB) and busybox-static for the init.
Skipped, with the reason, where qemu-system-x86_64 is not installed."""
import glob
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.environ["SK_SOURCE_DIR"], "tests", "integration"))
import sk  # noqa: E402

PROBE = os.environ.get("SK_V4L2_PROBE", "")
CACHE = os.path.join(sk.BUILD, "testdata", "qemu")
FRAMES = 20


def apt_download(pkg, dest):
    subprocess.run(["apt-get", "download", pkg], cwd=dest, check=True, capture_output=True,
                   timeout=600)
    return sorted(glob.glob(os.path.join(dest, pkg.split("=")[0] + "_*.deb")))[-1]


def deb_members(deb, wanted):
    """Extracts the members of a .deb's data for which wanted(name) is true: {name: bytes}."""
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], check=True,
                         capture_output=True, timeout=300).stdout
    out = {}
    with tempfile.TemporaryFile() as f:
        f.write(tar)
        f.seek(0)
        with tarfile.open(fileobj=f) as t:
            for m in t.getmembers():
                if m.isfile() and wanted(m.name):
                    out[m.name] = t.extractfile(m).read()
    return out


def modinfo_depends(ko):
    m = re.search(rb"depends=([^\0]*)\0", ko)
    return [d for d in m.group(1).decode().split(",") if d] if m else []


def fetch_parts():
    """Kernel image, the modules vivid needs in load order, and busybox (cached)."""
    os.makedirs(CACHE, exist_ok=True)
    ready = os.path.join(CACHE, "ready")
    if not os.path.exists(ready):
        work = tempfile.mkdtemp(dir=CACHE)
        try:
            meta = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], check=True,
                                  capture_output=True, text=True).stdout
            image = re.search(r"Depends: (linux-image-\S+)", meta).group(1)
            kdeb = apt_download(image, work)
            files = deb_members(kdeb, lambda n: "/boot/vmlinuz-" in n or (
                n.endswith(".ko") and "/kernel/drivers/media/" in n))
            mods = {os.path.basename(n)[:-3].replace("_", "-"): data
                    for n, data in files.items() if n.endswith(".ko")}
            order, seen = [], set()

            def visit(name):
                key = name.replace("_", "-")
                if key in seen:
                    return
                seen.add(key)
                if key not in mods:
                    raise RuntimeError("module %s not in %s" % (name, image))
                for dep in modinfo_depends(mods[key]):
                    visit(dep)
                order.append(key)

            visit("vivid")
            mdir = os.path.join(CACHE, "modules")
            os.makedirs(mdir, exist_ok=True)
            for i, name in enumerate(order):
                with open(os.path.join(mdir, "%02d-%s.ko" % (i, name)), "wb") as f:
                    f.write(mods[name])
            vmlinuz = [d for n, d in files.items() if "/boot/vmlinuz-" in n][0]
            with open(os.path.join(CACHE, "vmlinuz"), "wb") as f:
                f.write(vmlinuz)
            bdeb = apt_download("busybox-static", work)
            bb = deb_members(bdeb, lambda n: n.endswith("/bin/busybox"))
            with open(os.path.join(CACHE, "busybox"), "wb") as f:
                f.write(list(bb.values())[0])
            open(ready, "w").close()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    mods = sorted(glob.glob(os.path.join(CACHE, "modules", "*.ko")))
    return os.path.join(CACHE, "vmlinuz"), mods, os.path.join(CACHE, "busybox")


def newc(entries):
    """An uncompressed cpio archive (newc), which the kernel unpacks as its initramfs."""
    out = bytearray()
    ino = 1
    for name, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        nb = name.encode() + b"\0"
        hdr = "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" % (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)
        out += hdr.encode() + nb
        out += b"\0" * ((4 - len(out) % 4) % 4)
        out += data
        out += b"\0" * ((4 - len(out) % 4) % 4)
        ino += 1
    return bytes(out)


INIT = """#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in /modules/*.ko; do /bin/busybox insmod $m || echo "insmod $m failed"; done
/bin/busybox sleep 1
/probe /dev/video0 %d
echo "PROBE-EXIT $?"
/bin/busybox poweroff -f
""" % FRAMES


class V4l2UnderQemu(unittest.TestCase):
    def setUp(self):
        # Skipped (CTest: "Skipped", not "Passed") where it cannot run.
        sk.require_tool("qemu-system-x86_64",
                        why="the vivid driver cannot be loaded in this container without it")
        if not PROBE:
            sk.skip("SK_V4L2_PROBE is not set: run it through ctest, which builds the probe")

    def test_vivid_frames_through_the_v4l2_backend(self):
        kernel, mods, busybox = fetch_parts()
        with open(busybox, "rb") as f:
            bb = f.read()
        with open(PROBE, "rb") as f:
            probe = f.read()
        d = stat.S_IFDIR | 0o755
        x = stat.S_IFREG | 0o755
        entries = [("bin", d, b""), ("modules", d, b""), ("bin/busybox", x, bb),
                   ("init", x, INIT.encode()), ("probe", x, probe)]
        for m in mods:
            with open(m, "rb") as f:
                entries.append(("modules/" + os.path.basename(m), stat.S_IFREG | 0o644,
                                f.read()))
        with tempfile.TemporaryDirectory() as tmp:
            initrd = os.path.join(tmp, "initrd.cpio")
            with open(initrd, "wb") as f:
                f.write(newc(entries))
            # Software emulation always: it boots in seconds, and a nested KVM (as in this
            # container) can hang instead of failing.
            accel = "tcg"
            r = subprocess.run(["qemu-system-x86_64", "-machine", "accel=" + accel, "-m", "512", "-smp", "1",
                                "-nographic", "-no-reboot", "-kernel", kernel,
                                "-initrd", initrd, "-append",
                                "console=ttyS0 panic=-1 quiet"],
                               capture_output=True, text=True, timeout=240,
                               stdin=subprocess.DEVNULL)
        out = r.stdout
        lines = [ln for ln in out.splitlines() if "v4l2_probe" in ln or "PROBE-EXIT" in ln
                 or "insmod" in ln]
        print("\n".join(lines))
        self.assertIn("PROBE-EXIT 0", out, out[-3000:] + r.stderr[-2000:])
        m = re.search(r"v4l2_probe: (\d+) frames (\d+)x(\d+) seq (\d+)\.\.(\d+) mean ([\d.]+)",
                      out)
        self.assertIsNotNone(m, out[-3000:])
        self.assertEqual(int(m.group(1)), FRAMES)
        self.assertEqual((int(m.group(2)), int(m.group(3))), (640, 480))
        self.assertGreater(int(m.group(5)), int(m.group(4)))  # the sequence advances
        self.assertGreater(float(m.group(6)), 5.0)  # vivid's test pattern is not black
        self.assertRegex(out, r'v4l2_probe: found /dev/video\d+ "vivid')


if __name__ == "__main__":
    sk.main()
