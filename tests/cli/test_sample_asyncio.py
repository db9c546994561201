"""samples/asyncio_demo.py under `gilscope run`: one thread, no contention.

The whole sample runs in the main thread's event loop: the database holds
one process with one thread, which took the GIL many times (it releases
it in select/epoll) but never waited for it while it was held (the
length of a wait is the OS's doing: printed), and there is no switch, no
drop request and no timed-out wait.
"""
import re

import samplecheck as sc


def main() -> None:
    a = sc.args()
    r = sc.run_sample(a.exe, "asyncio_demo.py", [])
    sc.number(r.stdout, r"requests \(server delay [0-9]+ ms\) in ([0-9.]+) s")
    ts = r.threads()
    sc.check(len(ts) == 1 and ts[0].name == "MainThread",
             f"one thread: {[(t.pid, t.tid, t.name) for t in ts]}")
    sc.check(ts[0].holds >= 100, f"MainThread took the GIL {ts[0].holds} times (released in select)")
    m = r.q("SELECT switches, drop_requests, forced_releases, timeouts FROM metrics "
            "WHERE run_id = ? AND gil_id IS NULL", r.run_id)[0]
    sc.check(m == (0, 0, 0, 0), f"no switch, drop request, forced release or timed-out wait: {m}")
    # Nobody else can hold it: a wait is the few instructions between
    # request and acquire, unless the OS preempts the thread right there
    # (milliseconds on a loaded machine: printed, not asserted). What
    # holds at any load: no wait overlaps a hold, and none timed out.
    longest_wait = r.one("SELECT max(dur_ns) FROM waits WHERE run_id = ?", r.run_id) or 0
    overlapping = r.one("SELECT count(*) FROM waits w JOIN holds h ON h.run_id = w.run_id "
                        "AND h.gil_id = w.gil_id AND h.start_ns < w.end_ns AND w.start_ns < h.end_ns "
                        "WHERE w.run_id = ?", r.run_id)
    waits = r.one("SELECT count(*) FROM waits WHERE run_id = ?", r.run_id)
    sc.check(waits >= 100 and overlapping == 0,
             f"none of its {waits} waits for the GIL overlaps a hold ({overlapping}; the longest wait "
             f"{sc.ms(longest_wait)})")
    sc.check(re.search(r"(^|\s)0\s+drop requests", r.stdout) is not None, "the summary says 0 drop requests")


if __name__ == "__main__":
    sc.main(main)
