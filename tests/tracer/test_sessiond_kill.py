"""The session daemon gilscope started is stopped when the last recording
ends, even when it does not end on SIGTERM: 10 s later it gets SIGKILL, and
so do its lttng-* children (consumer daemons, run-as helper), with one line
saying so. A daemon gilscope did not start is never signalled, nor one at a
reused pid (the marker holds the daemon's start time); one named by a
marker of gilscope 0.x (a pid alone) gets SIGTERM as before, never SIGKILL.

The daemon is the real lttng-sessiond, started with SIGTERM blocked (a
wrapper first in PATH blocks it and execs the real one; the daemon and its
threads inherit the mask): SIGTERM stays pending, as for a daemon stopped
by SIGSTOP or stuck. As root it runs in a mount and pid namespace of its
own, a user who is not root in a LTTNG_HOME of its own
(gstest.private_lttng)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gstest

# The traced program names the daemon and its lttng-* children while they run.
PROG = r"""
import os, sys
from pathlib import Path
pidfile = Path(sys.argv[1])
daemon = int(pidfile.read_text())
kids = []
for d in Path("/proc").glob("[0-9]*"):
    try:
        stat = (d / "stat").read_text()
        if int(stat.rsplit(")", 1)[1].split()[1]) == daemon and \
                (d / "comm").read_text().startswith("lttng-"):
            kids.append(d.name)
    except (OSError, ValueError, IndexError):
        pass
print("DAEMON", daemon, " ".join(kids), flush=True)
"""

SIGTERM_BIT = 1 << (signal.SIGTERM - 1)


def pidfile() -> Path:
    if os.geteuid() == 0:
        return Path("/run/lttng/lttng-sessiond.pid")
    return Path(os.environ["LTTNG_HOME"]) / ".lttng" / "lttng-sessiond.pid"


def marker() -> Path:
    return gstest.sessiond_state("marker")


def term_pending(pid: int) -> bool:
    """SIGTERM sent to pid and still pending (it blocks it)."""
    status = Path(f"/proc/{pid}/status").read_text()
    shd = re.search(r"^ShdPnd:\s*([0-9a-f]+)", status, re.M)
    return bool(shd and int(shd.group(1), 16) & SIGTERM_BIT)


def children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d.name))
        except (OSError, ValueError, IndexError):
            pass
    return kids


def kill_daemon(pid: int) -> None:
    """The test's own daemon: SIGKILL (it ignores SIGTERM), its children too."""
    for p in [pid] + [k for k in children(pid) if gstest._comm(k).startswith("lttng-")]:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main() -> None:
    if not gstest.private_lttng(as_user=True):
        gstest.skip("no private LTTng environment (as root it needs unshare(1)): the test "
                    "starts and kills session daemons")
    if os.geteuid() == 0 and gstest.sessiond_pids(reachable=True):
        gstest.fail(f"a session daemon runs in the private namespace ({gstest.sessiond_pids()})")
    real = shutil.which("lttng-sessiond")
    if not real:
        gstest.skip("lttng-sessiond is not installed (apt-get install lttng-tools)")
    out = gstest.tmpdir()
    py = gstest.find_python("debian")
    bindir = Path(tempfile.mkdtemp(prefix="gilscope-path-", dir=out))
    wrapper = bindir / "lttng-sessiond"
    wrapper.write_text(f"#!{sys.executable}\nimport os, signal, sys\n"
                       "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\n"
                       f"os.execv({real!r}, ['lttng-sessiond'] + sys.argv[1:])\n")
    wrapper.chmod(0o755)
    os.environ["PATH"] = f"{bindir}:{os.environ['PATH']}"
    prog = out / "names.py"
    prog.write_text(PROG)

    # 1. gilscope starts the daemon (none answers) and must end it.
    t0 = time.time()
    res = gstest.record([str(py), str(prog), str(pidfile())], out / "a")
    took = time.time() - t0
    names = next((line.split()[1:] for line in res.stdout.splitlines() if line.startswith("DAEMON ")), [])
    gstest.check(len(names) >= 1, f"the traced program named the daemon ({res.stdout.strip()})")
    daemon, kids = int(names[0]), [int(k) for k in names[1:]]
    gstest.check(len(gstest.read_trace(out / "a").named("gil_found")) >= 1,
                 "the recording through that daemon has its events")
    said = [line for line in res.stderr.splitlines() if "SIGKILL" in line]
    gstest.check(len(said) == 1 and f"the session daemon gilscope started (pid {daemon}) did not end "
                 "within 10 s of SIGTERM: killed it with SIGKILL" in said[0]
                 and "still runs" not in said[0],
                 f"one line says the daemon got SIGKILL ({res.stderr.strip()})")
    gstest.check(all(str(k) in said[0] for k in kids),
                 f"and names its children {kids} ({said[0] if said else ''})")
    gstest.check(took >= 10, f"after 10 s of SIGTERM ({took:.1f} s)")
    left = [p for p in [daemon] + kids if gstest.live(p)]
    gstest.check(not left, f"the daemon {daemon} and its children {kids} are gone ({left} live)")
    gstest.check(not marker().exists(), f"{marker()} is removed")

    # 2. A daemon the test started (SIGTERM blocked too): never signalled.
    started = subprocess.run(["lttng-sessiond", "--daemonize", "--no-kernel"], capture_output=True,
                             text=True, timeout=60)
    try:
        mine = int(pidfile().read_text())
    except (OSError, ValueError) as e:
        gstest.fail(f"lttng-sessiond --daemonize (exit {started.returncode}) wrote no pid: {e}")
    try:
        res = gstest.record([str(py), "-c", "print('hi')"], out / "b")
        gstest.check(gstest.live(mine) and not term_pending(mine) and "SIGKILL" not in res.stderr,
                     f"a daemon gilscope did not start (pid {mine}) is left alone "
                     f"(live {gstest.live(mine)}, SIGTERM pending {gstest.live(mine) and term_pending(mine)}): "
                     f"{res.stderr.strip()}")
        # Its pid in the marker with another start time: a reused pid.
        marker().write_text(f"{mine} 1\n")
        res = subprocess.run([str(gstest.gilscope()), "record", "--cleanup"], capture_output=True,
                             text=True, timeout=120)
        gstest.check(res.returncode == 0 and gstest.live(mine) and not term_pending(mine),
                     f"a marker naming its pid with another start time signals nothing "
                     f"(exit {res.returncode}, live {gstest.live(mine)}): {res.stderr.strip()}")
        gstest.check(not marker().exists(), "and is removed")
        # A marker of gilscope 0.x: the pid alone. SIGTERM as before, no SIGKILL.
        marker().write_text(f"{mine}\n")
        res = subprocess.run([str(gstest.gilscope()), "record", "--cleanup"], capture_output=True,
                             text=True, timeout=120)
        gstest.check(res.returncode == 0 and gstest.live(mine) and term_pending(mine)
                     and "SIGKILL" not in res.stderr
                     and f"the session daemon (pid {mine}) did not end within 10 s of SIGTERM; "
                     "left running" in res.stderr,
                     f"a marker without a start time: SIGTERM, no SIGKILL, said in one line "
                     f"(exit {res.returncode}, live {gstest.live(mine)}): {res.stderr.strip()}")
    finally:
        kill_daemon(mine)
    shutil.rmtree(out, ignore_errors=True)
    print("PASSED: the daemon gilscope started ends, by SIGKILL if need be; no other is signalled")


if __name__ == "__main__":
    main()
