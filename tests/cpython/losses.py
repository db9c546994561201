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
  (its first events went to that CPU). Not accepted: anything missing
  before it, a lost start of a process that was there before it, a loss
  LTTng counted, any other loss row.
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
              counted: int, no_exit: int) -> Verdict:
    """tr: the recording's own events; ended: the `lost` rows of streams
    that ended early; losses: the other rows of unknown count; gaps, late,
    counted: the analyzer's order_gaps, late_events, lost_events; no_exit:
    its processes without a process_exit."""
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
    exited = set()
    for e in tr.events:
        if e.pid not in first or e.ts < first[e.pid]:
            first[e.pid] = e.ts
        if e.name == "process_exit":
            exited.add(e.pid)
    later = []
    for loss in losses:
        m = START.match(loss.what) or EARLY.match(loss.what)
        if GAPS.match(loss.what):
            continue  # the gaps, judged one by one below
        if not m:
            v.wrong.append(f"lost: {loss.what}")
            continue
        pid = int(m.group(1))
        if end is None or pid not in first or first[pid] <= end:
            where = ("no stream ended early" if end is None else
                     f"its first event {(first.get(pid, end) - end) / 1e9:+.3f} s from the stream's end")
            v.wrong.append(f"lost: {loss.what} ({where})")
        elif pid not in later:
            later.append(pid)
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
