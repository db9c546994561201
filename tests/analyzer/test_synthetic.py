"""The state machine on synthetic traces with exact timestamps: each case
is a short event sequence (written as CTF by synth.py) and the exact rows
it must give, including the cases a real trace only shows by chance:
lost events, anomalies, abandoned requests, retired and re-found GILs,
two processes with the same GIL address, convoys, unanswered drop
requests."""

import dbcheck
from dbcheck import check, fail, rows
from synth import Ev, Loss, write_trace

G = 0x7F00AA000010
MS = 1_000_000


def ev(ts, name, actor, pid=100, **fields):
    fields.setdefault("gil", G)
    return Ev(ts, name, pid, actor, fields)


def named(ts, actor, tid, name, pid=100):
    return Ev(ts, "thread_name", pid, actor, {"tid": tid, "name": name})


def found(ts, tid=100, pid=100, gil=G, interval=5000, rule=1, version="3.12.1 (main, Jan 1)"):
    return Ev(ts, "gil_found", pid, tid, {"gil": gil, "interval_us": interval, "rule": rule,
                                          "version": version})


def expect(db, sql, want, what):
    got = [tuple(r) for r in rows(db, sql)]
    if got != want:
        fail(f"{what}:\n  {sql}\n  got  {got}\n  want {want}")
    check(True, what)


def run(tmp, name, evs, losses=()):
    trace = write_trace(tmp / name, evs, losses)
    db = tmp / f"{name}.db"
    dbcheck.analyze(trace, db)
    dbcheck.check_db(db, trace)
    return db


def case_handoff_with_drop(tmp):
    db = run(tmp, "drop", [
        found(1000),
        ev(1000, "acquire", 100),
        named(1500, 101, 101, "worker"),
        ev(2000, "request", 101),
        ev(7000, "wait_timeout", 101),
        ev(7000, "drop_request", 101, holder=100, interval_us=5000),
        ev(7010, "release", 100, forced=1),
        ev(7011, "forced_switch_begin", 100),
        ev(7020, "acquire", 101),
        ev(7025, "forced_switch_end", 100),
        ev(7030, "request", 100),
        ev(12000, "release", 101, forced=0),
        ev(12005, "acquire", 100),
    ])
    expect(db, "SELECT tid, start_ns, end_ns, dur_ns, ended, crosses_loss FROM holds ORDER BY start_ns",
           [(100, 1000, 7010, 6010, "forced", 0), (101, 7020, 12000, 4980, "voluntary", 0),
            (100, 12005, 12005, 0, "trace_end", 0)], "drop: holds")
    expect(db, "SELECT tid, start_ns, end_ns, dur_ns, timeouts, outcome, convoy FROM waits ORDER BY start_ns",
           [(101, 2000, 7020, 5020, 1, "acquired", 0), (100, 7030, 12005, 4975, 0, "acquired", 0)],
           "drop: waits")
    expect(db, "SELECT release_ns, from_tid, acquire_ns, to_tid, gap_ns, forced FROM switches ORDER BY release_ns",
           [(7010, 100, 7020, 101, 10, 1), (12000, 101, 12005, 100, 5, 0)],
           "drop: switches, gap from max(release, request)")
    expect(db, "SELECT ts_ns, requester, holder, interval_us, released_ns, response_ns FROM drop_requests",
           [(7000, 101, 100, 5000, 7010, 10)], "drop: the drop request and its response")
    expect(db, "SELECT tid, start_ns, end_ns, dur_ns FROM forced_switches", [(100, 7011, 7025, 14)],
           "drop: forced switch")
    expect(db, "SELECT tid, ts_ns FROM timeouts", [(101, 7000)], "drop: timeouts")
    expect(db, "SELECT tid, name, holds, waits, timeouts, drop_requests_issued, drop_requests_received, "
           "forced_releases FROM threads ORDER BY tid",
           [(100, None, 2, 1, 0, 0, 1, 1), (101, "worker", 1, 1, 1, 1, 0, 0)], "drop: threads")
    expect(db, "SELECT switches, handoff_ns, drop_requests, forced_releases, hold_max_ns, "
           "drop_response_p50_ns, contended_ns FROM metrics WHERE gil_id IS NULL",
           [(2, 15, 1, 1, 6010, 10, (7020 - 2000) + (12005 - 7030))], "drop: run metrics")
    expect(db, "SELECT rule, interval_us, python_version FROM gils",
           [("layout", 5000, "3.12.1 (main, Jan 1)")], "drop: the GIL")
    expect(db, "SELECT python_versions, interval_us, anomalies FROM runs", [("3.12.1", 5000, 0)],
           "drop: the run")


