"""A traced CPython killed while it waits for its registration with the
session daemon (a freshly exec'd child: its first GIL, its mark written to
the recorder's file, then liblttng-ust's wait, 10 to 25 ms on a busy
machine) ran none of its program and leaves nothing in the trace; nothing
can record it (CPython's suites kill children right after they start:
concurrent_futures, subprocess). Once its wait is over the preload writes
a second line for the same life ("PID NS registered" or "unregistered",
preload_mark.h), so a mark without one is a process that ended during the
wait. It must be named so in gilscope.info (unrecorded_registration=
"waiting"), in `record`'s warning and in the analyzer's lost row; a
process whose wait was over and that then left nothing must not be: here
fork children of a parent run with LTTNG_UST_REGISTER_TIMEOUT=0 that end
at once (tracer.unregistered_child's case, "unregistered").

The wait is made certain: the test's own session daemon (gstest.own_sessiond,
never another) is stopped (SIGSTOP) right before the child starts, the
child (LTTNG_UST_REGISTER_TIMEOUT=60000) is killed once its mark is in
the recorder's file (GILSCOPE_TRACED), and the daemon continued.

Two recordings: the killed child's (the parent with the default
timeout), the fork children's (the parent with a timeout of 0 may lose
its own start, which the suites' check refuses on its own). The cpython
suites' check (tests/cpython/losses.py) must accept the first as a known
issue, refuse it with the child said "registered", and refuse the
second (its fork children left nothing after their wait was over, and
no stream ended early)."""

import os
import re
import shutil
import sys
from pathlib import Path

import gstest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cpython"))
import losses  # noqa: E402
import test_cpython_suite  # noqa: E402

PROGRAM = r"""
import os, signal, subprocess, sys, threading, time
# A thread: 3.6 takes no GIL (and says it is traced) before its first one.
t = threading.Thread(target=len, args=("",)); t.start(); t.join()
time.sleep(1.0)  # registered by now
if sys.argv[1] == "forks":
    forks = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            os._exit(0)  # its registration does not wait (timeout 0): over at once
        os.waitpid(pid, 0)
        forks.append(pid)
    print("forks", *forks, flush=True)
    sys.exit(0)
sessiond = int(sys.argv[2])
traced = os.environ["GILSCOPE_TRACED"]
os.kill(sessiond, signal.SIGSTOP)
try:
    child = subprocess.Popen([sys.executable, "-c", "import threading; t = threading.Thread("
                              "target=print, args=('child ran',)); t.start(); t.join()"])
    deadline = time.monotonic() + 60
    marked = False
    while not marked and time.monotonic() < deadline:
        with open(traced) as f:
            marked = any(l.split()[:1] == [str(child.pid)] for l in f)
        time.sleep(0.002)
    child.kill()
finally:
    os.kill(sessiond, signal.SIGCONT)
child.wait()
print("killed", child.pid, "marked" if marked else "unmarked", child.returncode, flush=True)
"""


def unrecorded_how(info: dict[str, str]) -> dict[int, str]:
    """gilscope.info's unrecorded_pids -> their unrecorded_registration."""
    pids = [int(p) for p in info.get("unrecorded_pids", "").split(",") if p]
    waits = info.get("unrecorded_registration", "").split(",")
    return dict(zip(pids, waits)) if len(pids) == len(waits) else {}


def process_rows(con) -> list[str]:
    return [r for (r,) in con.execute("SELECT stream FROM lost WHERE count = 0")
            if re.match(r"\d+ of the \d+ traced CPython processes", r)]


