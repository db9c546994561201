"""samples/convoy.py under `gilscope run`: the convoy effect (bpo-7946).

- echo-with-hog: after its round trips the echo client waited a whole
  switch interval to get the GIL back from the hog (a convoy wait), asking
  for it with a drop request addressed to cpu-hog, and the analyzer reports
  a convoy finding naming the thread. On free cores that is every round
  trip (100 of 100; at least 80 asserted); on a loaded machine the hog is
  sometimes not on a CPU when the client blocks, cannot take the GIL, and
  the client finds it free (48 of 100 were seen at load 3 on two cores):
  when the trace shows busy cores (samplecheck.Run.cores_free: the hog
  slow to come back, or timed waits firing late) at least 10 are asserted;
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
    AT_LEAST = 80 if r.cores_free([hog.tid], hs[0].start, hs[-1].end, interval_ns) else 10
    sc.check(loaded.convoys >= AT_LEAST,
             f"echo-with-hog: {loaded.convoys} convoy waits in {ROUNDS_HOG} round trips (>= {AT_LEAST})")
    long_waits = r.one("SELECT count(*) FROM waits WHERE run_id = ? AND tid = ? AND convoy = 1 AND dur_ns >= ?",
                       r.run_id, loaded.tid, interval_ns)
    sc.check(long_waits == loaded.convoys,
             f"echo-with-hog: each convoy wait lasted at least one switch interval ({long_waits})")
    drops = r.one("SELECT count(*) FROM drop_requests WHERE run_id = ? AND requester = ? AND holder = ?",
                  r.run_id, loaded.tid, hog.tid)
    sc.check(drops >= AT_LEAST, f"echo-with-hog: {drops} drop requests to cpu-hog (>= {AT_LEAST})")
    convoy_tids = r.finding_tids("convoy")
    sc.check(loaded.tid in convoy_tids, "the analyzer's convoy finding names echo-with-hog")
    qdrops = r.one("SELECT count(*) FROM drop_requests WHERE run_id = ? AND requester = ?", r.run_id, quiet.tid)
    sc.check(quiet.convoys <= ROUNDS_QUIET // 20 and qdrops <= ROUNDS_QUIET // 20,
             f"echo-quiet: {quiet.convoys} convoy waits, {qdrops} drop requests in {ROUNDS_QUIET} round trips "
             f"(<= {ROUNDS_QUIET // 20}): without the hog the GIL is there when the answer arrives")


if __name__ == "__main__":
    sc.main(main)