def case_loss(tmp):
    db = run(tmp, "loss", [
        found(1000),
        ev(1001, "acquire", 100),
        ev(2000, "request", 101),
        ev(3000, "release", 100, forced=0),
        ev(3500, "acquire", 101),
        ev(9000, "release", 101, forced=0),
    ], [Loss(3, 7, 2500, 2900)])
    expect(db, "SELECT tid, start_ns, end_ns, ended, crosses_loss FROM holds ORDER BY start_ns",
           [(100, 1001, 3000, "voluntary", 1), (101, 3500, 9000, "voluntary", 0)],
           "loss: a hold across the loss is marked, the next one is not")
    expect(db, "SELECT tid, start_ns, end_ns, crosses_loss FROM waits", [(101, 2000, 3500, 1)],
           "loss: the wait across the loss is marked")
    expect(db, "SELECT stream, start_ns, end_ns, count FROM lost", [("stream", 2500, 2900, 7)], "loss: lost row")
    expect(db, "SELECT lost_events FROM runs", [(7,)], "loss: runs.lost_events")
    expect(db, "SELECT kind FROM findings", [("lost_events",)], "loss: a finding says so")


def case_anomalies(tmp):
    # After a loss the state can be anything: never invent an interval.
    db = run(tmp, "anomalies", [
        found(1000),
        ev(1000, "acquire", 100),
        ev(2000, "acquire", 101),          # 100's release was lost: its hold is dropped
        ev(3000, "release", 101, forced=0),
        ev(4000, "release", 102, forced=0),  # 102 never acquired: no hold
        ev(5000, "request", 103),
        ev(6000, "request", 103),          # a second request: the first wait is dropped
        ev(6500, "request_abandoned", 103),
        ev(7000, "forced_switch_end", 104),  # no begin: nothing
        ev(8000, "wait_timeout", 105),     # no wait: still a timeouts row
    ])
    expect(db, "SELECT tid, start_ns, end_ns, ended FROM holds", [(101, 2000, 3000, "voluntary")],
           "anomalies: only the hold whose both ends were seen")
    expect(db, "SELECT tid, start_ns, end_ns, outcome FROM waits", [(103, 6000, 6500, "abandoned")],
           "anomalies: only the wait whose both ends were seen")
    expect(db, "SELECT count(*) FROM forced_switches", [(0,)], "anomalies: no forced switch made up")
    expect(db, "SELECT count(*) FROM timeouts", [(1,)], "anomalies: the timeout event is kept")
    expect(db, "SELECT anomalies FROM runs", [(5,)], "anomalies: counted")
    expect(db, "SELECT release_ns, from_tid, acquire_ns, to_tid FROM switches", [],
           "anomalies: no switch from an unseen release")


def case_retire_and_fork(tmp):
    other = 0x7F00BB000020
    db = run(tmp, "retire", [
        found(1000),
        ev(1000, "acquire", 100),
        ev(2000, "request", 101),
        ev(3000, "gil_retired", 100),        # open hold and wait end here
        ev(3100, "acquire", 100),            # the address again, no gil_found: a new GIL
        ev(3200, "release", 100, forced=0),
        found(3300, gil=other, interval=2000, version="3.12.1"),
        ev(3300, "acquire", 100, gil=other),
        ev(3400, "release", 100, forced=0, gil=other),
        found(5000, tid=200, pid=200),       # a fork child: same address, other pid
        ev(5000, "acquire", 200, pid=200),
        ev(5500, "release", 200, pid=200, forced=0),
        named(6000, 200, 200, "MainThread", pid=200),
    ])
    expect(db, "SELECT gil_id, pid, address, rule, interval_us, found_ns, retired_ns FROM gils ORDER BY gil_id",
           [(1, 100, hex(G), "layout", 5000, 1000, 3000), (2, 100, hex(G), "unknown", None, 3100, None),
            (3, 100, hex(other), "layout", 2000, 3300, None), (4, 200, hex(G), "layout", 5000, 5000, None)],
           "retire: four GILs, the re-used address without gil_found is 'unknown'")
    expect(db, "SELECT gil_id, tid, start_ns, end_ns, ended FROM holds ORDER BY gil_id, start_ns",
           [(1, 100, 1000, 3000, "trace_end"), (2, 100, 3100, 3200, "voluntary"),
            (3, 100, 3300, 3400, "voluntary"), (4, 200, 5000, 5500, "voluntary")],
           "retire: the open hold ends at the retirement")
    expect(db, "SELECT gil_id, tid, start_ns, end_ns, outcome FROM waits", [(1, 101, 2000, 3000, "trace_end")],
           "retire: the open wait ends at the retirement")
    expect(db, "SELECT pid, first_ns, last_ns FROM processes ORDER BY pid", [(100, 1000, 3400), (200, 5000, 6000)],
           "retire: processes")
    expect(db, "SELECT pid, tid, name FROM threads ORDER BY pid, tid",
           [(100, 100, None), (100, 101, None), (200, 200, "MainThread")], "retire: threads per process")
    expect(db, "SELECT count(*), sum(gil_id IS NULL) FROM metrics", [(5, 1)], "retire: a metrics row per GIL + run")


