"""A trace whose metadata does not describe its streams is never called
written. Seen once in CI (bench.quick, a shared session daemon, other
tests beside it): `record` exited 0 and `analyze` failed with babeltrace2's
"No stream class with ID of stream class ID to use in trace class": the
stream files held packets of stream class 0, the metadata declared no
stream class and no event (LTTng's layout: a channel and its events are
described once a traced process registers them with the session daemon).

The traced command here makes that trace for real: once LTTng has written
the descriptions into its recording's metadata, it blanks every `stream`
and `event` block there (in place, inside the metadata packets, which stay
valid), as if they had never been written. babeltrace2 must then fail as
in CI; `record` must say in one line that the trace cannot be read and
exit non-zero, without "trace written"; `analyze` must say which stream
and why in one line (not abort). The same command without the blanking
records a trace both read.

Every other way of recording runs the same check (cli/recorded.c):
`run` (the command blanks its trace); `record --pid` and `snapshot` of a
flight recorder on a service started with `gilscope exec`, whose traces
are blanked by blank_metadata.py run from inside the recorder once LTTng
has written them (after_trace.c, preloaded into gilscope). Each must exit
1 with the one line, never calling the trace written."""
import argparse
import os
import subprocess
import sys
from pathlib import Path

import gstest

# argv: TRACE_DIR blank|keep TESTS_DIR. A child's two threads churn the
# GIL; its exit has the session daemon send its descriptions to the
# metadata at once (a fresh daemon writes none before). Then (blank) wait
# for the stream class's description in the metadata and blank it.
COMMAND = r'''
import subprocess, sys
from pathlib import Path

CHURN = """
import os, threading
def churn():
    for _ in range(2000):
        os.sched_yield()
ts = [threading.Thread(target=churn) for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
"""
subprocess.run([sys.executable, "-c", CHURN], check=True)
if sys.argv[2] != "blank":
    sys.exit(0)
sys.path.insert(0, sys.argv[3])
import blank_metadata
print(blank_metadata.blank(Path(sys.argv[1])))
'''

# A service for `record --pid` and the flight recorder, started with
# `gilscope exec`: two threads churn the GIL until it is killed.
SERVICE = r'''
import os, threading
def churn():
    while True:
        os.sched_yield()
ts = [threading.Thread(target=churn, daemon=True) for _ in range(2)]
for t in ts: t.start()
print("ready", flush=True)
threading.Event().wait()
'''

HERE = Path(__file__).resolve().parent


