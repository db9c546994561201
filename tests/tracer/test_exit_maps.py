"""LTTng's ring buffers in a traced process (tracer/preload_process.c,
munmap): unmapped as before when the session that made them ends while the
process lives, and left for the kernel to unmap once the process exits;
LTTng's listener thread is not cancelled at exit either (pthread_cancel).

liblttng-ust's destructor unmaps each ring buffer it mapped, just before
exit_group() tears the whole address space down anyway; the preload makes
those calls return at once (a traced start-up's exit is shorter by them).
Checks, with a session daemon of this test's own:
- exit: `python3 -c pass`, recorded by `gilscope record` under strace:
  LTTng's threads map shared buffers (at least two: one a CPU), none of
  them is unmapped, no LTTng thread gets glibc's cancellation signal, and
  the recording has the process's events, none lost;
- session end: a traced process sleeping in a session made with lttng(1)
  maps the session's buffers; once the session is destroyed, they are
  gone from its /proc/PID/maps while it goes on running (the preload must
  not keep a mapping before exit: each session would leak tens of MiB).
"""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import gstest

# A shared mapping of a descriptor made by a thread that is not the main
# one (LTTng's listener), as strace -f writes it: tid, length, address.
MAP_RE = re.compile(r"^(\d+) +mmap\(NULL, (\d+), [A-Z_|]+, MAP_SHARED, (\d+), 0\) = (0x[0-9a-f]+)")
UNMAP_RE = re.compile(r"^(\d+) +munmap\((0x[0-9a-f]+), (\d+)\)")
# glibc's pthread_cancel: SIGCANCEL, which strace calls SIGRTMIN.
CANCEL_RE = re.compile(r"^(\d+) +tgkill\(\d+, (\d+), SIGRTMIN\)")
# What the session's ring buffers are called in /proc/PID/maps: the shared
# memory files of LTTng's consumer daemon (deleted once mapped).
BUFFER_MAP = "shm-ust-consumer"


def check_exit(py: Path, out: Path) -> None:
    strace = shutil.which("strace")
    if not strace:
        print("skipped: the exit half (no strace here to see the munmap calls)")
        return
    log = out / "strace.log"
    res = gstest.record([strace, "-f", "-qq", "-e", "trace=mmap,munmap,tgkill", "-o", str(log),
                         str(py), "-c", "pass"], out / "trace")
    gstest.check(res.returncode == 0, "strace python3 -c pass recorded")
    lines = log.read_text().splitlines()
    pid = int(lines[0].split()[0])
    maps = {}
    for line in lines:
        m = MAP_RE.match(line)
        if m and int(m.group(1)) != pid:
            maps[int(m.group(4), 16)] = int(m.group(2))
    big = [a for a, n in maps.items() if n >= 1 << 20]
    gstest.check(len(big) >= 2, f"LTTng's threads mapped the session's ring buffers "
                 f"({len(big)} shared mappings of 1 MiB or more: one a CPU)")
    unmapped = []
    for line in lines:
        m = UNMAP_RE.match(line)
        if m and maps.get(int(m.group(2), 16)) == int(m.group(3)):
            unmapped.append(line)
    gstest.check(not unmapped, f"none of LTTng's shared mappings is unmapped by the process: "
                 f"its exit leaves them to the kernel ({unmapped[:3]})")
    lttng_threads = {int(MAP_RE.match(line).group(1)) for line in lines if MAP_RE.match(line)} - {pid}
    cancels = [line for line in lines if (m := CANCEL_RE.match(line)) and int(m.group(2)) in lttng_threads]
    gstest.check(not cancels, f"nor is LTTng's thread cancelled at exit: exit_group ends it "
                 f"({cancels[:3]})")
    trace = gstest.read_trace(out / "trace")
    mine = [e for e in trace.named("gil_found") if e.procname.startswith("python")]
    gstest.check(len(mine) == 1 and trace.discarded == 0,
                 f"and the process was recorded: {len(mine)} gil_found, {trace.discarded} lost")


def buffer_maps(pid: int) -> int:
    with open(f"/proc/{pid}/maps") as f:
        return sum(BUFFER_MAP in line for line in f)


def wait_for(cond, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def lttng(*args: str) -> None:
    res = subprocess.run(["lttng", *args], capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        gstest.fail(f"lttng {' '.join(args)} exited {res.returncode}: {res.stderr.strip()}")


def check_session_end(py: Path, out: Path) -> None:
    lttng("create", "exit-maps", f"--output={out / 'lttng'}")
    destroyed = False
    proc = None
    try:
        lttng("enable-channel", "-u", "--buffers-uid", "c0")
        lttng("enable-event", "-u", "-c", "c0", "gilscope:*")
        lttng("start")
        env = dict(os.environ, LD_PRELOAD=str(gstest.preload_lib()))
        proc = subprocess.Popen([str(py), "-c", "import time\nwhile True: time.sleep(0.05)"], env=env)
        gstest.check(wait_for(lambda: buffer_maps(proc.pid) >= 2, 60),
                     f"a traced process in a session maps its ring buffers ({buffer_maps(proc.pid)})")
        lttng("destroy", "exit-maps")
        destroyed = True
        gstest.check(wait_for(lambda: buffer_maps(proc.pid) == 0, 60),
                     f"once the session is destroyed, they are unmapped while the process runs "
                     f"({buffer_maps(proc.pid)} left)")
        gstest.check(proc.poll() is None, "and the process goes on running")
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        if not destroyed:
            subprocess.run(["lttng", "destroy", "exit-maps"], capture_output=True, timeout=60)


def main() -> None:
    if not gstest.private_lttng():
        gstest.skip("no LTTng environment of its own here (root with unshare(1) needed): "
                    "a session of another test would map buffers in the processes checked")
    py = gstest.find_python("debian")
    if py is None:
        gstest.skip("no /usr/bin/python3 here")
    out = gstest.tmpdir()
    with gstest.own_sessiond() as pid:
        print(f"ok: an LTTng environment of its own, session daemon pid {pid}", flush=True)
        check_exit(py, out)
        check_session_end(py, out)
    print("PASSED: LTTng's buffers at session end and at exit")


if __name__ == "__main__":
    sys.exit(main())
