#!/usr/bin/python3
"""Interleaved A/B of `workload.py churn-pinned CPUS N` under several
LD_PRELOADs, outside any session: LTTng-UST alone ("ust") and each
NAME=PRELOAD.so given (e.g. two builds' libgilscope-preload.so), one run
of each per round. Prints, per mode, the best-tenth CPU time (the bench's
figure for the pinned rows: each thread's least block times ten, summed)
as min, 20th percentile and median, and for each pair of modes the median
of the per-round differences in ns per GIL event (3 per call).

    bench/isolated /usr/bin/python3 bench/ab_pinned.py ROUNDS CPUS N NAME=SO...

Run it in a private LTTng namespace (no session may record it).
"""
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

WORKLOAD = Path(__file__).resolve().parent / "workload.py"


def run_once(cpus: str, n: str, preload: Optional[str]) -> int:
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    out = subprocess.run(["/usr/bin/python3", str(WORKLOAD), "churn-pinned", cpus, n],
                         env=env, capture_output=True, text=True, check=True).stdout
    m = re.search(r"cpu_ns=(\d+)", out)
    if not m:
        sys.exit(f"ab_pinned: no cpu_ns in the workload's output:\n{out}")
    return int(m.group(1))


def main(argv: List[str]) -> int:
    if len(argv) < 5:
        sys.exit(__doc__)
    rounds, cpus, n = int(argv[1]), argv[2], argv[3]
    modes: List[Tuple[str, Optional[str]]] = [("ust", "liblttng-ust.so.1")]
    modes += [(a.split("=", 1)[0], a.split("=", 1)[1]) for a in argv[4:]]
    res: Dict[str, List[int]] = {name: [] for name, _ in modes}
    for _ in range(rounds):
        for name, preload in modes:
            res[name].append(run_once(cpus, n, preload))
    events = 3 * len(cpus.split(",")) * int(n)
    for name, _ in modes:
        q = sorted(res[name])
        print(f"{name:6} min {q[0] / 1e9:.3f} s  p20 {q[len(q) // 5] / 1e9:.3f} s  "
              f"median {statistics.median(q) / 1e9:.3f} s  max {q[-1] / 1e9:.3f} s")
    names = [name for name, _ in modes]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = [(y - x) / events for x, y in zip(res[a], res[b])]
            print(f"{b} - {a}: median {statistics.median(d):+.1f} ns per GIL event, "
                  f"{sum(x > 0 for x in d)}/{len(d)} rounds above")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
