"""Helpers for the samples' end-to-end tests: run a sample under
`gilscope run`, then ask the database what the sample claims.

Bounds are physical, not wall-clock: the machine has two shared, noisy
cores, so a test never asserts that one configuration is faster than
another; it asserts how the GIL changed hands (who held it, who waited,
which releases were forced), printing the timings for people.
"""
from __future__ import annotations

import argparse
import bisect
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import gstest

check = gstest.check
fail = gstest.fail
skip = gstest.skip


def args(modes: Optional[list[str]] = None) -> argparse.Namespace:
    """--python LABEL (debian | X.Y) and, when modes are given, one of them."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default="debian")
    if modes:
        ap.add_argument("mode", nargs="?", default=modes[0], choices=modes)
    a = ap.parse_args()
    exe = gstest.find_python(a.python)
    if exe is None:
        where = "/usr/bin/python3" if a.python == "debian" else f"pyenv versions ({gstest.pyenv_root()})"
        skip(f"Python {a.python} is not installed here (looked in {where})")
    a.exe = exe
    a.version = gstest.python_version(exe)
    return a


def line_of(script: str, text: str) -> int:
    """The line of samples/SCRIPT whose code starts with text."""
    for n, line in enumerate(sample(script).read_text().splitlines(), start=1):
        if line.strip().startswith(text):
            return n
    fail(f"no line starting with {text!r} in {script}")


def sample(name: str) -> Path:
    p = gstest.source_dir() / "samples" / name
    if not p.exists():
        fail(f"{p} is missing")
    return p


@dataclass
class Thread:
    pid: int
    tid: int
    name: Optional[str]
    first_ns: int
    last_ns: int
    holds: int
    convoys: int


@dataclass
class Hold:
    start: int
    end: int
    ended: str


@dataclass
class Wait:
    start: int
    end: int
    timeouts: int
    convoy: bool
    requesters: list[int]  # of the drop requests made during it


class Run:
    """One `gilscope run` of a sample: its output and its database."""

    def __init__(self, outdir: Path, res: subprocess.CompletedProcess):
        self.dir = outdir
        self.stdout = res.stdout
        self.stderr = res.stderr
        self.db = sqlite3.connect(str(outdir / "run.db"))
        self.run_id = self.db.execute("SELECT max(run_id) FROM runs").fetchone()[0]

    def q(self, sql: str, *params) -> list[tuple]:
        return self.db.execute(sql, params).fetchall()

    def one(self, sql: str, *params):
        row = self.db.execute(sql, params).fetchone()
        return row[0] if row else None

    def threads(self) -> list[Thread]:
        return [Thread(*r) for r in self.q(
            "SELECT pid, tid, name, first_ns, last_ns, holds, convoys FROM threads WHERE run_id = ?",
            self.run_id)]

    def thread(self, name: str) -> Thread:
        ts = [t for t in self.threads() if t.name == name]
        if len(ts) != 1:
            fail(f"expected one thread named {name!r}, found {len(ts)}: "
                 f"{sorted(str(t.name) for t in self.threads())}")
        return ts[0]

    def gil_of(self, t: Thread) -> int:
        gils = self.q("SELECT DISTINCT gil_id FROM holds WHERE run_id = ? AND tid = ?", self.run_id, t.tid)
        if len(gils) != 1:
            fail(f"thread {t.name} held {len(gils)} GILs, expected 1")
        return gils[0][0]

    def holds(self, tid: int) -> list[Hold]:
        return [Hold(*r) for r in self.q(
            "SELECT start_ns, end_ns, ended FROM holds WHERE run_id = ? AND tid = ? ORDER BY start_ns",
            self.run_id, tid)]

    def wait_starts(self, tid: int) -> list[int]:
        return [r[0] for r in self.q(
            "SELECT start_ns FROM waits WHERE run_id = ? AND tid = ? ORDER BY start_ns", self.run_id, tid)]

    def idle_periods(self, tid: int, min_ns: int) -> list[tuple[int, int]]:
        """Stretches of at least min_ns when the thread neither held nor
        wanted the GIL: from a release to its next request (a sleep, I/O, a
        lock). After a forced release the stretch starts when the thread's
        forced-switch wait ends: the time the OS took to run it again is
        not the program's doing. (A release for a sleep is 'forced' too
        when a drop request happened to be pending.)"""
        starts = self.wait_starts(tid)
        fsw = self.q("SELECT start_ns, end_ns FROM forced_switches WHERE run_id = ? AND tid = ? "
                     "ORDER BY start_ns", self.run_id, tid)
        fsw_starts = [a for a, _ in fsw]
        out = []
        for h in self.holds(tid):
            i = bisect.bisect_left(starts, h.end)
            if i >= len(starts):
                continue
            begin = h.end
            j = bisect.bisect_left(fsw_starts, h.end)
            if h.ended == "forced" and j < len(fsw) and fsw[j][0] < starts[i]:
                begin = max(begin, fsw[j][1])
            if starts[i] - begin >= min_ns:
                out.append((h.end, starts[i]))
        return out

    def bracketed_window(self, tid: int, mark_ns: int, script: Optional[str] = None,
                         mark_text: str = "time.sleep(MARK)") -> tuple[int, int]:
        """The loop a sample brackets with two sleeps of mark_ns, the last
        two long idle stretches of the thread (earlier ones are waits
        before the loop: a barrier, a server's first answer): from the
        request that ends the first sleep to the release that starts the
        second one. A sleep never returns early, so 0.9 x mark_ns.
        With code locations (3.7+) and the sample's script named, only the
        stretches that begin with a release on one of its `mark_text` lines
        count: on a busy machine the OS can keep a thread off the CPU for
        longer than a sleep between a release and its next request, which
        looks the same by time alone."""
        idles = self.idle_periods(tid, int(mark_ns * 0.9))
        lines = {n for n, text in enumerate(sample(script).read_text().splitlines(), start=1)
                 if text.strip().startswith(mark_text)} if script else set()
        if lines:
            ends = dict(self.q(
                "SELECT h.end_ns, c.line FROM holds h JOIN code_sites c ON c.run_id = h.run_id "
                "AND c.site_id = h.end_site_id WHERE h.run_id = ? AND h.tid = ?", self.run_id, tid))
            if ends:
                idles = [i for i in idles if ends.get(i[0]) in lines]
        if len(idles) < 2:
            fail(f"thread {tid}: expected two sleeps of {mark_ns / 1e6:.0f} ms around its loop, "
                 f"found {len(idles)} idle stretches: {idles}")
        return idles[-2][1], idles[-1][0]

    def held_in(self, gil_id: int, lo: int, hi: int) -> int:
        """GIL-held time of one GIL inside [lo, hi] (holds clipped)."""
        return self.one(
            "SELECT coalesce(sum(min(end_ns, ?) - max(start_ns, ?)), 0) FROM holds "
            "WHERE run_id = ? AND gil_id = ? AND end_ns > ? AND start_ns < ?",
            hi, lo, self.run_id, gil_id, lo, hi)

    def contended_in(self, gil_id: int, lo: int, hi: int) -> int:
        """Time inside [lo, hi] with at least one thread waiting for the GIL."""
        ivs = sorted((max(s, lo), min(e, hi)) for s, e in self.q(
            "SELECT start_ns, end_ns FROM waits WHERE run_id = ? AND gil_id = ? AND end_ns > ? AND start_ns < ?",
            self.run_id, gil_id, lo, hi))
        total, cur_s, cur_e = 0, None, None
        for s, e in ivs:
            if cur_e is None or s > cur_e:
                if cur_e is not None:
                    total += cur_e - cur_s
                cur_s, cur_e = s, e
            else:
                cur_e = max(cur_e, e)
        if cur_e is not None:
            total += cur_e - cur_s
        return total

    def comeback_ns(self, tids: list[int], lo: int, hi: int) -> Optional[float]:
        """Median time from a CPU-bound thread's forced release to its next
        request for the GIL, inside [lo, hi]. CPython asks again as soon as
        the thread runs: on free cores that is tens of microseconds; when
        other processes keep the cores busy the OS runs the thread only
        milliseconds later (its timeslice), and then hand-off rates follow
        the OS scheduler, not the switch interval."""
        delays = []
        for tid in tids:
            starts = self.wait_starts(tid)
            for h in self.holds(tid):
                if h.ended != "forced" or not (lo <= h.end <= hi):
                    continue
                i = bisect.bisect_left(starts, h.end)
                if i < len(starts):
                    delays.append(starts[i] - h.end)
        if not delays:
            return None
        delays.sort()
        return float(delays[len(delays) // 2])

    def late_timeouts(self, gil_id: int, lo: int, hi: int) -> list[int]:
        """For each wait inside [lo, hi] that timed out: how long after the
        request its first time-out came. CPython's timed wait is one switch
        interval; a starved machine (other processes on the cores, a host
        stealing the vCPUs) runs the waiter late."""
        return [first - start for start, first in self.q(
            "SELECT w.start_ns, (SELECT min(t.ts_ns) FROM timeouts t WHERE t.run_id = w.run_id "
            "AND t.gil_id = w.gil_id AND t.tid = w.tid AND t.ts_ns BETWEEN w.start_ns AND w.end_ns) "
            "FROM waits w WHERE w.run_id = ? AND w.gil_id = ? AND w.timeouts > 0 AND w.start_ns BETWEEN ? AND ?",
            self.run_id, gil_id, lo, hi) if first is not None]

    def cores_free(self, tids: list[int], lo: int, hi: int, interval_ns: int = 5_000_000) -> bool:
        """Whether the OS ran these threads promptly inside [lo, hi]: forced-out
        threads ask again within 1 ms (comeback_ns) and nine in ten timed
        waits time out within 2 intervals (late_timeouts). Says which."""
        c = self.comeback_ns(tids, lo, hi)
        gils = {g for (g,) in self.q(
            "SELECT DISTINCT gil_id FROM holds WHERE run_id = ? AND tid IN (%s)" % ",".join("?" * len(tids)),
            self.run_id, *tids)}
        late = sorted(x for g in gils for x in self.late_timeouts(g, lo, hi))
        p90 = late[int(len(late) * 0.9)] if late else 0
        free = (c is None or c <= 1_000_000) and p90 <= 2 * interval_ns
        print(f"note: forced-out threads asked again after {ms(c or 0)} (median; microseconds on free "
              f"cores), timed waits fired after {ms(p90)} (p90; one interval = {ms(interval_ns)}): "
              + ("the cores were free" if free else
                 "other processes kept the cores busy, so hand-offs follow the OS scheduler here and "
                 "the checks that need free cores are not made"), flush=True)
        return free

    # CPython's rules for drop requests (ceval_gil.c, 3.6 to 3.15): a
    # waiter whose timed wait of one interval ran out, with the GIL still
    # locked and no switch since the wait began, sets gil_drop_request;
    # it stays set (one pending at a time, however many time-outs) until
    # the next take or the holder's forced release; the holder lets the
    # GIL go (a forced release) and, under FORCE_SWITCHING, waits until
    # another thread took it. The checks below count against these rules,
    # so that load (which only stretches the times) cannot fail them.

    def drops_in_holds(self, gil_id: int, tid: int, lo: int, hi: int) -> list[tuple[Hold, int]]:
        """Each hold of tid on the GIL inside [lo, hi], with the number of
        drop requests addressed to tid during it. By the rules above: 1 for
        a hold that ended forced, 0 for any other."""
        drops = [t for (t,) in self.q(
            "SELECT ts_ns FROM drop_requests WHERE run_id = ? AND gil_id = ? AND holder = ? "
            "ORDER BY ts_ns", self.run_id, gil_id, tid)]
        return [(h, bisect.bisect_right(drops, h.end) - bisect.bisect_left(drops, h.start))
                for h in self.holds(tid) if lo <= h.start and h.end <= hi]

    def check_drop_totals(self, t: Thread) -> None:
        """The thread's totals agree with its rows: drop requests received
        = drop request rows addressed to it = forced releases = holds that
        ended forced (each forced release answered one request)."""
        received, freed, rows, fholds = self.q(
            "SELECT drop_requests_received, forced_releases, (SELECT count(*) FROM drop_requests d "
            "WHERE d.run_id = t.run_id AND d.holder = t.tid), (SELECT count(*) FROM holds h "
            "WHERE h.run_id = t.run_id AND h.tid = t.tid AND h.ended = 'forced') "
            "FROM threads t WHERE t.run_id = ? AND t.tid = ?", self.run_id, t.tid)[0]
        check(received == rows == freed == fholds,
              f"{t.name}: {received} drop requests received, as many as rows of them ({rows}), "
              f"forced releases ({freed}) and holds ended forced ({fholds})")

    def check_forced_switch_waits(self) -> None:
        """A thread waits for the switch after a release (CPython's
        FORCE_SWITCHING, a forced_switches row) only when a drop request
        was set while it held the GIL: its release before that wait must
        be a forced one, or a drop request went unseen (the tracer once
        missed those set while the holder took the GIL back after I/O,
        which CPython counts as no switch)."""
        bad = self.q(
            "SELECT f.tid, f.start_ns FROM forced_switches f WHERE f.run_id = ? AND coalesce((SELECT h.ended "
            "FROM holds h WHERE h.run_id = f.run_id AND h.gil_id = f.gil_id AND h.tid = f.tid "
            "AND h.end_ns <= f.start_ns ORDER BY h.end_ns DESC LIMIT 1), 'forced') != 'forced'", self.run_id)
        n = self.one("SELECT count(*) FROM forced_switches WHERE run_id = ?", self.run_id)
        check(not bad, f"each of the {n} waits for a switch follows a forced release: not (tid, start) {bad[:3]}")

    def next_taker(self, gil_id: int, after_ns: int) -> Optional[int]:
        """The thread of the first hold on the GIL that starts after after_ns."""
        return self.one("SELECT tid FROM holds WHERE run_id = ? AND gil_id = ? AND start_ns > ? "
                        "ORDER BY start_ns LIMIT 1", self.run_id, gil_id, after_ns)

    def last_hold_before(self, gil_id: int, ts: int, tid: Optional[int] = None) -> Optional[tuple[int, Hold]]:
        """(tid, hold) of the last hold on the GIL that ended before ts (of
        that thread, when given)."""
        row = self.q("SELECT tid, start_ns, end_ns, ended FROM holds WHERE run_id = ? AND gil_id = ? "
                     "AND end_ns < ? AND (? IS NULL OR tid = ?) ORDER BY end_ns DESC LIMIT 1",
                     self.run_id, gil_id, ts, tid, tid)
        return (row[0][0], Hold(*row[0][1:])) if row else None

    def waits_alone(self, gil_id: int, tid: int, lo: int, hi: int) -> list[Wait]:
        """tid's waits on the GIL inside [lo, hi] that ended with the GIL
        and that no other thread's wait overlapped, each with the
        requesters of the drop requests made during it. The holder such a
        wait waited for was asked to let go by this thread or not at all.
        A request that found the GIL free is not one: its wait is 0 ns
        (docs/events.md, the request's time)."""
        waits = self.q(
            "SELECT w.start_ns, w.end_ns, w.timeouts, w.convoy FROM waits w WHERE w.run_id = ? "
            "AND w.gil_id = ? AND w.tid = ? AND w.outcome = 'acquired' AND w.start_ns >= ? AND w.end_ns <= ? "
            "AND w.end_ns > w.start_ns "
            "AND NOT EXISTS (SELECT 1 FROM waits o WHERE o.run_id = w.run_id AND o.gil_id = w.gil_id "
            "AND o.tid != w.tid AND o.start_ns <= w.end_ns AND o.end_ns >= w.start_ns) ORDER BY w.start_ns",
            self.run_id, gil_id, tid, lo, hi)
        drops = self.q("SELECT ts_ns, requester FROM drop_requests WHERE run_id = ? AND gil_id = ? "
                       "ORDER BY ts_ns", self.run_id, gil_id)
        ts = [t for t, _ in drops]
        return [Wait(s, e, n, bool(c), [q for _, q in drops[bisect.bisect_left(ts, s):bisect.bisect_right(ts, e)]])
                for s, e, n, c in waits]

    def site_counts(self, file_suffix: str, line: int) -> tuple[int, int]:
        """(voluntary, forced) releases at that line of a file (code_sites)."""
        v, f = self.db.execute(
            "SELECT coalesce(sum(voluntary_releases), 0), coalesce(sum(forced_releases), 0) "
            "FROM code_sites WHERE run_id = ? AND filename LIKE ? AND line = ?",
            (self.run_id, "%/" + file_suffix, line)).fetchone()
        return int(v), int(f)

    def releases_through(self, tid: int, file_suffix: str, line: int, lo: int, hi: int,
                         ended: str = "voluntary") -> int:
        """Holds of tid ended inside (lo, hi) whose end stack passes through
        that line of a file: releases made by a call on that line, however
        deep the call went before it released the GIL."""
        return self.one(
            "SELECT count(*) FROM holds h WHERE h.run_id = ? AND h.tid = ? AND h.ended = ? "
            "AND h.end_ns > ? AND h.end_ns < ? AND EXISTS (SELECT 1 FROM stack_frames f "
            "JOIN code_sites c ON c.run_id = f.run_id AND c.site_id = f.site_id "
            "WHERE f.run_id = h.run_id AND f.stack_id = h.end_stack_id AND c.line = ? "
            "AND c.filename LIKE ?)", self.run_id, tid, ended, lo, hi, line, "%/" + file_suffix)

    def findings(self, kind: str) -> list[tuple]:
        return self.q("SELECT tid, value, message FROM findings WHERE run_id = ? AND kind = ?",
                      self.run_id, kind)

    def finding_tids(self, kind: str) -> set[int]:
        """The threads findings of a kind are about: a finding's tid, and
        for one about several threads of a kind (a pool), each of them, as
        its detail lists them ("name (tid N): count")."""
        tids: set[int] = set()
        for tid, detail in self.q("SELECT tid, detail FROM findings WHERE run_id = ? AND kind = ?",
                                  self.run_id, kind):
            if tid is not None:
                tids.add(tid)
            tids.update(int(t) for t in re.findall(r"\(tid (\d+)\)", detail or ""))
        return tids


_made: list[Path] = []


def main(fn) -> None:
    """Runs a test's main(); when it passes, removes the recordings it made
    (a failed test keeps them for inspection; so does GILSCOPE_KEEP=1)."""
    fn()
    if not os.environ.get("GILSCOPE_KEEP"):
        for d in _made:
            shutil.rmtree(d, ignore_errors=True)


def run_sample(exe: Path, script: str, argv: list[str], timeout: float = 240, attempts: int = 3) -> Run:
    """gilscope run -o DIR -- PYTHON samples/SCRIPT ARGV; checks it went well.

    An LTTng user-space session records every process of its user, so a
    recording made at the same time by someone else (another test, a
    benchmark) fills this one's buffers too and can make it lose events.
    The counts asserted here need a complete trace: a run that lost events
    is made again, and after `attempts` such runs the test is skipped,
    saying so (the tracer's own tests check that it loses nothing alone)."""
    for attempt in range(1, attempts + 1):
        top = gstest.tmpdir("gilscope-sample-")
        _made.append(top)
        out = top / "out"
        cmd = [str(gstest.gilscope()), "run", "-o", str(out), "--", str(exe), str(sample(script))] + argv
        env = os.environ.copy()
        env.pop("PYTHONPATH", None)
        print("$ " + " ".join(cmd), flush=True)
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        # The sample's own timings and gilscope's summary, for whoever reads the log.
        print(res.stdout, flush=True)
        if res.returncode != 0:
            fail(f"gilscope run exited {res.returncode}\nstderr:\n{res.stderr}")
        for f in ("run.db", "report.html"):
            check((out / f).is_file(), f"gilscope run wrote {f}")
        check("GIL summary" in res.stdout, "gilscope run printed the summary")
        r = Run(out, res)
        lost = r.one("SELECT lost_events FROM runs WHERE run_id = ?", r.run_id)
        if lost == 0:
            break
        print(f"note: attempt {attempt}: {lost} events lost (the session's buffers are shared with every "
              f"process of this user that is being recorded meanwhile)", flush=True)
    else:
        skip(f"every one of {attempts} recordings lost events: other recordings running at the same "
             f"time flood the shared buffers")
    check(lost == 0, f"no event lost ({lost})")
    anomalies = r.one("SELECT anomalies FROM runs WHERE run_id = ?", r.run_id)
    check(anomalies == 0, f"no anomaly in the analysis ({anomalies})")
    r.check_forced_switch_waits()
    return r


def number(text: str, pattern: str) -> float:
    """The first group of pattern in text, as a float (the sample's printout)."""
    m = re.search(pattern, text)
    if not m:
        fail(f"the sample's output has no match for {pattern!r}:\n{text}")
    return float(m.group(1))


def ms(ns: float) -> str:
    return f"{ns / 1e6:.2f} ms"
