"""Which losses of a recording the cpython suites' test may accept, and
why: what cannot be hidden (docs/tracer.md), and nothing else.

- A stream that ended early (docs/events.md): a traced process killed
  inside an event left its sub-buffer of LTTng's per-user buffers
  reserved and never committed, and LTTng 2.13's consumer reads no
  further on that CPU (LTTng 2.15's stall watchdog would recover it).
  Every event written on that CPU after the stream's last packet ended is
  lost, of any process. Accepted: places missing from a GIL's order
  whose next present place happened after that end (less SLACK_NS: a
  record is written a little after its last place happened), and the
  lost start of a process whose first event in the trace came after it
  (its first events went to that CPU), or of a GIL whose first event in
  the trace came after it (a subinterpreter's GIL made after the end by
  a process that was there before it: its gil_found went to that CPU),
  with the events of that process skipped before its GIL was recognised
  when they all came after the end; traced processes that recorded
  nothing (gilscope.info's unrecorded_pids) when each said it was traced
  after the end (less SLACK_NS; unrecorded_marks: one that ran on that
  CPU alone); and anomalies (events that fit no state: the analyzer
  counts them after a lost event) when the first one happened after the
  end (less SLACK_NS, as places). Not accepted:
  anything missing before it, a lost start of a GIL that was there
  before it, an anomaly before it, a process that recorded nothing
  having started before it (or with no start time), a loss LTTng
  counted, any other loss row.
- A traced process killed during its wait for its registration with the
  session daemon (gilscope.info's unrecorded_registration "waiting": it
  said it was traced, and never that the wait was over, preload_mark.h):
  it ran none of its program, and LTTng had given it no buffer yet.
  Accepted, with or without a stream's end; one whose wait was over
  ("registered", "unregistered") and that recorded nothing is judged by
  the stream-end rule above, as is one of an older recorder ("unknown").
- A process killed from outside before its exit: the last few places
  its threads had captured and not yet written (the last KILLED_TAIL of
  its GIL's order, the process never reached its exit).

`attribute` works on events read with gstest.read_trace and the
analyzer's own counts, so that a test can hand it a real recording with
some events taken out (test_stream_end.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import gstest

# How long before the stream's end a missing place may have happened and
# still have been written after it: a record is written when its thread
# lets go of the GIL's mutex, with the hold's release, or by a waiting
# thread at its first time-out (a switch interval), whenever the thread
# next gets a CPU (niced suites at a load of 12 wait hundreds of ms).
SLACK_NS = 2_000_000_000
KILLED_TAIL = 8

START = re.compile(r"pid (\d+): start of GIL 0x[0-9a-f]+$")
EARLY = re.compile(r"pid (\d+): \d+ events before it was recognised$")
GIL = re.compile(r"start of GIL 0x([0-9a-f]+)$")
UNRECORDED = re.compile(r"(\d+) of the \d+ traced CPython processes.*: no GIL of (its|theirs) recorded")
GAPS = re.compile(r"\d+ places? in a GIL's order never seen$")


@dataclass
class Loss:
    what: str                 # the lost row's stream: a stream's path, or what was lost
    start_ns: Optional[int]
    end_ns: Optional[int]


@dataclass
class Verdict:
    known: list[str] = field(default_factory=list)   # accepted, and why
    wrong: list[str] = field(default_factory=list)   # not explained: a failure


def unrecorded(info: dict[str, str]) -> dict[int, int]:
    """gilscope.info's traced processes that recorded nothing: pid -> when
    it said it was traced (unrecorded_marks; none from older recorders)."""
    pids = [int(p) for p in info.get("unrecorded_pids", "").split(",") if p.strip().isdigit()]
    marks = [int(t) for t in info.get("unrecorded_marks", "").split(",") if t.strip().isdigit()]
    return dict(zip(pids, marks)) if len(pids) == len(marks) else {}


def waiting(info: dict[str, str]) -> set[int]:
    """gilscope.info's traced processes that recorded nothing and ended
    during their registration wait (unrecorded_registration "waiting",
    parallel to unrecorded_pids; none from older recorders)."""
    pids = [int(p) for p in info.get("unrecorded_pids", "").split(",") if p.strip().isdigit()]
    how = info.get("unrecorded_registration", "").split(",")
    return {p for p, w in zip(pids, how) if w == "waiting"} if len(pids) == len(how) else set()


def gil_places(tr: gstest.Trace) -> dict[tuple[int, int, int], dict[int, int]]:
    """Each life of each GIL (pid, gil, life; life 0: no gil_found seen,
    its start lost): its places, seq -> when it happened."""
    places: dict[tuple[int, int, int], dict[int, int]] = {}
    for key, events in gstest.gil_life_events(tr)[0].items():
        places[key] = {}
        for e in events:
            places[key].setdefault(e.fields["seq"], e.ts)
    return places


def attribute(tr: gstest.Trace, ended: list[Loss], losses: list[Loss], gaps: int, late: int,
              counted: int, no_exit: int, anomalies: int = 0,
              first_anomaly_ns: Optional[int] = None,
              unrecorded: Optional[dict[int, int]] = None,
              waiting: Optional[set[int]] = None) -> Verdict:
    """tr: the recording's own events; ended: the `lost` rows of streams
    that ended early; losses: the other rows of unknown count; gaps, late,
    counted: the analyzer's order_gaps, late_events, lost_events; no_exit:
    its processes without a process_exit; anomalies, first_anomaly_ns:
    the analyzer's anomalies and the time of the first one; unrecorded:
    the traced processes that recorded nothing, pid -> when it said it was
    traced (gilscope.info's unrecorded_pids and unrecorded_marks: the raw
    clock, tr.clock_offset_ns from the trace's times); waiting: those of
    them that ended during their registration wait (waiting())."""
    v = Verdict()
    end = min((s.start_ns for s in ended if s.start_ns is not None), default=None)
    for s in ended:
        if s.start_ns is None:
            # No packet at all (stopped in its first sub-buffer): what it
            # lost may be anywhere in the recording, nothing to tell apart.
            v.wrong.append(f"stream {s.what} has no packet: its losses cannot be told from others")
    if ended and not no_exit:
        v.wrong.append("a stream ended early with no traced process killed")
    if counted:
        v.wrong.append(f"{counted} events lost (counted by LTTng)")
    first: dict[int, int] = {}
    first_gil: dict[tuple[int, int], int] = {}  # (pid, GIL address): its first event
    exited = set()
    for e in tr.events:
        if e.pid not in first or e.ts < first[e.pid]:
            first[e.pid] = e.ts
        gil = e.fields.get("gil")
        if isinstance(gil, int) and ((e.pid, gil) not in first_gil or e.ts < first_gil[e.pid, gil]):
            first_gil[e.pid, gil] = e.ts
        if e.name == "process_exit":
            exited.add(e.pid)
    later: list[int] = []
    gils: list[str] = []
    early_rows: list[tuple[int, Loss]] = []
    for loss in losses:
        m = START.match(loss.what) or EARLY.match(loss.what)
        if GAPS.match(loss.what):
            continue  # the gaps, judged one by one below
        if UNRECORDED.match(loss.what):
            # Processes killed during their registration wait ran nothing
            # and had no buffer: accepted. The others recorded nothing
            # when they started after the end and ran only on that CPU
            # (less SLACK_NS: a process's first events are written a
            # little after it said it was traced).
            n = int(UNRECORDED.match(loss.what).group(1))
            marks = {p: t + tr.clock_offset_ns for p, t in (unrecorded or {}).items()}
            held = sorted(p for p in marks if p in (waiting or set()))
            rest = {p: t for p, t in marks.items() if p not in held}
            before_end = sorted(p for p, t in rest.items() if end is None or t <= end - SLACK_NS)
            if len(marks) != n or before_end:
                where = (f"{len(marks)} start times for {n} processes" if len(marks) != n else
                         "no stream ended early" if end is None else
                         f"pid {', '.join(map(str, before_end[:5]))} started "
                         f"{(rest[before_end[0]] - end) / 1e9:+.3f} s from the stream's end")
                v.wrong.append(f"lost: {loss.what} ({where})")
                continue
            if held:
                its = "their" if len(held) > 1 else "its"
                v.known.append(f"{len(held)} process{'es' if len(held) > 1 else ''} killed during "
                               f"{its} registration wait, before {its} program ran, recorded "
                               f"nothing (pid {', '.join(map(str, held[:5]))}"
                               f"{', ...' if len(held) > 5 else ''})")
            if rest and end is not None:
                v.known.append(f"{len(rest)} processes started after the stream's end recorded nothing "
                               f"(the first {(min(rest.values()) - end) / 1e9:+.3f} s from it)")
            continue
        if not m:
            v.wrong.append(f"lost: {loss.what}")
            continue
        pid = int(m.group(1))
        if end is not None and pid in first and first[pid] > end:
            if pid not in later:
                later.append(pid)
            continue
        gil = GIL.search(loss.what)
        at = first_gil.get((pid, int(gil.group(1), 16))) if gil else first.get(pid)
        if gil and end is not None and at is not None and at > end:
            # A GIL found after the end by a process there before it:
            # its gil_found went to the stream that had ended.
            gils.append(f"0x{gil.group(1)} of pid {pid}")
            continue
        if EARLY.match(loss.what):
            early_rows.append((pid, loss))  # judged once the GILs are
            continue
        where = ("no stream ended early" if end is None else "no event" if at is None else
                 f"its first event {(at - end) / 1e9:+.3f} s from the stream's end")
        v.wrong.append(f"lost: {loss.what} ({where})")
    for pid, loss in early_rows:
        # Events skipped before a GIL was recognised, all after the end,
        # of a process whose GIL found after the end lost its start.
        if (end is None or loss.start_ns is None or loss.start_ns <= end
                or not any(g.endswith(f" of pid {pid}") for g in gils)):
            where = ("no stream ended early" if end is None else "no time" if loss.start_ns is None
                     else f"the first {(loss.start_ns - end) / 1e9:+.3f} s from the stream's end")
            v.wrong.append(f"lost: {loss.what} ({where})")
    if gils:
        v.known.append(f"{len(gils)} GIL{'s' if len(gils) > 1 else ''} found after the stream's end "
                       f"lost their start ({', '.join(gils[:5])}{', ...' if len(gils) > 5 else ''})")
    if anomalies:
        if end is None or first_anomaly_ns is None or first_anomaly_ns <= end - SLACK_NS:
            where = ("no stream ended early" if end is None else "no time" if first_anomaly_ns is None
                     else f"the first {(first_anomaly_ns - end) / 1e9:+.3f} s from the stream's end")
            v.wrong.append(f"{anomalies} anomalies ({where})")
        else:
            v.known.append(f"{anomalies} anomalies after the stream's end (the first "
                           f"{(first_anomaly_ns - end) / 1e9:+.3f} s from it)")
    if later:
        v.known.append(f"{len(later)} process{'es' if len(later) > 1 else ''} started after the "
                       f"stream's end lost their start (pid {', '.join(map(str, later))})")
    missing = after = tails = 0
    before: list[str] = []
    for (pid, _gil, life), seqs in gil_places(tr).items():
        present = sorted(seqs)
        last = present[-1]
        # A life its gil_found began starts at seq 0: places missing before
        # its first present one count too (a process that started on the
        # stream that had ended, then moved: the analyzer counts them).
        for a, b in zip(([-1] if life else []) + present, present[1:] if not life else present):
            n = b - a - 1
            if n <= 0:
                continue
            missing += n
            if end is not None and seqs[b] > end - SLACK_NS:
                after += n
            elif pid not in exited and a + 1 > last - KILLED_TAIL:
                tails += n
            else:
                where = ("" if end is None else
                         f", {(seqs[b] - end) / 1e9:+.3f} s from the stream's end")
                before.append(f"pid {pid}: {n} places missing before seq {b}{where}")
    if before:
        v.wrong.append("; ".join(before[:5]) + (f" (and {len(before) - 5} more)" if len(before) > 5 else ""))
    # Every place the analyzer gave up is missing here, or came late.
    if not missing <= gaps <= missing + late:
        v.wrong.append(f"the analyzer's {gaps} places never seen ({late} late) are not the "
                       f"trace's {missing} missing places")
    elif late and not missing:
        v.wrong.append(f"{late} events after their place")
    if after:
        v.known.append(f"{after} places missing after the stream's end")
    if tails:
        v.known.append(f"{tails} places missing at the end of processes killed before their exit")
    return v
