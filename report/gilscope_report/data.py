"""From a gilscope run database to the report's page model.

The model is a tree of plain dicts and lists that json.dumps can write. The
timeline goes in packed: per lane, the interval bounds as delta-coded uint32
columns in base64 (about 5.3 characters per time stamp instead of ~20 in
JSON), which the page decodes into typed arrays. Every time in the model is
in nanoseconds relative to the run's first event (t0).
"""
from __future__ import annotations

import array
import base64
import bisect
import math
import operator
import os
import sqlite3
import sys
from dataclasses import dataclass, field
from collections import Counter
from itertools import groupby, repeat
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from . import code
from . import scale

# PRAGMA user_version values this report reads (GILSCOPE_SCHEMA_VERSION).
SUPPORTED_SCHEMA_VERSIONS = (2, 3, 4, 5, 6)

# A delta of this value is an escape: the next two words are the absolute
# time (high word, low word), for a gap of 2^32 ns (4.3 s) or more, or a
# time that goes backwards.
TIME_ESCAPE = 0xFFFFFFFF

# Codes of the per-interval byte columns: how the interval ended in bits 0-1,
# bit 2 when events were lost inside it, bit 3 for a convoy wait (a thread
# that came back from I/O and waited a whole switch interval or more).
HOLD_ENDED = {"voluntary": 0, "forced": 1, "trace_end": 2}
WAIT_OUTCOME = {"acquired": 0, "abandoned": 1, "trace_end": 2}
CODE_OTHER = 3
CODE_LOSS = 4
CODE_CONVOY = 8

# Histograms: eight bins per decade of nanoseconds.
BINS_PER_DECADE = 8


class ReportError(Exception):
    """A problem worth one line on stderr (missing file, wrong database...)."""


def _u32_typecode() -> str:
    for code in ("I", "L"):
        if array.array(code).itemsize == 4:
            return code
    raise RuntimeError("no 4-byte unsigned array type")  # pragma: no cover


U32 = _u32_typecode()


def _b64(arr: array.array) -> str:
    if sys.byteorder != "little":  # the page reads little-endian typed arrays
        arr = array.array(arr.typecode, arr)
        arr.byteswap()
    return base64.b64encode(arr.tobytes()).decode("ascii")


def pack_times(values: Sequence[int]) -> str:
    """Delta-codes non-negative times as uint32 words, base64.

    A delta that does not fit (or is negative) becomes TIME_ESCAPE followed
    by the absolute value in two words, high then low."""
    if not values:
        return ""
    deltas = [values[0]]
    deltas.extend(map(operator.sub, values[1:], values[:-1]))
    if min(deltas) >= 0 and max(deltas) < TIME_ESCAPE:
        return _b64(array.array(U32, deltas))
    words = array.array(U32)
    prev = 0
    for v in values:
        if v < 0:
            raise ValueError(f"time before t0: {v}")
        d = v - prev
        if 0 <= d < TIME_ESCAPE:
            words.append(d)
        else:
            words.extend((TIME_ESCAPE, v >> 32, v & 0xFFFFFFFF))
        prev = v
    return _b64(words)


def unpack_times(text: str) -> List[int]:
    """The inverse of pack_times (the page does the same in JavaScript)."""
    if not text:
        return []
    words = array.array(U32)
    words.frombytes(base64.b64decode(text))
    if sys.byteorder != "little":
        words.byteswap()
    out: List[int] = []
    cur = 0
    i = 0
    while i < len(words):
        w = words[i]
        if w == TIME_ESCAPE:
            cur = (words[i + 1] << 32) | words[i + 2]
            i += 3
        else:
            cur += w
            i += 1
        out.append(cur)
    return out


def pack_u8(values: Sequence[int]) -> str:
    return base64.b64encode(bytes(values)).decode("ascii")


def pack_u16(values: Sequence[int]) -> str:
    if values and max(values) > 0xFFFF:
        values = [min(v, 0xFFFF) for v in values]
    return _b64(array.array("H", values))


def pack_f32(values: Sequence[float]) -> str:
    return _b64(array.array("f", values))


def interleave(starts: Sequence[int], ends: Sequence[int]) -> List[int]:
    out = [0] * (2 * len(starts))
    out[0::2] = starts
    out[1::2] = ends
    return out


# Lower edges of the histogram bins, 1 ns to 10^13 ns (2.8 hours).
BIN_EDGES = tuple(10 ** (k / BINS_PER_DECADE) for k in range(13 * BINS_PER_DECADE + 1))


def log_bin(ns: int) -> int:
    """Histogram bin of a duration: floor(BINS_PER_DECADE * log10(ns)); 0 ns counts as 1 ns."""
    return max(bisect.bisect_right(BIN_EDGES, ns) - 1, 0)


