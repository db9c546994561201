#!/usr/bin/env python3
"""Benchmark of issue 3 (not a ctest): `gilscope analyze` against
`babeltrace2 -c sink.utils.dummy` on the same churn trace, interleaved,
with peak RSS; and RSS at two trace lengths to show it stays flat.

    tests/analyzer/bench_analyze.py [--build build] [--events 3000000]
                                    [--runs 3] [--trace DIR]

Without --trace it records a GIL churn (two threads yielding the GIL in a
loop) with a buffer big enough to lose nothing. Prints medians and minima.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHURN = """
import os, sys, threading
n = int(sys.argv[1])
def churn():
    y = getattr(os, "sched_yield", None)
    for _ in range(n):
        y()
ts = [threading.Thread(target=churn) for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
"""


def timed(argv, env=None):
    """(wall s, peak RSS KiB) of argv, via GNU time."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", *argv], capture_output=True, text=True,
                         env=dict(os.environ, **(env or {})))
    if out.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {out.stderr}")
    wall, rss = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss)


def record(gilscope, py, events, out):
    # One request/acquire/release triple per yield, two threads.
    n = max(1, events // 6)
    subprocess.run([str(gilscope), "record", "-q", "-b", "256M", "-o", str(out), "--",
                    py, "-c", CHURN, str(n)], check=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("GILSCOPE_BUILD", "build"))
    ap.add_argument("--events", type=int, default=3_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--trace")
    ap.add_argument("--python", default="/usr/bin/python3")
    args = ap.parse_args()
    gilscope = Path(args.build).resolve() / "bin" / "gilscope"
    tmp = Path(tempfile.mkdtemp(prefix="gilscope-bench-"))
    try:
        traces = []
        if args.trace:
            traces.append(Path(args.trace))
        else:
            traces.append(record(gilscope, args.python, args.events, tmp / "big"))
            traces.append(record(gilscope, args.python, args.events // 3, tmp / "small"))
        for trace in traces:
            db = tmp / "bench.db"
            subprocess.run([str(gilscope), "analyze", str(trace), "-o", str(db), "--no-progress"], check=True)
            events = subprocess.run(["sqlite3", str(db), "SELECT event_count || ' events, ' || lost_events "
                                     "|| ' lost' FROM runs"], capture_output=True, text=True).stdout.strip()
            dummy, analyze, after = [], [], []
            argv = [str(gilscope), "analyze", str(trace), "-o", str(db), "--no-progress"]
            for _ in range(args.runs):
                dummy.append(timed(["babeltrace2", str(trace), "-c", "sink.utils.dummy"]))
                analyze.append(timed(argv))
                after.append(timed(argv, {"GILSCOPE_INDEX_AFTER_FILL": "1"}))
            md = statistics.median(w for w, _ in dummy)
            ma = statistics.median(w for w, _ in analyze)
            print(f"{trace.name}: {events}, {args.runs} interleaved runs")
            print(f"  babeltrace2 -c sink.utils.dummy: median {md:.2f} s, min {min(w for w, _ in dummy):.2f} s, "
                  f"peak RSS {max(r for _, r in dummy) / 1024:.1f} MiB")
            print(f"  gilscope analyze:                median {ma:.2f} s, min {min(w for w, _ in analyze):.2f} s, "
                  f"peak RSS {max(r for _, r in analyze) / 1024:.1f} MiB")
            print(f"  ratio (medians): {ma / md:.2f}x   ratio (minima): "
                  f"{min(w for w, _ in analyze) / min(w for w, _ in dummy):.2f}x")
            mf = statistics.median(w for w, _ in after)
            print(f"  (indexes after the fill: median {mf:.2f} s, {mf / md:.2f}x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
