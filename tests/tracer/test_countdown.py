"""Two threads counting down: the classic GIL fight, on one interpreter.

Checks: exactly one gil_found per process; every thread's requests,
acquires and releases follow CPython's state machine; drop requests match
CPU time / switch interval within 30%; a 1 ms interval gives about 5 times
as many; thread names arrive.
"""
import statistics
from pathlib import Path

import gstest

PROGRAM = r"""
import sys, threading, time
interval = float(sys.argv[1])
n = int(sys.argv[2])
sys.setswitchinterval(interval)
started, finished = [], []
def count_down(k):
    started.append(time.process_time())
    while k > 0:
        k -= 1
    finished.append(time.process_time())
threads = [threading.Thread(target=count_down, args=(n,), name="counter-%d" % i) for i in range(2)]
for t in threads: t.start()
for t in threads: t.join()
# The CPU time both counters were alive: when one is done, the other runs
# alone and nobody asks it to drop the GIL.
print("cpu", finished[0] - started[1])
"""


def run(exe: Path, interval: float, n: int) -> tuple[gstest.Trace, float, dict]:
    out = gstest.tmpdir()
    prog = out / "countdown.py"
    prog.write_text(PROGRAM)
    res = gstest.record([str(exe), str(prog), str(interval), str(n)], out / "trace")
    cpu = float(res.stdout.split()[-1])
    info = gstest.info(out / "trace")
    trace = gstest.own_events(gstest.read_trace(out / "trace"), int(info["tag"]))
    return trace, cpu, info


