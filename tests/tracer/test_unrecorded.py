"""A traced CPython that leaves nothing in the trace while another one is
recorded: `record` (and `run`) must name it and never say "no events
lost" (they did: only `analyze` counted it, against gilscope.info's
traced_processes), and gilscope.info must say it (lost_events=unknown,
unrecorded_processes, unrecorded_pids). Each traced CPython writes its pid
and the time it began to be traced to the recorder's file; the recorder
looks for a GIL of each such process in the trace (common/lives.c), a
pid that came back being another process.

The CPython that leaves nothing runs in a mount namespace of its own
whose /run/lttng is empty: it never finds a session daemon to register
with (LTTNG_UST_REGISTER_TIMEOUT=0), the case of a process that ends
before a busy daemon registers it, made certain.

1. A registered CPython starts such a child: the child's pid is named,
   the parent's is not; `run` says the same; analyze writes one lost row
   for it.
2. A child that cannot write the recorder's file (it runs in a mount
   namespace where the trace directory is an empty tmpfs) but registers:
   recorded and analyzed, and `analyze` says the count of processes that
   left nothing may be incomplete (one process with a GIL more than said
   they were traced and left one).
3. One pid, four processes of this recording (a pid namespace of its own,
   ns_last_pid): three recorded, then the fourth hidden. The recorder
   tells the fourth from the three before it (its time) and names the
   pid once; the analyzer counts 1 of the 4 traced processes lost, from
   gilscope.info, and also from traced_processes alone (an older
   recorder's file): each later process at a kept pid is counted, not
   only the first (it said 2 of the 4).

In an LTTng environment of its own (gstest.private_lttng): no process of
another recording with these pids is in the trace."""
import os
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import gstest

PID = 6000
LIFE_NAMES = ("life-a", "life-b", "life-c", "life-d")
HIDE = 'mount -t tmpfs gilscope-none /run/lttng && exec "$@"'
# $0: the trace directory, where the recorder's gilscope.traced is
HIDE_FILE = 'mount -t tmpfs gilscope-hide "$0" && exec "$@"'

PARENT = r"""
import os, subprocess, sys, threading
t = threading.Thread(target=print, args=("parent", os.getpid()))
t.start(); t.join()
subprocess.run(["unshare", "-m", "sh", "-c", sys.argv[1], sys.argv[2], "env",
                f"LTTNG_UST_REGISTER_TIMEOUT={sys.argv[3]}", sys.executable, "-c",
                "import os; print('child', os.getpid())"], check=True)
"""

LIVES = f"""
set -e
life() {{
  echo {PID - 1} > /proc/sys/kernel/ns_last_pid
  "$PY" -c "import os, threading; threading.current_thread().name = '$1'; print('$1', os.getpid())"
}}
hidden() {{
  # not the last command of sh -c, which a shell may exec in its own process
  unshare -m sh -c 'mount -t tmpfs gilscope-none /run/lttng && echo {PID - 1} > /proc/sys/kernel/ns_last_pid && env LTTNG_UST_REGISTER_TIMEOUT=0 "$PY" -c "import os; print(\\"life-d\\", os.getpid())"; exit $?'
}}
life life-a
life life-b
life life-c
hidden life-d
"""


def said(out: str) -> dict[str, int]:
    return {w[0]: int(w[1]) for w in (l.split() for l in out.splitlines())
            if len(w) == 2 and w[1].isdigit() and w[0] in ("parent", "child", *LIFE_NAMES)}


def closing(stderr: str) -> list[str]:
    return [l for l in stderr.splitlines() if l.startswith("gilscope")]


def gil_pids(con: sqlite3.Connection) -> set[int]:
    return {p for (p,) in con.execute("SELECT DISTINCT pid FROM gils")}


def lost_rows(con: sqlite3.Connection) -> list[str]:
    return [w for (w,) in con.execute("SELECT stream FROM lost ORDER BY stream")]


def hidden_child(py: Path, out: Path) -> None:
    res = gstest.record([str(py), "-c", PARENT, HIDE, "sh", "0"], out / "trace", check=False)
    pids = said(res.stdout)
    gstest.check(res.returncode == 0 and set(pids) == {"parent", "child"},
                 f"the parent and its hidden child ran ({res.returncode}, {res.stdout!r}, {res.stderr})")
    parent, child = pids["parent"], pids["child"]
    lines = closing(res.stderr)
    gstest.check("no events lost" not in res.stderr, f"never 'no events lost' ({lines})")
    warn = [l for l in lines if l.startswith("gilscope: WARNING: lost: unknown, ")]
    gstest.check(len(warn) == 1 and f"pid {child} traced but recorded nothing of its GIL" in warn[0]
                 and "1 of the 2 traced CPython processes" in warn[0] and str(parent) not in warn[0],
                 f"the end of the recording names the child (pid {child}), not the parent: {lines}")
    info = gstest.info(out / "trace")
    gstest.check(info.get("lost_events") == "unknown" and info.get("traced_processes") == "2"
                 and info.get("unrecorded_processes") == "1"
                 and info.get("unrecorded_pids") == str(child),
                 f"gilscope.info says the child left nothing ({info})")
    # When the child said it was traced, on the trace's raw clock: after
    # the parent's first event, before now.
    tr = gstest.read_trace(out / "trace")
    parent_first = min(e.ts for e in tr.events if e.pid == parent) - tr.clock_offset_ns
    mark = info.get("unrecorded_marks", "")
    gstest.check(mark.isdigit() and parent_first < int(mark) < time.clock_gettime_ns(time.CLOCK_MONOTONIC),
                 f"gilscope.info says when the child started (unrecorded_marks={mark!r}, the "
                 f"parent's first event at {parent_first})")
    con = gstest.analyze(out / "trace", out / "run.db")
    gstest.check(gil_pids(con) == {parent},
                 f"the trace holds the parent's GIL and none of the child's ({gil_pids(con)})")
    rows = lost_rows(con)
    con.close()
    gstest.check(any(r.startswith(f"1 of the 2 traced CPython processes (pid {child}): ") for r in rows),
                 f"analyze writes a lost row for the child, named ({rows})")
    res = subprocess.run([str(gstest.gilscope()), "run", "-o", str(out / "run"), "--", str(py),
                          "-c", PARENT, HIDE, "sh", "0"], capture_output=True, text=True, timeout=300)
    child = said(res.stdout).get("child")
    rec = [l for l in closing(res.stderr) if l.startswith("gilscope: recorded ")]
    gstest.check(res.returncode == 0 and len(rec) == 1
                 and f"events lost: unknown, pid {child} traced but recorded nothing" in rec[0],
                 f"`run` names the child too ({res.returncode}, {closing(res.stderr)})")


