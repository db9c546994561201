"""Every failure path of `gilscope record`: one clear line on stderr and a
non-zero exit; the command's own status passed on; signals forwarded; the
LTTng session always destroyed.

In an LTTng environment of its own (gstest.private_lttng, with a session
daemon of its own): a recorder of another test killed meanwhile leaves a
stale session that the next `record` here would destroy and say so, in
a line of its own before the one checked (seen under the sanitizers)."""
import os
import signal
import subprocess
import time
from pathlib import Path

import gstest


def gs(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(gstest.gilscope()), *args], capture_output=True, text=True, timeout=timeout)


def one_line_error(res: subprocess.CompletedProcess, what: str, needle: str, status: int) -> None:
    lines = [l for l in res.stderr.splitlines() if l.startswith("gilscope")]
    gstest.check(res.returncode == status, f"{what}: exit status {res.returncode} (want {status})")
    gstest.check(len(lines) >= 1 and needle in lines[0], f"{what}: says '{needle}': {lines[:1]}")


def sessions() -> str:
    res = subprocess.run(["lttng", "list"], capture_output=True, text=True)
    if res.returncode != 0:
        gstest.fail(f"lttng list exited {res.returncode}: {res.stderr.strip()}")
    return res.stdout


def main() -> None:
    if not gstest.private_lttng(as_user=True):
        gstest.skip("no LTTng environment of its own here (root without unshare(1) or a mount "
                    "namespace): another test's killed recorder would add a line to the errors checked")
    with gstest.own_sessiond() as pid:
        print(f"ok: an LTTng environment of its own, session daemon pid {pid}", flush=True)
        checks()


def checks() -> None:
    out = gstest.tmpdir()

    res = gs("record", "-o", str(out / "a"), "--", "/nonexistent/program")
    one_line_error(res, "missing command", "cannot run '/nonexistent/program': No such file", 127)
    gstest.check(not (out / "a").exists(), "nothing left behind when the command could not run")
    script = out / "not-exec.sh"
    script.write_text("echo hi\n")
    res = gs("record", "-o", str(out / "b"), "--", str(script))
    one_line_error(res, "non-executable command", "Permission denied", 126)

    res = gs("record", "-o", "/proc/gilscope-cannot-be-here", "--", "true")
    one_line_error(res, "unwritable output", "cannot create /proc/gilscope-cannot-be-here", 1)
    afile = out / "afile"
    afile.write_text("x")
    res = gs("record", "-o", str(afile / "sub"), "--", "true")
    one_line_error(res, "output under a file", "Not a directory", 1)

    gstest.record(["true"], out / "c")
    gstest.record(["true"], out / "deep" / "er")
    gstest.check((out / "deep" / "er" / "gilscope.info").exists(), "missing parent directories are created")
    res = gs("record", "-o", str(out / "c"), "--", "true")
    one_line_error(res, "existing trace", "already holds a trace", 1)

    one_line_error(gs("record"), "no command", "no command given", 2)
    one_line_error(gs("record", "-b", "lots", "--", "true"), "bad --buffer-size", "--buffer-size", 2)
    res = gs("record", "--help")
    gstest.check(res.returncode == 0 and "Examples:" in res.stdout, "--help prints usage with examples")

    res = gs("record", "-q", "-o", str(out / "d"), "--", "sh", "-c", "exit 7")
    gstest.check(res.returncode == 7, f"command's exit status passed on (7): {res.returncode}")
    gstest.check(gstest.info(out / "d")["exit_status"] == "7", "and written to gilscope.info")
    res = gs("record", "-q", "-o", str(out / "e"), "--", "sh", "-c", "kill -9 $$")
    gstest.check(res.returncode == 128 + 9, f"killed command: 128+9 ({res.returncode})")

    # A signal sent to the recorder alone reaches the command; the session
    # is destroyed all the same.
    py = gstest.find_python("debian")
    proc = subprocess.Popen([str(gstest.gilscope()), "record", "-o", str(out / "f"), "--", str(py), "-c",
                             "import time, sys\nprint('ready', flush=True)\ntime.sleep(60)"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    gstest.check(proc.stdout.readline().strip() == "ready", "long-running command started")
    name = f"gilscope-{proc.pid}-"
    gstest.check(name in sessions(), f"session {name}* exists while recording")
    os.kill(proc.pid, signal.SIGTERM)
    t0 = time.time()
    rc = proc.wait(timeout=60)
    gstest.check(rc == 128 + signal.SIGTERM, f"SIGTERM forwarded: exit {rc} after {time.time() - t0:.1f} s")
    gstest.check(name not in sessions(), "session destroyed after the command was killed")
    gstest.check((out / "f" / "gilscope.info").exists(), "trace kept")
    disk_full(out, py)
    print("PASSED: record errors")


def disk_full(out: Path, py: Path) -> None:
    """A 1 MiB tmpfs fills while recording: record says so, with the free
    space and where, and exits non-zero (54e0c8b: \"trace written\", exit 0)."""
    mnt = out / "small"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        print(f"note: the full-disk case needs root to mount a tmpfs: {res.stderr.strip()}")
        return
    try:
        churn = ("import threading\ndef f():\n    n = 2000000\n    while n: n -= 1\n"
                 "ts = [threading.Thread(target=f) for _ in range(2)]\n"
                 "[t.start() for t in ts]; [t.join() for t in ts]\n")
        res = gs("record", "-o", str(mnt / "t"), "--", str(py), "-c", churn)
        one_line_error(res, "a full disk", "the disk is full", 1)
        gstest.check(f"kB free on {mnt}" in res.stderr and "cut short" in res.stderr,
                     f"and says how much is free, where, and what it did: {res.stderr.strip()}")
        gstest.check("trace written" not in res.stderr, "and does not claim the trace is written")
    finally:
        # Lazily: the session daemon may still hold the trace open (in the
        # private namespace the mount goes with it).
        subprocess.run(["umount", "-l", str(mnt)], check=False)


if __name__ == "__main__":
    main()