def rerequest_delay(trace: gstest.Trace) -> float:
    """Median time, in seconds, from a forced release to the same thread's
    next request. A forced thread waits until the other took the GIL, then
    must be scheduled before it can ask again; meanwhile the new holder
    computes with nobody waiting. Microseconds on a quiet machine,
    milliseconds when other processes keep both cores busy."""
    forced_at: dict[int, int] = {}
    delays = []
    for e in trace.events:
        if e.name == "release" and e.fields["forced"]:
            forced_at[e.tid] = e.ts
        elif e.name == "request" and e.tid in forced_at:
            delays.append(e.ts - forced_at.pop(e.tid))
    delays.sort()
    return delays[len(delays) // 2] / 1e9 if delays else 0.0


def busy(trace: gstest.Trace, interval: float) -> float:
    """Returns the re-request delay when it exceeds a fifth of the interval:
    other processes then hold the cores, the counters' cycle stretches and
    drop requests per CPU second say more about the load than about the
    GIL. 0.0 when the machine was quiet enough to measure."""
    delay = rerequest_delay(trace)
    return delay if delay > 0.2 * interval else 0.0


def drop_rate_ok(trace: gstest.Trace, cpu: float, interval: float) -> float:
    """Two CPU-bound threads give one drop request per interval of CPU time
    while both run: checks that within 30%; returns drops per CPU second."""
    drops = len(trace.named("drop_request"))
    expect = cpu / interval
    gstest.check(0.7 * expect <= drops <= 1.3 * expect,
                 f"{drops} drop requests within 30% of cpu/interval = {cpu:.3f}/{interval} = {expect:.0f}")
    return drops / cpu


def median_request_to_drop(trace: gstest.Trace) -> float:
    """Median time (s) from a waiter's request to the drop request it makes:
    CPython's waiter waits one interval, then asks the holder to drop. Both
    ends are the waiter's own, so a busy machine delaying the waiter's
    request (which dilutes the drop-request rate) does not move this."""
    last_req: dict[tuple[int, int], int] = {}
    deltas = []
    for e in trace.events:
        if e.name == "request":
            last_req[(e.pid, e.tid)] = e.ts
        elif e.name == "drop_request":
            t0 = last_req.get((e.pid, e.tid))
            if t0 is not None:
                deltas.append(e.ts - t0)
    if not deltas:
        gstest.fail("no drop request followed a request of its thread")
    return statistics.median(deltas) / 1e9


def quiet_run(exe: Path, interval: float, n: int) -> tuple[gstest.Trace, float, dict]:
    """Runs the countdown until the machine was quiet enough (3 tries), then
    checks the event sequences, which must hold whatever the load."""
    for attempt in range(3):
        trace, cpu, info = run(exe, interval, n)
        gstest.check_sequences(trace)
        delay = busy(trace, interval)
        if not delay:
            return trace, cpu, info
        print(f"note: busy machine: forced threads asked again {delay * 1e3:.2f} ms after "
              f"their release (microseconds when quiet); measuring again", flush=True)
    gstest.skip(f"the machine stayed too busy to measure drop-request rates (3 tries, "
                f"re-request delay {delay * 1e3:.2f} ms); the event sequences were checked")


def main() -> None:
    label, exe = gstest.python_arg()
    n = 5_000_000
    trace, cpu, info = quiet_run(exe, 0.005, n)
    gstest.check(trace.discarded == 0 and info["lost_events"] == "0", "no event lost")
    found = trace.named("gil_found")
    gstest.check(len(found) == 1, f"exactly one gil_found (got {len(found)})")
    ver = found[0].fields["version"]
    gstest.check(ver[:1] == "3", f"gil_found names Python {ver}")
    rule = found[0].fields["rule"]
    minor = int(ver.split(".")[1])
    gstest.check(rule == (2 if minor == 6 else 1), f"rule {rule} fits Python {ver}")
    if minor >= 7:
        gstest.check(found[0].fields["interval_us"] == 5000, "interval read from the GIL: 5000 us")
    counts = gstest.check_sequences(trace)
    gstest.check(len(counts) >= 3, f"main thread and both counters took the GIL ({len(counts)} threads)")
    for key, c in counts.items():
        gstest.check(abs(c["request"] - c["acquire"]) <= 1 and abs(c["acquire"] - c["release"]) <= 1,
                     f"thread {key[2]}: {c['request']} requests, {c['acquire']} acquires, {c['release']} releases pair up")
    rate5 = drop_rate_ok(trace, cpu, 0.005)
    drops = len(trace.named("drop_request"))
    forced = sum(1 for e in trace.named("release") if e.fields["forced"])
    gstest.check(abs(forced - drops) <= max(2, drops // 10), f"{forced} forced releases ~ {drops} drop requests")
    names = {e.fields["name"] for e in trace.named("thread_name")}
    gstest.check({"MainThread", "counter-0", "counter-1"} <= names, f"thread names reported: {sorted(names)}")
    holders = {e.fields["holder"] for e in trace.named("drop_request")}
    tids = {k[2] for k in counts}
    gstest.check(holders <= tids, "drop requests name threads that held the GIL")
    if minor >= 7:
        ivs = {e.fields["interval_us"] for e in trace.named("drop_request")}
        gstest.check(ivs == {5000}, f"drop requests carry the interval in force: {ivs}")

    fast, cpu1, _ = quiet_run(exe, 0.001, n)
    # About 5x. Not exactly: each cycle also holds a fixed cost (the
    # waiter's timer slack, the hand-off, the forced switch: 0.1 to 0.4 ms
    # measured here), which dilutes 1 ms cycles five times more than 5 ms
    # ones, so the ratio sits between 3 and 5 on a real machine.
    # A loaded machine stretches that fixed cost (2.6x was seen under a load
    # average of 10): the ratio only has to show clearly more drop requests,
    # and the interval itself is checked on each hold, by its median.
    drops1 = len(fast.named("drop_request"))
    ratio = (drops1 / cpu1) / rate5
    gstest.check(2.0 <= ratio <= 6.0, f"1 ms interval: {drops1} drop requests in {cpu1:.3f} s CPU, "
                 f"{ratio:.1f}x the rate at 5 ms (about 5x; at least 2x)")
    for tr, iv in ((trace, 0.005), (fast, 0.001)):
        med = median_request_to_drop(tr)
        gstest.check(0.9 * iv <= med <= 1.5 * iv,
                     f"{iv * 1e3:g} ms interval: median {med * 1e3:.2f} ms from a waiter's request "
                     f"to its drop request")
    if minor >= 7:
        ivs = {e.fields["interval_us"] for e in fast.named("drop_request")}
        gstest.check(ivs == {1000}, f"drop requests carry the new interval: {ivs}")
    print(f"PASSED: countdown on Python {ver} ({label})")


if __name__ == "__main__":
    main()
