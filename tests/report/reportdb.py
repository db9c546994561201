"""Small gilscope databases for the report's tests, built from
analyzer/schema.sql row by row, every insert by column name."""
from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
SOURCE = Path(os.environ.get("GILSCOPE_SOURCE", HERE.parents[1]))

T0 = 1_700_000_000_000_000_000  # epoch-like ns, beyond JavaScript's exact integers
MS = 1_000_000
US = 1_000


def report_package_dir() -> Path:
    """The report package as the build copied it (what gilscope runs)."""
    build = os.environ.get("GILSCOPE_BUILD")
    if build:
        d = Path(build) / "share" / "gilscope" / "report"
        if (d / "gilscope_report" / "__main__.py").exists():
            return d
    return SOURCE / "report"


def import_report() -> None:
    d = str(report_package_dir())
    if d not in sys.path:
        sys.path.insert(0, d)


class DB:
    def __init__(self, path: Path, version: int = 3):
        self.path = path
        if path.exists():
            path.unlink()
        self.db = sqlite3.connect(str(path))
        self.db.executescript((SOURCE / "analyzer" / "schema.sql").read_text())
        self.db.execute(f"PRAGMA user_version = {version}")

    def insert(self, table: str, **cols: Any) -> None:
        names = list(cols)
        self.db.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                        [cols[n] for n in names])

    def run(self, run_id: int = 1, start: Optional[int] = T0, end: Optional[int] = T0 + 100 * MS, command: Optional[str] = "python3 app.py",
            lost: int = 0, **kw: Any) -> None:
        cols = dict(run_id=run_id, trace_path=f"/tmp/trace-{run_id}", hostname="testhost", command=command,
                    exit_status=0, start_ns=start, end_ns=end,
                    wall_ns=end - start if start is not None and end is not None else None, python_versions="3.11.2",
                    interval_us=5000, event_count=100, lost_events=lost, analyzer_version="test",
                    analyzed_at="2026-11-22T00:00:00Z")
        cols.update(kw)
        self.insert("runs", **cols)

    def process(self, pid: int, run_id: int = 1, procname: str = "python3", first: int = T0, last: Optional[int] = None) -> None:
        self.insert("processes", run_id=run_id, pid=pid, procname=procname, first_ns=first, last_ns=last)

    def gil(self, gil_id: int, pid: int, run_id: int = 1, found: int = T0, address: str = "0x7f0000001000",
            interval_us: Optional[int] = 5000) -> None:
        self.insert("gils", gil_id=gil_id, run_id=run_id, pid=pid, address=address, interval_us=interval_us,
                    rule="layout", python_version="3.11.2", found_ns=found, retired_ns=None)

    def thread(self, pid: int, tid: int, name: Optional[str], run_id: int = 1, first: int = T0, **kw: Any) -> None:
        self.insert("threads", run_id=run_id, pid=pid, tid=tid, name=name, first_ns=first, last_ns=first + 100 * MS, **kw)

    def hold(self, gil_id: int, tid: int, start: int, end: int, ended: str = "voluntary", run_id: int = 1,
             loss: int = 0) -> None:
        self.insert("holds", run_id=run_id, gil_id=gil_id, tid=tid, start_ns=start, end_ns=end, dur_ns=end - start,
                    ended=ended, crosses_loss=loss)

    def wait(self, gil_id: int, tid: int, start: int, end: int, outcome: str = "acquired", timeouts: int = 0,
             run_id: int = 1, loss: int = 0) -> None:
        self.insert("waits", run_id=run_id, gil_id=gil_id, tid=tid, start_ns=start, end_ns=end, dur_ns=end - start,
                    timeouts=timeouts, outcome=outcome, crosses_loss=loss)

    def timeout(self, gil_id: int, tid: int, ts: int, run_id: int = 1) -> None:
        self.insert("timeouts", run_id=run_id, gil_id=gil_id, tid=tid, ts_ns=ts)

    def drop(self, gil_id: int, ts: int, requester: int, holder: int, response: Optional[int], run_id: int = 1) -> None:
        self.insert("drop_requests", run_id=run_id, gil_id=gil_id, ts_ns=ts, requester=requester, holder=holder,
                    interval_us=5000, released_ns=None if response is None else ts + response, response_ns=response)

    def switch(self, gil_id: int, release: int, from_tid: int, acquire: int, to_tid: int, forced: int = 1,
               run_id: int = 1) -> None:
        self.insert("switches", run_id=run_id, gil_id=gil_id, release_ns=release, from_tid=from_tid,
                    acquire_ns=acquire, to_tid=to_tid, gap_ns=acquire - release, forced=forced)

    def forced(self, gil_id: int, tid: int, start: int, end: int, run_id: int = 1) -> None:
        self.insert("forced_switches", run_id=run_id, gil_id=gil_id, tid=tid, start_ns=start, end_ns=end,
                    dur_ns=end - start)

    def metrics(self, run_id: int = 1, gil_id: Optional[int] = None, **kw: Any) -> None:
        cols = dict(run_id=run_id, gil_id=gil_id, wall_ns=100 * MS, held_pct=90.0, wait_pct=80.0,
                    contention_pct=75.0, switches=20, switches_per_s=200.0, drop_requests=19,
                    drop_requests_per_s=190.0, forced_releases=19, handoff_ns=400 * US)
        cols.update(kw)
        self.insert("metrics", **cols)

    def finding(self, kind: str, message: str, run_id: int = 1, title: Optional[str] = None, **kw: Any) -> None:
        self.insert("findings", run_id=run_id, kind=kind, title=title or kind.replace("_", " "), message=message,
                    **kw)

    def lost(self, start: int, end: int, count: int, run_id: int = 1) -> None:
        self.insert("lost", run_id=run_id, stream="channel0_0", start_ns=start, end_ns=end, count=count)

    def close(self) -> None:
        self.db.commit()
        self.db.close()


