"""Three `gilscope record`s started at the same moment all work, their
commands run at the same time (no recorder waits for another to end), and
each trace tells its own processes apart from the others' (tags)."""
import subprocess

import gstest

# Each command does some GIL work, then says it runs (a file in the
# directory given) and waits until all N commands run or 20 s pass (a
# load-proof meeting point): recordings that overlap all meet; recordings
# run back to back cannot. It prints its pid, when it started and ended,
# and whether all met.
PROG = "import os, sys, time\nt0 = time.time()\nimport threading\ndef f():\n    n = 400000\n" \
       "    while n: n -= 1\n" \
       "ts = [threading.Thread(target=f) for _ in range(2)]\n" \
       "[t.start() for t in ts]; [t.join() for t in ts]\n" \
       "d, n = sys.argv[1], int(sys.argv[2])\n" \
       "open(os.path.join(d, str(os.getpid())), 'w').close()\n" \
       "while len(os.listdir(d)) < n and time.time() - t0 < 20: time.sleep(0.05)\n" \
       "print(os.getpid(), t0, time.time(), len(os.listdir(d)) >= n)\n"
N = 3


def main() -> None:
    py = gstest.find_python("debian")
    out = gstest.tmpdir()
    meet = out / "meet"
    meet.mkdir()
    procs = [subprocess.Popen([str(gstest.gilscope()), "record", "-o", str(out / f"t{i}"), "--",
                               str(py), "-c", PROG, str(meet), str(N)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(N)]
    results = [p.communicate(timeout=180) + (p.returncode,) for p in procs]
    for i, (stdout, stderr, rc) in enumerate(results):
        gstest.check(rc == 0, f"recorder {i} exited 0 ({rc}); stderr: {stderr.strip()[-300:]}")
    fields = [r[0].split() for r in results]
    pids = [int(f[0]) for f in fields]
    spans = [(float(f[1]), float(f[2])) for f in fields]
    met = [f[3] == "True" for f in fields]
    latest_start = max(s for s, _ in spans)
    earliest_end = min(e for _, e in spans)
    gstest.check(all(met) and latest_start < earliest_end,
                 f"the {N} commands ran at the same time (all met: {met}; the last started "
                 f"{latest_start - earliest_end:+.2f} s before the first ended; {spans})")
    tags = [int(gstest.info(out / f"t{i}")["tag"]) for i in range(N)]
    gstest.check(len(set(tags)) == N, f"distinct tags {tags}")
    for i in range(N):
        own = gstest.own_events(gstest.read_trace(out / f"t{i}"), tags[i])
        got = {e.pid for e in own.events}
        gstest.check(got == {pids[i]}, f"trace {i} keeps only its own process {pids[i]}: {got}")
        gstest.check(len(own.named("gil_found")) == 1, f"trace {i}: its GIL found")
        c = gstest.check_sequences(own)
        n = sum(x["acquire"] for x in c.values())
        gstest.check(n > 100 and len(c) >= 3, f"trace {i}: {n} acquires by {len(c)} threads")
        gstest.check_sequences(own)
    print(f"PASSED: {N} concurrent records met")


if __name__ == "__main__":
    main()
