#!/usr/bin/env python3
"""Writes a synthetic gilscope run database (analyzer/schema.sql) of any size.

CPU-bound threads pass one GIL round-robin the way CPython 3's GIL does: the
holder runs for about one switch interval, a waiter times out, sets a drop
request, the holder releases (forced) within microseconds and waits in a
forced switch until the waiter took the GIL. Each cycle gives one hold, one
finished wait, one timeout per waiter, one drop request, one switch and one
forced switch, so --intervals N (holds + waits) makes N/2 cycles.

Used by the report's tests and to measure the report on large runs:

    bench/make_big_db.py --intervals 1000000 -o /tmp/big.db
    build/bin/gilscope report /tmp/big.db -o /tmp/big.html

Standard library only; deterministic for a given --seed.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional

SCHEMA = Path(__file__).resolve().parents[1] / "analyzer" / "schema.sql"


def schema_version() -> int:
    """The version the analyzer writes (analyzer/db.h), so that the fake
    database is read as the real ones are."""

    text = (SCHEMA.parent / "db.h").read_text()
    m = re.search(r"#define GILSCOPE_SCHEMA_VERSION (\d+)", text)
    if not m:
        raise SystemExit("make_big_db: no GILSCOPE_SCHEMA_VERSION in analyzer/db.h")
    return int(m.group(1))


T0 = 1_763_772_000_000_000_000  # an epoch-like origin, as LTTng's clock gives


def insert(db: sqlite3.Connection, table: str, columns: str, rows: Iterable[tuple]) -> None:
    """Inserts by column name: the schema may gain columns."""
    cols = columns.split()
    db.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)


def pct(sorted_values: List[int], p: float) -> Optional[int]:
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[int(k)]


def make(path: Path, intervals: int, threads: int, interval_us: int, seed: int,
         names: Optional[List[str]], command: str, lost: int) -> None:
    rng = random.Random(seed)
    if path.exists():
        path.unlink()
    db = sqlite3.connect(str(path))
    db.executescript(SCHEMA.read_text())
    db.execute(f"PRAGMA user_version = {schema_version()}")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA journal_mode = OFF")

    pid = 4242
    tids = [pid] + [pid + 1 + i for i in range(threads - 1)]
    if not names:
        names = ["MainThread"] + [f"worker-{i}" for i in range(1, threads)]
    run_id = 1
    gil_id = 1
    interval_ns = interval_us * 1000

    holds = []
    waits = []
    timeouts = []
    drops = []
    switches = []
    forced = []
    held: Dict[int, int] = {t: 0 for t in tids}
    waited: Dict[int, int] = {t: 0 for t in tids}
    n_holds: Dict[int, int] = {t: 0 for t in tids}
    n_waits: Dict[int, int] = {t: 0 for t in tids}
    n_timeouts: Dict[int, int] = {t: 0 for t in tids}
    issued: Dict[int, int] = {t: 0 for t in tids}
    received: Dict[int, int] = {t: 0 for t in tids}

    start = T0 + 1_000_000
    now = start
    holder = tids[0]
    wait_start = {t: now + 20_000 + 5_000 * i for i, t in enumerate(tids) if t != holder}
    cycles = max(1, intervals // 2)
    for c in range(cycles):
        hold_start = now
        # The first waiter times out after one interval (measured from its
        # own request) and asks the holder to drop the GIL.
        nxt = tids[(tids.index(holder) + 1) % len(tids)]
        timeout_at = max(wait_start[nxt], hold_start) + interval_ns + rng.randint(0, 60_000)
        if rng.random() < 0.002:  # now and then a holder sits in C code and answers late
            response = rng.randint(1_000_000, 40_000_000)
        else:
            response = rng.randint(2_500, 12_000)
        release = timeout_at + response
        acquire = release + rng.randint(4_000, 30_000)
        for t in tids:
            if t == holder:
                continue
            # one tick per interval spent waiting in this hold
            ts = wait_start[t] + interval_ns
            while ts <= release:
                if ts >= hold_start:
                    timeouts.append((run_id, gil_id, t, ts))
                    n_timeouts[t] += 1
                ts += interval_ns
        drops.append((run_id, gil_id, timeout_at, nxt, holder, interval_us, release, response))
        issued[nxt] += 1
        received[holder] += 1
        holds.append((run_id, gil_id, holder, hold_start, release, release - hold_start, "forced", 0))
        held[holder] += release - hold_start
        n_holds[holder] += 1
        waits.append((run_id, gil_id, nxt, wait_start[nxt], acquire, acquire - wait_start[nxt],
                      max(1, (acquire - wait_start[nxt]) // interval_ns), "acquired", 0))
        waited[nxt] += acquire - wait_start[nxt]
        n_waits[nxt] += 1
        switches.append((run_id, gil_id, release, holder, acquire, nxt, acquire - release, 1))
        forced.append((run_id, gil_id, holder, release, acquire + 1_500, acquire + 1_500 - release))
        # the old holder asks again right after its forced switch
        wait_start[holder] = acquire + 1_500 + rng.randint(200, 900)
        holder = nxt
        now = acquire
    end = now + interval_ns
    holds.append((run_id, gil_id, holder, now, end, end - now, "trace_end", 0))
    held[holder] += end - now
    n_holds[holder] += 1
    for t in tids:
        if t != holder:
            waits.append((run_id, gil_id, t, wait_start[t], end, end - wait_start[t], 0, "trace_end", 0))
            waited[t] += end - wait_start[t]
            n_waits[t] += 1

    wall = end - start
    insert(db, "runs", "run_id trace_path hostname command exit_status start_ns end_ns wall_ns "
           "python_versions interval_us event_count lost_events analyzer_version analyzed_at",
           [(run_id, "/tmp/synthetic-trace", "bench", command, 0, start, end, wall, "3.11.2",
                interval_us, 6 * cycles, lost, "synthetic", "2026-11-22T00:00:00Z")])
    insert(db, "processes", "run_id pid procname first_ns last_ns", [(run_id, pid, "python3", start, end)])
    insert(db, "gils", "gil_id run_id pid address interval_us rule python_version found_ns retired_ns",
           [(gil_id, run_id, pid, "0x7f3a5c2e1b40", interval_us, "layout", "3.11.2", start, None)])
    for t, name in zip(tids, names):
        insert(db, "threads", "run_id pid tid name first_ns last_ns held_ns wait_ns holds waits timeouts "
               "drop_requests_issued drop_requests_received forced_releases convoys",
               [(run_id, pid, t, name, start, end, held[t], waited[t], n_holds[t], n_waits[t],
                    n_timeouts[t], issued[t], received[t], received[t], 0)])
    insert(db, "holds", "run_id gil_id tid start_ns end_ns dur_ns ended crosses_loss", holds)
    insert(db, "waits", "run_id gil_id tid start_ns end_ns dur_ns timeouts outcome crosses_loss", waits)
    insert(db, "timeouts", "run_id gil_id tid ts_ns", timeouts)
    insert(db, "drop_requests", "run_id gil_id ts_ns requester holder interval_us released_ns response_ns", drops)
    insert(db, "switches", "run_id gil_id release_ns from_tid acquire_ns to_tid gap_ns forced", switches)
    insert(db, "forced_switches", "run_id gil_id tid start_ns end_ns dur_ns", forced)
    if lost:
        mid = start + wall // 3
        insert(db, "lost", "run_id stream start_ns end_ns count", [(run_id, "channel0_1", mid, mid + 2_000_000, lost)])

    hd = sorted(h[5] for h in holds)
    wd = sorted(w[5] for w in waits)
    gd = sorted(s[6] for s in switches)
    rd = sorted(d[7] for d in drops)
    waiting_total = sum(waited.values())
    row = dict(wall_ns=wall, held_pct=100.0 * sum(held.values()) / wall,
               wait_pct=100.0 * waiting_total / wall, contention_pct=min(100.0, 100.0 * waiting_total / wall),
               switches=len(switches), switches_per_s=len(switches) / (wall / 1e9),
               drop_requests=len(drops), drop_requests_per_s=len(drops) / (wall / 1e9),
               forced_releases=len(drops), handoff_ns=sum(gd))
    for name, vals in (("hold", hd), ("wait", wd), ("gap", gd), ("drop_response", rd)):
        for p in (50, 90, 99):
            row[f"{name}_p{p}_ns"] = pct(vals, p)
        row[f"{name}_max_ns"] = vals[-1] if vals else None
    for g in (None, gil_id):
        cols = ["run_id", "gil_id"] + list(row)
        db.execute(f"INSERT INTO metrics ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                   [run_id, g] + list(row.values()))
    slow = max(drops, key=lambda d: d[7])
    findings = [
        ("cpu_bound", "CPU-bound threads", None, None, row["wait_pct"],
         f"Threads spent {row['wait_pct']:.0f}% of the time waiting for the GIL: "
         "CPU-bound work wants processes (multiprocessing, concurrent.futures.ProcessPoolExecutor)."),
        ("slow_drop_response", "slow drop response", gil_id, slow[4], slow[7] / 1e6,
         f"Thread {names[tids.index(slow[4])]} kept the GIL {slow[7] / 1e6:.1f} ms after a drop request "
         f"(the switch interval is {interval_us / 1000:g} ms): it was running C code that does not "
         "check for drop requests."),
    ]
    if lost:
        findings.append(("lost_events", "lost events", None, None, lost,
                         f"The tracer lost {lost} events: intervals around the loss may be wrong."))
    insert(db, "findings", "run_id kind title gil_id tid value message", [(run_id,) + f for f in findings])
    indexes = SCHEMA.parent / "indexes.sql"  # as the analyzer does after its fill
    if indexes.exists():
        db.executescript(indexes.read_text())
    db.commit()
    db.close()


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", required=True, type=Path, help="database to write (replaced)")
    ap.add_argument("--intervals", type=int, default=1_000_000, help="holds + waits (default 1000000)")
    ap.add_argument("--threads", type=int, default=2, help="CPU-bound threads (default 2)")
    ap.add_argument("--interval-us", type=int, default=5000, help="switch interval (default 5000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--name", action="append", help="thread names, main thread first (repeat)")
    ap.add_argument("--command", default="python3 countdown.py")
    ap.add_argument("--lost", type=int, default=0, help="lost events to report")
    args = ap.parse_args(argv)
    if args.threads < 2:
        ap.error("--threads must be at least 2")
    if args.name and len(args.name) != args.threads:
        ap.error("give one --name per thread")
    make(args.output, args.intervals, args.threads, args.interval_us, args.seed, args.name,
         args.command, args.lost)
    print(f"wrote {args.output} ({os.path.getsize(args.output) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
