"""The cpython suites' test accepts the losses that follow a stream's
early end, and no other (tests/cpython/losses.py).

Session 13's sid 3.15 test_subprocess: a traced process killed inside an
event stopped its CPU's stream of LTTng's per-user buffers, and two
processes started later lost their start, their first events written
on that CPU; the suite test counted those as a failure of gilscope.

Here, for real: gdb kills a traced child inside liblttng-ust's copy of
an event (as tracer.killed_writer does), then a later traced process
starts pinned to that CPU (its first events go to the stopped stream)
and moves to the other CPU. The recording must show the stream's end
and the later process's lost start, and the suite test's check must
accept it as the KNOWN ISSUE. Then the same real events, with losses
made that the stream's end does not explain, must each fail: no stream
end, the end moved after the later process's start, places taken out
well before the end, a loss LTTng counted, another stream with no
packet, no process killed, another kind of loss. Places taken out
after the end are accepted."""
from __future__ import annotations

import collections
import dataclasses
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import gstest
import losses
import test_cpython_suite

CHILD = r"""
import os, time
while True:   # holds at a pace the consumer keeps up with: no counted loss
    for _ in range(20):
        os.sched_yield()
    time.sleep(0.002)
"""

LATER = r"""
import os, sys, threading, time
def spin():
    for _ in range(3000):
        os.sched_yield()
def burst():
    ts = [threading.Thread(target=spin) for _ in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
# A registration that gave up waiting (a niced session daemon on a loaded
# machine) ends meanwhile: its start (gil_found, said again) is then
# written on this CPU too, not after the move.
time.sleep(2)
burst()                                   # on the CPU whose stream stopped
os.sched_setaffinity(0, {int(sys.argv[1])})
burst()                                   # on the other one
"""

PROGRAM = r"""
import json, os, subprocess, sys, time
cpus = sorted(os.sched_getaffinity(0))
cpu, other = cpus[0], cpus[-1]
pin = lambda: os.sched_setaffinity(0, {cpu})
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], preexec_fn=pin)
time.sleep(4)   # sub-buffers of its events written on its CPU, 4 s of them
gdb = subprocess.run(["gdb", "-p", str(child.pid)] + json.loads(sys.argv[3]),
                     capture_output=True, text=True, timeout=120)
print("GDB", gdb.stdout.replace("\n", " | "))
child.wait()
time.sleep(0.5)
later = subprocess.run([sys.executable, "-c", sys.argv[2], str(other)], preexec_fn=pin)
print("LATER", later.pid if hasattr(later, "pid") else "", later.returncode)
"""


def take_out(tr: gstest.Trace, pid: int, after_ns: int, n: int) -> tuple[gstest.Trace, int]:
    """The trace without n places of pid's GIL (each event of those
    places) that happened after after_ns, inside its order (present
    places on both sides); returns it and the seq of the first."""
    seqs = sorted({e.fields["seq"] for e in tr.events if e.pid == pid and "gil" in e.fields
                   and isinstance(e.fields.get("seq"), int) and e.ts > after_ns})
    gstest.check(len(seqs) > n + 2, f"pid {pid} has places after {after_ns} to take out ({len(seqs)})")
    first = seqs[1]
    gone = set(range(first, first + n))
    kept = [e for e in tr.events
            if not (e.pid == pid and isinstance(e.fields.get("seq"), int) and e.fields["seq"] in gone)]
    return dataclasses.replace(tr, events=kept), first


