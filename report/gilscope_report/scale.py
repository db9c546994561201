"""The page of a large run: past SUMMARY_THRESHOLD holds and waits, the
page cannot embed every interval. It embeds instead:

- per lane, a summary on a grid of equal time buckets (as many as
  SUMMARY_BYTES allow, at most MAX_BUCKETS): the time held and waited in
  each bucket (16-bit fractions of the bucket) and how many holds and waits
  started in it. The page sums buckets into pixel columns at every zoom
  level through prefix sums, so a column is exact to a bucket's width;
- single intervals (with their time-outs, drop requests and forced
  switches) for the DETAIL_WINDOWS busiest stretches of time, about
  DETAIL_INTERVALS of them in all.

Everything here is aggregated by SQLite, two tables at a time on two
connections (sqlite3 lets go of the GIL while a query runs), in one pass
over each table: its rows are read in chunks of CHUNK_ROWS rowids (a
primary-key range: no index look-up per row), each chunk grouped by a
query of its own. One GROUP BY over a whole table sorts millions of rows
through temporary files; a chunk's sort stays small and in memory, and
Python adds the chunks' groups up (a group cut by a chunk's edge simply
comes in two parts).
"""
from __future__ import annotations

import array
import concurrent.futures
import math
import operator
import sqlite3
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

SUMMARY_THRESHOLD = 200_000
MAX_BUCKETS = 1 << 17
SUMMARY_BYTES = 4_000_000       # 8 bytes per bucket and lane, before base64
DETAIL_INTERVALS = 150_000
DETAIL_WINDOWS = 8
FRACTION_ONE = 0xFFFF           # a bucket wholly held (or waited)
CHUNK_ROWS = 65536              # rows grouped by one chunk query

Key = Tuple[int, int]           # (gil_id, tid)


def _connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False)


Job = List[Tuple[str, Dict[str, Any]]]   # statements whose rows go together


def _parallel(path: str, jobs: Sequence[Job]) -> List[List[Tuple[Any, ...]]]:
    """Runs the jobs two at a time, each on its own connection."""
    def run(job: Job) -> List[Tuple[Any, ...]]:
        conn = _connect(path)
        try:
            rows: List[Tuple[Any, ...]] = []
            for sql, params in job:
                rows.extend(conn.execute(sql, params))
            return rows
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(run, jobs))


def _chunked(path: str, table: str, sql: str, params: Dict[str, Any]) -> Job:
    """sql (a SELECT on table with `rowid >= :c_lo AND rowid < :c_hi` in its
    WHERE) once per chunk of CHUNK_ROWS rowids. Its run filter must read
    `+run_id`, so that SQLite walks the rowids rather than the run's index."""
    conn = _connect(path)
    try:
        first, last = conn.execute(f"SELECT MIN(rowid), MAX(rowid) FROM {table}").fetchone()
    finally:
        conn.close()
    if first is None:
        return []
    return [(sql, dict(params, c_lo=c, c_hi=c + CHUNK_ROWS)) for c in range(first, last + 1, CHUNK_ROWS)]


def count_intervals(conn: sqlite3.Connection, run_id: int, lo: int, hi: int) -> int:
    """Holds and waits that start in [lo, hi) (the time indexes count them)."""
    return sum(conn.execute(f"SELECT COUNT(*) FROM {t} WHERE run_id = :run AND gil_id = :gil "
                            "AND start_ns >= :lo AND start_ns < :hi",
                            {"run": run_id, "gil": g, "lo": lo, "hi": hi}).fetchone()[0]
               for t in ("holds", "waits") for g in gil_ids(conn, run_id, t))


