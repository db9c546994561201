"""A thread that leaves the GIL while another asks for it waits in drop_gil
until the other has taken it (CPython's forced switch); the tracer writes
both ends of that wait once the thread is out of the GIL's mutexes. A
thread that then never takes the GIL again (it ends, as at the end of every
thread on 3.6 to 3.11, or sleeps until the process exits) must not take
them along: CPython's test_threading lost six places of its GIL's order
so (issue 12: the forced-switch records waited for the thread's next
request). Here daemon threads spin beside the main thread, with a switch
interval of 100 us so that the GIL is asked for all the time, then sleep
until the process exits.

Whether CPython waits at all is a race: a waiter that takes the GIL before
the releasing thread reaches the switch mutex spares it the wait (the
tracer's own writes between the two make that more likely: from 0 to 13
of 16 workers wait, by load). So the waits are counted without gilscope
too: cond_wait_log.c, preloaded after it, logs every pthread_cond_wait,
and in these threads drop_gil's wait for the switch is the only one. Each
worker must have exactly as many forced_switch_begin and _end records as
it made such calls. The program runs again (up to 5 times) while no worker
made one at its last release, which is the case this test is about."""

import argparse
import collections
import os
from pathlib import Path

import gstest

PROGRAM = r"""
import fcntl, os, pickle, sys, threading, time
sys.setswitchinterval(1e-4)
N = 16
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, os.O_NONBLOCK)
try:
    while True:
        os.write(w, b"x" * 65536)
except BlockingIOError:
    pass
fcntl.fcntl(w, fcntl.F_SETFL, 0)
out = open(w, "wb", buffering=0, closefd=False)
data = list(range(1000000))
started = []

def worker():
    started.append(time.monotonic())
    # Pickled in C with the GIL held (protocol 2 buffers it all), while
    # the main thread asks for the GIL; then written to the full pipe:
    # the GIL is left with the drop request pending, for good.
    pickle.dump(data, out, protocol=2)

for _ in range(N):
    threading.Thread(target=worker, daemon=True).start()
n = 0
while len(started) < N or time.monotonic() < max(started) + 2:
    n += 1
print("started", len(started))
"""


def cond_waits(log: Path, pid: int) -> collections.Counter:
    """pthread_cond_wait calls of process pid per thread, as logged."""
    calls: collections.Counter = collections.Counter()
    if log.exists():
        for line in log.read_text().splitlines():
            p, tid, _ = line.split()
            if int(p) == pid:
                calls[int(tid)] += 1
    return calls


def attempt(exe: Path, out: Path, observer: str) -> int:
    """Records the program once and checks it; returns how many workers'
    last GIL events are a forced switch's two ends."""
    out.mkdir()
    prog = out / "forced_sleep.py"
    prog.write_text(PROGRAM)
    log = out / "cond_wait.log"
    env = dict(os.environ, LD_PRELOAD=observer, GILSCOPE_TEST_COND_WAIT_LOG=str(log))
    res = gstest.record([str(exe), str(prog)], out / "trace", env=env)
    gstest.check("started 16" in res.stdout, f"the program ran ({res.stdout.strip()})")
    info = gstest.info(out / "trace")
    trace = gstest.own_events(gstest.read_trace(out / "trace"), int(info["tag"]))
    gstest.check(trace.discarded == 0, "no event lost")
    # The workers' last GIL events: a forced release, then the wait's ends.
    last: dict[int, list[str]] = {}
    for e in trace.events:
        if e.tid != e.pid and "seq" in e.fields:
            last.setdefault(e.tid, []).append(e.name)
    forced_last = sum(1 for names in last.values() if names[-2:] == ["forced_switch_begin", "forced_switch_end"])
    gstest.check(len(last) == 16, f"16 workers took the GIL ({len(last)})")
    seqs: dict[tuple[int, int], list[int]] = {}
    for e in trace.events:
        if isinstance(e.fields.get("seq"), int):
            seqs.setdefault((e.pid, e.fields["gil"]), []).append(e.fields["seq"])
    missing = {k: sorted(set(range(max(v) + 1)) - set(v)) for k, v in seqs.items()}
    missing = {k: v for k, v in missing.items() if v}
    gstest.check(not missing, f"no place missing from the GIL's order ({missing})")
    pid = next(e.pid for e in trace.events if e.name == "gil_found")
    calls = cond_waits(log, pid)
    written = {tid: (names.count("forced_switch_begin"), names.count("forced_switch_end"))
               for tid, names in last.items()}
    wrong = {tid: (calls[tid],) + written[tid] for tid in last if written[tid] != (calls[tid], calls[tid])}
    gstest.check(not wrong, f"each worker's forced_switch_begin and _end records are as many as its "
                            f"forced-switch waits: {sum(calls[t] for t in last)} waits, "
                            f"{forced_last} at a worker's last release "
                            f"(tid: waits, begins, ends where they differ: {wrong})")
    db = out / "run.db"
    con = gstest.analyze(out / "trace", db)
    lost, anomalies, gaps = con.execute("SELECT lost_events, anomalies, order_gaps FROM runs").fetchone()
    unknown = con.execute("SELECT count(*) FROM lost").fetchone()[0]
    con.close()
    gstest.check((lost, anomalies, gaps, unknown) == (0, 0, 0, 0),
                 f"analyzed: lost {lost}, anomalies {anomalies}, order gaps {gaps}, lost rows {unknown}")
    return forced_last


def main() -> None:
    # A daemon of its own: no other recording's process shares its streams.
    gstest.private_lttng()
    ap = argparse.ArgumentParser()
    ap.add_argument("--cond-wait-log", required=True)
    args, _ = ap.parse_known_args()
    label, exe = gstest.python_arg()
    top = gstest.tmpdir()
    # Started here, not by record: the observer is in record's environment.
    with gstest.own_sessiond():
        for n in range(1, 6):
            forced_last = attempt(exe, top / f"run{n}", args.cond_wait_log)
            if forced_last:
                break
            print(f"note: run {n}: no worker waited for the switch at its last release; again", flush=True)
    gstest.check(forced_last >= 1, f"workers' last GIL events are a forced switch's two ends "
                                   f"({forced_last} of 16, run {n})")
    print(f"PASSED: forced_sleep ({label})")


if __name__ == "__main__":
    main()