def case_convoy_and_trace_end(tmp):
    db = run(tmp, "convoy", [
        found(0),
        ev(0, "acquire", 100),
        ev(1 * MS, "release", 100, forced=0),    # 100 blocks on I/O
        ev(1 * MS + 10, "request", 101),
        ev(1 * MS + 20, "acquire", 101),         # 101 runs (CPU)
        ev(2 * MS, "request", 100),              # 100 back from I/O: waits
        ev(7 * MS, "wait_timeout", 100),
        ev(7 * MS, "drop_request", 100, holder=101, interval_us=5000),
        ev(7 * MS + 100, "release", 101, forced=1),
        ev(7 * MS + 200, "acquire", 100),        # waited 5 ms + 200 ns: a convoy
        ev(7 * MS + 300, "request", 101),
        ev(8 * MS, "drop_request", 101, holder=999, interval_us=5000),  # never answered
        ev(9 * MS, "request", 102),              # still waiting at the end
    ])
    expect(db, "SELECT tid, start_ns, end_ns, outcome, convoy FROM waits ORDER BY start_ns",
           [(101, MS + 10, MS + 20, "acquired", 0), (100, 2 * MS, 7 * MS + 200, "acquired", 1),
            (101, 7 * MS + 300, 9 * MS, "trace_end", 0), (102, 9 * MS, 9 * MS, "trace_end", 0)],
           "convoy: the wait after I/O is a convoy; open waits end with the process")
    expect(db, "SELECT tid, convoys FROM threads WHERE convoys > 0", [(100, 1)], "convoy: counted per thread")
    expect(db, "SELECT kind, tid, value FROM findings WHERE kind = 'convoy'", [("convoy", 100, 1.0)],
           "convoy: a finding")
    expect(db, "SELECT ts_ns, holder, released_ns, response_ns FROM drop_requests ORDER BY ts_ns",
           [(7 * MS, 101, 7 * MS + 100, 100), (8 * MS, 999, None, None)],
           "convoy: an unanswered drop request has no response")
    expect(db, "SELECT tid, end_ns, ended FROM holds WHERE ended = 'trace_end'", [(100, 9 * MS, "trace_end")],
           "convoy: the open hold ends with the process's last event")


def case_other_recordings(tmp):
    # A UST session sees every traced process of the user: keep those
    # whose first gil_found/thread_name carries gilscope.info's tag.
    evs = [
        Ev(1000, "request", 300, 300, {"gil": G}),          # started before us: no gil_found
        Ev(1100, "gil_found", 100, 100, {"gil": G, "interval_us": 5000, "rule": 1, "version": "3.12",
                                        "tag": 7}),
        Ev(1100, "acquire", 100, 100, {"gil": G}),
        Ev(1200, "gil_found", 200, 200, {"gil": G, "interval_us": 5000, "rule": 1, "version": "3.12",
                                        "tag": 9}),         # another recording's
        Ev(1200, "acquire", 200, 200, {"gil": G}),
        Ev(1300, "acquire", 300, 300, {"gil": G}),
        Ev(1400, "thread_name", 400, 400, {"tid": 400, "name": "MainThread", "tag": 7}),
        Ev(1400, "gil_found", 400, 400, {"gil": G, "interval_us": 5000, "rule": 1, "version": "3.12",
                                        "tag": 7}),
        Ev(1450, "acquire", 400, 400, {"gil": G}),
        Ev(1500, "release", 100, 100, {"gil": G, "forced": 0}),
        Ev(1600, "release", 200, 200, {"gil": G, "forced": 0}),
        Ev(1700, "release", 400, 400, {"gil": G, "forced": 0}),
    ]
    # As `gilscope record` lays it out: gilscope.info beside ust/.
    trace = tmp / "tagged"
    write_trace(trace / "ust" / "uid" / "0" / "64-bit", evs)
    (trace / "gilscope.info").write_text("gilscope_version=0.1.0\ntag=7\ncommand=python3 -c 'x\\ny'\n"
                                         "exit_status=3\n")
    db = tmp / "tagged.db"
    dbcheck.analyze(trace, db)
    dbcheck.check_db(db, trace)
    expect(db, "SELECT pid, first_ns FROM processes ORDER BY pid", [(100, 1100), (400, 1400)],
           "tag: only the processes of this recording")
    expect(db, "SELECT event_count, skipped_events, start_ns, end_ns, command, exit_status FROM runs",
           [(7, 5, 1100, 1700, "python3 -c 'x\ny'", 3)],
           "tag: skipped events counted apart; command unescaped from gilscope.info")
    expect(db, "SELECT gil_id, tid, start_ns, end_ns FROM holds h JOIN gils g USING (gil_id) ORDER BY start_ns",
           [(1, 100, 1100, 1500), (2, 400, 1450, 1700)], "tag: holds of kept processes only")
    # All of them another recording's: say so.
    only = tmp / "foreign"
    write_trace(only / "ust", evs[3:5])
    (only / "gilscope.info").write_text("tag=7\n")
    res = dbcheck.analyze(only, tmp / "foreign.db", expect_ok=False)
    check(res.returncode == 1 and "no process carries this recording's tag 7" in res.stderr
          and "tagged 9" in res.stderr and "damaged gilscope.info" in res.stderr
          and res.stderr.count("\n") == 1,
          f"tag: a trace of other recordings only (or a damaged tag): {res.stderr.strip()!r}")


