#!/usr/bin/python3
"""What one GIL cycle of `workload.py churn-pinned` costs, by function, in
callgrind's counts (load-independent): the churn runs under callgrind at
two sizes, and the difference of each function's count is divided by the
cycles the larger run adds, so that start-up and exit drop out.

    bench/cg_cycle.py CPUS N1 N2 MODE PRELOAD [EVENT...]

CPUS as for churn-pinned (0: one thread; 0,0: two on one CPU, run with
valgrind's --fair-sched=yes so that they take turns at every
sched_yield as on a real CPU, not in valgrind's long time slices); MODE:
ust (liblttng-ust preloaded alone), idle (PRELOAD, no session), or a
`gilscope record --code` mode (stack, site, off: recorded by build/'s
gilscope inside bench/isolated, PRELOAD in LD_PRELOAD). EVENT: Ir
(default), or with GILSCOPE_CG_CACHE=1 (callgrind's cache model, 32 KiB
8-way level-1 caches here) also D1mr, D1mw, I1mr... Prints, per cycle,
the total, each object's share and the preload's, LTTng's and libc's
functions. Needs root (bench/isolated). Under callgrind a cycle takes
tens of microseconds: a thread is back later than the tracer's 100 us
(HB_HOT_NS) once the cache model runs, and then holds nothing back;
build the preload with a larger HB_HOT_NS to count that case.
"""
import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Counter, Dict, List, Tuple

SRC = Path(__file__).resolve().parent.parent
Key = Tuple[str, str]


def run(cpus: str, n: int, mode: str, preload: str, out: Path, tmp: Path) -> None:
    vg = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--fair-sched=yes"]
    if os.environ.get("GILSCOPE_CG_CACHE"):
        vg.append("--cache-sim=yes")
    vg += ["/usr/bin/python3", str(SRC / "bench" / "workload.py"), "churn-pinned", cpus, str(n)]
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    isolated = str(SRC / "bench" / "isolated")
    if mode in ("ust", "idle"):
        env["LD_PRELOAD"] = "liblttng-ust.so.1" if mode == "ust" else preload
        cmd = [isolated] + vg
    else:
        cmd = [isolated, str(SRC / "build" / "bin" / "gilscope"), "record", "-q", "--code", mode,
               "-o", str(tmp / f"trace{n}"), "--", "env", "LD_PRELOAD=" + preload] + vg
    subprocess.run(cmd, env=env, check=True, capture_output=True)


def counts(out: Path, event: str) -> Tuple[Counter[Key], int]:
    text = subprocess.run(["callgrind_annotate", "--threshold=100", f"--show={event}",
                           f"--sort={event}", str(out)],
                          capture_output=True, text=True, check=True).stdout
    res: Counter[Key] = collections.Counter()
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*?)\s+\[(.*)\]\s*$", line)
        if m:
            res[(os.path.basename(m.group(3)), m.group(2).split(":", 1)[-1])] += \
                int(m.group(1).replace(",", ""))
    total = re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", text)
    if not total:
        sys.exit(f"cg_cycle: no totals in callgrind_annotate's output for {out}")
    return res, int(total.group(1).replace(",", ""))


def report(event: str, a: Tuple[Counter[Key], int], b: Tuple[Counter[Key], int],
           cycles: int) -> None:
    print(f"{event} per cycle: {(b[1] - a[1]) / cycles:.2f}")
    d: Dict[Key, float] = {k: (b[0][k] - a[0][k]) / cycles for k in set(a[0]) | set(b[0])}
    objs: Counter[str] = collections.Counter()
    for (obj, _), v in d.items():
        objs[obj] += v
    for obj, v in sorted(objs.items(), key=lambda x: -x[1]):
        if abs(v) >= 0.05:
            print(f"  {v:9.2f}  [{obj}]")
    for (obj, fn), v in sorted(d.items(), key=lambda x: -x[1]):
        if abs(v) >= (2 if event == "Ir" else 0.05) and re.search(r"gilscope|lttng|libc", obj):
            print(f"  {v:9.2f}  {obj}: {fn}")


def main(argv: List[str]) -> int:
    if len(argv) < 6:
        sys.exit(__doc__)
    cpus, n1, n2, mode, preload = argv[1], int(argv[2]), int(argv[3]), argv[4], argv[5]
    events = argv[6:] or ["Ir"]
    cycles = len(cpus.split(",")) * (n2 - n1)
    with tempfile.TemporaryDirectory(prefix="cg_cycle.") as d:
        tmp = Path(d)
        outs = [tmp / f"cg.{n}" for n in (n1, n2)]
        for n, out in zip((n1, n2), outs):
            run(cpus, n, mode, preload, out, tmp)
        for event in events:
            report(event, counts(outs[0], event), counts(outs[1], event), cycles)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
