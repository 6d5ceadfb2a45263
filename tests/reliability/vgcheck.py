# SPDX-License-Identifier: MIT
"""Running storekeeper under valgrind (memcheck with --track-fds=yes) and reading its verdict:
used by test_valgrind.py (the short form in the suite) and scripts/valgrind.sh (every
integration test that starts the binary)."""
import glob
import os
import re
import stat

HERE = os.path.dirname(os.path.abspath(__file__))
SUPP = os.path.join(HERE, "valgrind.supp")


def wrapper(directory, binary):
    """A script that runs binary under valgrind, one log per process in directory."""
    path = os.path.join(directory, "storekeeper-valgrind")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec valgrind --tool=memcheck --leak-check=full "
                "--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect "
                "--track-fds=yes --error-exitcode=99 --num-callers=30 --suppressions=%s "
                "--log-file=%s/vg.%%p.log %s \"$@\"\n" % (SUPP, directory, binary))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


FDS = re.compile(r"FILE DESCRIPTORS: \d+ open")
# "Open file descriptor N: what", then either "<inherited from parent>" or the stack of the
# call that opened it.
OPEN = re.compile(r"^==\d+== (Open (?:file descriptor|AF_\w+ socket) (\d+):?.*)\n==\d+==\s+(.*)$",
                  re.M)


def open_at_exit(text, log):
    """Descriptors the process itself opened and left open: not the ones it inherited (stdin,
    stdout, stderr, and whatever its parent passed on), not valgrind's own log."""
    out = []
    for what, fd, nxt in OPEN.findall(text):
        if "<inherited from parent>" in nxt or os.path.basename(log) in what:
            continue
        if int(fd) <= 2:
            continue
        out.append("%s (%s)" % (what, nxt.strip()))
    return out


def verdicts(directory):
    """For every valgrind log: (log, command, problems). Problems are memory errors, definite
    or indirect leaks, and descriptors left open at exit other than stdin, stdout, stderr;
    None for a process that was killed before it could exit (no verdict)."""
    out = []
    for log in sorted(glob.glob(os.path.join(directory, "vg.*.log"))):
        with open(log, errors="replace") as f:
            text = f.read()
        cmd = re.search(r"^==\d+== Command: (.*)$", text, re.M)
        cmd = cmd.group(1) if cmd else "?"
        problems = []
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        if not m:
            out.append((log, cmd, None))  # killed (SIGKILL on purpose): nothing to judge
            continue
        if int(m.group(1)):
            problems.append("%s memory error(s)" % m.group(1))
        for kind in ("definitely", "indirectly"):
            lost = re.search(kind + r" lost: ([\d,]+) bytes", text)
            if lost and lost.group(1) != "0":
                problems.append("%s lost: %s bytes" % (kind, lost.group(1)))
        if FDS.search(text):
            extra = open_at_exit(text, log)
            if extra:
                problems.append("%d descriptor(s) open at exit: %s"
                                % (len(extra), "; ".join(extra)[:600]))
        out.append((log, cmd, problems))
    return out
