#!/usr/bin/env python3
"""Runs `bench/run --quick` and checks its table: every section and row is
there and every median, ratio and per-event figure is a finite number.
Timings are not judged (the machine is shared); exit 77 when LTTng's
tools are missing."""
from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

SOURCE = Path(os.environ.get("GILSCOPE_SOURCE", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("GILSCOPE_BUILD", SOURCE / "build"))

ROWS = [
    "countdown: 2 threads", "GIL churn: 1 thread", "GIL churn: 2 threads",
    "non-GIL mutex lock/unlock pairs", "LTTng floor",
    "  no preload", "  preload, no session", "  preload + session (record)",
    "  preload, passive (no Python)", "  preload, active, no GIL yet",
    "  preload, active, GIL found", "    same, as Python 3.12+", "  preload+session, GIL found",
    "  p50 GIL hold, as recorded", "GIL churn, pinned: 2 threads", "both on CPU", "one on CPU",
    "  as recorded (median of", "  wall time, median (min, max): untraced", "2 threads on 1 CPU: added/ev / floor",
    "  no session", "  session (record)",
    "1x: ", "2x: ", "4x: ", "  babeltrace2 sink.utils.dummy", "  gilscope analyze",
    "  1k (", "  10k (", "    perfetto", "    json", "targets: ",
    "start-up, paired", "  Python 3.", "    untraced (median of", "    CPU: traced",
]


def fail(msg: str, out: str = "") -> None:
    print(f"FAIL: {msg}\n{out}")
    sys.exit(1)


def main() -> int:
    for tool in ("lttng-sessiond", "babeltrace2", "cc", "pkg-config"):
        if not shutil.which(tool):
            print(f"skipped: {tool} is not installed")
            return 77
    p = subprocess.run([str(SOURCE / "bench" / "run"), str(BUILD), "--quick"],
                       capture_output=True, text=True, timeout=400)
    out = p.stdout
    print(out)
    if p.returncode != 0:
        fail(f"bench/run --quick exited {p.returncode}", p.stderr)
    lines: List[str] = out.splitlines()
    for i, line in enumerate(lines):
        if len(line) > 100:
            fail(f"line {i + 1} is {len(line)} columns wide", line)
    for row in ROWS:
        if not any(line.startswith(row) or row in line for line in lines):
            fail(f"row {row!r} is missing")
    for section in ("1. Tracing cost", "2. Analyzer", "3. Report", "4. Export"):
        if not any(line.startswith(section) for line in lines):
            fail(f"section {section!r} is missing")
    # Every data row: a median with a unit, then min-max, then a finite ratio.
    data = [l for l in lines if re.match(r"  +\S", l) and re.search(r"\d(-\d|\.\d+-)", l)]
    if len(data) < 16:
        fail(f"only {len(data)} data rows")
    for line in data:
        m = re.match(r"(.{30}) +([-+\d.eE]+|nan|inf) (s|ms|us|ns) +([\d.]+|nan|inf)-([\d.]+|nan|inf) "
                     r"(s|ms|us|ns) +(\S+)", line)
        if not m:
            fail("a data row does not parse", line)
        for g in (2, 4, 5):
            if not math.isfinite(float(m.group(g))):
                fail("a time is not finite", line)
        if "M" not in m.group(7) and not math.isfinite(float(m.group(7))):
            fail("a ratio is not finite", line)
        for added in re.findall(r"([-+][\d.]+|[-+]nan|[-+]inf) ns", line):
            if not math.isfinite(float(added)):
                fail("an added cost is not finite", line)
    print(f"ok: {len(data)} data rows, every figure finite")
    return 0


if __name__ == "__main__":
    sys.exit(main())