def main() -> None:
    gstest.need_gdb_in_event()
    if len(os.sched_getaffinity(0)) < 2:
        gstest.skip("one CPU: a later process cannot move off the CPU whose stream stopped")
    gstest.private_lttng()
    out = gstest.tmpdir()
    prog = out / "killer.py"
    prog.write_text(PROGRAM)
    # The later process loses its start only if its tracer began before
    # it moved: one registered only after (a daemon too slow even for its
    # 2 s) records it whole, and the stream's end alone is no case here.
    for attempt in (1, 2, 3):
        trace = out / f"trace-{attempt}"
        db = out / f"run-{attempt}.db"
        with gstest.own_sessiond():
            # 8 sub-buffers of 2 MiB: the child's 1 to 2 MB/s fill some
            # (a stream ends early only after its first), and a consumer
            # niced on a loaded machine keeps up (1 MiB ones lost events).
            res = gstest.record([sys.executable, str(prog), CHILD, LATER,
                                 json.dumps(gstest.GDB_KILL_IN_EVENT)], trace,
                                extra=["--buffer-size", "16M"])
        gdb = next((line for line in res.stdout.splitlines() if line.startswith("GDB ")), "")
        gstest.check("memcpy" in gdb and "liblttng-ust" in gdb and "killed" in gdb,
                     f"gdb killed the child inside liblttng-ust's copy of an event ({gdb[:300]})")
        if "ended early" not in res.stderr and "no packet at all" in res.stderr:
            # Killed before the CPU's first sub-buffer was written (a
            # loaded machine): a stream with no packet, not this case.
            if attempt == 3:
                gstest.skip("in 3 recordings the writer was killed before its stream's first packet: "
                            "the case did not occur, not tested")
            print(f"attempt {attempt}: the stream has no packet at all: again", flush=True)
            continue
        gstest.check("ended early" in res.stderr,
                     f"the recorder says a stream ended early ({res.stderr.strip()})")
        wrong, procs, known = test_cpython_suite.check_recording(trace, db)
        con = sqlite3.connect(db)
        lost, gaps, late = con.execute("SELECT lost_events, order_gaps, late_events FROM runs").fetchone()
        rows = [losses.Loss(*r) for r in
                con.execute("SELECT stream, start_ns, end_ns FROM lost WHERE count = 0")]
        no_exit = con.execute("SELECT count(*) FROM processes WHERE exit_status IS NULL").fetchone()[0]
        con.close()
        ended = [r for r in rows if r.what.startswith("ust/")]
        others = [r for r in rows if not r.what.startswith("ust/")]
        starts = [r for r in others if losses.START.match(r.what) or losses.EARLY.match(r.what)]
        if starts or attempt == 3:
            break
        print(f"attempt {attempt}: the later process lost no start ({[r.what for r in rows]}, "
              f"{gaps} places missing, {known!r}): again", flush=True)
    if not starts:
        # A loaded machine's daemon (CI's, with tests beside it) may take
        # longer than the move each time: the case never happened.
        gstest.skip(f"in 3 recordings the later process registered only after it moved and lost "
                    f"no start ({[r.what for r in rows]}): the case did not occur, not tested")
    gstest.check(len(ended) == 1 and lost == 0,
                 f"a stream ended early, a later process lost its start, nothing counted lost "
                 f"({[r.what for r in rows]}, lost {lost})")
    gstest.check(not wrong and "KNOWN ISSUE" in known and "lost their start" in known,
                 f"the suite test's check accepts it: {known!r} (wrong: {wrong!r})")

    own = gstest.own_events(gstest.read_trace(trace), int(gstest.info(trace)["tag"]))
    end = ended[0].start_ns
    later = int((losses.START.match(starts[0].what) or losses.EARLY.match(starts[0].what)).group(1))
    first_later = min(e.ts for e in own.events if e.pid == later)
    exited = {e.pid for e in own.events if e.name == "process_exit"}
    releases = collections.Counter(e.pid for e in own.events if e.name == "release")
    killed = [p for p in releases if p != later and p not in exited]

    def verdict(tr: gstest.Trace = own, end_rows: list = ended, other_rows: list = others,
                g: int = gaps, counted: int = 0, killed_n: int = no_exit) -> losses.Verdict:
        return losses.attribute(tr, end_rows, other_rows, g, late, counted, killed_n)

    base = verdict()
    gstest.check(not base.wrong, f"the real recording as it is: accepted ({base.known})")
    # Losses the stream's end does not explain: each must fail.
    cases = {
        "no stream ended early": verdict(end_rows=[]),
        "the stream ended after the later process started": verdict(
            end_rows=[dataclasses.replace(ended[0], start_ns=first_later + 1)]),
        "events counted lost": verdict(counted=1),
        "another stream with no packet at all": verdict(end_rows=ended + [losses.Loss(
            ended[0].what[:-1] + "9", None, ended[0].end_ns)]),
        "no process killed": verdict(killed_n=0),
        "another kind of loss": verdict(other_rows=others + [losses.Loss(
            f"pid {later}: a later process with this pid (not analyzed)", end + 1, end + 1)]),
    }
    victim = max(killed, key=lambda p: releases[p], default=None)
    gstest.check(victim is not None, f"the killed child's events are in the trace ({killed})")
    early = min(e.ts for e in own.events if e.pid == victim)
    gstest.check(end - early > losses.SLACK_NS + 500_000_000,
                 f"the killed child's events begin {(end - early) / 1e9:.1f} s before the stream's end")
    tr, seq = take_out(own, victim, end - losses.SLACK_NS - 500_000_000, 5)
    cases[f"5 places taken out at seq {seq}, before the stream's end"] = verdict(tr=tr, g=gaps + 5)
    for what, v in cases.items():
        gstest.check(bool(v.wrong), f"{what}: not accepted ({'; '.join(v.wrong)[:300]})")
    # Places missing after the end are what it explains.
    tr, seq = take_out(own, later, end, 3)
    v = verdict(tr=tr, g=gaps + 3)
    gstest.check(not v.wrong and any("after the stream's end" in k for k in v.known),
                 f"3 places of the later process taken out after the end: accepted ({v.known}, {v.wrong})")
    if not os.environ.get("GILSCOPE_TEST_KEEP"):
        shutil.rmtree(out, ignore_errors=True)
    print("PASSED: losses that follow a stream's end accepted, no other")


if __name__ == "__main__":
    main()
