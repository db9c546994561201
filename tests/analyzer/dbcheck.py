"""Helpers of the analyzer tests: run `gilscope analyze`, and check the
invariants every database it writes must hold (consistency checks), and
the row counts against the trace's own event counts."""
from __future__ import annotations

import math
import os
import shutil
import sqlite3
import subprocess
import tarfile
from pathlib import Path
from typing import Callable

import gstest
from gstest import check, fail  # noqa: E402,F401

DATA = gstest.source_dir() / "tests" / "data" / "analyzer"


def analyze(trace: Path, db: Path, *extra: str, expect_ok: bool = True,
            env: dict | None = None) -> subprocess.CompletedProcess:
    argv = [str(gstest.gilscope()), "analyze", str(trace), "-o", str(db), "--no-progress", *extra]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, **(env or {})))
    if expect_ok and res.returncode != 0:
        fail(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.strip()}")
    return res


def unpack(name: str, dest: Path) -> Path:
    """Unpacks tests/data/analyzer/NAME.tar.xz (a trace directory) into dest."""
    with tarfile.open(DATA / f"{name}.tar.xz") as tf:
        tf.extractall(dest)
    return dest / name


def rows(db: Path, sql: str, *args) -> list[tuple]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def one(db: Path, sql: str, *args):
    r = rows(db, sql, *args)
    return r[0][0] if r else None


def nearest_rank(values: list[int], p: int):
    if not values:
        return None
    v = sorted(values)
    r = max(1, math.ceil(p * len(v) / 100))
    return v[r - 1]


