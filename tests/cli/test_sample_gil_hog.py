"""samples/gil_hog.py under `gilscope run`: a C call that keeps the GIL.

For sum(range(N)) and the backtracking regex, each in its own thread:
- the call is one hold (the thread's longest hold covers >= 90% of the
  call's printed duration): nothing inside it releases the GIL;
- the ticker's drop request to that thread waited at least half the call
  to be honoured (the bytecode loop, which checks drop requests, does not
  run during the call), and the analyzer reports slow drop responses.
For hashlib.sha256 of 400 MB, when this Python's hashlib is OpenSSL's: the
GIL is released while hashing (longest hold < half the call) and the ticker
keeps taking the GIL meanwhile.
By line (3.7+): each hog's long hold ends in the call on its line of
gil_hog.py (its end stack passes through it), and the slow-drop finding
names that line.
"""
import samplecheck as sc

SUM_LINE = sc.line_of("gil_hog.py", "return sum(range(SUM_N))")
REGEX_LINE = sc.line_of("gil_hog.py", 'return re.match(r"(a+)+$"')


def main() -> None:
    a = sc.args()
    r = sc.run_sample(a.exe, "gil_hog.py", ["all"])
    ticker = r.thread("ticker")
    for name, pattern in (("hog-sum", r"sum\(range\([0-9]+\)\)\s+took\s+([0-9.]+) s"),
                          ("hog-regex", r"re\.match\(.*\)\s+took\s+([0-9.]+) s")):
        took_ns = sc.number(r.stdout, pattern) * 1e9
        t = r.thread(name)
        longest = max(r.holds(t.tid), key=lambda h: h.end - h.start)
        sc.check(longest.end - longest.start >= 0.9 * took_ns,
                 f"{name}: one hold of {sc.ms(longest.end - longest.start)} covers the call "
                 f"({sc.ms(took_ns)})")
        resp = r.one("SELECT max(response_ns) FROM drop_requests WHERE run_id = ? AND holder = ?",
                     r.run_id, t.tid)
        sc.check(resp is not None and resp >= 0.5 * took_ns,
                 f"{name}: a drop request waited {sc.ms(resp or 0)} for it to let go (>= half the call)")
        asker = r.one("SELECT requester FROM drop_requests WHERE run_id = ? AND holder = ? "
                      "ORDER BY response_ns DESC LIMIT 1", r.run_id, t.tid)
        sc.check(asker in (ticker.tid, r.thread("MainThread").tid),
                 f"{name}: the slow drop request came from the ticker or the main thread")
    if a.version >= (3, 7):
        # By line: where each hog let the GIL go, and the finding naming it.
        for name, fn, line in (("hog-sum", "call_sum", SUM_LINE), ("hog-regex", "call_regex", REGEX_LINE)):
            t = r.thread(name)
            end = r.one("SELECT end_ns FROM holds WHERE run_id = ? AND tid = ? "
                        "ORDER BY dur_ns DESC LIMIT 1", r.run_id, t.tid)
            through = r.releases_through(t.tid, "gil_hog.py", line, end - 1, end + 1, ended="forced")
            sc.check(through == 1, f"{name}: its long hold ended in the call on gil_hog.py:{line} "
                     f"in {fn} (its end stack passes through that line)")
        v, f = r.site_counts("gil_hog.py", SUM_LINE)
        sc.check(f >= 1 and v == 0, f"gil_hog.py:{SUM_LINE} `return sum(range(SUM_N))`: {f} forced "
                 f"release(s), no voluntary one")
    slow = r.findings("slow_drop_response")
    sc.check(len(slow) >= 1 and sum(v for _, v, _ in slow) >= 2,
             f"the analyzer reports (at least) the two slow drop responses: {[m for _, _, m in slow]}")
    hogs = {r.thread("hog-sum").tid, r.thread("hog-regex").tid}
    named = [tid for tid, _, _ in slow if tid is not None]
    sc.check(len(named) == len(slow) and set(named) <= hogs,
             f"each slow-drop-response finding names a hog as the holder ({named})")
    sc.check(all("hog-" in m and "after it was asked to drop it" in m for _, _, m in slow),
             f"and says, by name, how long it kept the GIL: {[m for _, _, m in slow]}")
    if a.version >= (3, 7):
        sc.check(all(f"gil_hog.py:{SUM_LINE} in call_sum" in m or f"gil_hog.py:{REGEX_LINE} in call_regex" in m
                     for _, _, m in slow),
                 f"and names the hog's line: {[m for _, _, m in slow]}")

    took_ns = sc.number(r.stdout, r"hashlib\.sha256\(.*\)\s+took\s+([0-9.]+) s") * 1e9
    if "OpenSSL's sha256" not in r.stdout:
        print("hashlib: this Python's sha256 is not OpenSSL's; the release check is skipped")
        return
    t = r.thread("hashlib-sha256")
    hs = r.holds(t.tid)
    longest = max(h.end - h.start for h in hs)
    sc.check(longest < 0.5 * took_ns,
             f"hashlib-sha256: longest hold {sc.ms(longest)} of a {sc.ms(took_ns)} call: it released the GIL")
    lo, hi = hs[0].start, hs[-1].end
    ticks = r.one("SELECT count(*) FROM holds WHERE run_id = ? AND tid = ? AND start_ns BETWEEN ? AND ?",
                  r.run_id, ticker.tid, lo, hi)
    sc.check(ticks >= 10, f"the ticker took the GIL {ticks} times while sha256 ran")


if __name__ == "__main__":
    sc.main(main)
