"""Which process of a recording by pid left nothing, and why
(docs/services.md, "Which process left nothing"): `record --pid` and a
flight recorder's snapshots check each traced CPython process against
the session daemon they use and against the trace.

- At the start, each pid the daemon does not list is named in one line
  with its likely reason, all of them, and the recording is refused: one
  in another mount namespace (its own /run/lttng), one stopped (SIGSTOP)
  since before the daemon began;
- at the end, gilscope.info (recorded_pids=, idle_pids=,
  unregistered_pids=) and the closing lines tell apart a process
  recorded, one registered that had no GIL event (idle, nothing lost)
  and one never registered (a child in another mount namespace, with its
  reason);
- a snapshot says the same of the flight recorder's processes, and names
  one that ended since as no longer registered;
- a trace with nothing of its processes (the idle one alone) is said so
  by the analyzer, exit 1.

In a mount namespace of its own (gstest.private_lttng) with a daemon of
its own: no other test's daemon or process counts."""
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import svc  # noqa: E402
from svc import gstest  # noqa: E402

BUSY = """
import time
print("ready", flush=True)
while True:
    sum(i * i for i in range(2000))
    time.sleep(0.005)
"""
IDLE = """
import time
print("ready", flush=True)
time.sleep(600)
"""
# A parent that, once told (a line on stdin), starts a CPython child in a
# mount namespace of its own, whose /run/lttng holds no daemon.
PARENT = """
import subprocess, sys, time
print("ready", flush=True)
sys.stdin.readline()
child = subprocess.Popen(["unshare", "-m", "--", "sh", "-c",
                          "mount -t tmpfs gilscope-test /run/lttng && exec \\"$0\\" -c \\"$1\\"",
                          sys.argv[1], "import time\\nwhile True: time.sleep(0.005)"])
print(child.pid, flush=True)
while True:
    time.sleep(0.005)
"""


def start(code: str, *args: str, isolate: bool = False, stdin: bool = False,
          container: bool = False) -> subprocess.Popen:
    """`gilscope exec -- PYTHON -c code`, once it said ready. isolate: in a
    mount namespace of its own; container: in a mount and pid namespace of
    its own with that namespace's /proc, as a container runs it (pid 1
    there, unshare's child here)."""
    argv = [str(gstest.gilscope()), "exec", "--", str(PY), "-c", code, *args]
    if isolate or container:
        argv = ["unshare", "-m", *(["-p", "--fork", "--mount-proc"] if container else []), "--",
                "sh", "-c", 'mount -t tmpfs gilscope-test /run/lttng && exec "$@"', "sh", *argv]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                         stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
    gstest.check(p.stdout is not None and p.stdout.readline().strip() == "ready",
                 f"pid {p.pid} runs ({'another mount namespace' if isolate else 'here'})")
    return p


def lines(res: subprocess.CompletedProcess) -> list[str]:
    return [line for line in res.stderr.splitlines() if line.strip()]


def pid_set(value: str) -> set[int]:
    return {int(p) for p in value.split(",") if p}


def at_start(out: Path, busy: subprocess.Popen, elsewhere: subprocess.Popen,
             stopped: subprocess.Popen) -> None:
    res = svc.gs("record", "--pid", f"{busy.pid},{elsewhere.pid},{stopped.pid}", "--duration", "1s",
                 "-o", str(out / "refused"))
    said = lines(res)
    gstest.check(res.returncode == 1 and len(said) == 2,
                 f"record --pid of three, two of them not registered: exit 1 ({res.returncode}), "
                 f"a line for each of the two: {said}")
    mnt = [l for l in said if f"pid {elsewhere.pid} " in l]
    gstest.check(len(mnt) == 1 and "did not register with the LTTng session daemon" in mnt[0]
                 and "another mount namespace" in mnt[0],
                 f"the one in another mount namespace is said so: {mnt}")
    stop = [l for l in said if f"pid {stopped.pid} " in l]
    gstest.check(len(stop) == 1 and "it is stopped" in stop[0] and f"kill -CONT {stopped.pid}" in stop[0],
                 f"the stopped one is said so, with what to do: {stop}")
    gstest.check(not (out / "refused").exists() or not any((out / "refused").iterdir()),
                 "nothing is left in -o")


