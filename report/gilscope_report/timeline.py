"""A run's GIL activity as one time-ordered stream, read from SQLite as it
goes: what `gilscope export` turns into Perfetto or Chrome trace events.

Every table is read through its time index, one cursor per GIL (drop
requests: one for all), and the cursors are merged by time; an interval
gives its begin at its start and its end is queued until its end time. The
walker keeps only the intervals open at the current time, the drop
requests and hand-offs not yet matched to their release and acquire, and
one counter window per GIL: memory does not grow with the trace.

A Sink receives, in time order (equal times: bookkeeping and drop
requests, then ends, then time-outs, then begins):

- track descriptions first: processes, threads, counter tracks, the
  lost-events track;
- begin/end of the slices "holding GIL", "waiting for GIL", "forced
  switch" (and "events lost"), with their arguments;
- instants: drop requests (on the requester) and wait time-outs;
- flows: a drop request -> the holder's release it caused (the end of the
  holder's hold), a release -> the next acquire by another thread (the
  hand-off, from the end of one hold to the start of the next);
- counters: threads waiting for each GIL (at every change) and the share
  of each window the GIL was held (one value per window, emitted once the
  window is over, so later than the slices around it).
"""
from __future__ import annotations

import heapq
import sqlite3
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

# Slice and instant kinds.
HOLD, WAIT, FORCED, LOST, DROP, TIMEOUT = range(6)
NAMES = {
    HOLD: "holding GIL",
    WAIT: "waiting for GIL",
    FORCED: "forced switch: waiting for hand-off",
    LOST: "events lost",
    DROP: "drop request",
    TIMEOUT: "wait timed out",
}

# Counter kinds.
HELD_PCT, WAITING = 0, 1

# Priorities at equal time stamps.
_P_BOOK, _P_END, _P_INSTANT, _P_BEGIN = 0, 1, 2, 3

# Held-% windows: 10 ms, widened so a run has at most this many per GIL.
WINDOW_NS = 10_000_000
MAX_WINDOWS = 100_000

MASK64 = (1 << 64) - 1


def flow_id(kind: str, gil: int, tid: int, ns: int) -> int:
    """A flow's id, the same from both of its ends (ints hash the same in
    every process: no PYTHONHASHSEED involved). 0 is not a valid id."""
    return (hash((kind, gil, tid, ns)) & MASK64) or 1


@dataclass(frozen=True)
class Process:
    pid: int
    name: Optional[str]
    command: Optional[str]


@dataclass(frozen=True)
class Thread:
    pid: int
    tid: int
    name: Optional[str]


@dataclass(frozen=True)
class CounterTrack:
    gil: int
    pid: int
    kind: int
    name: str


class Sink:
    """What a writer implements. Times are absolute ns (the database's)."""

    def describe(self, t0: int, processes: Sequence[Process], threads: Sequence[Thread],
                 counters: Sequence[CounterTrack], has_lost: bool) -> None:
        raise NotImplementedError

    def begin(self, ts: int, kind: int, pid: int, tid: int, end: int, args: Dict[str, Any],
              flows_in: Sequence[int]) -> None:
        """flows_in: flows that end here (the hand-off into this hold)."""
        raise NotImplementedError

    def end(self, ts: int, kind: int, pid: int, tid: int, args: Dict[str, Any],
            flows_in: Sequence[int], flows_out: Sequence[int]) -> None:
        """flows_in: drop requests this release answered; flows_out: the
        hand-off that starts at this release."""
        raise NotImplementedError

    def instant(self, ts: int, kind: int, pid: int, tid: int, args: Dict[str, Any],
                flows_out: Sequence[int]) -> None:
        raise NotImplementedError

    def counter(self, ts: int, track: CounterTrack, value: float) -> None:
        raise NotImplementedError


@dataclass
class Totals:
    holds: int = 0
    waits: int = 0
    forced: int = 0
    drops: int = 0
    timeouts: int = 0
    handoffs: int = 0
    lost: int = 0


class _Held:
    """GIL held % per window for one GIL: holds arrive in end order."""

    def __init__(self, track: CounterTrack, t0: int, width: int):
        self.track, self.t0, self.width = track, t0, width
        self.cur: Optional[int] = None   # current window index
        self.acc = 0                     # ns held in it so far
        self.last_end = t0
        self.zero_sent = False

    def _close(self, sink: Sink) -> None:
        if self.acc == 0 and self.zero_sent:
            return  # the counter already reads 0
        sink.counter(self.t0 + self.cur * self.width, self.track, min(100.0, 100.0 * self.acc / self.width))
        self.zero_sent = self.acc == 0
        self.acc = 0

    def add(self, sink: Sink, start: int, end: int) -> None:
        w_start = (start - self.t0) // self.width
        if self.cur is None:
            self.cur = w_start
        while self.cur < w_start:  # windows wholly before this hold
            self._close(sink)
            self.cur += 1
            if self.cur < w_start and self.zero_sent:
                self.cur = w_start  # idle: the counter stays at 0
        pos = max(start, self.t0 + self.cur * self.width)
        while True:
            w_end = self.t0 + (self.cur + 1) * self.width
            if end <= w_end:
                self.acc += max(0, end - pos)
                break
            self.acc += max(0, w_end - pos)
            self._close(sink)
            self.cur += 1
            pos = w_end
        self.last_end = max(self.last_end, end)

    def finish(self, sink: Sink) -> None:
        if self.cur is None:
            return
        start = self.t0 + self.cur * self.width
        span = max(1, self.last_end - start)  # the last window is partial
        sink.counter(start, self.track, min(100.0, 100.0 * self.acc / min(span, self.width)))


