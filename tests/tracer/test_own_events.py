"""gstest.own_events, and the analyzer, on a pid that stands for several
processes in one recording.

A UST session records every process of its user, and pids wrap (pid_max
is 32768 here): one pid can be a process of this recording, then another
recording's, then this one's again. own_events must keep the first and the
third (their tagged events carry the recording's tag) and drop the second:
one life of a pid ends where a decisive event says another tag. The
analyzer keeps the first process of this recording at a pid (its rows
are one per pid): another recording's later process there is skipped,
and a later one of this recording is skipped and said lost (a lost row);
a process of this recording after another recording's at its pid is
kept (it was dropped, and a trace of it alone refused, before).

A real reuse, not a made-up trace: the recorded command is a shell in a
pid namespace of its own (unshare -p), which sets ns_last_pid before each
Python so that all get the same pid; one runs with another GILSCOPE_TAG,
and says it is traced to another recorder (GILSCOPE_TRACED), as another
recording's process would. In an LTTng environment of its own
(gstest.private_lttng), so that no other process with that pid (of
another namespace) is in the trace.
"""
import os
import shutil
import sqlite3
from pathlib import Path

import gstest

PID = 5000
OTHER_TAG = 12345

SHELL = f"""
set -e
life() {{
  echo {PID - 1} > /proc/sys/kernel/ns_last_pid
  GILSCOPE_TAG=$2 GILSCOPE_TRACED=$3 "$PY" -c "import os, threading; threading.current_thread().name = '$1'; print('$1', os.getpid())"
}}
"""


def record(out: Path, exe: Path, lives: list[tuple[str, bool]]) -> tuple[Path, int]:
    """Records the lives (name, ours) at pid PID; returns the trace and its tag."""
    script = out / "lives.sh"
    # Another recording's process says it is traced to its own recorder,
    # not to ours (GILSCOPE_TRACED: record.no_stream).
    script.write_text(SHELL + "".join(f'life {n} {"$GILSCOPE_TAG" if ours else OTHER_TAG} '
                                      f'"{"$GILSCOPE_TRACED" if ours else ""}"\n'
                                      for n, ours in lives))
    env = dict(os.environ, PY=str(exe))
    res = gstest.record(["unshare", "-p", "-f", "--mount-proc", "sh", str(script)], out / "trace", env=env)
    said = [line.split() for line in res.stdout.splitlines() if line.startswith("life-")]
    gstest.check(said == [[n, str(PID)] for n, _ in lives], f"the Pythons ran with pid {PID}: {said}")
    return out / "trace", int(gstest.info(out / "trace")["tag"])


def analyze(trace: Path) -> sqlite3.Connection:
    db = trace.parent / "run.db"
    return gstest.analyze(trace, db)