def two_thread_db(path: Path, evil_name: str = "<img src=x onerror=alert(1)>") -> Path:
    """A deterministic 100 ms run: MainThread and a worker ping-ponging the GIL
    every 5 ms, a thread with no GIL activity, and one with the given name."""
    db = DB(path)
    pid = 1000
    db.run(command="python3 countdown.py </script><script>alert(2)</script>", lost=3)
    db.process(pid)
    db.gil(1, pid)
    stats = dict(held_ns=50 * MS, wait_ns=47 * MS, holds=10, waits=10, timeouts=10, drop_requests_issued=9,
                 drop_requests_received=10, forced_releases=10)
    db.thread(pid, pid, "MainThread", **stats)
    stats.update(held_ns=50 * MS + 10 * US, wait_ns=49 * MS, drop_requests_issued=10, drop_requests_received=9,
                 forced_releases=9)
    db.thread(pid, 1001, evil_name, first=T0 + 1 * MS, **stats)
    db.thread(pid, 1002, None, first=T0 + 2 * MS)  # never touched the GIL
    t = T0
    holder, other = pid, 1001
    db.wait(1, 1001, T0 + 1 * MS, T0 + 5 * MS + 20 * US, timeouts=1)
    db.timeout(1, 1001, T0 + 5 * MS + 1 * US)
    for i in range(20):
        end = t + 5 * MS + 10 * US
        ended = "trace_end" if i == 19 else "forced"
        db.hold(1, holder, t, end, ended=ended, loss=1 if i == 7 else 0)
        if i < 19:
            db.drop(1, end - 8 * US, other, holder, 8 * US)
            acquire = end + 10 * US
            db.switch(1, end, holder, acquire, other)
            db.forced(1, holder, end, acquire + 2 * US)
            if i > 0:
                db.wait(1, other, t + 3 * US, acquire, timeouts=1)
                db.timeout(1, other, t + 5 * MS + 3 * US)
            holder, other = other, holder
            t = acquire
    db.wait(1, other, t + 3 * US, t + 5 * MS + 10 * US, outcome="trace_end", timeouts=1)
    db.metrics(hold_p50_ns=5 * MS, hold_p90_ns=5 * MS, hold_p99_ns=5 * MS, hold_max_ns=5 * MS + 10 * US)
    # The findings as the analyzer writes them (analyzer/findings.c), most
    # important first, with HTML in the text to check that it is escaped.
    db.finding("lost_events", "The tracer lost 3 events: intervals near the loss (red bands on the timeline) "
               "may be wrong.", value=3)
    db.finding("waiting", "Threads spent 80% of the time waiting for the GIL: CPU-bound work wants processes "
               "(multiprocessing, concurrent.futures.ProcessPoolExecutor) or C code that releases the GIL.",
               title="time waiting", value=80.0)
    db.finding("cpu_bound", "Threads spent 95% of the time waiting for the GIL: CPU-bound work wants processes.",
               title="CPU-bound threads")
    db.finding("slow_drop_response", "Thread <b>x</b> kept the GIL 31 ms after a drop request.", tid=1001,
               detail="The slowest: MainThread (tid 1000) kept the GIL 8.00 µs after the drop request at +5.00 ms.",
               at_ns=T0 + 5 * MS + 2 * US, dur_ns=8 * US)
    db.lost(T0 + 40 * MS, T0 + 41 * MS, 3)
    db.close()
    return path
