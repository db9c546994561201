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
after the end are accepted. The process that recorded nothing, moved
before the end, is accepted only when gilscope.info says it ended
during its registration wait (losses.waiting), not when another pid is."""
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
from typing import Optional

import gstest
import losses
import test_cpython_suite

CHILD = r"""
import os, time
print(time.monotonic_ns(), flush=True)   # registered: its events recorded from here
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
# Registered before its first GIL event: its start (gil_found) goes to
# the stream that stopped, and so would the times the tracer says it
# again (5 ms to 3 s after a session begins to record a process, at GIL
# events: preload.c's RESYNC_AGAINS), kept coming by short sleeps.
until = time.monotonic() + 4
while time.monotonic() < until:
    time.sleep(0.001)
burst()                                   # on the CPU whose stream stopped
os.sched_setaffinity(0, {int(sys.argv[1])})
burst()                                   # on the other one
"""

PROGRAM = r"""
import glob, json, os, select, struct, subprocess, sys, time
cpus = sorted(os.sched_getaffinity(0))
cpu, other = cpus[0], cpus[-1]
# Pinned by taskset from their first instruction: a preexec_fn would
# run in the fork child under its GIL, whose gil_found (the same pid
# and GIL address as the Python it then becomes) goes out wherever that
# child runs before it is pinned, and counts as the later process's
# start (seen: "lost no start" once in three recordings).
pin = ["taskset", "-c", str(cpu)]
# Both wait for their registration with the session daemon as long as it
# takes (it ends once their events are enabled and the session records
# them), however slow a niced daemon on a loaded machine is: past the
# default 3 s a process runs on unrecorded and is recorded from a point
# its program cannot see.
env = dict(os.environ, LTTNG_UST_REGISTER_TIMEOUT="-1")
child = subprocess.Popen(pin + [sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True,
                         env=env)
first = child.stdout.readline().strip() if select.select([child.stdout], [], [], 600)[0] else ""
print("CHILD", first or "nothing in 600 s")

def packet_ends():
    # The end of each packet the consumer wrote of this CPU's stream
    # (LTTng's index: big-endian entries, timestamp_end the 5th field,
    # CLOCK_MONOTONIC ns as LTTng-UST's default clock).
    ends = []
    for idx in glob.glob(os.path.join(sys.argv[4], "ust", "uid", "*", "*", "index", f"gilscope_{cpu}.idx")):
        with open(idx, "rb") as f:
            data = f.read()
        if len(data) < 16:
            continue
        size = struct.unpack(">I", data[12:16])[0]
        for at in range(16, len(data) - size + 1, size):
            ends.append(struct.unpack(">Q", data[at + 32:at + 40])[0])
    return ends

# Killed only once a packet of its CPU's stream ends 4 s after the child
# said it began (recorded since before its first GIL event): the stream
# has a packet (killed in its first sub-buffer it would have none,
# another case), and the child's events begin more than losses.SLACK_NS
# before the stream's end. A fixed sleep was not enough on a loaded
# machine, where the niced child may write less than a sub-buffer in it.
deadline = time.monotonic() + 300
ends = []
while first.isdigit() and time.monotonic() < deadline:
    ends = packet_ends()
    if ends and max(ends) > int(first) + 4_000_000_000:
        break
    time.sleep(0.2)
print("PACKETS", len(ends), (max(ends) - int(first)) / 1e9 if ends and first.isdigit() else None)
# gdb embeds a CPython (Debian's links libpython3.11): under the preload it
# is a traced process of its own, and one that ran on the stopped CPU
# alone left nothing, a second unrecorded process (seen once, session 22).
gdb_env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "GILSCOPE_TRACED")}
gdb = subprocess.run(["gdb", "-p", str(child.pid)] + json.loads(sys.argv[3]),
                     capture_output=True, text=True, timeout=120, env=gdb_env)
print("GDB", gdb.stdout.replace("\n", " | "))
child.wait()
time.sleep(0.5)
later = subprocess.run(pin + [sys.executable, "-c", sys.argv[2], str(other)], env=env)
print("LATER", later.returncode)
# One that runs on that CPU alone from its first instruction to its
# exit: every event of it goes to the stream that stopped, and the
# recording holds nothing of it (a traced process that recorded nothing,
# started after the end: gilscope.info's unrecorded_marks).
unseen = subprocess.run(pin + [sys.executable, "-c", "import threading; t = threading.Thread("
                               "target=sum, args=(range(1000),)); t.start(); t.join()"], env=env)
