"""A thread that leaves the GIL while another asks for it waits in drop_gil
until the other has taken it (CPython's forced switch); the tracer writes
both ends of that wait once the thread is out of the GIL's mutexes. A
thread that then never takes the GIL again (it ends, as at the end of every
thread on 3.6 to 3.11, or sleeps until the process exits) must not take
them along: CPython's test_threading lost six places of its GIL's order
so (issue 12: the forced-switch records waited for the thread's next
request). Here daemon threads spin beside the main thread, with a switch
interval of 1 us so that the GIL is asked for all the time, then sleep
until the process exits."""


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


def main() -> None:
    # A daemon of its own: no other recording's process shares its streams.
    gstest.private_lttng()
    label, exe = gstest.python_arg()
    out = gstest.tmpdir()
    prog = out / "forced_sleep.py"
    prog.write_text(PROGRAM)
    res = gstest.record([str(exe), str(prog)], out / "trace")
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
    # (A waiter that takes the GIL before the releasing thread locks the
    # switch mutex spares it the wait: about half of them here.)
    gstest.check(forced_last >= 1,
                 f"workers' last GIL events are a forced switch's two ends ({forced_last} of 16)")
    db = out / "run.db"
    con = gstest.analyze(out / "trace", db)
    lost, anomalies, gaps = con.execute("SELECT lost_events, anomalies, order_gaps FROM runs").fetchone()
    unknown = con.execute("SELECT count(*) FROM lost").fetchone()[0]
    con.close()
    gstest.check((lost, anomalies, gaps, unknown) == (0, 0, 0, 0),
                 f"analyzed: lost {lost}, anomalies {anomalies}, order gaps {gaps}, lost rows {unknown}")
    print(f"PASSED: forced_sleep ({label})")


if __name__ == "__main__":
    main()
