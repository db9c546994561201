"""The life of recordings around the session daemon (issue 13):
- a recording inside a recording is refused at once, in one line;
- a recorder killed by SIGKILL takes its command with it (SIGTERM through
  PR_SET_PDEATHSIG), and leaves a session that the next `gilscope record`
  finds and destroys, flushing it into the trace, which stays analyzable;
- `gilscope record --cleanup` does the same on demand."""
import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

import gstest

# Busy threads for a second, then a long sleep: the recorder is killed
# during the sleep, with events already in the buffers.
PROG = ("import threading, time\n"
        "def f():\n    n = 300000\n    while n: n -= 1\n"
        "ts = [threading.Thread(target=f) for _ in range(2)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "print('ready', flush=True)\ntime.sleep(60)\n")


def gs(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    # An ASan build of gilscope started under the preload library (the
    # nested case) would refuse to run: ASan wants to be loaded first.
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = dict(os.environ, ASAN_OPTIONS=(asan + ":" if asan else "") + "verify_asan_link_order=0")
    return subprocess.run([str(gstest.gilscope()), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def sessions() -> str:
    return subprocess.run(["lttng", "list"], capture_output=True, text=True).stdout


def gone(pid: int) -> bool:
    """Exited (a zombie counts: nothing may reap it here)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def kill_recorder(out: Path, name: str, py: Path) -> tuple[int, str]:
    """Starts a recording, SIGKILLs its recorder once the command runs;
    returns (the command's pid, the session's name prefix)."""
    proc = subprocess.Popen([str(gstest.gilscope()), "record", "-o", str(out / name), "--",
                             str(py), "-c", PROG], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    gstest.check(proc.stdout.readline().strip() == "ready", f"{name}: the command runs")
    child = int(subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                               text=True).stdout.split()[0])
    session = f"gilscope-{proc.pid}-"
    gstest.check(session in sessions(), f"{name}: session {session}* exists while recording")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    t0 = time.time()
    while not gone(child) and time.time() - t0 < 10:
        time.sleep(0.05)
    gstest.check(gone(child), f"{name}: the command of the killed recorder ended "
                 f"({time.time() - t0:.2f} s after)")
    gstest.check(session in sessions(), f"{name}: the killed recorder left {session}* behind")
    return child, session


def analyzable(trace: Path, db: Path) -> None:
    res = gs("analyze", str(trace), "-o", str(db), "--no-progress")
    gstest.check(res.returncode == 0, f"{trace.name}: the stale session's trace was flushed "
                 f"and analyzes: {res.stderr.strip()}")
    holds = subprocess.run(["sqlite3", str(db), "SELECT count(*) FROM holds"],
                           capture_output=True, text=True).stdout.strip()
    gstest.check(int(holds or 0) > 10, f"{trace.name}: {holds} holds recorded before the kill")


def hold_daemon() -> int:
    """Takes a recorder's reference on the session daemon (a shared flock,
    tracer/sessiond.h): while held, no recorder, of any gilscope version,
    stops the daemon, which would take the stale sessions with it."""
    fd = os.open(gstest.sessiond_state("ref"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def main() -> None:
    out = gstest.tmpdir()
    py = gstest.find_python("debian")
    ref = hold_daemon()

    # Nesting: refused before anything runs, not a deadlock.
    t0 = time.time()
    res = gs("record", "-o", str(out / "outer"), "--",
             str(gstest.gilscope()), "record", "-o", str(out / "inner"), "--", str(py), "-c", "1",
             timeout=60)
    gstest.check("recording inside a recording is not supported" in res.stderr,
                 f"nested record says it is not supported: {res.stderr.strip()}")
    gstest.check(res.returncode == 2, f"the outer recorder passes the inner's status 2 on ({res.returncode})")
    gstest.check(time.time() - t0 < 30, f"and at once ({time.time() - t0:.1f} s)")
    gstest.check(not (out / "inner").exists(), "the inner recording wrote nothing")

    # Killed, then cleaned by the next recording.
    _, s1 = kill_recorder(out, "k1", py)
    res = gs("record", "-o", str(out / "next"), "--", "true")
    gstest.check(res.returncode == 0, f"the next recording works: {res.stderr.strip()}")
    # Any recorder starting meanwhile (another test's) may be the one that
    # cleans it and says so: the session must be gone all the same.
    if "destroyed the stale session " + s1 not in res.stderr:
        print(f"note: another recorder destroyed {s1}* first")
    gstest.check(s1 not in sessions(), f"{s1}* is gone after the next recording")
    analyzable(out / "k1", out / "k1.db")

    # Killed, then cleaned on demand.
    _, s2 = kill_recorder(out, "k2", py)
    res = gs("record", "--cleanup")
    gstest.check(res.returncode == 0 and ("destroyed the stale session " + s2 in res.stderr
                                          or "no stale gilscope session" in res.stderr),
                 f"--cleanup destroys {s2}*: {res.returncode} {res.stderr.strip()}")
    gstest.check(s2 not in sessions(), f"{s2}* is gone after --cleanup")
    analyzable(out / "k2", out / "k2.db")
    res = gs("record", "--cleanup")
    gstest.check(res.returncode == 0 and s2 not in res.stderr,
                 f"a second --cleanup has nothing of ours to do: {res.stderr.strip()}")
    res = gs("record", "--cleanup", "--", "true")
    gstest.check(res.returncode == 2, f"--cleanup with a command is a usage error ({res.returncode})")
    os.close(ref)
    gs("record", "--cleanup")  # stops the daemon if a recorder of ours started it
    print("PASSED: nesting refused, stale sessions cleaned")


if __name__ == "__main__":
    main()
