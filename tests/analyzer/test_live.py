"""Records small programs with each interpreter and checks the analyzed
database against the trace: consistency, row counts = event counts, and
the figures the design notes predict (two CPU-bound threads: forced
switches about every 5 ms; pipe ping-pong: one hand-off per read)."""
import shutil

import dbcheck
import gstest
from dbcheck import check, one

COUNTDOWN = """
import threading
def count(n):
    while n > 0:
        n -= 1
ts = [threading.Thread(target=count, args=(3_000_000,), name=f"counter-{i}") for i in range(2)]
for t in ts: t.start()
for t in ts: t.join()
"""

PINGPONG = """
import os, threading
N = 200
a_r, a_w = os.pipe(); b_r, b_w = os.pipe()
def pong():
    for _ in range(N):
        os.read(a_r, 1); os.write(b_w, b"y")
t = threading.Thread(target=pong, name="pong"); t.start()
for _ in range(N):
    os.write(a_w, b"x"); os.read(b_r, 1)
t.join()
"""


SUBINTERPRETERS = """
import threading
try:
    import _xxsubinterpreters as interpreters
except ImportError:
    import _interpreters as interpreters
def run():
    try:
        iid = interpreters.create(isolated=True)  # its own GIL (PEP 684)
    except TypeError:
        iid = interpreters.create()
    interpreters.run_string(iid, "n = 100000\\nwhile n: n -= 1")
    interpreters.destroy(iid)
ts = [threading.Thread(target=run) for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
"""


def main():
    label, py = gstest.python_arg()
    if not gstest.preload_lib().exists():
        gstest.skip("the tracer is not built")
    tmp = dbcheck.tmpdir()
    progs = [("countdown", COUNTDOWN), ("pingpong", PINGPONG)]
    if gstest.python_version(py) >= (3, 12):
        progs.append(("subinterpreters", SUBINTERPRETERS))
    for name, prog in progs:
        trace = tmp / name
        gstest.record([str(py), "-c", prog], trace)
        db = tmp / f"{name}.db"
        dbcheck.analyze(trace, db)
        dbcheck.check_db(db, trace)
        dbcheck.summary(db)
        if name == "countdown":
            forced = one(db, "SELECT count(*) FROM holds h JOIN threads t ON t.tid = h.tid "
                             "WHERE t.name LIKE 'counter-%' AND ended = 'forced'")
            check(forced >= 2, f"{label}: the counters were forced to switch ({forced} times)")
            # Counted against CPython's take_gil, with no bound that load
            # can break (the OS may run any thread late, which only
            # stretches what follows). A waiter's timed wait lasts at
            # least the switch interval (CPython's default, 5 ms: the
            # program leaves it); a drop request is made at a time-out,
            # an interval or more after the wait began; the holder it
            # forced out held the GIL at least that long (the waiter asked
            # only after the holder took it); and each thread's own holds,
            # forced switches and waits follow one another without overlap
            # (a wait starts at its request, after the thread's release).
            interval = one(db, "SELECT interval_us FROM gils")
            check(interval in (5000, None, 0),
                  f"{label}: the switch interval read is CPython's default 5000 us ({interval})")
            ivl = 5_000_000 - 50_000  # the tracer's clock against CPython's timed wait's
            durs = [d for (d,) in dbcheck.rows(db, "SELECT dur_ns FROM holds h JOIN threads t ON t.tid = h.tid "
                                                   "WHERE t.name LIKE 'counter-%' AND ended = 'forced' "
                                                   "ORDER BY dur_ns")]
            check(durs[0] >= ivl, f"{label}: each of the {len(durs)} forced holds of a counter lasted an "
                                  f"interval or more (shortest {durs[0]} ns, median {durs[len(durs) // 2]})")
            asks = sorted(d - s for s, d in dbcheck.rows(
                db, "SELECT w.start_ns, d.ts_ns FROM waits w JOIN threads t ON t.tid = w.tid "
                    "JOIN drop_requests d ON d.requester = w.tid AND d.ts_ns BETWEEN w.start_ns AND w.end_ns "
                    "WHERE t.name LIKE 'counter-%'"))
            check(len(asks) >= 2 and asks[0] >= ivl,
                  f"{label}: each of a counter's {len(asks)} drop requests came an interval or more after its "
                  f"request (shortest {asks[0] if asks else None} ns, median {asks[len(asks) // 2] if asks else None})")
            early = one(db, "SELECT count(*) FROM drop_requests d WHERE NOT EXISTS (SELECT 1 FROM timeouts o "
                            "WHERE o.tid = d.requester AND o.ts_ns <= d.ts_ns AND NOT EXISTS (SELECT 1 FROM holds h "
                            "WHERE h.start_ns > o.ts_ns AND h.start_ns < d.ts_ns OR h.end_ns > o.ts_ns "
                            "AND h.end_ns < d.ts_ns))")
            check(early == 0, f"{label}: every drop request came at a time-out of its requester, with no take or "
                              f"release in between ({early} not)")
            many = one(db, "SELECT count(*) FROM waits WHERE timeouts > dur_ns / ? + 1", ivl)
            check(many == 0, f"{label}: no wait timed out more often than once an interval ({many} did)")
            for tid, tname in dbcheck.rows(db, "SELECT tid, name FROM threads WHERE name LIKE 'counter-%'"):
                spans = dbcheck.rows(db, "SELECT start_ns, end_ns, 'hold' FROM holds WHERE tid = ? UNION ALL "
                                         "SELECT start_ns, end_ns, 'wait' FROM waits WHERE tid = ? UNION ALL "
                                         "SELECT start_ns, end_ns, 'forced switch' FROM forced_switches "
                                         "WHERE tid = ? ORDER BY 1, 2", tid, tid, tid)
                bad = [(a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1]]
                check(not bad, f"{label}: {tname}'s {len(spans)} holds, waits and forced switches follow one "
                               f"another without overlap: not {bad[:2]}")
        elif name == "subinterpreters":
            n = one(db, "SELECT count(*) FROM gils")
            check(n >= 3, f"{label}: a GIL per interpreter ({n} GILs)")
        else:
            sw = one(db, "SELECT count(*) FROM switches")
            check(sw >= 200, f"{label}: ping-pong hands the GIL over at least once a round trip ({sw})")
    if not dbcheck.env_keep():
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
