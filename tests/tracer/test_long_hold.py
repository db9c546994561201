"""A hold that lasts is in the trace while it lasts.

The tracer writes a hold's take or acquire with its release, out of the
hold (docs/tracer.md, "The events"). A hold that lasts (one C call that
never lets the GIL go: a big pow) must not be missing from the trace until
it ends: the first thread that times out waiting for that GIL writes it for
its holder (take_for/acquire_for), once. Checked on a real recording:

- the long hold's take or acquire was written by the waiting thread, for
  the main thread, before the hold ended (record time before the release);
- it is there exactly once (the GIL's sequence and state machine hold);
- the analyzer gives the hold to the main thread, from the line where it
  took the GIL, with no event lost and no place in the order missing.
"""

import gstest

POW_EXPONENT = 3_000_000  # about a second of one C call on this machine kind
PROGRAM = r"""
import sys, threading, time
n = int(sys.argv[1])
started = False
def waiter():
    while not started:
        time.sleep(0.005)
    # main is in its long call now: this return from sleep waits for it.
t = threading.Thread(target=waiter, name="waiter")
t.start()
time.sleep(0.02)  # LINE_TAKE: main takes the GIL back here
started = True  # LINE_FLAG
r = pow(7, n)  # one C call: the GIL is held throughout
t.join()
print("done", r.bit_length() > 0)
"""


def line_of(tag: str) -> int:
    return next(i for i, l in enumerate(PROGRAM.split("\n"), start=0) if tag in l)


def main() -> None:
    label, exe = gstest.python_arg()
    out = gstest.tmpdir()
    prog = out / "long_hold.py"
    prog.write_text(PROGRAM.lstrip("\n"))
    res = gstest.record([str(exe), str(prog), str(POW_EXPONENT)], out / "trace")
    gstest.check("done True" in res.stdout, f"the program ran ({res.stdout.strip()!r})")
    info = gstest.info(out / "trace")
    trace = gstest.own_events(gstest.read_trace(out / "trace"), int(info["tag"]))
    gstest.check(trace.discarded == 0, "no event lost")
    gstest.check_sequences(trace)  # fails on an acquire written twice
    tid_of = {e.fields["name"]: e.fields["tid"] for e in trace.named("thread_name")}
    gstest.check("MainThread" in tid_of and "waiter" in tid_of, "both threads named")
    main_tid, waiter_tid = tid_of["MainThread"], tid_of["waiter"]

    # The main thread's longest hold: its acquire and the release after it.
    longest = None
    acq = None
    for e in trace.events:
        if e.tid != main_tid:
            continue
        if e.name == "acquire":
            acq = e
        elif e.name == "release" and acq is not None:
            if longest is None or e.ts - acq.ts > longest[1].ts - longest[0].ts:
                longest = (acq, e)
            acq = None
    gstest.check(longest is not None, "the main thread held the GIL")
    a, r = longest
    held = (r.ts - a.ts) / 1e9
    gstest.check(held >= 0.2, f"the main thread's longest hold lasted {held:.3f} s (the pow)")
    gstest.check(a.fields.get("by") == waiter_tid,
                 f"its acquire was written by the waiting thread {waiter_tid} for the main thread "
                 f"{main_tid} (take_for/acquire_for), not with the release (writer: "
                 f"{a.fields.get('by', 'the main thread itself')})")
    early = (r.ts - a.rec_ts) / 1e9
    gstest.check(a.rec_ts < r.ts,
                 f"it was in the trace {early:.3f} s before the hold ended")
    rescued = [e for e in trace.events if e.fields.get("by") is not None]
    gstest.check(all(e.name in ("acquire", "request") for e in rescued),
                 f"only takes and acquires are written for another thread ({len(rescued)} records)")

    con = gstest.analyze(out / "trace", out / "run.db")
    lost, gaps = con.execute("SELECT sum(lost_events), sum(order_gaps) FROM runs").fetchone()
    gstest.check(lost == 0 and gaps == 0, f"the analyzer lost nothing ({lost} lost, {gaps} gaps)")
    row = con.execute(
        "SELECT h.tid, h.dur_ns, h.started, c.line FROM holds h "
        "LEFT JOIN code_sites c ON c.run_id = h.run_id AND c.site_id = h.start_site_id "
        "ORDER BY h.dur_ns DESC LIMIT 1").fetchone()
    gstest.check(row is not None and row[0] == main_tid and row[2] == "acquired",
                 f"the analyzer's longest hold is the main thread's, from its acquire ({row})")
    if gstest.python_version(exe) >= (3, 7):  # no code attribution before
        lines = {line_of("LINE_TAKE"), line_of("LINE_FLAG")}
        gstest.check(row[3] in lines, f"and it began where the main thread took the GIL back: "
                     f"line {row[3]}, one of {sorted(lines)}")
    print(f"PASSED: long_hold ({label})")


if __name__ == "__main__":
    main()