def _columns(conn: sqlite3.Connection, table: str) -> set:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _rows(cur: sqlite3.Cursor, prio: int, src: int) -> Iterator[Tuple[Any, ...]]:
    """(ts, prio, src, n, row): n keeps the rows of one source in their order
    and stops tuple comparison before the row."""
    for n, row in enumerate(cur):
        yield (row[0], prio, src, n, row)


class Walker:
    def __init__(self, conn: sqlite3.Connection, run_id: int):
        self.conn = conn
        self.run_id = run_id
        self.totals = Totals()
        self._trim_at = 0

    def _query(self, sql: str, params: Dict[str, Any]) -> sqlite3.Cursor:
        cur = self.conn.cursor()
        cur.row_factory = None
        return cur.execute(sql, params)

    def walk(self, sink: Sink) -> Totals:
        conn, run = self.conn, self.run_id
        p = {"run": run}
        run_row = conn.execute("SELECT start_ns, end_ns, command FROM runs WHERE run_id = ?", (run,)).fetchone()
        starts = [run_row[0]] + [conn.execute(f"SELECT MIN({c}) FROM {t} WHERE run_id = ?", (run,)).fetchone()[0]
                                 for t, c in (("holds", "start_ns"), ("waits", "start_ns"))]
        ends = [run_row[1]] + [conn.execute(f"SELECT MAX(end_ns) FROM {t} WHERE run_id = ?", (run,)).fetchone()[0]
                               for t in ("holds", "waits")]
        t0 = min((v for v in starts if v is not None), default=0)
        t1 = max((v for v in ends if v is not None), default=t0)
        width = max(WINDOW_NS, -(-(t1 - t0) // MAX_WINDOWS))

        procs = {r[0]: r[1] for r in conn.execute(
            "SELECT pid, procname FROM processes WHERE run_id = ? ORDER BY first_ns, pid", (run,))}
        gil_pid: Dict[int, int] = {}
        gil_addr: Dict[int, str] = {}
        for gil_id, pid, addr in conn.execute("SELECT gil_id, pid, address FROM gils WHERE run_id = ? "
                                              "ORDER BY found_ns, gil_id", (run,)):
            gil_pid[gil_id] = pid
            gil_addr[gil_id] = addr or str(gil_id)
        threads = [Thread(r[0], r[1], r[2]) for r in conn.execute(
            "SELECT pid, tid, name FROM threads WHERE run_id = ? ORDER BY pid, first_ns, tid", (run,))]
        pid_of_tid: Dict[int, int] = {}
        for t in threads:
            pid_of_tid.setdefault(t.tid, t.pid)
        # GILs that hold intervals but have no gils row (lost gil_found): the
        # thread's process stands in
        for (gil_id,) in conn.execute("SELECT DISTINCT gil_id FROM holds WHERE run_id = :run UNION "
                                      "SELECT DISTINCT gil_id FROM waits WHERE run_id = :run", p):
            if gil_id not in gil_pid:
                row = conn.execute("SELECT tid FROM holds WHERE run_id = ? AND gil_id = ? LIMIT 1",
                                   (run, gil_id)).fetchone()
                gil_pid[gil_id] = pid_of_tid.get(row[0], 0) if row else 0
                gil_addr[gil_id] = str(gil_id)
        for pid in gil_pid.values():
            procs.setdefault(pid, None)
        known = {(t.pid, t.tid) for t in threads}
        main_cmd = run_row[2]
        first_pid = next(iter(procs), None)
        processes = [Process(pid, name, main_cmd if pid == first_pid else None) for pid, name in procs.items()]

        gils_of_pid: Dict[int, List[int]] = {}
        for g, pid in gil_pid.items():
            gils_of_pid.setdefault(pid, []).append(g)
        counters: Dict[Tuple[int, int], CounterTrack] = {}
        for g, pid in gil_pid.items():
            suffix = "" if len(gils_of_pid[pid]) == 1 else f" ({gil_addr[g]})"
            counters[(g, HELD_PCT)] = CounterTrack(g, pid, HELD_PCT, f"GIL held %{suffix}")
            counters[(g, WAITING)] = CounterTrack(g, pid, WAITING, f"threads waiting for the GIL{suffix}")
        has_lost = conn.execute("SELECT COUNT(*) FROM lost WHERE run_id = ? AND start_ns IS NOT NULL",
                                (run,)).fetchone()[0] > 0

        # Threads seen only in intervals (no threads row): described too.
        extra: List[Thread] = []
        for table in ("holds", "waits"):
            for gil_id, tid in conn.execute(f"SELECT DISTINCT gil_id, tid FROM {table} WHERE run_id = ?", (run,)):
                key = (gil_pid.get(gil_id, 0), tid)
                if key not in known:
                    known.add(key)
                    extra.append(Thread(key[0], tid, None))
        sink.describe(t0, processes, threads + extra, list(counters.values()), has_lost)

        sources = []
        waits_cols = _columns(conn, "waits")
        convoy = "convoy" if "convoy" in waits_cols else "0"
        # Code attribution (code_sites, schema 3+): where each hold resumed
        # and released, where each wait asked; the table is small.
        sites: Dict[int, str] = {}
        if {"filename", "function", "line"} <= _columns(conn, "code_sites"):
            for sid, fn, func, line in conn.execute("SELECT site_id, filename, function, line FROM code_sites "
                                                    "WHERE run_id = ?", (run,)):
                sites[sid] = f"{(fn or '?').rsplit('/', 1)[-1]}:{'' if line is None else line} in {func}"
        hold_sites = "start_site_id, end_site_id" if sites and "end_site_id" in _columns(conn, "holds") \
            else "NULL, NULL"
        wait_site = "site_id" if sites and "site_id" in waits_cols else "NULL"
        for g in gil_pid:
            q = dict(p, gil=g)
            sources.append(_rows(self._query(
                f"SELECT start_ns, end_ns, tid, ended, crosses_loss, {hold_sites} FROM holds "
                "WHERE run_id = :run AND gil_id = :gil ORDER BY start_ns", q), _P_BEGIN, len(sources)))
            sources.append(_rows(self._query(
                f"SELECT start_ns, end_ns, tid, outcome, timeouts, crosses_loss, {convoy}, {wait_site} FROM waits "
                "WHERE run_id = :run AND gil_id = :gil ORDER BY start_ns", q), _P_BEGIN, len(sources)))
            sources.append(_rows(self._query(
                "SELECT start_ns, end_ns, tid FROM forced_switches "
                "WHERE run_id = :run AND gil_id = :gil ORDER BY start_ns", q), _P_BEGIN, len(sources)))
            sources.append(_rows(self._query(
                "SELECT ts_ns, tid FROM timeouts WHERE run_id = :run AND gil_id = :gil ORDER BY ts_ns", q),
                _P_INSTANT, len(sources)))
            # hand-offs, read in acquire order (the index), which on one GIL
            # is also release order: each is met at its release
            sources.append(_rows(self._query(
                "SELECT release_ns, from_tid, acquire_ns, to_tid FROM switches "
                "WHERE run_id = :run AND gil_id = :gil ORDER BY acquire_ns", q), _P_BOOK, len(sources)))
        n_gil_sources = len(sources)
        sources.append(_rows(self._query(
            "SELECT ts_ns, gil_id, requester, holder, released_ns, response_ns FROM drop_requests "
            "WHERE run_id = :run ORDER BY ts_ns", p), _P_BOOK, len(sources)))
        sources.append(_rows(self._query(
            "SELECT start_ns, end_ns, count, stream FROM lost WHERE run_id = :run AND start_ns IS NOT NULL "
            "ORDER BY start_ns", p), _P_BEGIN, len(sources)))
        drop_src, lost_src = n_gil_sources, n_gil_sources + 1
        # what each per-GIL source is: (gil, kind)
        kind_of: Dict[int, Tuple[int, str]] = {}
        i = 0
        for g in gil_pid:
            for k in ("hold", "wait", "forced", "timeout", "switch"):
                kind_of[i] = (g, k)
                i += 1

        held = {g: _Held(counters[(g, HELD_PCT)], t0, width) for g in gil_pid}
        waiting = {g: 0 for g in gil_pid}
        # flows waiting for the event that ends them, keyed (gil, tid, ns)
        drop_flows: Dict[Tuple[int, int, int], List[int]] = {}
        handoff_out: Dict[Tuple[int, int, int], int] = {}
        handoff_in: Dict[Tuple[int, int, int], int] = {}
        ends: List[Tuple[Any, ...]] = []   # (end, _P_END, seq, kind, gil, tid, row)
        seq = 0
        tot = self.totals
        no_flows: Tuple[int, ...] = ()
        no_args: Dict[str, Any] = {}

        def pid_for(g: int, tid: int) -> int:
            return gil_pid.get(g, pid_of_tid.get(tid, 0))

        def flush_ends(limit: Tuple[int, int]) -> None:
            while ends and (ends[0][0], ends[0][1]) <= limit:
                e_ts, _, _, kind, g, tid, row = heapq.heappop(ends)
                pid = pid_for(g, tid)
                if kind == HOLD:
                    key = (g, tid, e_ts)
                    fin = drop_flows.pop(key, no_flows)
                    out = handoff_out.pop(key, None)
                    sink.end(e_ts, HOLD, pid, tid, no_args, fin, no_flows if out is None else (out,))
                    held[g].add(sink, row[0], e_ts)
                elif kind == WAIT:
                    sink.end(e_ts, WAIT, pid, tid, no_args, no_flows, no_flows)
                    waiting[g] -= 1
                    sink.counter(e_ts, counters[(g, WAITING)], waiting[g])
                elif kind == FORCED:
                    sink.end(e_ts, FORCED, pid, tid, no_args, no_flows, no_flows)
                else:  # LOST
                    sink.end(e_ts, LOST, 0, 0, no_args, no_flows, no_flows)

        for item in heapq.merge(*sources):
            ts, prio, src, _, row = item
            if ends:
                first = ends[0]
                if first[0] < ts or (first[0] == ts and first[1] <= prio):
                    flush_ends((ts, prio))
            if src == drop_src:
                _, g, req, holder, released, response = row
                tot.drops += 1
                out: Tuple[int, ...] = no_flows
                if released is not None:
                    f = flow_id("drop", g, holder, released)
                    drop_flows.setdefault((g, holder, released), []).append(f)
                    out = (f,)
                args = {"holder tid": holder}
                if response is not None:
                    args["response ns"] = response
                sink.instant(ts, DROP, pid_for(g, req), req, args, out)
                continue
            if src == lost_src:
                tot.lost += 1
                seq += 1
                heapq.heappush(ends, (max(row[1] if row[1] is not None else ts, ts), _P_END, seq, LOST, -1, 0, row))
                sink.begin(ts, LOST, 0, 0, row[1] if row[1] is not None else ts,
                           {"events": row[2] or "unknown", "stream": row[3]}, no_flows)
                continue
            g, k = kind_of[src]
            if k == "switch":
                release, frm, acquire, to = row
                f = flow_id("handoff", g, frm, release)
                handoff_out[(g, frm, release)] = f
                handoff_in[(g, to, acquire)] = f
                tot.handoffs += 1
                continue
            if k == "timeout":
                tot.timeouts += 1
                sink.instant(ts, TIMEOUT, pid_for(g, row[1]), row[1], {}, no_flows)
                continue
            end, tid = row[1], row[2]
            if end is None or end < ts:
                end = ts
            seq += 1
            pid = pid_for(g, tid)
            if k == "hold":
                tot.holds += 1
                f = handoff_in.pop((g, tid, ts), None)
                args = {"ended": row[3]}
                if row[4]:
                    args["events lost inside"] = True
                if row[5] in sites:
                    args["resumed at"] = sites[row[5]]
                if row[6] in sites:
                    args["released at"] = sites[row[6]]
                sink.begin(ts, HOLD, pid, tid, end, args, no_flows if f is None else (f,))
                heapq.heappush(ends, (end, _P_END, seq, HOLD, g, tid, row))
            elif k == "wait":
                tot.waits += 1
                args = {"outcome": row[3], "timeouts": row[4]}
                if row[5]:
                    args["events lost inside"] = True
                if row[6]:
                    args["convoy"] = True
                if row[7] in sites:
                    args["asked at"] = sites[row[7]]
                sink.begin(ts, WAIT, pid, tid, end, args, no_flows)
                waiting[g] += 1
                sink.counter(ts, counters[(g, WAITING)], waiting[g])
                heapq.heappush(ends, (end, _P_END, seq, WAIT, g, tid, row))
            else:
                tot.forced += 1
                sink.begin(ts, FORCED, pid, tid, end, no_args, no_flows)
                heapq.heappush(ends, (end, _P_END, seq, FORCED, g, tid, row))
            self._trim(ts, drop_flows, handoff_out, handoff_in)
        flush_ends((1 << 63, _P_END))
        for h in held.values():
            h.finish(sink)
        return tot

    def _trim(self, ts: int, *pending: Dict[Tuple[int, int, int], Any]) -> None:
        """Drops flows whose other end never came (after lost events): they
        would pile up. Checked now and then, far behind the current time."""
        self._trim_at += 1
        if self._trim_at % 65536:
            return
        horizon = ts - 60_000_000_000  # a minute: no GIL hand-off takes that long
        for d in pending:
            for key in [k for k in d if k[2] < horizon]:
                del d[key]
