"""Two recorders in two mount namespaces, each with its own /run/lttng
(so its own session daemon), and one state directory: /tmp, as with
XDG_RUNTIME_DIR unset. Their lock files and daemon markers must not be
shared (tracer/sessiond.c names them after the daemon's run directory):
recorder A starts a daemon in its namespace and keeps recording; recorder
B, meanwhile, starts one in its own and ends: B is the last recorder of
its daemon and must stop it at once, leaving A's running; when A ends,
A's daemon stops too. With one set of files for both (gilscope before),
B saw A's reference and left its daemon running, then A stopped B's
daemon (the marker named it last) and left its own running.

As root: a mount namespace of its own (gstest.private_lttng) with a /tmp
of its own too (a tmpfs: the files of the recorders below never meet the
machine's), inside which each recorder runs in a namespace of its own
with a tmpfs on /run/lttng. Last, a recorder of an earlier gilscope
(reference file without the run directory's key) holding its reference
keeps the daemon a recorder of now started from being stopped under it."""
import fcntl
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import gstest

INNER = "GILSCOPE_TEST_SESSIOND_NS"

# argv: GO. Names the daemon this recording uses, then waits until GO exists.
PROG = r"""
import os, sys, time
print("DAEMON", open("/run/lttng/lttng-sessiond.pid").read().strip(), flush=True)
deadline = time.monotonic() + 120
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.05)
"""


def gone_within(pid: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while gstest.live(pid) and time.monotonic() < end:
        time.sleep(0.05)
    return not gstest.live(pid)


def recorder(name: str, py: Path, go: str) -> subprocess.Popen:
    """`gilscope record` in a mount namespace of its own with an empty
    /run/lttng: the daemon it starts is its namespace's alone."""
    return subprocess.Popen(
        ["unshare", "-m", "sh", "-c", f'mount -t tmpfs gilscope-{name} /run/lttng && exec "$@"', "sh",
         str(gstest.gilscope()), "record", "-o", f"/tmp/{name}", "--", str(py), "-c", PROG, go],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def daemon_of(proc: subprocess.Popen, name: str) -> int:
    line = proc.stdout.readline().split()
    gstest.check(len(line) == 2 and line[0] == "DAEMON" and line[1].isdigit(),
                 f"recorder {name}'s program names its daemon ({line})")
    return int(line[1])


def inner() -> None:
    py = gstest.find_python("debian")
    if py is None:
        gstest.skip("needs Debian's python3")
    os.environ.pop("XDG_RUNTIME_DIR", None)
    home = Path("/tmp/home")
    home.mkdir()
    os.environ.update(HOME=str(home), LTTNG_HOME=str(home))
    daemons: list[int] = []
    a = None
    try:
        a = recorder("a", py, "/tmp/go")
        pa = daemon_of(a, "A")
        daemons.append(pa)
        b = recorder("b", py, "/tmp")
        pb = daemon_of(b, "B")
        daemons.append(pb)
        _, err = b.communicate(timeout=120)
        gstest.check(b.returncode == 0 and "no events lost" in err,
                     f"recorder B recorded ({b.returncode}: {err.strip()})")
        gstest.check(pa != pb, f"each namespace has a daemon of its own ({pa}, {pb})")
        gstest.check(gone_within(pb, 15), f"B, the last recorder of its daemon (pid {pb}), stopped it "
                     "although A records on in another namespace")
        gstest.check(gstest.live(pa), f"and A's daemon (pid {pa}) runs on")
        refs = sorted(p.name for p in Path("/tmp").glob(f"gilscope-sessiond-{os.getuid()}-*.lock"))
        gstest.check(len(refs) == 2, f"two reference files in /tmp, one per daemon ({refs})")
        Path("/tmp/go").touch()
        _, err = a.communicate(timeout=120)
        gstest.check(a.returncode == 0 and "no events lost" in err,
                     f"recorder A recorded ({a.returncode}: {err.strip()})")
        gstest.check(gone_within(pa, 15), f"A, the last recorder of its daemon (pid {pa}), stopped it")

        # A recorder of an earlier gilscope holds its reference (the file
        # without KEY): the daemon a recorder of now started stays, then
        # `record --cleanup` (in that namespace) stops it once it is free.
        legacy = os.open(f"/tmp/gilscope-sessiond-{os.getuid()}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(legacy, fcntl.LOCK_SH)
        c = recorder("c", py, "/tmp")
        pc = daemon_of(c, "C")
        daemons.append(pc)
        _, err = c.communicate(timeout=120)
        gstest.check(c.returncode == 0, f"recorder C recorded ({c.returncode}: {err.strip()})")
        time.sleep(0.5)
        gstest.check(gstest.live(pc), f"while an earlier gilscope's recorder holds its reference, "
                     f"the daemon C started (pid {pc}) runs on")
        os.close(legacy)
        res = subprocess.run(["nsenter", "-t", str(pc), "-m", str(gstest.gilscope()), "record", "--cleanup"],
                             capture_output=True, text=True, timeout=120)
        gstest.check(res.returncode == 0 and gone_within(pc, 15),
                     f"once it is released, `record --cleanup` stops it ({res.returncode}: {res.stderr.strip()})")
    finally:
        if a and a.poll() is None:
            Path("/tmp/go").touch()
            a.kill()
        for pid in daemons:
            if gstest.live(pid):
                os.kill(pid, signal.SIGKILL)
    print("PASSED: recorders in two mount namespaces keep their daemons apart")


def main() -> None:
    if os.environ.get(INNER) == "1":
        inner()
        return
    if not gstest.private_lttng():
        gstest.skip("needs root and unshare(1): mount namespaces of its own, each with its "
                    "own /run/lttng")
    # A /tmp of its own, shared by the two recorders' namespaces made inside.
    # What the test runs from may itself be under /tmp (a CI clone, a build
    # directory, an interpreter): those are bound back in from the /tmp
    # underneath, reached by a descriptor opened before the tmpfs covers it
    # (mount -c: not canonicalized, which would name the new /tmp's).
    keep = sorted({Path("/tmp", Path(p).resolve().relative_to("/tmp").parts[0])
                   for p in (__file__, gstest.gilscope(), sys.executable)
                   if Path(p).resolve().is_relative_to("/tmp")})
    script = "exec 3</tmp && mount -t tmpfs gilscope-tmp /tmp"
    for d in keep:
        q = shlex.quote(str(d))
        script += f" && mkdir -p {q} && mount -c --bind /proc/self/fd/3/{shlex.quote(d.name)} {q}"
    argv = ["unshare", "-m", "sh", "-c", script + ' && exec 3<&- && exec "$@"', "sh",
            sys.executable, *sys.argv]
    sys.stdout.flush()
    sys.exit(subprocess.run(argv, env=dict(os.environ, **{INNER: "1"})).returncode)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