def in_container(out: Path, unshare: subprocess.Popen) -> None:
    """A process in a container (its own mount and pid namespaces): the
    line says which command records it, with the pid it has there, and
    that command does (the advice used to be `nsenter -m` alone, whose
    /proc has no such pid: "pid N is not running")."""
    kids = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children").read_text().split()
    gstest.check(len(kids) == 1, f"the container's process is unshare's one child: {kids}")
    host = int(kids[0])
    res = svc.gs("record", "--pid", str(host), "--duration", "1s", "-o", str(out / "ct-refused"))
    said = [l for l in lines(res) if f"pid {host} " in l]
    want = f"nsenter -t {host} -m -p gilscope record --pid 1 "
    gstest.check(res.returncode == 1 and len(said) == 1 and "mount and pid namespace" in said[0]
                 and want in said[0],
                 f"the one in a container is said so, with `{want}...`: {said}")
    argv = ["nsenter", "-t", str(host), "-m", "-p", str(gstest.gilscope()), "record", "--pid", "1",
            "--duration", "1s", "-o", str(out / "ct")]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    info = gstest.info(out / "ct") if (out / "ct" / "gilscope.info").exists() else {}
    gstest.check(res.returncode == 0 and pid_set(info.get("recorded_pids", "")) == {1},
                 f"the command it gave records it: exit {res.returncode}, {res.stderr.strip()}, "
                 f"recorded_pids={info.get('recorded_pids')}")
    db = out / "ct.db"
    res = subprocess.run([str(gstest.gilscope()), "analyze", str(out / "ct"), "-o", str(db)],
                         capture_output=True, text=True, timeout=300)
    holds = 0
    if res.returncode == 0:
        with sqlite3.connect(db) as c:
            holds = c.execute("SELECT count(*) FROM holds").fetchone()[0]
    gstest.check(res.returncode == 0 and holds > 0,
                 f"and its trace analyzes to holds: exit {res.returncode}, {holds} holds, "
                 f"{res.stderr.strip()}")


def at_end(out: Path, busy: subprocess.Popen, idle: subprocess.Popen) -> None:
    res = svc.gs("record", "--pid", f"{busy.pid},{idle.pid}", "--duration", "1s", "-o", str(out / "ai"))
    gstest.check(res.returncode == 0, f"record --pid of a busy and an idle process exits 0: {res.stderr.strip()}")
    info = gstest.info(out / "ai")
    gstest.check(pid_set(info.get("recorded_pids", "")) == {busy.pid}
                 and pid_set(info.get("idle_pids", "")) == {idle.pid}
                 and info.get("unregistered_pids") == "",
                 f"gilscope.info: recorded_pids={busy.pid}, idle_pids={idle.pid}, unregistered_pids= "
                 f"({ {k: v for k, v in info.items() if k.endswith('_pids')} })")
    said = [l for l in lines(res) if f"pid {idle.pid} " in l]
    gstest.check(len(said) == 1 and "(idle)" in said[0] and "nothing lost" in said[0]
                 and "WARNING" not in said[0],
                 f"a closing line says the idle one had no GIL event, nothing lost: {said}")
    # The idle one alone: a trace with nothing of it, which the analyzer
    # says (it used to exit 0 with no database and no word).
    res = svc.gs("record", "--pid", str(idle.pid), "--duration", "1s", "-o", str(out / "idle"))
    gstest.check(res.returncode == 0 and pid_set(gstest.info(out / "idle").get("idle_pids", "")) == {idle.pid},
                 f"record --pid of the idle one alone: idle_pids={idle.pid}: {res.stderr.strip()}")
    res = subprocess.run([str(gstest.gilscope()), "analyze", str(out / "idle"), "-o", str(out / "idle.db")],
                         capture_output=True, text=True, timeout=300)
    gstest.check(res.returncode == 1 and "none of the recorded processes" in res.stderr
                 and "idle_pids=" in res.stderr,
                 f"analyzing it fails in one line that says why: exit {res.returncode}, {res.stderr.strip()}")