def case_late_starts(tmp):
    # Issue 12: a fork child whose events were enabled only after it found
    # its GIL says gil_known (a resync); a GIL with neither gil_found nor
    # gil_known lost its start. Neither is an anomaly; both are shown.
    def known(ts, pid, tid, event):
        return Ev(ts, event, pid, tid, {"gil": G, "interval_us": 5000, "rule": 1, "version": "3.13",
                                        "tag": 7})
    evs = [
        known(1000, 100, 100, "gil_found"),
        Ev(1000, "acquire", 100, 100, {"gil": G}),
        Ev(1500, "release", 100, 100, {"gil": G, "forced": 0}),
        Ev(1900, "release", 500, 501, {"gil": G, "forced": 0}),  # before it is recognised
        Ev(2000, "resync", 500, 500, {"ngils": 1, "tag": 7}),
        known(2000, 500, 500, "gil_known"),
        Ev(2100, "release", 500, 500, {"gil": G, "forced": 0}),  # held since before: clipped
        Ev(2200, "request", 500, 501, {"gil": G}),
        Ev(2300, "acquire", 500, 501, {"gil": G}),
        Ev(2400, "release", 500, 501, {"gil": G, "forced": 0}),
        Ev(3000, "thread_name", 600, 600, {"tid": 600, "name": "MainThread", "tag": 7}),
        Ev(3100, "release", 600, 600, {"gil": G, "forced": 0}),  # no gil_found, no gil_known
        Ev(3150, "request", 600, 601, {"gil": G}),
        Ev(3200, "acquire", 600, 601, {"gil": G}),
        Ev(3300, "release", 600, 601, {"gil": G, "forced": 0}),
    ]
    trace = tmp / "late"
    write_trace(trace / "ust", evs)
    (trace / "gilscope.info").write_text("tag=7\n")
    db = tmp / "late.db"
    dbcheck.analyze(trace, db)
    dbcheck.check_db(db, trace)
    expect(db, "SELECT tid, start_ns, end_ns, started FROM holds ORDER BY start_ns",
           [(100, 1000, 1500, "acquired"), (500, 2000, 2100, "trace_start"),
            (501, 2300, 2400, "acquired"), (601, 3200, 3300, "acquired")],
           "late starts: a resynced child's open hold clipped to its first event kept, "
           "none made up for a GIL whose start is missing")
    expect(db, "SELECT anomalies, lost_events, skipped_events FROM runs", [(0, 0, 2)],
           "late starts: no anomaly; losses of unknown count; the early event and the "
           "resync before gil_known skipped")
    expect(db, "SELECT stream, start_ns, end_ns, count FROM lost ORDER BY end_ns",
           [("pid 500: 1 events before it was recognised", 1900, 2000, 0),
            (f"pid 600: start of GIL {G:#x}", None, 3100, 0)],
           "late starts: each loss of a start named in lost")
    expect(db, "SELECT count(*) FROM findings WHERE kind = 'lost_events' AND message LIKE "
           "'%2 starts of a GIL or a process not recorded%'", [(1,)],
           "late starts: the lost_events finding says so")