def check_db(db: Path, trace: Path | None = None, run_id: int | None = None) -> None:
    """The invariants of issue 3, on one run of db (the latest by default)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    q = lambda sql, *a: con.execute(sql, a).fetchall()  # noqa: E731
    if run_id is None:
        run_id = q("SELECT max(run_id) FROM runs")[0][0]
    ver = q("PRAGMA user_version")[0][0]
    check(ver >= 1, f"PRAGMA user_version is set ({ver})")
    run = q("SELECT start_ns, end_ns, wall_ns, event_count, lost_events, anomalies "
            "FROM runs WHERE run_id = ?", run_id)[0]
    start, end, wall, nevents, lost, anomalies = run
    if any(c[1] == "first_anomaly_ns" for c in q("PRAGMA table_info(runs)")):
        first = q("SELECT first_anomaly_ns FROM runs WHERE run_id = ?", run_id)[0][0]
        check((first is None) == (anomalies == 0) and (first is None or start <= first <= end),
              f"run {run_id}: the first anomaly's time is there when anomalies are ({anomalies}), "
              f"within the run ({first})")
    check(wall == end - start and wall >= 0, f"run {run_id}: wall_ns = end - start ({wall})")
    nlosses = q("SELECT count(*) FROM lost WHERE run_id = ?", run_id)[0][0]
    clean = lost == 0 and nlosses == 0 and anomalies == 0
    check(lost >= 0 and not q("SELECT count(*) FROM lost WHERE run_id = ? AND "
                              "(count < 0 OR count >= 1 << 62)", run_id)[0][0],
          f"no impossible lost count is stored (lost_events {lost})")

    for table, s, e in (("holds", "start_ns", "end_ns"), ("waits", "start_ns", "end_ns"),
                        ("forced_switches", "start_ns", "end_ns")):
        bad = q(f"SELECT count(*) FROM {table} WHERE run_id = ? AND "
                f"(dur_ns != {e} - {s} OR dur_ns < 0 OR {s} < ? OR {e} > ?)", run_id, start, end)[0][0]
        check(bad == 0, f"{table}: dur_ns = end - start >= 0, inside the run ({bad} bad)")

    gils = q("SELECT g.gil_id, g.found_ns, coalesce(g.retired_ns, p.last_ns) FROM gils g "
             "JOIN processes p ON p.run_id = g.run_id AND p.pid = g.pid WHERE g.run_id = ?", run_id)
    for gil_id, found, gend in gils:
        hs = q("SELECT start_ns, end_ns, dur_ns FROM holds WHERE run_id = ? AND gil_id = ? "
               "ORDER BY start_ns, end_ns", run_id, gil_id)
        overlaps = sum(1 for a, b in zip(hs, hs[1:]) if b[0] < a[1])
        check(overlaps == 0, f"GIL {gil_id}: its {len(hs)} holds never overlap")
        held = sum(h[2] for h in hs)
        check(held <= gend - found, f"GIL {gil_id}: sum of holds {held} <= its life {gend - found}")
        check(all(found <= h[0] and h[1] <= gend for h in hs), f"GIL {gil_id}: holds inside its life")

    orphan = q("SELECT count(*) FROM waits w WHERE w.run_id = ? AND w.outcome = 'acquired' AND NOT EXISTS "
               "(SELECT 1 FROM holds h WHERE h.run_id = w.run_id AND h.gil_id = w.gil_id "
               "AND h.tid = w.tid AND h.start_ns = w.end_ns)", run_id)[0][0]
    # After a loss, a hold whose end was lost is dropped (an anomaly): its
    # wait still ended at the acquire, but no hold row starts there.
    check(orphan <= anomalies, f"every acquired wait ends at its acquire (a hold starts there) "
          f"({orphan} not, {anomalies} anomalies)")
    bad = q("SELECT count(*) FROM switches WHERE run_id = ? AND (gap_ns < 0 OR acquire_ns < release_ns "
            "OR gap_ns > acquire_ns - release_ns OR from_tid = to_tid)", run_id)[0][0]
    check(bad == 0, f"switches: 0 <= gap_ns <= acquire - release, between two threads ({bad} bad)")
    nohold = q("SELECT count(*) FROM switches s WHERE s.run_id = ? AND NOT EXISTS "
               "(SELECT 1 FROM holds h WHERE h.run_id = s.run_id AND h.gil_id = s.gil_id "
               "AND h.tid = s.to_tid AND h.start_ns = s.acquire_ns)", run_id)[0][0]
    check(nohold <= anomalies, f"every switch starts a hold of its to_tid ({nohold} not)")
    bad = q("SELECT count(*) FROM drop_requests WHERE run_id = ? AND released_ns IS NOT NULL "
            "AND (response_ns != released_ns - ts_ns OR response_ns < 0)", run_id)[0][0]
    check(bad == 0, f"drop_requests: response_ns = released_ns - ts_ns >= 0 ({bad} bad)")

    # Per-thread totals are the sums of the rows.
    bad = q("SELECT count(*) FROM threads t WHERE t.run_id = ? AND ("
            "t.holds != (SELECT count(*) FROM holds h JOIN gils g USING (gil_id) WHERE h.run_id = t.run_id "
            "  AND g.pid = t.pid AND h.tid = t.tid) OR "
            "t.held_ns != (SELECT coalesce(sum(dur_ns), 0) FROM holds h JOIN gils g USING (gil_id) "
            "  WHERE h.run_id = t.run_id AND g.pid = t.pid AND h.tid = t.tid) OR "
            "t.waits != (SELECT count(*) FROM waits w JOIN gils g USING (gil_id) WHERE w.run_id = t.run_id "
            "  AND g.pid = t.pid AND w.tid = t.tid))", run_id)[0][0]
    check(bad == 0, f"threads: holds, held_ns and waits are the sums of their rows ({bad} bad)")

    # Metrics: counts and exact nearest-rank percentiles.
    for gil_id in [None] + [g[0] for g in gils]:
        where = "run_id = ?" + ("" if gil_id is None else " AND gil_id = ?")
        args = (run_id,) if gil_id is None else (run_id, gil_id)
        m = q(f"SELECT switches, drop_requests, hold_p50_ns, hold_p90_ns, hold_p99_ns, hold_max_ns, "
              f"wait_p50_ns, wait_p99_ns, gap_p90_ns, drop_response_p99_ns, handoff_ns FROM metrics WHERE "
              + ("run_id = ? AND gil_id IS NULL" if gil_id is None else "run_id = ? AND gil_id = ?"), *args)
        check(len(m) == 1, f"one metrics row for {'the run' if gil_id is None else f'GIL {gil_id}'}")
        m = m[0]
        holds = [r[0] for r in q(f"SELECT dur_ns FROM holds WHERE {where}", *args)]
        waits = [r[0] for r in q(f"SELECT dur_ns FROM waits WHERE {where}", *args)]
        gaps = [r[0] for r in q(f"SELECT gap_ns FROM switches WHERE {where}", *args)]
        resp = [r[0] for r in q(f"SELECT response_ns FROM drop_requests WHERE {where} "
                                "AND response_ns IS NOT NULL", *args)]
        want = (len(gaps), q(f"SELECT count(*) FROM drop_requests WHERE {where}", *args)[0][0],
                nearest_rank(holds, 50), nearest_rank(holds, 90), nearest_rank(holds, 99),
                max(holds) if holds else None, nearest_rank(waits, 50), nearest_rank(waits, 99),
                nearest_rank(gaps, 90), nearest_rank(resp, 99), sum(gaps))
        check(tuple(m) == want, f"metrics of {'the run' if gil_id is None else f'GIL {gil_id}'} "
              f"match the rows: {tuple(m)} == {want}")

    # Per-thread percentiles: over the thread's rows on every GIL.
    for pid, tid, hp50, hp99, hmax, wp50, wp90, wmax in q(
            "SELECT pid, tid, hold_p50_ns, hold_p99_ns, hold_max_ns, wait_p50_ns, wait_p90_ns, "
            "wait_max_ns FROM threads WHERE run_id = ?", run_id):
        hs = [r[0] for r in q("SELECT h.dur_ns FROM holds h JOIN gils g USING (gil_id) "
                              "WHERE h.run_id = ? AND g.pid = ? AND h.tid = ?", run_id, pid, tid)]
        ws = [r[0] for r in q("SELECT w.dur_ns FROM waits w JOIN gils g USING (gil_id) "
                              "WHERE w.run_id = ? AND g.pid = ? AND w.tid = ?", run_id, pid, tid)]
        want = (nearest_rank(hs, 50), nearest_rank(hs, 99), max(hs) if hs else None,
                nearest_rank(ws, 50), nearest_rank(ws, 90), max(ws) if ws else None)
        if (hp50, hp99, hmax, wp50, wp90, wmax) != want:
            fail(f"thread {pid}/{tid}: percentiles {(hp50, hp99, hmax, wp50, wp90, wmax)} != {want}")
    check(True, "threads: hold and wait percentiles match their rows")

    if trace is not None:
        t = gstest.read_trace(trace)
        # Processes of other recordings (tag filter) are not in the run.
        kept = {r[0] for r in q("SELECT pid FROM processes WHERE run_id = ?", run_id)}
        skipped = q("SELECT skipped_events FROM runs WHERE run_id = ?", run_id)[0][0]
        late = q("SELECT late_events FROM runs WHERE run_id = ?", run_id)[0][0]
        n_all = len(t.events)
        t.events = [e for e in t.events if e.pid in kept]
        # With a tag filter, a kept process's events before its first one
        # carrying the tag (a process announced only by a later resync)
        # are skipped too.
        info = Path(trace) / "gilscope.info"
        if info.exists() and "tag" in gstest.info(Path(trace)):
            recognised: set = set()
            used = []
            for e in t.events:
                if e.pid not in recognised and e.name in ("gil_found", "gil_known", "thread_name"):
                    recognised.add(e.pid)
                if e.pid in recognised:
                    used.append(e)
            t.events = used
        # Every event is counted once: skipped (other processes, and kept
        # ones' early events), in event_count, or late (its place given up
        # after a loss: not used, of whichever process).
        other = n_all - len(t.events)
        check(n_all == skipped + nevents + late and skipped <= other <= skipped + late,
              f"skipped_events {skipped} == events of other processes {other} "
              f"(+ late ones of {late})")
        # A process's events after its process_exit change nothing.
        exits = {}
        for e in t.events:
            if e.name == "process_exit":
                exits.setdefault(e.pid, e.ts)
        live = [e for e in t.events if e.pid not in exits or e.ts <= exits[e.pid]
                or e.name == "process_exit"]
        names = [e.name for e in live]
        cnt = lambda n: names.count(n)  # noqa: E731
        check(nevents <= len(t.events) <= nevents + late,
              f"event_count {nevents} == gilscope events {len(t.events)} (+ late ones of {late})")
        # With an impossible count (LTTng-UST < 2.15), each stream's losses
        # are counted once, from its good values (docs/events.md).
        check(lost == t.discarded_good, f"lost_events {lost} == discarded {t.discarded_good} "
              f"(babeltrace2's sum: {t.discarded})")
        check(q("SELECT coalesce(sum(count), 0) FROM lost WHERE run_id = ?", run_id)[0][0] == lost,
              "sum(lost.count) == runs.lost_events")
        n = q("SELECT count(*) FROM timeouts WHERE run_id = ?", run_id)[0][0]
        check(n == cnt("wait_timeout"), f"timeouts rows {n} == wait_timeout events")
        n = q("SELECT count(*) FROM drop_requests WHERE run_id = ?", run_id)[0][0]
        check(n == cnt("drop_request"), f"drop_requests rows {n} == drop_request events")
        forced = sum(1 for e in live if e.name == "release" and e.fields.get("forced"))
        n = q("SELECT coalesce(sum(forced_releases), 0) FROM threads WHERE run_id = ?", run_id)[0][0]
        check(n == forced, f"forced releases {n} == release events with forced=1 ({forced})")
        n = q("SELECT count(*) FROM holds WHERE run_id = ? AND ended != 'trace_end'", run_id)[0][0]
        check(n <= cnt("release"), f"closed holds {n} <= release events {cnt('release')}")
        n2 = q("SELECT count(*) FROM holds WHERE run_id = ? AND ended = 'forced'", run_id)[0][0]
        check(n2 <= forced, f"forced holds {n2} <= forced releases {forced}")
        if clean:
            check(n == cnt("release"), f"clean trace: closed holds {n} == release events")
            n = q("SELECT count(*) FROM waits WHERE run_id = ?", run_id)[0][0]
            check(n == cnt("request"), f"clean trace: waits {n} == request events {cnt('request')}")
            n = q("SELECT count(*) FROM waits WHERE run_id = ? AND outcome = 'abandoned'", run_id)[0][0]
            check(n == cnt("request_abandoned"), f"clean trace: abandoned waits {n} == request_abandoned")
            n = q("SELECT count(*) FROM forced_switches WHERE run_id = ?", run_id)[0][0]
            check(n == cnt("forced_switch_end"), f"clean trace: forced switches {n} == forced_switch_end")
            n = q("SELECT count(*) FROM holds WHERE run_id = ?", run_id)[0][0]
            check(n == cnt("acquire"), f"clean trace: holds {n} == acquire events {cnt('acquire')}")
    con.close()


def summary(db: Path) -> str:
    res = subprocess.run([str(gstest.gilscope()), "summary", str(db)], capture_output=True,
                         text=True, timeout=120)
    if res.returncode != 0:
        fail(f"gilscope summary {db} exited {res.returncode}: {res.stderr.strip()}")
    wide = [l for l in res.stdout.splitlines() if len(l) > 80]
    check(not wide, f"summary fits in 80 columns ({len(wide)} wider lines: {wide[:2]})")
    for part in ("switches", "p50", "TID", "usecs", "distribution"):
        check(part in res.stdout, f"summary shows {part!r}")
    # A command too long for its column is cut visibly, never silently
    # ("churn 2 20000" must not read as "churn 2 2").
    con = sqlite3.connect(str(db))
    try:
        # summary shows the latest run.
        row = con.execute("SELECT command FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()
    finally:
        con.close()
    head = next((l for l in res.stdout.splitlines() if " GIL summary of run " in l), "")
    shown = head.split(": ", 1)[1].rsplit(" (exit ", 1)[0] if ": " in head else ""
    if row and row[0] and shown and "\\" not in shown and row[0].isprintable():
        check(shown == row[0] or (shown.endswith("...") and row[0].startswith(shown[:-3])),
              f"summary shows the command whole or cut with '...' ({shown!r} for {row[0]!r})")
    return res.stdout


def tmpdir() -> Path:
    return gstest.tmpdir("gilscope-analyzer-")


def env_keep() -> bool:
    return bool(os.environ.get("GILSCOPE_TEST_KEEP"))


def run_cases(*cases: Callable[[Path], None]) -> None:
    """Runs each case in one scratch directory, removed afterwards unless
    GILSCOPE_TEST_KEEP is set (a failing case exits first: kept)."""
    tmp = tmpdir()
    for case in cases:
        case(tmp)
    if not env_keep():
        shutil.rmtree(tmp, ignore_errors=True)