def child_elsewhere(out: Path, parent: subprocess.Popen) -> None:
    """--follow-children: a child in another mount namespace never
    registers; it is named at the end, with its reason."""
    rec = subprocess.Popen([str(gstest.gilscope()), "record", "--pid", str(parent.pid),
                            "--follow-children", "--duration", "3s", "-o", str(out / "kids")],
                           stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert parent.stdin is not None and parent.stdout is not None
    parent.stdin.write("go\n")
    parent.stdin.flush()
    child = int(parent.stdout.readline())
    _, err = rec.communicate(timeout=120)
    said = [l for l in err.splitlines() if f"pid {child} " in l or f"pid {child})" in l]
    gstest.check(rec.returncode == 0, f"record --pid --follow-children exits 0: {err.strip()}")
    info = gstest.info(out / "kids")
    gstest.check(child in pid_set(info.get("pids", "")) and pid_set(info.get("unregistered_pids", "")) == {child}
                 and parent.pid in pid_set(info.get("recorded_pids", "")),
                 f"gilscope.info: the child {child} followed, never registered, its parent recorded "
                 f"({ {k: v for k, v in info.items() if k.endswith('_pids')} })")
    gstest.check(any("never registered" in l and "another mount namespace" in l for l in said)
                 and any("WARNING" in l and "not registered" in l for l in said),
                 f"the closing lines name it and say why: {said}")


def snapshots(out: Path, busy: subprocess.Popen, idle: subprocess.Popen) -> None:
    res = svc.gs("record", "--flight", "-b", "1M", "--pid", f"{busy.pid},{idle.pid}")
    session = res.stdout.strip()
    gstest.check(res.returncode == 0 and session.startswith("gilscope-flight-"),
                 f"record --flight of a busy and an idle process: {res.stderr.strip()}")
    try:
        time.sleep(1.0)
        res = svc.gs("snapshot", "-o", str(out / "snap1"))
        gstest.check(res.returncode == 0, f"a snapshot: {res.stderr.strip()}")
        info = gstest.info(out / "snap1")
        gstest.check(pid_set(info.get("recorded_pids", "")) == {busy.pid}
                     and pid_set(info.get("idle_pids", "")) == {idle.pid},
                     f"the snapshot's gilscope.info: recorded_pids={busy.pid}, idle_pids={idle.pid} "
                     f"({ {k: v for k, v in info.items() if k.endswith('_pids')} })")
        gstest.check(any(f"pid {idle.pid} " in l and "(idle)" in l for l in lines(res)),
                     f"and a line says the idle one had no GIL event: {lines(res)}")
        idle.kill()
        idle.wait()
        res = svc.gs("snapshot", "-o", str(out / "snap2"))
        gstest.check(res.returncode == 0, f"a snapshot after the idle one ended: {res.stderr.strip()}")
        info = gstest.info(out / "snap2")
        gone = [l for l in lines(res) if f"pid {idle.pid} " in l]
        gstest.check(pid_set(info.get("unregistered_pids", "")) == {idle.pid}
                     and any("is no longer registered" in l and "it no longer runs" in l for l in gone),
                     f"the ended one is no longer registered, said so: {gone}, "
                     f"unregistered_pids={info.get('unregistered_pids')}")
    finally:
        svc.gs("flight", "stop", session)


def main() -> None:
    global PY
    if os.geteuid() != 0:
        gstest.skip("needs root (a mount namespace of its own for a process, unshare -m)")
    py = gstest.find_python("debian")
    if py is None:
        gstest.skip("/usr/bin/python3 is missing")
    PY = py
    if not gstest.private_lttng():
        gstest.skip("no private LTTng environment (unshare): other daemons would count")
    out = gstest.tmpdir()
    procs: list[subprocess.Popen] = []
    try:
        # Before any daemon: the stopped one cannot register when it comes.
        busy = start(BUSY)
        idle = start(IDLE)
        elsewhere = start(BUSY, isolate=True)
        stopped = start(BUSY)
        parent = start(PARENT, str(py), stdin=True)
        boxed = start(BUSY, container=True)
        procs += [busy, idle, elsewhere, stopped, parent, boxed]
        os.kill(stopped.pid, signal.SIGSTOP)
        with gstest.own_sessiond():
            at_start(out, busy, elsewhere, stopped)
            in_container(out, boxed)
            at_end(out, busy, idle)
            child_elsewhere(out, parent)
            snapshots(out, busy, idle)
        print("PASSED: which process left nothing, and why")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


PY = Path("/usr/bin/python3")

if __name__ == "__main__":
    main()
