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

The cpython suites' check (tests/cpython/losses.py) must accept the
killed child as a known issue, and only it: the real recording (whose
fork children left nothing after their wait was over, with no stream
ended early) is refused; its gilscope.info kept to the killed child is
accepted; kept to the killed child said "registered", refused."""

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
sessiond = int(sys.argv[1])
traced = os.environ["GILSCOPE_TRACED"]
time.sleep(1.0)  # the parent is registered by now
forks = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        os._exit(0)  # its registration does not wait (timeout 0): over at once
    os.waitpid(pid, 0)
    forks.append(pid)
print("forks", *forks, flush=True)
env = dict(os.environ, LTTNG_UST_REGISTER_TIMEOUT="60000")
os.kill(sessiond, signal.SIGSTOP)
try:
    child = subprocess.Popen([sys.executable, "-c", "import threading; t = threading.Thread("
                              "target=print, args=('child ran',)); t.start(); t.join()"], env=env)
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
    trace = out / "trace"
    env = dict(os.environ, LTTNG_UST_REGISTER_TIMEOUT="0")
    with gstest.own_sessiond() as sessiond:
        res = gstest.record([str(exe), str(prog), str(sessiond)], trace, env=env, check=False)
    said = {l.split()[0]: l.split()[1:] for l in res.stdout.splitlines() if l.split()}
    gstest.check(res.returncode == 0 and "forks" in said and "killed" in said,
                 f"the program ran ({res.returncode}, {res.stdout!r}, {res.stderr})")
    forks = [int(p) for p in said["forks"]]
    killed = int(said["killed"][0])
    gstest.check(said["killed"][1:] == ["marked", "-9"] and "child ran" not in res.stdout,
                 f"the child said it was traced, was killed by SIGKILL before its program ran "
                 f"({said['killed']}, {res.stdout!r})")

    info = gstest.info(trace)
    pids = [int(p) for p in info.get("unrecorded_pids", "").split(",") if p]
    waits = info.get("unrecorded_registration", "").split(",")
    how = dict(zip(pids, waits)) if len(pids) == len(waits) else {}
    gstest.check(how.get(killed) == "waiting",
                 f"gilscope.info: the killed child ended during its registration wait "
                 f"(pid {killed}: {info})")
    unrec_forks = [p for p in forks if p in how]
    gstest.check(all(how[p] == "unregistered" for p in unrec_forks)
                 and sum(w == "waiting" for w in how.values()) == 1,
                 f"gilscope.info: the fork children that left nothing had their wait over, "
                 f"unregistered; only the killed child is 'waiting' ({how}, forks {forks})")

    lines = [l for l in res.stderr.splitlines() if l.startswith("gilscope")]
    warn = [l for l in lines if "killed while" in l]
    gstest.check(len(warn) == 1 and warn[0].startswith(f"gilscope: WARNING: pid {killed} was killed "
                                                       "while it waited for its registration")
                 and not any(str(p) in warn[0] for p in forks),
                 f"record's warning names the killed child alone ({lines})")

    con = gstest.analyze(trace, out / "run.db")
    rows = [r for (r,) in con.execute("SELECT stream FROM lost WHERE count = 0")
            if re.match(r"\d+ of the \d+ traced CPython processes", r)]
    finding = con.execute("SELECT message FROM findings WHERE kind = 'lost_events'").fetchone()
    con.close()
    # The finding (what `summary` and the report show) names it too.
    told = (finding[0] if finding else "").partition("left nothing, ")[2].partition(" killed while")[0]
    gstest.check(told == f"pid {killed} was",
                 f"the lost_events finding names the killed child alone ({finding})")
    row = rows[0] if len(rows) == 1 else ""
    said_killed = row.partition("killed while")[2]
    gstest.check(f" {killed}" in said_killed or (len(pids) == 1 and ": killed while it waited" in row),
                 f"the analyzer's lost row says the child was killed during its wait ({rows})")
    gstest.check(not any(re.search(rf"\b{p}\b", said_killed) for p in forks),
                 f"the lost row does not say so of a fork child ({row}; forks {forks})")

    # The cpython suites' check: the recording as it is is refused when a
    # fork child left nothing (its wait was over, no stream ended early);
    # the same recording, its info kept to the killed child, accepted; and
    # refused once more when that child is said to have registered.
    gstest.check(losses.waiting(info) == {killed},
                 f"losses.waiting reads the killed child alone ({losses.waiting(info)})")
    if unrec_forks:
        wrong, _, known = test_cpython_suite.check_recording(trace, out / "suite.db")
        gstest.check(bool(wrong) and "lost:" in wrong,
                     f"the suites' check refuses fork children that left nothing after their wait "
                     f"({wrong!r}, {known!r})")
    i = pids.index(killed)
    for word, accept in (("waiting", True), ("registered", False)):
        alone = out / f"alone-{word}"
        shutil.copytree(trace, alone)
        keep = {"unrecorded_processes": "1", "unrecorded_pids": str(killed),
                "unrecorded_marks": info["unrecorded_marks"].split(",")[i],
                "unrecorded_registration": word, "traced_processes": str(int(info["traced_processes"])
                                                                         - len(pids) + 1)}
        text = (alone / "gilscope.info").read_text()
        for k, val in keep.items():
            text = re.sub(rf"(?m)^{k}=.*$", f"{k}={val}", text)
        (alone / "gilscope.info").write_text(text)
        wrong, _, known = test_cpython_suite.check_recording(alone, out / f"alone-{word}.db")
        if accept:
            gstest.check(not wrong and "KNOWN ISSUE" in known and "registration wait" in known,
                         f"the suites' check accepts the child killed during its wait as known "
                         f"({wrong!r}, {known!r})")
        else:
            gstest.check(bool(wrong) and f"pid {killed}" in wrong,
                         f"the suites' check refuses it said registered ({wrong!r}, {known!r})")

    # An older recorder's gilscope.info (no unrecorded_registration=): the row as before.
    old = out / "old"
    shutil.copytree(trace, old)
    text = (old / "gilscope.info").read_text()
    (old / "gilscope.info").write_text(re.sub(r"unrecorded_registration=.*\n", "", text))
    con = gstest.analyze(old, out / "old.db")
    old_rows = [r for (r,) in con.execute("SELECT stream FROM lost WHERE count = 0")
                if re.match(r"\d+ of the \d+ traced CPython processes", r)]
    old_finding = con.execute("SELECT message FROM findings WHERE kind = 'lost_events'").fetchone()
    con.close()
    gstest.check(old_finding is not None and "killed" not in old_finding[0],
                 f"from an older recorder's info, the finding names no one killed ({old_finding})")
    gstest.check(len(old_rows) == 1 and "killed" not in old_rows[0]
                 and old_rows[0].endswith("registration with the session daemon was done)"),
                 f"from an older recorder's info, the lost row as it was ({old_rows})")
    if not os.environ.get("GILSCOPE_TEST_KEEP"):
        shutil.rmtree(out, ignore_errors=True)
    print(f"PASSED: killed_registering ({label}: pid {killed} named, "
          f"{len(unrec_forks)} of {len(forks)} fork children unrecorded and not)")


if __name__ == "__main__":
    main()