def gs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(gstest.gilscope()), *args], capture_output=True, text=True, timeout=300)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--after-trace", required=True)
    after = ap.parse_args().after_trace
    gstest.private_lttng()
    exe = gstest.find_python("debian")
    if exe is None:
        gstest.skip("needs Debian's python3")
    out = gstest.tmpdir()

    kept = out / "kept"
    res = gstest.record([str(exe), "-c", COMMAND, str(kept), "keep", str(HERE)], kept)
    gstest.check("trace written" in res.stderr, f"a whole trace is called written: {res.stderr}")
    bt = subprocess.run(["babeltrace2", str(kept)], capture_output=True, text=True, timeout=120)
    gstest.check(bt.returncode == 0, f"babeltrace2 reads the whole trace: {bt.stderr[-500:]}")
    res = gs("analyze", str(kept), "-o", str(out / "kept.db"), "--no-progress")
    gstest.check(res.returncode == 0, f"analyze reads the whole trace: {res.stderr}")

    blanked = out / "blanked"
    res = gstest.record([str(exe), "-c", COMMAND, str(blanked), "blank", str(HERE)], blanked, check=False)
    gstest.check("blanked" in res.stdout, f"the command blanked the descriptions: {res.stdout} {res.stderr}")
    lines = [l for l in res.stderr.splitlines() if l.startswith("gilscope")]
    gstest.check(res.returncode == 1, f"record exits 1 (the command's 0 is no success here): "
                 f"{res.returncode}, {res.stderr}")
    gstest.check(len(lines) == 1 and lines[0].startswith("gilscope record: the trace in ")
                 and "cannot be read" in lines[0] and "stream class 0" in lines[0]
                 and "does not declare" in lines[0],
                 f"one line says the trace cannot be read, and why: {lines}")
    gstest.check("trace written" not in res.stderr and "no events lost" not in res.stderr,
                 f"never called written: {res.stderr}")
    # The CI failure itself: what babeltrace2 says of such a trace.
    bt = subprocess.run(["babeltrace2", str(blanked)], capture_output=True, text=True, timeout=120)
    gstest.check(bt.returncode != 0 and "No stream class with ID" in bt.stderr,
                 f"babeltrace2 fails as in CI: {bt.returncode} {bt.stderr[-400:]}")
    res = gs("analyze", str(blanked), "-o", str(out / "blanked.db"), "--no-progress")
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    gstest.check(res.returncode == 1 and len(lines) == 1 and "stream class 0" in lines[0]
                 and "does not declare" in lines[0] and "/gilscope_" in lines[0],
                 f"analyze names the stream in one line: {res.returncode} {lines}")
    gstest.check(not (out / "blanked.db").exists(), "analyze leaves no database behind")

    # `run`: the same check before it says "recorded".
    res = gs("run", "-o", str(out / "run"), "--", str(exe), "-c", COMMAND,
             str(out / "run" / "trace"), "blank", str(HERE))
    one_line(res, "run", "gilscope run: ", "gilscope: recorded")

    # `record --pid` and `snapshot`: the trace damaged once LTTng wrote it.
    service = subprocess.Popen([str(gstest.gilscope()), "exec", "--", str(exe), "-c", SERVICE],
                               stdout=subprocess.PIPE, text=True)
    try:
        gstest.check(service.stdout.readline().strip() == "ready", "the service runs")
        res = after_trace(after, out / "pid", "record", "--pid", str(service.pid), "--duration", "2s",
                          "-o", str(out / "pid"))
        one_line(res, "record --pid", "gilscope record: ", "trace written")
        res = gs("record", "--flight", "-b", "1M", "--pid", str(service.pid))
        gstest.check(res.returncode == 0, f"a flight recorder starts: {res.stderr.strip()}")
        try:
            res = after_trace(after, out / "snap", "snapshot", "-o", str(out / "snap"))
            one_line(res, "snapshot", "gilscope snapshot: ", "snapshot written")
        finally:
            res = gs("flight", "stop")
            gstest.check(res.returncode == 0, f"flight stop: {res.stderr.strip()}")
    finally:
        service.kill()
        service.wait()
    print("ok: an undescribed stream is found by record, record --pid, run, snapshot and analyze")


def after_trace(lib: str, trace: Path, *args: str) -> subprocess.CompletedProcess:
    """gilscope ARGS with after_trace.c preloaded: the metadata under
    trace is blanked once LTTng has written it."""
    blank = f"{sys.executable} {HERE / 'blank_metadata.py'} {trace}"
    env = dict(os.environ, LD_PRELOAD=lib, GILSCOPE_TEST_AFTER_TRACE=f"env -u LD_PRELOAD {blank}")
    return subprocess.run([str(gstest.gilscope()), *args], capture_output=True, text=True,
                          timeout=300, env=env)


def one_line(res: subprocess.CompletedProcess, what: str, pfx: str, never: str) -> None:
    lines = [l for l in res.stderr.splitlines() if l.startswith("gilscope")
             and not l.startswith("gilscope: recording pid")]
    gstest.check(res.returncode == 1 and len(lines) == 1 and lines[0].startswith(pfx + "the trace in ")
                 and "cannot be read" in lines[0] and "stream class 0" in lines[0]
                 and "does not declare" in lines[0] and never not in res.stderr,
                 f"{what}: exit 1, one line says the trace cannot be read, and why, never "
                 f"'{never}': {res.returncode} {lines}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