def unsaid_child(py: Path, out: Path) -> None:
    trace = out / "trace"
    res = gstest.record([str(py), "-c", PARENT, HIDE_FILE, str(trace), "3000"], trace, check=False)
    pids = said(res.stdout)
    gstest.check(res.returncode == 0 and set(pids) == {"parent", "child"},
                 f"the parent and its child ran ({res.returncode}, {res.stdout!r}, {res.stderr})")
    info = gstest.info(trace)
    gstest.check(info.get("traced_processes") == "1" and info.get("unrecorded_processes") == "0",
                 f"the child could not say it was traced: 1 traced process, recorded ({info})")
    db = out / "run.db"
    an = subprocess.run([str(gstest.gilscope()), "analyze", str(trace), "-o", str(db)],
                        capture_output=True, text=True, timeout=300)
    con = sqlite3.connect(str(db))
    got = gil_pids(con)
    con.close()
    gstest.check(an.returncode == 0 and got == {pids["parent"], pids["child"]},
                 f"the child registered and was recorded all the same ({an.returncode}, {got})")
    gstest.check("warning: 1 process of this recording did not say it was traced" in an.stderr
                 and "may be more than counted" in an.stderr,
                 f"analyze says the count of processes that left nothing may be incomplete "
                 f"({an.stderr.strip()})")


def one_pid(py: Path, out: Path) -> None:
    script = out / "lives.sh"
    script.write_text(LIVES)
    env = dict(os.environ, PY=str(py))
    res = gstest.record(["unshare", "-p", "-f", "--mount-proc", "sh", str(script)], out / "trace",
                        env=env, check=False)
    pids = said(res.stdout)
    gstest.check(res.returncode == 0 and pids == {f"life-{c}": PID for c in "abcd"},
                 f"four Pythons ran with pid {PID} ({res.returncode}, {res.stdout!r}, {res.stderr})")
    lines = closing(res.stderr)
    gstest.check("no events lost" not in res.stderr, f"never 'no events lost' ({lines})")
    warn = [l for l in lines if l.startswith("gilscope: WARNING: lost: unknown, ")]
    gstest.check(len(warn) == 1 and f"pid {PID} traced but recorded nothing of its GIL (1 of the 4 "
                 "traced CPython processes" in warn[0],
                 f"the recorder tells the fourth process from the three before it at pid {PID}: {lines}")
    info = gstest.info(out / "trace")
    gstest.check(info.get("traced_processes") == "4" and info.get("unrecorded_processes") == "1"
                 and info.get("unrecorded_pids") == str(PID) and info.get("lost_events") == "unknown",
                 f"gilscope.info: 1 of 4 unrecorded, pid {PID} ({info})")
    con = gstest.analyze(out / "trace", out / "run.db")
    rows = lost_rows(con)
    con.close()
    later = f"pid {PID}: a later process with this pid (not analyzed)"
    gstest.check(rows.count(later) == 2 and len(rows) == 3
                 and sum(r.startswith(f"1 of the 4 traced CPython processes (pid {PID}): ") for r in rows) == 1,
                 f"analyze: the second and third processes said lost, and 1 of the 4 unrecorded ({rows})")
    # An older recorder's gilscope.info: traced_processes alone.
    old = out / "old"
    shutil.copytree(out / "trace", old)
    text = (old / "gilscope.info").read_text()
    (old / "gilscope.info").write_text(re.sub(r"unrecorded_[a-z]+=.*\n", "", text))
    con = gstest.analyze(old, out / "old.db")
    rows = lost_rows(con)
    con.close()
    gstest.check(rows.count(later) == 2 and sum(r.startswith("1 of the 4 traced") for r in rows) == 1,
                 f"from traced_processes alone, each later process counts: 1 of the 4 missing ({rows})")


def main() -> None:
    if not gstest.private_lttng():
        gstest.skip("needs a mount namespace of its own (root and unshare(1)): another "
                    "recording's process could have these pids")
    py = gstest.find_python("debian")
    if py is None:
        gstest.skip("needs Debian's python3")
    top = gstest.tmpdir()
    (top / "child").mkdir()
    hidden_child(py, top / "child")
    (top / "unsaid").mkdir()
    unsaid_child(py, top / "unsaid")
    why = gstest.pid_choice(PID)
    if why:
        gstest.skip(f"part 1 passed; part 2 {why}")
    (top / "pid").mkdir()
    one_pid(py, top / "pid")
    print("PASSED: unrecorded: the recorder names the traced processes that left nothing")


if __name__ == "__main__":
    main()
