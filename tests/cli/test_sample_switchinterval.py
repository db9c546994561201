"""samples/switchinterval.py under `gilscope run`: 5 ms, then 1 ms.

For each phase (two counter threads named count-5ms-* / count-1ms-*):
- a waiting counter sets its drop request one switch interval after it
  began to wait: never earlier (0.9x allowed for clock granularity), and
  the fastest tenth within 2x (a busy machine fires some timers late);
- the drop requests carry the interval in force (5000 / 1000 us) where the
  tracer can read it (3.7+);
- the 1 ms phase lets a waiter in sooner: its fastest tenth of
  request-to-drop-request times is at least 3x shorter than the 5 ms
  phase's (about 5x), measured in the same run and asserted whatever the
  load. The drop requests per second (about 5x more at 1 ms on free
  cores) are printed, not asserted: on a loaded machine every hand-off
  also waits for the OS scheduler and that ratio falls towards 1 (1.0x at
  load 4, 1.7x at load 10 with both cores busy).
"""
import bisect
import statistics

import samplecheck as sc


def phase(r, ms):
    ts = [r.thread(f"count-{ms}ms-{i}") for i in (1, 2)]
    tids = [t.tid for t in ts]
    lo = max(r.holds(t)[0].start for t in tids)
    hi = min(r.holds(t)[-1].end for t in tids)
    rows = r.q("SELECT ts_ns, requester, interval_us FROM drop_requests WHERE run_id = ? "
               "AND requester IN (?, ?) AND ts_ns BETWEEN ? AND ?", r.run_id, tids[0], tids[1], lo, hi)
    starts = {t: r.wait_starts(t) for t in tids}
    delays = []
    for ts_ns, req, _ in rows:
        i = bisect.bisect_right(starts[req], ts_ns) - 1
        delays.append(ts_ns - starts[req][i])
    ivs = {iv for _, _, iv in rows}
    rate = len(rows) / ((hi - lo) / 1e9)
    return rate, delays, ivs, len(rows), hi - lo, tids, lo, hi


def main() -> None:
    a = sc.args()
    r = sc.run_sample(a.exe, "switchinterval.py", ["5", "1"])
    for label in ("5", "1"):
        sc.number(r.stdout, rf"switch interval\s+{label} ms: .* in ([0-9.]+) s")
    rates, p10s = {}, {}
    for ms in (5, 1):
        rate, delays, ivs, n, span, tids, lo, hi = phase(r, ms)
        rates[ms] = rate
        sc.check(n >= 20, f"{ms} ms: {n} drop requests in {sc.ms(span)} ({rate:.0f}/s)")
        delays.sort()
        fastest, p10, med = delays[0], delays[len(delays) // 10], statistics.median(delays)
        p10s[ms] = p10
        sc.check(fastest >= 0.9 * ms * 1e6,
                 f"{ms} ms: no drop request before one interval of waiting (earliest {sc.ms(fastest)})")
        sc.check(p10 <= 2 * ms * 1e6,
                 f"{ms} ms: the fastest tenth within 2 intervals (p10 {sc.ms(p10)}, median {sc.ms(med)})")
        if a.version >= (3, 7):
            sc.check(ivs == {ms * 1000}, f"{ms} ms: the drop requests carry interval_us {ivs}")
        r.cores_free(tids, lo, hi, ms * 1_000_000)
    sc.check(p10s[5] >= 3 * p10s[1],
             f"a waiter asks the holder to drop the GIL {p10s[5] / p10s[1]:.1f}x sooner at 1 ms than at "
             f"5 ms (p10 {sc.ms(p10s[1])} vs {sc.ms(p10s[5])}; about 5x, at least 3x)")
    print(f"not asserted: 1 ms gives {rates[1] / rates[5]:.1f}x the drop requests per second of 5 ms "
          f"({rates[1]:.0f}/s vs {rates[5]:.0f}/s; ~5x on free cores, towards 1x on a loaded machine)")

if __name__ == "__main__":
    sc.main(main)
