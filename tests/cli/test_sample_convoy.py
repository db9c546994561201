"""samples/convoy.py under `gilscope run`: the convoy effect (bpo-7946).

- echo-with-hog: after its round trips the echo client waited a whole
  switch interval to get the GIL back from the hog (a convoy wait), asking
  for it with a drop request addressed to cpu-hog, and the analyzer reports
  a convoy finding naming the thread. Counted by CPython's rules (see
  samplecheck), whatever the load: while the client runs, each hold of the
  hog ended forced with exactly one drop request to it, and another thread
  took the GIL next; each wait of the client that got the GIL from the hog
  and that no other thread's wait overlapped (the main thread's, while it
  starts the client, did) holds one drop request, its own, lasted an
  interval, and is a convoy wait when the client had let the GIL go for
  its I/O; at least 10 of those. On free cores that is about every wait
  after a send or a receive; on a loaded machine the hog is sometimes not
  on a CPU when the client blocks, cannot take the GIL, and the client
  finds it free (48 of 100 round trips at load 3 on two cores). (Which
  waits find the hog holding is not decided by their start: a request's
  time is read before the GIL's mutex is locked, and the hog may take the
  GIL in between.)
- echo-quiet: the same client with no hog hardly ever waits (convoys and
  drop requests at most 5% of its 200 round trips).
"""
import samplecheck as sc

ROUNDS_QUIET, ROUNDS_HOG = 200, 100


def main() -> None:
    a = sc.args()
    r = sc.run_sample(a.exe, "convoy.py", ["all"])
    alone = sc.number(r.stdout, r"alone ([0-9.]+) us")
    hog_us = sc.number(r.stdout, r"next to a CPU-bound thread ([0-9.]+) us")
    print(f"median echo latency (printed, not asserted): alone {alone:.0f} us, next to the hog {hog_us:.0f} us")

    quiet, loaded, hog = r.thread("echo-quiet"), r.thread("echo-with-hog"), r.thread("cpu-hog")
    hs = r.holds(hog.tid)
    interval_ns = 1000 * (r.one("SELECT interval_us FROM gils WHERE gil_id = ?", r.gil_of(loaded)) or 5000)
    gil = r.gil_of(loaded)
    mine = r.holds(loaded.tid)
    lo, hi = mine[0].start, mine[-1].end
    r.cores_free([hog.tid], hs[0].start, hs[-1].end, interval_ns)
    # Counted by CPython's rules (samplecheck: drops_in_holds), whatever
    # the load. While the client runs, the hog lets the GIL go only when
    # asked: each of its holds ended forced, holding exactly one drop
    # request addressed to it, and the next hold is another thread's.
    per_hold = r.drops_in_holds(gil, hog.tid, lo, hi)
    odd = [(h.start, h.ended, k) for h, k in per_hold if h.ended != "forced" or k != 1]
    sc.check(len(per_hold) >= 10 and not odd,
             f"cpu-hog: its {len(per_hold)} holds while echo-with-hog ran each ended forced, with one drop "
             f"request to it: not (start, ended, drop requests) {odd[:3]}")
    again = [h.end for h, k in per_hold if r.next_taker(gil, h.end) == hog.tid]
    sc.check(not again, f"cpu-hog: after each forced release another thread took the GIL: not {again[:3]}")
    # A wait of the client that ended with the GIL from the hog, and that
    # no other thread's wait overlapped (the main thread's, while it starts
    # the client), was behind the hog until the client itself asked: one
    # drop request, its own, at a time-out, so a whole interval; after a
    # voluntary release (its I/O) that is a convoy wait. Which waits find
    # the hog holding depends on the load (on free cores about every one
    # after a send or a receive; at load 3 on two cores, 48 in 100 round
    # trips): at least 10 asserted.
    behind, odd = 0, []
    for w in r.waits_alone(gil, loaded.tid, lo, hi):
        before = r.last_hold_before(gil, w.end)
        if before is None or before[0] != hog.tid:
            continue
        prev = r.last_hold_before(gil, w.start + 1, loaded.tid)
        after_io = prev is not None and prev[1].ended == "voluntary"
        behind += after_io
        if w.requesters != [loaded.tid] or w.timeouts < 1 or w.end - w.start < interval_ns \
                or w.convoy != after_io:
            odd.append((w.start, sc.ms(w.end - w.start), w.timeouts, w.requesters, w.convoy))
    sc.check(behind >= 10 and not odd and loaded.convoys >= behind,
             f"echo-with-hog: {behind} waits for the GIL back from cpu-hog after its I/O that no other thread's "
             f"wait overlapped (>= 10), each with one drop request of its own, a whole interval long, and a "
             f"convoy wait ({loaded.convoys} in all): not (start, wait, time-outs, requesters, convoy) {odd[:3]}")
    long_waits = r.one("SELECT count(*) FROM waits WHERE run_id = ? AND tid = ? AND convoy = 1 AND dur_ns >= ?",
                       r.run_id, loaded.tid, interval_ns)
    sc.check(long_waits == loaded.convoys,
             f"echo-with-hog: each convoy wait lasted at least one switch interval ({long_waits})")
    for t in (hog, loaded):
        r.check_drop_totals(t)
    convoy_tids = r.finding_tids("convoy")
    sc.check(loaded.tid in convoy_tids, "the analyzer's convoy finding names echo-with-hog")
    qdrops = r.one("SELECT count(*) FROM drop_requests WHERE run_id = ? AND requester = ?", r.run_id, quiet.tid)
    sc.check(quiet.convoys <= ROUNDS_QUIET // 20 and qdrops <= ROUNDS_QUIET // 20,
             f"echo-quiet: {quiet.convoys} convoy waits, {qdrops} drop requests in {ROUNDS_QUIET} round trips "
             f"(<= {ROUNDS_QUIET // 20}): without the hog the GIL is there when the answer arrives")


if __name__ == "__main__":
    sc.main(main)