print("UNSEEN", unseen.returncode)
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
    if not shutil.which("taskset"):
        gstest.skip("taskset is not installed (util-linux): it starts the processes pinned to one CPU")
    gstest.private_lttng()
    out = gstest.tmpdir()
    prog = out / "killer.py"
    prog.write_text(PROGRAM)
    # The case needs, each in a loaded machine's time: the child's events
    # recorded for 4 s and a packet of its CPU's stream written before
    # gdb kills it (the program waits for both), and the later process
    # recorded before it moves (it waits for its registration). What did
    # not occur is said, and the recording made again, up to 3 times.
    missed: list[str] = []
    for attempt in (1, 2, 3):
        trace = out / f"trace-{attempt}"
        db = out / f"run-{attempt}.db"
        with gstest.own_sessiond():
            # 8 sub-buffers of 2 MiB: the child's 1 to 2 MB/s fill some
            # (a stream ends early only after its first), and a consumer
            # niced on a loaded machine keeps up (1 MiB ones lost events).
            res = gstest.record([sys.executable, str(prog), CHILD, LATER,
                                 json.dumps(gstest.GDB_KILL_IN_EVENT), str(trace)], trace,
                                extra=["--buffer-size", "16M"], timeout=900)
        said = {line.split(" ", 1)[0]: line.partition(" ")[2] for line in res.stdout.splitlines()
                if line.split(" ", 1)[0] in ("CHILD", "PACKETS", "GDB", "LATER", "UNSEEN")}
        print(f"attempt {attempt}: child registered at {said.get('CHILD')}, packets of its CPU "
              f"(count, last end after it began, s) {said.get('PACKETS')}, later process's exit "
              f"{said.get('LATER')}", flush=True)
        gdb = said.get("GDB", "")
        gstest.check("memcpy" in gdb and "liblttng-ust" in gdb and "killed" in gdb,
                     f"gdb killed the child inside liblttng-ust's copy of an event ({gdb[:300]})")
        gstest.check(said.get("CHILD", "").isdigit(),
                     f"the child registered and began its events ({said.get('CHILD')})")
        if "ended early" not in res.stderr and "no packet at all" in res.stderr:
            # Killed before the CPU's first sub-buffer was written: the
            # program waited 300 s for a packet ending 4 s after the
            # child began, in vain (a stream with no packet, not this case).
            missed.append(f"the writer was killed before its stream's first packet "
                          f"(packets: {said.get('PACKETS')})")
            print(f"attempt {attempt}: {missed[-1]}", flush=True)
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
        if starts:
            break
        missed.append(f"the later process lost no start "
                      f"({[r.what for r in rows]}, {gaps} places missing, {known!r})")
        print(f"attempt {attempt}: {missed[-1]}", flush=True)
    else:
        gstest.skip("the case did not occur in 3 recordings, not tested: " + "; ".join(
            f"{i + 1}: {m}" for i, m in enumerate(missed)))
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

    info = gstest.info(trace)
    unrecorded = losses.unrecorded(info)

    def verdict(tr: gstest.Trace = own, end_rows: list = ended, other_rows: list = others,
                g: int = gaps, counted: int = 0, killed_n: int = no_exit, anomalies: int = 0,
                first_anomaly: Optional[int] = None,
                unrec: Optional[dict[int, int]] = None,
                wait: Optional[set[int]] = None) -> losses.Verdict:
        return losses.attribute(tr, end_rows, other_rows, g, late, counted, killed_n, anomalies,
                                first_anomaly, unrecorded if unrec is None else unrec,
                                losses.waiting(info) if wait is None else wait)

    base = verdict()
    gstest.check(not base.wrong, f"the real recording as it is: accepted ({base.known})")
    # The process that ran on the stopped CPU alone recorded nothing, and
    # the recorder says when it started: after the end, accepted.
    gstest.check(any(losses.UNRECORDED.match(r.what) for r in others) and len(unrecorded) == 1
                 and min(unrecorded.values()) + own.clock_offset_ns > end
                 and any("recorded nothing" in k for k in base.known),
                 f"the process that ran on the stopped CPU alone recorded nothing and started after "
                 f"the end: accepted ({[r.what for r in others]}, {unrecorded}, {base.known})")
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
    # Anomalies: accepted when the first came after the end (less the
    # slack places have), else not; none explained without a stream end.
    cases["an anomaly before the stream's end"] = verdict(
        anomalies=3, first_anomaly=end - losses.SLACK_NS - 1)
    cases["anomalies, no stream ended early"] = verdict(end_rows=[], anomalies=3,
                                                          first_anomaly=end + 1)
    cases["anomalies with no time"] = verdict(anomalies=3)
    # A process that recorded nothing having started before the end, or
    # one with no start time (a recorder without unrecorded_marks).
    unseen_pid = next(iter(unrecorded), 0)
    cases["a process that recorded nothing started before the end"] = verdict(
        unrec={unseen_pid: end - losses.SLACK_NS - 1 - own.clock_offset_ns})
    cases["a process that recorded nothing, with no start time"] = verdict(unrec={})
    # The same one said to have ended during its registration wait
    # (gilscope.info's unrecorded_registration "waiting"): killed before
    # its program ran, accepted wherever it started; once its wait was
    # over, not (above).
    gstest.check(not losses.waiting(info),
                 f"the process that ran on the stopped CPU alone ended after its wait ({info})")
    early_start = {unseen_pid: end - losses.SLACK_NS - 1 - own.clock_offset_ns}
    v = verdict(unrec=early_start, wait={unseen_pid})
    gstest.check(not v.wrong and any("registration wait" in k for k in v.known),
                 f"a process that recorded nothing, started before the end, killed during its "
                 f"registration wait: accepted ({v.known}, {v.wrong})")
    cases["a process that recorded nothing started before the end, another pid said waiting"] = verdict(
        unrec=early_start, wait={unseen_pid + 1})
    victim = max(killed, key=lambda p: releases[p], default=None)
    gstest.check(victim is not None, f"the killed child's events are in the trace ({killed})")
    early = min(e.ts for e in own.events if e.pid == victim)
    gstest.check(end - early > losses.SLACK_NS + 500_000_000,
                 f"the killed child's events begin {(end - early) / 1e9:.1f} s before the stream's end")
    tr, seq = take_out(own, victim, end - losses.SLACK_NS - 500_000_000, 5)
    cases[f"5 places taken out at seq {seq}, before the stream's end"] = verdict(tr=tr, g=gaps + 5)
    # A GIL found after the end by a process that was there before it
    # (a subinterpreter's, made after the end): the later process's real
    # events told as the killed child's, at a GIL address of their own,
    # whose start is lost. Accepted; not once one of its events is before
    # the end.
    gil = 0x5eed0000
    as_victim = dataclasses.replace(own, events=[
        dataclasses.replace(e, pid=victim, fields=dict(e.fields, gil=gil) if "gil" in e.fields else e.fields)
        if e.pid == later else e for e in own.events])
    gil_rows = [r for r in others if not ((losses.START.match(r.what) or losses.EARLY.match(r.what))
                                          and int(r.what.split()[1].rstrip(":")) == later)]
    gil_rows.append(losses.Loss(f"pid {victim}: start of GIL 0x{gil:x}", None, first_later))
    v = verdict(tr=as_victim, other_rows=gil_rows)
    gstest.check(not v.wrong and any("GIL found after the stream's end" in k for k in v.known),
                 f"the lost start of a GIL first seen after the end, of a process there before it: "
                 f"accepted ({v.known}, {v.wrong})")
    moved = [dataclasses.replace(e, ts=end - 1) if e.pid == victim and e.fields.get("gil") == gil
             and e.ts == first_later else e for e in as_victim.events]
    cases["the lost start of a GIL with an event before the end"] = verdict(
        tr=dataclasses.replace(as_victim, events=moved), other_rows=gil_rows)
    for what, v in cases.items():
        gstest.check(bool(v.wrong), f"{what}: not accepted ({'; '.join(v.wrong)[:300]})")
    # Places missing after the end are what it explains.
    tr, seq = take_out(own, later, end, 3)
    v = verdict(tr=tr, g=gaps + 3)
    gstest.check(not v.wrong and any("after the stream's end" in k for k in v.known),
                 f"3 places of the later process taken out after the end: accepted ({v.known}, {v.wrong})")
    # Anomalies whose first came after the end: what the model counts
    # after a lost event there.
    v = verdict(anomalies=3, first_anomaly=end + 1)
    gstest.check(not v.wrong and any("anomalies after the stream's end" in k for k in v.known),
                 f"3 anomalies, the first after the end: accepted ({v.known}, {v.wrong})")
    if not os.environ.get("GILSCOPE_TEST_KEEP"):
        shutil.rmtree(out, ignore_errors=True)
    print("PASSED: losses that follow a stream's end accepted, no other")


if __name__ == "__main__":
    main()