def main() -> None:
    gstest.private_lttng()
    if not shutil.which("unshare"):
        gstest.skip("unshare(1) is not installed")
    exe = gstest.find_python("debian")
    if exe is None:
        gstest.skip("/usr/bin/python3 is not installed")
    why = gstest.pid_choice(PID)
    if why:
        gstest.skip(why)
    top = gstest.tmpdir()

    # Ours, another recording's, ours again.
    (top / "aba").mkdir()
    path, tag = record(top / "aba", exe, [("life-a", True), ("life-b", False), ("life-c", True)])
    trace = gstest.read_trace(path)
    decisive = ("gil_found", "gil_known", "thread_name")
    lives: list[tuple[int, int, str]] = []  # (start, tag, name), from each life's decisive events
    for e in trace.events:
        if e.pid != PID or e.name not in decisive:
            continue
        if not lives or lives[-1][1] != e.fields.get("tag"):
            lives.append((e.rec_ts, e.fields.get("tag"), ""))
        if e.name == "thread_name" and e.fields.get("name", "").startswith("life-"):
            lives[-1] = lives[-1][:2] + (e.fields["name"],)
    gstest.check([(t, n) for _, t, n in lives] == [(tag, "life-a"), (OTHER_TAG, "life-b"), (tag, "life-c")],
                 f"pid {PID} has three lives in the trace, tagged ours, another, ours: "
                 f"{[(t, n) for _, t, n in lives]}")
    b_start, c_start = lives[1][0], lives[2][0]
    of_pid = [e for e in trace.events if e.pid == PID]
    # By when LTTng recorded them, as a reader of the streams sees them: a
    # GIL event's own time may precede its process's first decisive record
    # (a record written later than its event happened).
    want_a = [e for e in of_pid if e.rec_ts < b_start]
    want_c = [e for e in of_pid if e.rec_ts >= c_start]
    in_b = [e for e in of_pid if b_start <= e.rec_ts < c_start]
    gstest.check(want_a and want_c and in_b, f"events in each life: {len(want_a)}, {len(in_b)}, {len(want_c)}")

    kept = [e for e in gstest.own_events(trace, tag).events if e.pid == PID]
    names = sorted({e.fields.get("name") for e in kept if e.name == "thread_name"})
    gstest.check(names == ["MainThread", "life-a", "life-c"],
                 f"own_events keeps the names of the first and third lives only: {names}")
    gstest.check(kept == want_a + want_c,
                 f"own_events keeps exactly the {len(want_a)} + {len(want_c)} events of pid {PID}'s first "
                 f"and third lives and none of the {len(in_b)} of the second ({len(kept)} kept, "
                 f"{sum(1 for e in kept if b_start <= e.rec_ts < c_start)} of the second)")
    gstest.check_sequences(gstest.own_events(trace, tag))
    foreign = [e for e in gstest.own_events(trace, OTHER_TAG).events if e.pid == PID]
    gstest.check(foreign == in_b, f"own_events with the other tag keeps the second life alone "
                                  f"({len(foreign)} of its {len(in_b)} events)")

    con = analyze(path)
    got = sorted(n for (n,) in con.execute("SELECT name FROM threads WHERE pid = ? AND name LIKE 'life-%'", (PID,)))
    gils = con.execute("SELECT count(*) FROM gils WHERE pid = ?", (PID,)).fetchone()[0]
    events, skipped = con.execute("SELECT event_count, skipped_events FROM runs").fetchone()
    lost = [w for (w,) in con.execute("SELECT stream FROM lost")]
    gstest.check(got == ["life-a"] and gils == 1 and events == len(want_a),
                 f"the analyzer keeps the first life: threads {got}, {gils} GIL, {events} events "
                 f"(of its {len(want_a)})")
    gstest.check(skipped == len(trace.events) - len(want_a)
                 and lost == [f"pid {PID}: a later process with this pid (not analyzed)"],
                 f"the analyzer skips the second and third lives ({skipped} events skipped, all but the first "
                 f"life's of the {len(trace.events)}), and says the third lost: {lost}")
    con.close()

    # Another recording's, then ours: ours is kept.
    (top / "ba").mkdir()
    path, tag = record(top / "ba", exe, [("life-b", False), ("life-c", True)])
    trace = gstest.read_trace(path)
    c_start = min(e.rec_ts for e in trace.events if e.pid == PID and e.name == "gil_found"
                  and e.fields.get("tag") == tag)
    want_c = [e for e in trace.events if e.pid == PID and e.rec_ts >= c_start]
    kept = [e for e in gstest.own_events(trace, tag).events if e.pid == PID]
    gstest.check(kept == want_c, f"own_events keeps the second life alone ({len(kept)} of its {len(want_c)})")
    con = analyze(path)
    got = sorted(n for (n,) in con.execute("SELECT name FROM threads WHERE pid = ? AND name LIKE 'life-%'", (PID,)))
    events, lost = con.execute("SELECT event_count, (SELECT count(*) FROM lost) FROM runs").fetchone()
    gstest.check(got == ["life-c"] and events == len(want_c) and lost == 0,
                 f"the analyzer keeps the process of this recording after another's at its pid: threads {got}, "
                 f"{events} events (of its {len(want_c)}), {lost} lost rows")
    con.close()
    if not os.environ.get("GILSCOPE_TEST_KEEP"):
        shutil.rmtree(top, ignore_errors=True)
    print("PASSED: own_events")


if __name__ == "__main__":
    main()