def killed_child(exe: Path, prog: Path, out: Path) -> int:
    """The child killed during its wait (a recording of its own, with the
    default LTTNG_UST_REGISTER_TIMEOUT, 3 s, which the kill comes well
    before: its mark is there within some 50 ms); returns its pid."""
    trace = out / "trace"
    with gstest.own_sessiond() as sessiond:
        res = gstest.record([str(exe), str(prog), "kill", str(sessiond)], trace, check=False)
    said = {l.split()[0]: l.split()[1:] for l in res.stdout.splitlines() if l.split()}
    gstest.check(res.returncode == 0 and "killed" in said,
                 f"the program ran ({res.returncode}, {res.stdout!r}, {res.stderr})")
    killed = int(said["killed"][0])
    gstest.check(said["killed"][1:] == ["marked", "-9"] and "child ran" not in res.stdout,
                 f"the child said it was traced, was killed by SIGKILL before its program ran "
                 f"({said['killed']}, {res.stdout!r})")

    info = gstest.info(trace)
    how = unrecorded_how(info)
    gstest.check(how == {killed: "waiting"},
                 f"gilscope.info: the killed child, alone, ended during its registration wait "
                 f"(pid {killed}: {info})")
    lines = [l for l in res.stderr.splitlines() if l.startswith("gilscope")]
    warn = [l for l in lines if "killed while" in l]
    gstest.check(len(warn) == 1 and warn[0].startswith(f"gilscope: WARNING: pid {killed} was killed "
                                                       "while it waited for its registration"),
                 f"record's warning names the killed child ({lines})")

    con = gstest.analyze(trace, out / "run.db")
    rows = process_rows(con)
    finding = con.execute("SELECT message FROM findings WHERE kind = 'lost_events'").fetchone()
    con.close()
    gstest.check(len(rows) == 1 and rows[0].startswith(f"1 of the 2 traced CPython processes (pid {killed}): ")
                 and rows[0].endswith(": killed while it waited for it, before its program ran)"),
                 f"the analyzer's lost row says the child was killed during its wait ({rows})")
    # The finding (what `summary` and the report show) names it too.
    told = (finding[0] if finding else "").partition("left nothing, ")[2].partition(" killed while")[0]
    gstest.check(told == f"pid {killed} was",
                 f"the lost_events finding names the killed child ({finding})")

    # The cpython suites' check: accepted as a known issue; refused once
    # the child is said to have registered (then left nothing).
    gstest.check(losses.waiting(info) == {killed},
                 f"losses.waiting reads the killed child ({losses.waiting(info)})")
    wrong, _, known = test_cpython_suite.check_recording(trace, out / "suite.db")
    gstest.check(not wrong and "KNOWN ISSUE" in known and "registration wait" in known,
                 f"the suites' check accepts the child killed during its wait as known "
                 f"({wrong!r}, {known!r})")
    said_registered = out / "registered"
    shutil.copytree(trace, said_registered)
    text = (said_registered / "gilscope.info").read_text()
    (said_registered / "gilscope.info").write_text(
        re.sub(r"(?m)^unrecorded_registration=.*$", "unrecorded_registration=registered", text))
    wrong, _, known = test_cpython_suite.check_recording(said_registered, out / "registered.db")
    gstest.check(bool(wrong) and f"pid {killed}" in wrong,
                 f"the suites' check refuses it said registered ({wrong!r}, {known!r})")

    # An older recorder's gilscope.info (no unrecorded_registration=): as before.
    old = out / "old"
    shutil.copytree(trace, old)
    text = (old / "gilscope.info").read_text()
    (old / "gilscope.info").write_text(re.sub(r"unrecorded_registration=.*\n", "", text))
    con = gstest.analyze(old, out / "old.db")
    old_rows = process_rows(con)
    old_finding = con.execute("SELECT message FROM findings WHERE kind = 'lost_events'").fetchone()
    con.close()
    gstest.check(old_finding is not None and "killed" not in old_finding[0],
                 f"from an older recorder's info, the finding names no one killed ({old_finding})")
    gstest.check(len(old_rows) == 1 and "killed" not in old_rows[0]
                 and old_rows[0].endswith("registration with the session daemon was done)"),
                 f"from an older recorder's info, the lost row as it was ({old_rows})")
    return killed


def fork_children(exe: Path, prog: Path, out: Path) -> int:
    """Fork children whose registration does not wait (a parent run with
    LTTNG_UST_REGISTER_TIMEOUT=0, tracer.unregistered_child's case) and
    that end at once: they leave nothing, their wait over, and must not
    be called killed during it; returns how many left nothing."""
    trace = out / "forks"
    env = dict(os.environ, LTTNG_UST_REGISTER_TIMEOUT="0")
    with gstest.own_sessiond():
        res = gstest.record([str(exe), str(prog), "forks"], trace, env=env, check=False)
    said = {l.split()[0]: l.split()[1:] for l in res.stdout.splitlines() if l.split()}
    gstest.check(res.returncode == 0 and "forks" in said,
                 f"the program ran ({res.returncode}, {res.stdout!r}, {res.stderr})")
    forks = [int(p) for p in said["forks"]]
    info = gstest.info(trace)
    how = unrecorded_how(info)
    unrec = [p for p in forks if p in how]
    gstest.check(unrec and all(how[p] == "unregistered" for p in unrec)
                 and "waiting" not in how.values(),
                 f"gilscope.info: fork children left nothing, their wait over (unregistered), none "
                 f"said killed during it ({how}, forks {forks}; none left nothing: the case this "
                 f"test makes did not occur)")
    lines = [l for l in res.stderr.splitlines() if l.startswith("gilscope")]
    gstest.check(not any("killed while" in l for l in lines),
                 f"record's warnings call no fork child killed during its wait ({lines})")
    con = gstest.analyze(trace, out / "forks.db")
    rows = process_rows(con)
    finding = con.execute("SELECT message FROM findings WHERE kind = 'lost_events'").fetchone()
    con.close()
    gstest.check(len(rows) == 1 and "killed" not in rows[0]
                 and not (finding and "killed" in finding[0]),
                 f"the lost row and the finding call no fork child killed ({rows}, {finding})")
    wrong, _, known = test_cpython_suite.check_recording(trace, out / "forks-suite.db")
    gstest.check(bool(wrong) and "no GIL of" in wrong,
                 f"the suites' check refuses fork children that left nothing after their wait "
                 f"({wrong!r}, {known!r})")
    return len(unrec)


def main() -> None:
    if not gstest.private_lttng():
        gstest.skip("needs a mount namespace of its own (root and unshare(1)): the test stops "
                    "its own session daemon, never another")
    label, exe = gstest.python_arg()
    if gstest.python_version(exe) < (3, 7):
        gstest.skip("Python 3.6 takes no GIL before its first thread: its registration wait is "
                    "made when site names its main thread (gilscope_thread_name), before its "
                    "mark, and a process killed there is not counted at all (docs/tracer.md)")
    out = gstest.tmpdir()
    prog = out / "killed.py"
    prog.write_text(PROGRAM)
    killed = killed_child(exe, prog, out)
    unrec = fork_children(exe, prog, out)
    if not os.environ.get("GILSCOPE_TEST_KEEP"):
        shutil.rmtree(out, ignore_errors=True)
    print(f"PASSED: killed_registering ({label}: pid {killed} named, {unrec} of 3 fork children "
          f"unrecorded and not)")


if __name__ == "__main__":
    main()
