"""A process that kills itself waits for another thread's writes that are
not its pending GIL records too: a resync (resync, gil_known and a
thread_name per named thread), a rescued acquire, a thread's name. Killed
inside one of those events, a thread leaves its reservation in the ring
buffer uncommitted: the rest of that CPU's stream is lost (tracer.kill_self
once lost 21 places of its GILs' order so under CI's load, its recording
taking 12 s instead of 2.4).

The child registers with the session daemon without waiting
(LTTNG_UST_REGISTER_TIMEOUT=0), so its resync is said again 5, 50, 250 ms,
1 s and 3 s after its events are enabled; a thread that takes the GIL
every millisecond writes those repeats. slow_task_access.c, preloaded
after gilscope's library, makes the liveness check before a repeat's
first thread_name event take 20 ms and tells the main thread when it
starts; the main thread then kills the process (SIGTERM, default action).
Every thread_name of that last resync must be in the trace: one per named
thread (without the wait, none is)."""

import argparse
import os
import sys

import gstest

SLEEPERS = 12

PROGRAM = r"""
import os, signal, subprocess, sys, threading, time

def child():
    r, w = os.pipe()
    stop = threading.Event()
    sleepers = [threading.Thread(target=stop.wait, name=f"sleeper-{i}") for i in range(SLEEPERS)]
    for t in sleepers:
        t.start()
    def poke():
        while True:
            time.sleep(0.001)
    # Arms slow_task_access: before the poker runs (no getenv meanwhile).
    os.environ["GILSCOPE_TEST_SLOW_ACCESS_FD"] = str(w)
    threading.Thread(target=poke, name="poker", daemon=True).start()
    os.read(r, 1)  # the poker is inside a resync's writes
    os.kill(os.getpid(), signal.SIGTERM)

if len(sys.argv) > 2:
    child()
else:
    env = dict(os.environ, LTTNG_UST_REGISTER_TIMEOUT="0",
               LD_PRELOAD=os.environ.get("LD_PRELOAD", "") + ":" + sys.argv[1])
    for _ in range(3):
        print("child", subprocess.run([sys.executable, __file__, sys.argv[1], "child"], env=env,
                                      timeout=60).returncode, flush=True)
""".replace("SLEEPERS", str(SLEEPERS))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slow-access", required=True)
    args, _ = ap.parse_known_args()
    # A daemon of its own: no other recording's process shares its streams.
    gstest.private_lttng()
    exe = gstest.find_python("debian")
    out = gstest.tmpdir()
    prog = out / "killresync.py"
    prog.write_text(PROGRAM)
    res = gstest.record([str(exe), str(prog), args.slow_access], out / "trace")
    codes = [line.split()[1] for line in res.stdout.splitlines() if line.startswith("child ")]
    gstest.check(codes == ["-15"] * 3, f"each child ended by its own SIGTERM ({codes})")
    gstest.check("no events lost" in res.stderr, f"the recorder lost nothing ({res.stderr.strip()})")
    trace = gstest.read_trace(out / "trace")
    want = SLEEPERS + 2  # MainThread, the sleepers, poker
    for pid, evs in sorted(trace.by_pid().items()):
        names = {e.fields.get("name") for e in evs if e.name == "thread_name"}
        if "poker" not in names:
            continue  # the parent
        last = max(i for i, e in enumerate(evs) if e.name == "resync")
        after = {e.fields.get("tid") for e in evs[last:] if e.name == "thread_name"}
        gstest.check(len(after) == want,
                     f"pid {pid}: its last resync, written while the process killed itself, "
                     f"is whole: {len(after)} of {want} thread names")
    children = sum(1 for evs in trace.by_pid().values()
                   if any(e.name == "thread_name" and e.fields.get("name") == "poker" for e in evs))
    gstest.check(children == 3, f"three children recorded ({children})")
    print("PASSED: kill_resync")


if __name__ == "__main__":
    main()