class Grid:
    """The summary of every lane on one grid: bucket k covers
    [lo + k*width, lo + (k+1)*width)."""

    def __init__(self, lo: int, hi: int, lanes: int, bins_per_decade: int):
        self.lo = lo
        self.bins_per_decade = bins_per_decade
        per_lane = max(64, SUMMARY_BYTES // (8 * max(1, lanes)))
        n = min(MAX_BUCKETS, per_lane)
        self.width = max(1, -(-(hi - lo) // n))
        self.n = max(1, -(-(hi - lo) // self.width))
        self.held: Dict[Key, List[int]] = {}
        self.waited: Dict[Key, List[int]] = {}
        self.n_holds: Dict[Key, List[int]] = {}
        self.n_waits: Dict[Key, List[int]] = {}
        self.bins: Dict[str, Dict[int, int]] = {"holds": {}, "waits": {}}
        # the hand-off gaps' and drop responses' bins, counted alongside
        self.other_bins: Dict[str, Dict[int, int]] = {}

    def _cols(self, key: Key, kind: str) -> Tuple[List[int], List[int]]:
        time_d, count_d = (self.held, self.n_holds) if kind == "holds" else (self.waited, self.n_waits)
        if key not in time_d:
            time_d[key] = [0] * self.n
            count_d[key] = [0] * self.n
        return time_d[key], count_d[key]

    def add_short(self, kind: str, gil: int, rows: Sequence[Sequence[int]]) -> None:
        """Rows (tid, bucket, histogram bin, count, time in the bucket, total
        time) of intervals shorter than a bucket: what spills goes to the
        next one. Rows of one (tid, bucket, bin) may come in several parts."""
        bins = self.bins[kind]
        n = self.n
        cols: Dict[int, Tuple[List[int], List[int]]] = {}
        for tid, b, hbin, count, inside, total in rows:
            bins[hbin] = bins.get(hbin, 0) + count
            if b < 0 or b >= n:
                continue
            lane = cols.get(tid)
            if lane is None:
                lane = cols[tid] = self._cols((gil, tid), kind)
            times, counts = lane
            counts[b] += count
            times[b] += inside
            if total > inside and b + 1 < n:
                times[b + 1] += total - inside

    def add_long(self, kind: str, gil: int, rows: Sequence[Tuple[int, int, int]]) -> None:
        """Rows (tid, start, end) of intervals a bucket long or more, split
        over the buckets they cover."""
        w = self.width
        bins = self.bins[kind]
        for tid, start, end in rows:
            if start >= self.lo:  # counted where it starts, as add_short does
                b = log_bin(end - start, self.bins_per_decade)
                bins[b] = bins.get(b, 0) + 1
            start, end = max(start, self.lo), min(end, self.lo + self.n * w)
            if end <= start:
                continue
            times, counts = self._cols((gil, tid), kind)
            b = (start - self.lo) // w
            counts[b] += 1
            pos = start
            while pos < end:
                edge = min(end, self.lo + (b + 1) * w)
                times[b] += edge - pos
                pos = edge
                b += 1

    def busy(self) -> List[int]:
        """Holds and waits per bucket, all lanes together."""
        total = [0] * self.n
        for d in (self.n_holds, self.n_waits):
            for counts in d.values():
                total = [a + b for a, b in zip(total, counts)]
        return total

    def fractions(self, key: Key, kind: str) -> array.array:
        times = (self.held if kind == "holds" else self.waited).get(key)
        if times is None:
            return array.array("H")
        w = self.width
        return array.array("H", (min(FRACTION_ONE, (t * FRACTION_ONE + w // 2) // w) for t in times))

    def counts(self, key: Key, kind: str) -> array.array:
        c = (self.n_holds if kind == "holds" else self.n_waits).get(key)
        return array.array("H", (min(v, 0xFFFF) for v in c)) if c is not None else array.array("H")


def log_bin(ns: int, per_decade: int) -> int:
    """The histogram bin as SQLite computes it (BIN_SQL)."""
    return int(per_decade * math.log10(max(ns, 1)) + 1e-9)


# floor(k * log10(ns)), + 1e-9 so that exact powers of ten fall where
# Python's bisect over the bin edges puts them (data.log_bin)
BIN_SQL = "CAST({k} * log10(MAX({col}, 1)) + 1e-9 AS INTEGER)"


def has_log10(path: str) -> bool:
    """SQLite's math functions are there (3.35+, built with them)."""
    probe = _connect(path)
    try:
        probe.execute("SELECT log10(10)").fetchone()
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def summarize(path: str, run_id: int, keys: Sequence[Key], lo: int, hi: int, bins_per_decade: int) -> Grid:
    """The grid of the lanes keys over [lo, hi), and the histograms of the
    holds and waits that start in it (needs has_log10). One pass per table:
    intervals shorter than a bucket grouped per (GIL, thread, bucket, bin),
    longer ones one by one (they are few). With them, the gaps' and the drop
    responses' histograms (Grid.other_bins)."""
    grid = Grid(lo, hi, len(keys), bins_per_decade)
    hbin = BIN_SQL.format(k=bins_per_decade, col="end_ns - start_ns")
    # Short intervals are grouped on one integer, cheaper to sort than
    # three columns: bucket (< 2^17), bin (< 2^8: 10 per decade, 19
    # decades of ns), tid (< 2^31).
    assert grid.n <= 1 << 17 and bins_per_decade * 19 < 256
    gils = {g for g, _ in keys}
    jobs: List[Job] = []
    for table in ("holds", "waits"):
        p = {"run": run_id, "lo": lo, "hi": hi, "w": grid.width}
        chunk = f"FROM {table} WHERE rowid >= :c_lo AND rowid < :c_hi AND +run_id = :run AND start_ns < :hi "
        # (gil, tid, bucket, bin, count, time inside the bucket, total time)
        short = (f"SELECT gil_id, k & 2147483647, k >> 39, (k >> 31) & 255, COUNT(*), "
                 f"SUM(MIN(end_ns, :lo + ((k >> 39) + 1) * :w) - start_ns), SUM(end_ns - start_ns) "
                 f"FROM (SELECT gil_id, start_ns, end_ns, ((start_ns - :lo) / :w << 39) | ({hbin} << 31) | tid AS k "
                 f"{chunk}AND start_ns >= :lo AND end_ns - start_ns < :w) GROUP BY gil_id, k")
        # (gil, tid, NULL, start, end): few
        long = f"SELECT gil_id, tid, NULL, start_ns, end_ns {chunk}AND end_ns > :lo AND end_ns - start_ns >= :w"
        jobs.append(_chunked(path, table, short, p) + _chunked(path, table, long, p))
    jobs.extend(_histogram_jobs(path, run_id, bins_per_decade))
    results = _parallel(path, jobs)
    for table, rows in zip(("holds", "waits"), results):
        short_rows: Dict[int, List[Tuple[Any, ...]]] = {}
        long_rows: Dict[int, List[Tuple[int, int, int]]] = {}
        for row in rows:
            if row[0] not in gils:
                continue
            if len(row) == 5:
                long_rows.setdefault(row[0], []).append((row[1], row[3], row[4]))
            else:
                short_rows.setdefault(row[0], []).append(row[1:])
        for g, srows in short_rows.items():
            grid.add_short(table, g, srows)
        for g, lrows in long_rows.items():
            grid.add_long(table, g, sorted(lrows, key=operator.itemgetter(1)))
    grid.other_bins = {name: _bins_of(rows) for name, rows in zip(("gap", "drop_response"), results[2:])}
    return grid


def pick_windows(grid: Grid, budget: int = DETAIL_INTERVALS,
                 windows: int = DETAIL_WINDOWS) -> List[Tuple[int, int, int]]:
    """The busiest stretches, as absolute (start, end, intervals): `windows`
    stretches of one length (in buckets), the longest that keeps the
    busiest of them within budget / windows intervals, apart from each
    other by a bucket at least."""
    busy = grid.busy()
    n = len(busy)
    per = max(1, budget // windows)
    prefix = [0]
    for v in busy:
        prefix.append(prefix[-1] + v)

    def worst(m: int) -> int:
        return max(map(operator.sub, prefix[m:], prefix[:n - m + 1]))

    lo_m, hi_m = 1, n
    if worst(1) > per:
        m = 1
    else:
        while lo_m < hi_m:  # the longest m with worst(m) <= per
            mid = (lo_m + hi_m + 1) // 2
            if worst(mid) <= per:
                lo_m = mid
            else:
                hi_m = mid - 1
        m = lo_m
    sums = sorted(zip(map(operator.sub, prefix[m:], prefix[:n - m + 1]), range(0, -(n - m + 1), -1)),
                  reverse=True)
    taken: List[Tuple[int, int]] = []
    out = []
    for total, neg_i in sums:
        if len(out) == windows or total == 0:
            break
        i = -neg_i
        if any(i < b + 1 and a < i + m + 1 for a, b in taken):
            continue
        taken.append((i, i + m))
        out.append((grid.lo + i * grid.width, grid.lo + (i + m) * grid.width, total))
    return sorted(out)


def max_durations(conn: sqlite3.Connection, run_id: int, metrics: Optional[Dict[str, Any]]) -> Dict[str, int]:
    """How long the longest interval of each table lasted: how far before a
    window an interval overlapping it can start. The analyzer's maxima are
    exact; a forced switch lasts no longer than the hold before it and the
    wait of the thread that takes the GIL. Without them, a scan."""
    m = metrics or {}
    if m.get("hold_max_ns") is not None and m.get("wait_max_ns") is not None:
        h, w = int(m["hold_max_ns"]), int(m["wait_max_ns"])
        return {"holds": h, "waits": w, "forced_switches": h + w}
    out = {}
    for table in ("holds", "waits", "forced_switches"):
        v = conn.execute(f"SELECT MAX(end_ns - start_ns) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0]
        out[table] = int(v or 0)
    return out


def total_intervals(conn: sqlite3.Connection, run_id: int, metrics: Optional[Dict[str, Any]]) -> int:
    """Holds and waits of the run: the analyzer's counts, else counted."""
    m = metrics or {}
    if m.get("holds") is not None and m.get("waits") is not None:
        return int(m["holds"]) + int(m["waits"])
    return sum(conn.execute(f"SELECT COUNT(*) FROM {t} WHERE run_id = ?", (run_id,)).fetchone()[0]
               for t in ("holds", "waits"))


def gil_ids(conn: sqlite3.Connection, run_id: int, table: str) -> List[int]:
    """The GILs a table has rows of, hopping along its time index (a few
    look-ups per GIL instead of a scan)."""
    rows = conn.execute(
        f"WITH RECURSIVE g(id) AS (SELECT MIN(gil_id) FROM {table} WHERE run_id = :run UNION ALL "
        f"SELECT (SELECT MIN(gil_id) FROM {table} WHERE run_id = :run AND gil_id > g.id) FROM g "
        f"WHERE g.id IS NOT NULL) SELECT id FROM g WHERE id IS NOT NULL", {"run": run_id}).fetchall()
    return [r[0] for r in rows]


def bounds(conn: sqlite3.Connection, run_id: int, run: Dict[str, Any], pads: Dict[str, int]) -> Tuple[int, int]:
    """The first and last time of the run, widened to every interval, by
    look-ups in the time indexes: the interval that ends last started no
    earlier than the last start minus the longest duration."""
    firsts = [run.get("start_ns")]
    lasts = [run.get("end_ns")]
    for table, first, last in (("holds", "start_ns", "end_ns"), ("waits", "start_ns", "end_ns"),
                               ("timeouts", "ts_ns", "ts_ns"), ("forced_switches", "start_ns", "end_ns")):
        for g in gil_ids(conn, run_id, table):
            p = {"run": run_id, "gil": g}
            # two subqueries: SQLite answers a lone MIN or MAX from the index
            # in one look-up, MIN and MAX together by a scan
            lo, hi = conn.execute(f"SELECT (SELECT MIN({first}) FROM {table} WHERE run_id = :run AND gil_id = :gil), "
                                  f"(SELECT MAX({first}) FROM {table} WHERE run_id = :run AND gil_id = :gil)",
                                  p).fetchone()
            firsts.append(lo)
            if hi is not None:
                p["from"] = hi - pads.get(table, 0)
                lasts.append(conn.execute(f"SELECT MAX({last}) FROM {table} WHERE run_id = :run AND gil_id = :gil "
                                          f"AND {first} >= :from", p).fetchone()[0])
    lo, hi = conn.execute("SELECT (SELECT MIN(ts_ns) FROM drop_requests WHERE run_id = :run), "
                          "(SELECT MAX(ts_ns) FROM drop_requests WHERE run_id = :run)", {"run": run_id}).fetchone()
    return span_of(firsts + [lo], lasts + [hi])


def span_of(firsts: Sequence[Optional[int]], lasts: Sequence[Optional[int]]) -> Tuple[int, int]:
    """The earliest of firsts and the latest of lasts (None: unknown)."""
    known = [v for v in firsts if v is not None]
    t0 = min(known) if known else 0
    known = [v for v in lasts if v is not None]
    return t0, max(known) if known else t0


def lane_pairs(conn: sqlite3.Connection, run_id: int, gils: Dict[int, Dict[str, Any]],
               threads: Sequence[Dict[str, Any]]) -> List[Tuple[int, int]]:
    """The (GIL, thread) pairs with holds or waits, asked pair by pair
    (a thread's first row is soon found in the time index) instead of a
    DISTINCT over every row."""
    out = []
    active = [t for t in threads if (t.get("holds") or 0) + (t.get("waits") or 0) > 0] or list(threads)
    ids = sorted(set(gil_ids(conn, run_id, "holds")) | set(gil_ids(conn, run_id, "waits")))
    for g in ids:
        pid = gils[g]["pid"] if g in gils else None
        for t in active:
            if pid is not None and t["pid"] != pid:
                continue
            p = {"run": run_id, "gil": g, "tid": t["tid"]}
            if any(conn.execute(f"SELECT 1 FROM {table} WHERE run_id = :run AND gil_id = :gil AND tid = :tid LIMIT 1",
                                p).fetchone() for table in ("holds", "waits")):
                out.append((g, t["tid"]))
    return out


def _histogram_jobs(path: str, run_id: int, bins_per_decade: int) -> List[Job]:
    """The chunked queries of the hand-off gaps' and the drop responses'
    log-scale histograms (the report's bins): rows (bin, count)."""
    jobs = []
    for table, col in (("switches", "gap_ns"), ("drop_requests", "response_ns")):
        b = BIN_SQL.format(k=bins_per_decade, col=col)
        jobs.append(_chunked(path, table, f"SELECT {b}, COUNT(*) FROM {table} WHERE rowid >= :c_lo "
                             f"AND rowid < :c_hi AND +run_id = :run AND {col} IS NOT NULL GROUP BY 1",
                             {"run": run_id}))
    return jobs


def _bins_of(rows: Sequence[Tuple[Any, ...]]) -> Dict[int, int]:
    out: Dict[int, int] = {}
    for b, n in rows:
        out[int(b)] = out.get(int(b), 0) + n
    return out


def percentile_of_bins(bins: Dict[int, int], p: float, edge: Any) -> Optional[int]:
    """A percentile from histogram bins (the bin's lower edge), for a
    database without the analyzer's percentiles."""
    total = sum(bins.values())
    if not total:
        return None
    rank = p / 100.0 * total
    seen = 0
    for b in sorted(bins):
        seen += bins[b]
        if seen >= rank:
            return int(edge(b))
    return None