def case_process_exit(tmp):
    db = run(tmp, "exit", [
        found(1000),
        ev(1000, "acquire", 100),
        ev(1100, "request", 101),
        Ev(2000, "process_exit", 100, 100, {"status": -1}),  # exit(): both end here
        ev(2100, "release", 101, forced=0),                 # after the exit: ignored
        Ev(2200, "process_exit", 100, 101, {"status": 3}),  # its _exit: the status
        Ev(2300, "mystery", 100, 100, {"x": 1}),             # a newer tracer's event
        found(3000, tid=200, pid=200),
        ev(3000, "acquire", 200, pid=200),
        Ev(3500, "process_exit", 200, 200, {"status": 0}),
        ev(3600, "acquire", 200, pid=200),                  # no new GIL for stragglers
    ])
    expect(db, "SELECT gil_id, tid, start_ns, end_ns, ended FROM holds ORDER BY start_ns",
           [(1, 100, 1000, 2000, "trace_end"), (2, 200, 3000, 3500, "trace_end")],
           "exit: an open hold ends at process_exit")
    expect(db, "SELECT tid, start_ns, end_ns, outcome FROM waits", [(101, 1100, 2000, "trace_end")],
           "exit: an open wait ends at process_exit")
    expect(db, "SELECT pid, exit_status FROM processes ORDER BY pid", [(100, 3), (200, 0)],
           "exit: the exit status, _exit's over exit()'s -1")
    expect(db, "SELECT count(*) FROM gils", [(2,)], "exit: events after the exit make no GIL")
    expect(db, "SELECT event_count, anomalies FROM runs", [(11, 0)],
           "exit: every gilscope event counted, unknown ones too")


def case_findings(tmp):
    """Two CPU-bound threads passing the GIL by drop requests, one answered
    after 2 ms: every finding the analyzer composes, in its order, with
    its structured fields."""
    evs = [found(1000), ev(1000, "acquire", 100), ev(1100, "request", 101)]
    t, holder, other = 1000, 100, 101
    slow_at = None
    for k in range(22):
        drop = t + 5 * MS
        resp = 2 * MS if k == 3 else 10
        if k == 3:
            slow_at, slow_holder = drop, holder
        evs += [ev(drop, "drop_request", other, holder=holder, interval_us=5000),
                ev(drop + resp, "release", holder, forced=1),
                ev(drop + resp + 10, "acquire", other),
                ev(drop + resp + 20, "request", holder)]
        t = drop + resp + 10
        holder, other = other, holder
    db = run(tmp, "findings", evs)
    wait_pct = rows(db, "SELECT wait_pct FROM metrics WHERE gil_id IS NULL")[0][0]
    check(wait_pct > 90, f"findings: both threads wait nearly all the time ({wait_pct:.1f}%)")
    expect(db, "SELECT kind, title, gil_id IS NULL, tid FROM findings ORDER BY rowid",
           [("waiting", "time waiting", 1, None), ("contention", "contention", 0, None),
            ("slow_drop_response", "slow drop response", 0, slow_holder),
            ("cpu_bound", "CPU-bound threads", 1, 100), ("cpu_bound", "CPU-bound threads", 1, 101)],
           "findings: the advice to use processes first, then the GIL's, then the threads'")
    expect(db, "SELECT value, detail, at_ns, dur_ns FROM findings WHERE kind = 'waiting'",
           [(wait_pct, None, None, None)], "findings: 'waiting' carries the run's wait_pct")
    check(rows(db, "SELECT message FROM findings WHERE kind = 'waiting'")[0][0].startswith(
        f"Threads spent {wait_pct:.0f}% of the time waiting for the GIL"), "findings: 'waiting' says it")
    expect(db, "SELECT value, detail, at_ns, dur_ns FROM findings WHERE kind = 'slow_drop_response'",
           [(1.0, f"The slowest: thread {slow_holder} kept the GIL 2.00 ms after the drop request at "
             f"+{(slow_at - 1000) / 1e6:.2f} ms.", slow_at, 2 * MS)],
           "findings: the slow drop response names the slowest request, when and how long")
    expect(db, "SELECT tid, value FROM findings WHERE kind = 'cpu_bound' ORDER BY tid", [(100, 11.0), (101, 11.0)],
           "findings: CPU-bound threads count their forced releases")


def main():
    dbcheck.run_cases(case_process_exit, case_late_starts, case_other_recordings, case_handoff_with_drop, case_loss,
                      case_anomalies, case_retire_and_fork, case_convoy_and_trace_end,
                      case_findings)


if __name__ == "__main__":
    main()