@dataclass
class Histogram:
    name: str
    counts: Dict[int, int] = field(default_factory=dict)
    total: int = 0

    def add_all(self, values: Iterable[int]) -> None:
        # bisect over the bin edges, counted by Counter: C speed for millions
        found = Counter(map(bisect.bisect_right, repeat(BIN_EDGES), values))
        for b, n in found.items():
            b = max(b - 1, 0)  # below 1 ns counts as 1 ns
            self.counts[b] = self.counts.get(b, 0) + n
            self.total += n

    def to_model(self, percentiles: Dict[str, Optional[int]]) -> Dict[str, Any]:
        bins = sorted(self.counts)
        return {
            "name": self.name,
            "total": self.total,
            "bins": [[b, self.counts[b]] for b in bins],
            "percentiles": percentiles,
        }


def percentile(sorted_values: Sequence[int], p: float) -> Optional[int]:
    """Nearest-rank percentile of sorted values."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return int(sorted_values[k])


def holders(path: str) -> str:
    """The processes other than this one with path open, from /proc:
    "pid 123 (sqlite3), pid 456 (python3)", or "" if none are visible."""
    try:
        want = os.path.realpath(path)
        pids = [d for d in os.listdir("/proc") if d.isdigit() and int(d) != os.getpid()]
    except OSError:
        return ""
    found = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == want:
                    with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
                        found.append(f"pid {pid} ({f.read().strip()})")
                    break
            except OSError:
                continue
        if len(found) == 4:
            break
    return ", ".join(found)


def find_bad_value(conn: sqlite3.Connection) -> str:
    """The first value of an INTEGER column that is not an integer (or
    NULL), as "holds.start_ns = 'abc' (text, rowid 5)", or "" if none.

    Only called once loading failed: it scans every such column."""
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for t in tables:
            for col in conn.execute(f'PRAGMA table_info("{t}")'):
                name, decl = col[1], (col[2] or "").upper()
                if "INT" not in decl:
                    continue
                row = conn.execute(
                    f'SELECT rowid, "{name}", typeof("{name}") FROM "{t}" '
                    f'WHERE typeof("{name}") NOT IN (\'integer\', \'null\') LIMIT 1').fetchone()
                if row:
                    return f"{t}.{name} = {row[1]!r} ({row[2]}, rowid {row[0]})"
    except sqlite3.Error:
        return ""
    return ""


def open_db(path: str) -> sqlite3.Connection:
    """Opens a gilscope database read-only, or raises ReportError."""
    p = Path(path)
    if not p.exists():
        raise ReportError(f"{path}: no such file")
    if p.is_dir():
        if (p / "gilscope.info").exists():
            raise ReportError(f"{path}: is a trace directory, not a database: "
                              "`gilscope analyze TRACE_DIR -o run.db` makes its database")
        raise ReportError(f"{path}: is a directory, not a gilscope database")
    try:
        conn = sqlite3.connect(p.resolve().as_uri() + "?mode=ro", uri=True, timeout=2.0)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise ReportError(f"{path}: locked: another process is writing it "
                              f"({holders(path) or 'not visible here'}): let it finish or close it, "
                              "then try again") from None
        raise ReportError(f"{path}: not a gilscope database ({e})") from None
    except sqlite3.DatabaseError as e:
        raise ReportError(f"{path}: not a gilscope database ({e})") from None
    if "runs" not in tables:
        conn.close()
        raise ReportError(f"{path}: not a gilscope database (no runs table)")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        conn.close()
        want = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        raise ReportError(f"{path}: database schema version {version}, this report reads {want}: "
                          "re-run `gilscope analyze` with this gilscope")
    conn.row_factory = sqlite3.Row
    return conn


def pick_run(conn: sqlite3.Connection, run_id: Optional[int], path: str) -> int:
    ids = [r[0] for r in conn.execute("SELECT run_id FROM runs ORDER BY run_id")]
    if not ids:
        raise ReportError(f"{path}: the database holds no runs")
    if run_id is None:
        return ids[-1]
    if run_id not in ids:
        listed = ", ".join(str(i) for i in ids[-10:])
        raise ReportError(f"{path}: no run {run_id} (runs: {listed})")
    return run_id


def _table_columns(conn: sqlite3.Connection, table: str) -> set:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _rows(conn: sqlite3.Connection, table: str, run_id: int, order: str = "rowid") -> List[Dict[str, Any]]:
    if not _table_columns(conn, table):
        return []
    return [dict(r) for r in conn.execute(f"SELECT * FROM {table} WHERE run_id = ? ORDER BY {order}", (run_id,))]


# Beyond this many time-outs in a run (many threads waiting for a long time),
# the page keeps only each wait's count of them and draws the ticks one
# switch interval apart from the wait's start, so the page stays small.
TICK_BUDGET = 1_000_000

# Up to this many lanes on a GIL, reading each lane through the time index is
# quicker than sorting the GIL's rows by thread.
FEW_LANES = 4


def _by_lane(conn: sqlite3.Connection, table: str, exprs: Sequence[str], order: str, run_id: int, t0: int,
             lanes: Dict[Optional[int], List[int]], where: str = "",
             extra: Optional[Dict[str, Any]] = None) -> Dict[Tuple[int, int], List[List[int]]]:
    """Integer columns of one table's rows, per lane (gil_id, tid), sorted by order.

    SQLite concatenates each lane's column into one text (group_concat), which
    Python splits and converts at C speed: far quicker than a row object per
    interval. lanes maps each GIL to its threads. Lanes that do not come out
    sorted are sorted here. where (" AND ...", with extra's parameters)
    keeps a stretch of time."""
    inner = ", ".join(f"IFNULL({e}, 0) AS c{i}" for i, e in enumerate(exprs))
    cols = ", ".join(f"group_concat(c{i})" for i in range(len(exprs)))
    cur = conn.cursor()
    cur.row_factory = None
    out: Dict[Tuple[int, int], List[List[int]]] = {}

    def take(key: Tuple[int, int], texts: Sequence[Optional[str]]) -> None:
        values = [list(map(int, text.split(","))) if text else [] for text in texts]
        first = values[0]
        if first != sorted(first):
            idx = sorted(range(len(first)), key=first.__getitem__)
            values = [[v[i] for i in idx] for v in values]
        if first:
            out[key] = values

    params: Dict[str, Any] = {"run": run_id, "t0": t0}
    params.update(extra or {})
    for gil_id, tids in lanes.items():
        if gil_id is None:
            continue
        params["gil"] = gil_id
        if len(tids) <= FEW_LANES:
            for tid in tids:
                params["tid"] = tid
                row = cur.execute(f"SELECT {cols} FROM (SELECT {inner} FROM {table} WHERE run_id = :run "
                                  f"AND gil_id = :gil AND tid = :tid{where} ORDER BY {order})", params).fetchone()
                take((gil_id, tid), row)
        else:
            for row in cur.execute(f"SELECT tid, {cols} FROM (SELECT tid, {inner} FROM {table} "
                                   f"WHERE run_id = :run AND gil_id = :gil{where} ORDER BY tid, {order}) GROUP BY tid",
                                   params):
                take((gil_id, row[0]), row[1:])
    return out


@dataclass
class LaneBuilder:
    """One timeline lane: a thread on one GIL."""
    index: int
    pid: int
    gil_id: Optional[int]
    tid: int
    hold_starts: Sequence[int] = ()
    hold_ends: Sequence[int] = ()
    hold_codes: Sequence[int] = ()
    wait_starts: Sequence[int] = ()
    wait_ends: Sequence[int] = ()
    wait_codes: Sequence[int] = ()
    wait_timeouts: Sequence[int] = ()
    ticks: Sequence[int] = ()
    forced_starts: Sequence[int] = ()
    forced_ends: Sequence[int] = ()


def thread_label(name: Optional[str], tid: int) -> str:
    return name if name else f"tid {tid}"


def short_command(command: str) -> str:
    """The command with its paths cut to their last part, for a title:
    '/usr/bin/python3 /home/me/app.py -v' -> 'python3 app.py -v'."""
    def short(w: str) -> str:
        path = w.rstrip("/")
        return path.rsplit("/", 1)[-1] if path.startswith(("/", "./", "../", "~/")) else w
    return " ".join(short(w) for w in command.split())


def _fmt_interval_us(us: Optional[int]) -> Optional[str]:
    if us is None:
        return None
    return f"{us / 1000:g} ms" if us >= 1000 else f"{us} µs"


def load(path: str, run_id: Optional[int] = None, title: Optional[str] = None,
         window: Optional[Tuple[int, int]] = None) -> Dict[str, Any]:
    """Reads one run of the database at path into the page model; window
    (ns from the run's first event, start and end) keeps that stretch only."""
    conn = open_db(path)
    try:
        return _load(conn, pick_run(conn, run_id, path), path, title, window)
    except sqlite3.DatabaseError as e:
        raise ReportError(f"{path}: cannot read the database ({e})") from None
    except (TypeError, ValueError, OverflowError, ArithmeticError) as e:
        # A value of a kind `gilscope analyze` never writes (the file was
        # edited, or damaged): name it rather than print a traceback.
        bad = find_bad_value(conn)
        raise ReportError(f"{path}: not as `gilscope analyze` writes it: "
                          f"{bad or type(e).__name__ + ': ' + str(e)}") from None
    finally:
        conn.close()


@dataclass
class Run:
    """What every step of the loading needs: the connection, the run, and its
    time bounds (t0: the first event, all times are relative to it)."""
    conn: sqlite3.Connection
    run_id: int
    t0: int
    t1: int
    derived_ticks: bool = False  # over TICK_BUDGET: ticks drawn from the waits' counts
    # Absolute [lo, hi) stretches whose intervals are read one by one (None:
    # the whole run), with how far before lo an interval overlapping it can
    # start, per table; clip: cut intervals at the stretch's bounds.
    spans: Optional[List[Tuple[int, int]]] = None
    pads: Dict[str, int] = field(default_factory=dict)
    clip: bool = False

    def column(self, sql: str) -> List[Any]:
        cur = self.conn.cursor()
        cur.row_factory = None
        return [r[0] for r in cur.execute(sql, {"run": self.run_id, "t0": self.t0})]


def _time_bounds(conn: sqlite3.Connection, run_id: int, run: Dict[str, Any]) -> Tuple[int, int]:
    """The run's first and last event, widened to every interval in it."""
    firsts = [run.get("start_ns")]
    lasts = [run.get("end_ns")]
    for table, first, last in (("holds", "start_ns", "end_ns"), ("waits", "start_ns", "end_ns"),
                               ("timeouts", "ts_ns", "ts_ns"), ("drop_requests", "ts_ns", "ts_ns"),
                               ("forced_switches", "start_ns", "end_ns")):
        lo, hi = conn.execute(f"SELECT MIN({first}), MAX({last}) FROM {table} WHERE run_id = ?",
                              (run_id,)).fetchone()
        firsts.append(lo)
        lasts.append(hi)
    return scale.span_of(firsts, lasts)


def _make_lanes(r: Run, processes: Dict[int, Dict[str, Any]], gils: Dict[int, Dict[str, Any]],
                threads: List[Dict[str, Any]], known: Optional[List[Tuple[int, int]]] = None) -> List[LaneBuilder]:
    """One lane per (GIL, thread) with GIL activity (known: those pairs,
    found already), then one per thread with none; by process, then GIL,
    then thread (the main thread on top)."""
    thread_by_key = {(t["pid"], t["tid"]): t for t in threads}
    pairs = set(known or ())
    for table in ("holds", "waits") if known is None else ():
        pairs.update(r.conn.execute(f"SELECT DISTINCT gil_id, tid FROM {table} WHERE run_id = ?", (r.run_id,)))
    keyed = []
    for gil_id, tid in pairs:
        pid = gils[gil_id]["pid"] if gil_id in gils else None
        if pid is None:  # a GIL the gils table does not know: find the thread's process
            pid = next((t["pid"] for t in threads if t["tid"] == tid), 0)
        keyed.append((pid, gil_id, tid))
    seen = {(pid, tid) for pid, _, tid in keyed}
    keyed.extend((t["pid"], None, t["tid"]) for t in threads if (t["pid"], t["tid"]) not in seen)

    def first_ns(row: Optional[Dict[str, Any]], key: str) -> int:
        return row[key] if row and row.get(key) is not None else r.t1

    def order(k: Tuple[int, Optional[int], int]) -> Tuple[Any, ...]:
        pid, gil_id, tid = k
        gil_key = (1, 0) if gil_id is None else (0, first_ns(gils.get(gil_id), "found_ns"), gil_id)
        return (first_ns(processes.get(pid), "first_ns"), pid, gil_key,
                0 if tid == pid else 1, first_ns(thread_by_key.get((pid, tid)), "first_ns"), tid)

    keyed.sort(key=order)
    return [LaneBuilder(i, pid, gil_id, tid) for i, (pid, gil_id, tid) in enumerate(keyed)]


def _read_spans(r: Run, table: str, exprs: Sequence[str], order: str, gil_lanes: Dict[Optional[int], List[int]],
                lane_of: Dict[Tuple[int, int], "LaneBuilder"]) -> Dict[Tuple[int, int], List[List[int]]]:
    """_by_lane over r.spans only: the rows that overlap each stretch (an
    interval table's start may lie up to r.pads[table] before it), joined
    per lane in time order, an interval in two stretches once."""
    point = order == "ts_ns"
    out: Dict[Tuple[int, int], List[List[int]]] = {}
    prev_hi: Optional[int] = None
    for lo, hi in r.spans or ():
        if point:
            where = " AND ts_ns >= :lo AND ts_ns < :hi"
        else:
            where = " AND start_ns >= :lo_pad AND start_ns < :hi AND end_ns > :lo"
        ex = list(exprs)
        if r.clip:
            ex = [e.replace("start_ns - :t0", "MAX(start_ns, :lo) - :t0").replace("end_ns - :t0", "MIN(end_ns, :hi) - :t0")
                  .replace("ts_ns - :t0", "ts_ns - :t0") for e in ex]
        found = _by_lane(r.conn, table, ex, order, r.run_id, r.t0, gil_lanes, where,
                         {"lo": lo, "hi": hi, "lo_pad": lo - r.pads.get(table, 0)})
        for key, cols in found.items():
            if key not in lane_of:
                continue
            if key not in out:
                out[key] = cols
                continue
            keep = [i for i, v in enumerate(cols[0]) if prev_hi is None or v + r.t0 >= prev_hi]
            for dst, src in zip(out[key], cols):
                dst.extend(src[i] for i in keep)
        prev_hi = hi
    return out


def _fill_lanes(r: Run, lanes: List[LaneBuilder]) -> Tuple[List[int], List[int]]:
    """Reads every lane's holds, waits, time-outs and forced switches.
    Returns the hold and the wait durations (for the histograms)."""
    lane_of = {(l.gil_id, l.tid): l for l in lanes if l.gil_id is not None}
    gil_lanes: Dict[Optional[int], List[int]] = {}
    for lane in lanes:
        gil_lanes.setdefault(lane.gil_id, []).append(lane.tid)

    def read(table: str, exprs: Sequence[str], order: str) -> Dict[Tuple[int, int], List[List[int]]]:
        if r.spans is None:
            found = _by_lane(r.conn, table, exprs, order, r.run_id, r.t0, gil_lanes)
            return {k: v for k, v in found.items() if k in lane_of}
        return _read_spans(r, table, exprs, order, gil_lanes, lane_of)

    hold_codes = ("(CASE ended WHEN 'voluntary' THEN 0 WHEN 'forced' THEN 1 WHEN 'trace_end' THEN 2 "
                  f"ELSE {CODE_OTHER} END) | (CASE WHEN crosses_loss THEN {CODE_LOSS} ELSE 0 END)")
    hold_durs: List[int] = []
    for key, (starts, ends, codes) in read("holds", ("start_ns - :t0", "end_ns - :t0", hold_codes),
                                           "start_ns").items():
        hold_durs.extend(map(operator.sub, ends, starts))
        lane = lane_of[key]
        lane.hold_starts, lane.hold_ends, lane.hold_codes = starts, ends, codes

    convoy = ""
    if "convoy" in _table_columns(r.conn, "waits"):
        convoy = f" | (CASE WHEN convoy THEN {CODE_CONVOY} ELSE 0 END)"
    wait_codes = ("(CASE outcome WHEN 'acquired' THEN 0 WHEN 'abandoned' THEN 1 WHEN 'trace_end' THEN 2 "
                  f"ELSE {CODE_OTHER} END) | (CASE WHEN crosses_loss THEN {CODE_LOSS} ELSE 0 END){convoy}")
    wait_durs: List[int] = []
    for key, (starts, ends, codes, n_timeouts) in read(
            "waits", ("start_ns - :t0", "end_ns - :t0", wait_codes, "timeouts"), "start_ns").items():
        wait_durs.extend(map(operator.sub, ends, starts))
        lane = lane_of[key]
        lane.wait_starts, lane.wait_ends, lane.wait_codes, lane.wait_timeouts = starts, ends, codes, n_timeouts

    if not r.derived_ticks:
        for key, (ticks,) in read("timeouts", ("ts_ns - :t0",), "ts_ns").items():
            lane_of[key].ticks = ticks
    for key, (starts, ends) in read("forced_switches", ("start_ns - :t0", "end_ns - :t0"), "start_ns").items():
        lane_of[key].forced_starts, lane_of[key].forced_ends = starts, ends
    return hold_durs, wait_durs


def _drops(r: Run, lanes: List[LaneBuilder]) -> Dict[str, Any]:
    """Drop requests in time order: time, requester lane, holder lane,
    response (-1 unknown). The lane numbers are joined in SQL through a
    temporary table (the connection is read-only; TEMP tables live apart)."""
    cur = r.conn.cursor()
    cur.row_factory = None
    cur.execute("CREATE TEMP TABLE report_lanes (gil_id INTEGER, tid INTEGER, idx INTEGER, "
                "PRIMARY KEY (gil_id, tid))")
    try:
        cur.executemany("INSERT INTO temp.report_lanes VALUES (?, ?, ?)",
                        [(l.gil_id, l.tid, l.index) for l in lanes if l.gil_id is not None])
        rows = []
        for lo, hi in r.spans or [(None, None)]:
            where = "" if lo is None else " AND d.ts_ns >= :lo AND d.ts_ns < :hi"
            rows += cur.execute(
                "SELECT d.ts_ns - :t0, r.idx, h.idx, IFNULL(d.response_ns, -1) FROM drop_requests d "
                "JOIN temp.report_lanes r ON r.gil_id = d.gil_id AND r.tid = d.requester "
                "JOIN temp.report_lanes h ON h.gil_id = d.gil_id AND h.tid = d.holder "
                f"WHERE d.run_id = :run{where} ORDER BY d.ts_ns",
                {"run": r.run_id, "t0": r.t0, "lo": lo, "hi": hi}).fetchall()
    finally:
        cur.execute("DROP TABLE temp.report_lanes")
    ts, req, hold, resp = (list(c) for c in zip(*rows)) if rows else ([], [], [], [])
    total = r.conn.execute("SELECT COUNT(*) FROM drop_requests WHERE run_id = ?", (r.run_id,)).fetchone()[0]
    if r.spans is not None:  # the others are left out on purpose, not unplaced
        total = len(rows)
    # lane numbers go in 16 bits: a run of more than 65535 threads is not drawn right
    return {"n": len(ts), "ts": pack_times(ts), "req": pack_u16(req), "hold": pack_u16(hold),
            "resp": pack_f32(resp), "unplaced": total - len(ts)}


def _histograms(r: Run, metrics: Optional[Dict[str, Any]], hold_durs: List[int],
                wait_durs: List[int]) -> List[Dict[str, Any]]:
    """Hold, wait, hand-off gap and drop response; the percentiles are the
    analyzer's (metrics) when it gave them, else computed here."""
    samples = {
        "hold": hold_durs,
        "wait": wait_durs,
        "gap": r.column("SELECT gap_ns FROM switches WHERE run_id = :run"),
        "drop_response": r.column("SELECT response_ns FROM drop_requests WHERE run_id = :run "
                                  "AND response_ns IS NOT NULL"),
    }
    out = []
    for name, values in samples.items():
        hist = Histogram(name)
        hist.add_all(values)
        if metrics and metrics.get(f"{name}_p50_ns") is not None:
            pcts = {p: metrics.get(f"{name}_{p}_ns") for p in ("p50", "p90", "p99", "max")}
        else:
            values.sort()
            pcts = {"p50": percentile(values, 50), "p90": percentile(values, 90),
                    "p99": percentile(values, 99), "max": values[-1] if values else None}
        out.append(hist.to_model(pcts))
    return out


def _histograms_sql(r: Run, path: str, metrics: Optional[Dict[str, Any]], grid: "scale.Grid") -> List[Dict[str, Any]]:
    """The histograms of a run too large to read row by row: holds and
    waits counted while summarising them, gaps and drop responses by SQLite."""
    counted = dict(grid.other_bins)
    counted["hold"], counted["wait"] = grid.bins["holds"], grid.bins["waits"]
    out = []
    for name in ("hold", "wait", "gap", "drop_response"):
        hist = Histogram(name)
        for b, n in counted.get(name, {}).items():
            hist.counts[max(b, 0)] = hist.counts.get(max(b, 0), 0) + n
            hist.total += n
        if metrics and metrics.get(f"{name}_p50_ns") is not None:
            pcts = {p: metrics.get(f"{name}_{p}_ns") for p in ("p50", "p90", "p99", "max")}
        else:
            edge = BIN_EDGES.__getitem__
            pcts = {p: scale.percentile_of_bins(hist.counts, float(p[1:]), edge) for p in ("p50", "p90", "p99")}
            pcts["max"] = None
        out.append(hist.to_model(pcts))
    return out


def _lane_model(lane: LaneBuilder, thread: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    name = thread.get("name") if thread else None
    return {
        "pid": lane.pid, "gil": lane.gil_id, "tid": lane.tid, "name": name,
        "label": thread_label(name, lane.tid), "main": lane.tid == lane.pid,
        "n_holds": len(lane.hold_starts), "n_waits": len(lane.wait_starts),
        "h": pack_times(interleave(lane.hold_starts, lane.hold_ends)),
        "hc": pack_u8(lane.hold_codes),
        "w": pack_times(interleave(lane.wait_starts, lane.wait_ends)),
        "wc": pack_u8(lane.wait_codes),
        "wt": pack_u16(lane.wait_timeouts),
        "t": pack_times(lane.ticks),
        "f": pack_times(interleave(lane.forced_starts, lane.forced_ends)),
    }


def _groups(lanes: List[LaneBuilder], processes: Dict[int, Dict[str, Any]], gils: Dict[int, Dict[str, Any]],
            gil_metrics: Dict[int, Dict[str, Any]]) -> List[Dict[str, Any]]:
    groups = []
    for (pid, gil_id), members in groupby(lanes, key=lambda l: (l.pid, l.gil_id)):
        proc = processes.get(pid) or {}
        gil = gils.get(gil_id) if gil_id is not None else None
        mt = gil_metrics.get(gil_id, {}) if gil_id is not None else {}
        groups.append({
            "held_pct": mt.get("held_pct"), "contention_pct": mt.get("contention_pct"),
            "switches_per_s": mt.get("switches_per_s"),
            "pid": pid, "procname": proc.get("procname"),
            "gil": gil_id, "address": gil.get("address") if gil else None,
            "interval": _fmt_interval_us(gil.get("interval_us")) if gil else None,
            "interval_ns": gil["interval_us"] * 1000 if gil and gil.get("interval_us") else None,
            "python": gil.get("python_version") if gil else None,
            "lanes": [m.index for m in members],
        })
    return groups


THREAD_FIELDS = ("pid", "tid", "name", "first_ns", "last_ns", "held_ns", "wait_ns", "holds", "waits", "timeouts",
                 "drop_requests_issued", "drop_requests_received", "forced_releases", "convoys")


def _thread_rows(threads: List[Dict[str, Any]], lanes: List[LaneBuilder], wall: int) -> List[Dict[str, Any]]:
    gils_of: Dict[Tuple[int, int], set] = {}
    for lane in lanes:
        if lane.gil_id is not None:
            gils_of.setdefault((lane.pid, lane.tid), set()).add(lane.gil_id)
    rows = []
    for t in threads:
        row = {k: t.get(k) for k in THREAD_FIELDS}
        row["label"] = thread_label(t.get("name"), t["tid"])
        row["held_pct"] = 100.0 * (t.get("held_ns") or 0) / wall if wall else None
        row["wait_pct"] = 100.0 * (t.get("wait_ns") or 0) / wall if wall else None
        row["gils"] = sorted(gils_of.get((t["pid"], t["tid"]), ()))
        rows.append(row)
    return rows


FINDING_FIELDS = ("kind", "title", "gil_id", "tid", "value", "message", "detail", "at_ns", "dur_ns")


def _findings(r: Run) -> List[Dict[str, Any]]:
    """The analyzer's findings as it wrote them (analyzer/findings.c, the one
    place they are composed), most important first; at_ns relative to t0."""
    out = []
    for f in _rows(r.conn, "findings", r.run_id, "rowid"):
        row = {k: f.get(k) for k in FINDING_FIELDS}
        if row["at_ns"] is not None:
            row["at_ns"] -= r.t0
        out.append(row)
    return out


RUN_FIELDS = ("run_id", "trace_path", "hostname", "command", "exit_status", "wall_ns", "python_versions",
              "interval_us", "event_count", "lost_events", "analyzer_version", "analyzed_at", "anomalies")


def _run_fields(run: Dict[str, Any]) -> Dict[str, Any]:
    """The runs row for the page; how the trace starts only when it is not
    with the program (record --pid, a flight-recorder snapshot)."""
    out = {k: run.get(k) for k in RUN_FIELDS}
    if run.get("trace_start") not in (None, "launch"):
        out["trace_start"] = run["trace_start"]
        out["before_horizon_events"] = run.get("before_horizon_events") or 0
    if run.get("handoffs_checked") is not None:  # the self-check against CPython's counter
        out["handoffs_checked"] = run["handoffs_checked"]
        out["handoff_mismatches"] = run.get("handoff_mismatches") or 0
    return out


def _load(conn: sqlite3.Connection, run_id: int, path: str, title: Optional[str],
          window: Optional[Tuple[int, int]] = None) -> Dict[str, Any]:
    run = dict(conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone())
    metrics_rows = _rows(conn, "metrics", run_id)
    metrics = next((m for m in metrics_rows if m.get("gil_id") is None), None)
    gil_metrics = {m["gil_id"]: m for m in metrics_rows if m.get("gil_id") is not None}
    # A large run is read through its indexes and summarised (scale.py)
    total = scale.total_intervals(conn, run_id, metrics)
    large = total > scale.SUMMARY_THRESHOLD and scale.has_log10(path)
    pads = scale.max_durations(conn, run_id, metrics) if large or window is not None else {}
    t0, t1 = scale.bounds(conn, run_id, run, pads) if large else _time_bounds(conn, run_id, run)
    run_t0, r_t1 = t0, t1
    if window is not None:
        if window[0] >= t1 - t0:
            raise ReportError(f"{path}: the window starts after the run's end (+{(t1 - t0) / 1e9:.3f} s)")
        t0, t1 = t0 + window[0], min(t1, t0 + window[1])
    n_ticks = conn.execute("SELECT COUNT(*) FROM timeouts WHERE run_id = ?", (run_id,)).fetchone()[0]
    unknown_interval = conn.execute("SELECT COUNT(*) FROM gils WHERE run_id = ? AND interval_us IS NULL",
                                    (run_id,)).fetchone()[0]
    r = Run(conn, run_id, t0, t1, derived_ticks=n_ticks > TICK_BUDGET and not unknown_interval)
    span = max(t1 - t0, 1)

    processes = {p["pid"]: p for p in _rows(conn, "processes", run_id, "first_ns, pid")}
    gils = {g["gil_id"]: g for g in _rows(conn, "gils", run_id, "found_ns, gil_id")}
    threads = _rows(conn, "threads", run_id, "pid, first_ns, tid")
    thread_by_key = {(t["pid"], t["tid"]): t for t in threads}

    n_intervals = total if window is None else scale.count_intervals(conn, run_id, t0, t1 + 1)
    summarise = large and n_intervals > scale.SUMMARY_THRESHOLD
    lanes = _make_lanes(r, processes, gils, threads,
                        scale.lane_pairs(conn, run_id, gils, threads) if large else None)
    grid: Optional[scale.Grid] = None
    detail: List[Tuple[int, int, int]] = []
    if summarise:
        keys = [(l.gil_id, l.tid) for l in lanes if l.gil_id is not None]
        grid = scale.summarize(path, run_id, keys, t0, t1 + 1, BINS_PER_DECADE)
        detail = scale.pick_windows(grid)
        r.spans = [(a, b) for a, b, _ in detail]
        r.pads = pads
        r.clip = window is not None
    elif window is not None:
        r.spans = [(t0, t1)]
        r.pads = pads
        r.clip = True
    hold_durs, wait_durs = _fill_lanes(r, lanes)
    drops = _drops(r, lanes)
    if grid is not None:
        histograms = _histograms_sql(r, path, metrics if window is None else None, grid)
    else:
        histograms = _histograms(r, metrics if window is None else None, hold_durs, wait_durs)

    lost = [{"stream": l.get("stream"),
             "start": l["start_ns"] - t0 if l.get("start_ns") is not None else None,
             "end": l["end_ns"] - t0 if l.get("end_ns") is not None else None,
             "count": l.get("count")} for l in _rows(conn, "lost", run_id, "start_ns")]
    findings = _findings(r)
    wall = run.get("wall_ns") or (metrics or {}).get("wall_ns") or span
    command = run.get("command")
    if title is None:
        title = short_command(command) if command else os.path.basename(run.get("trace_path") or path)

    model = {
        "format": 1,
        "title": title,
        "db_path": str(path),
        "run": _run_fields(run),
        "run_ids": [row[0] for row in conn.execute("SELECT run_id FROM runs ORDER BY run_id")],
        "t0": str(t0),  # absolute ns exceed JavaScript's exact integers
        "span": span,
        "metrics": metrics,
        "groups": _groups(lanes, processes, gils, gil_metrics),
        "lanes": [_lane_model(l, thread_by_key.get((l.pid, l.tid))) for l in lanes],
        "drops": drops,
        "ticks": {"count": n_ticks, "derived": r.derived_ticks},
        "lost": lost,
        "threads": _thread_rows(threads, lanes, wall),
        "histograms": histograms,
        "findings": findings,
        "code": code.load(conn, run_id, t0),
    }
    if window is not None:
        model["window"] = {"start": t0 - run_t0, "end": t1 - run_t0, "run_span": max(1, r_t1 - run_t0)}
    if grid is not None:
        model["summary"] = {
            "intervals": n_intervals, "threshold": scale.SUMMARY_THRESHOLD,
            "bucket_ns": grid.width, "buckets": grid.n,
            "windows": [[a - t0, b - t0, n] for a, b, n in detail],
            "detail_intervals": sum(len(l.hold_starts) + len(l.wait_starts) for l in lanes),
        }
        for lane, lm in zip(lanes, model["lanes"]):
            key = (lane.gil_id, lane.tid)
            lm["s"] = {"h": _b64(grid.fractions(key, "holds")), "w": _b64(grid.fractions(key, "waits")),
                       "nh": _b64(grid.counts(key, "holds")), "nw": _b64(grid.counts(key, "waits"))}
    return model
