"""samples/convoy.py under `gilscope run`: the convoy effect (bpo-7946).

- echo-with-hog: each time it came back from a round trip to find
  cpu-hog holding the GIL it waited a whole switch interval to get it back
  (a convoy wait), asking for it with a drop request addressed to cpu-hog
  (the hog lets the GIL go for nothing else), and the analyzer reports a
  convoy finding naming the thread. Counted, so that it holds whatever
  the load: the convoy waits are exactly the waits (after a send or a
  receive) that began while the hog held the GIL, each holds one drop
  request to the hog, and there are at least 10. On free cores that is
  about every round trip; on a loaded machine the hog is sometimes not on
  a CPU when the client blocks, cannot take the GIL, and the client finds
  it free (48 of 100 at load 3 on two cores);
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
    r.cores_free([hog.tid], hs[0].start, hs[-1].end, interval_ns)
    # The client's waits that began while the hog held the GIL: each must
    # be a convoy wait, and no other wait of it is one. Not its first: a
    # thread that starts has released nothing, and its wait is no convoy.
    waits = r.q("SELECT w.start_ns, w.dur_ns, w.convoy, EXISTS (SELECT 1 FROM holds h WHERE h.run_id = w.run_id "
                "AND h.tid = ? AND h.start_ns <= w.start_ns AND w.start_ns < h.end_ns) "
                "FROM waits w WHERE w.run_id = ? AND w.tid = ? ORDER BY w.start_ns",
                hog.tid, r.run_id, loaded.tid)
    waits = waits[1:]
    behind = [w for w in waits if w[3]]
    odd = [(w[0], sc.ms(w[1]), w[2], w[3]) for w in waits if bool(w[2]) != bool(w[3])]
    sc.check(len(behind) >= 10 and not odd and loaded.convoys == len(behind),
             f"echo-with-hog: {loaded.convoys} convoy waits, one for each of its {len(behind)} waits "
             f"that began with cpu-hog holding the GIL (of {len(waits)} after a send or a receive in "
             f"{ROUNDS_HOG} round trips; >= 10): not (start, wait, convoy, behind the hog) {odd[:3]}")
    long_waits = r.one("SELECT count(*) FROM waits WHERE run_id = ? AND tid = ? AND convoy = 1 AND dur_ns >= ?",
                       r.run_id, loaded.tid, interval_ns)
    sc.check(long_waits == loaded.convoys,
             f"echo-with-hog: each convoy wait lasted at least one switch interval ({long_waits})")
    drops = [t for (t,) in r.q("SELECT ts_ns FROM drop_requests WHERE run_id = ? AND requester = ? "
                                "AND holder = ?", r.run_id, loaded.tid, hog.tid)]
    per_wait = [sum(1 for t in drops if w[0] <= t <= w[0] + w[1]) for w in behind]
    sc.check(all(n == 1 for n in per_wait),
             f"echo-with-hog: one drop request to cpu-hog in each convoy wait ({len(drops)} in all; "
             f"not one in {sum(1 for n in per_wait if n != 1)})")
    convoy_tids = r.finding_tids("convoy")
    sc.check(loaded.tid in convoy_tids, "the analyzer's convoy finding names echo-with-hog")
    qdrops = r.one("SELECT count(*) FROM drop_requests WHERE run_id = ? AND requester = ?", r.run_id, quiet.tid)
    sc.check(quiet.convoys <= ROUNDS_QUIET // 20 and qdrops <= ROUNDS_QUIET // 20,
             f"echo-quiet: {quiet.convoys} convoy waits, {qdrops} drop requests in {ROUNDS_QUIET} round trips "
             f"(<= {ROUNDS_QUIET // 20}): without the hog the GIL is there when the answer arrives")


if __name__ == "__main__":
    sc.main(main)
