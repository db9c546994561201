"""Events written after the GIL's mutex is let go (issue 11): the analyzer
orders each GIL's events by their seq, never by record time, takes times
from the carried ts, and checks its hand-offs against CPython's own
switch_number. Synthetic traces (synth.py) give the exact record order a
real trace only shows by chance: an acquire recorded before the release
that made it possible, and a lost acquire the self-check must catch."""

import sqlite3
import dbcheck
from dbcheck import check, fail, one, rows
from synth import NO_REQ, Ev, write_trace

G = 0x7F00AA000010


def found(rec, tid=100, pid=100):
    return Ev(rec, "gil_found", pid, tid, {"gil": G, "interval_us": 5000, "rule": 1,
                                           "version": "3.11.2 (main)"})


def sev(rec, name, actor, seq, ts, pid=100, **fields):
    """An event recorded at `rec` that happened at `ts`, place `seq`."""
    return Ev(rec, name, pid, actor, {"gil": G, "seq": seq, "ts": ts, **fields})


def expect(db, sql, want, what):
    got = [tuple(r) for r in rows(db, sql)]
    if got != want:
        fail(f"{what}:\n  {sql}\n  got  {got}\n  want {want}")
    check(True, what)


# Thread 100 holds; 101 asks, times out, asks 100 to drop; 100's forced
# release (seq 4) is recorded after 101's acquire (seq 5): 100 let go of
# the mutex, was descheduled, and wrote its record late.
HANDOFF = [
    found(1000),
    sev(1001, "acquire", 100, 0, 1000, switch_number=1),
    sev(2000, "request", 101, 1, 2000),
    sev(7001, "wait_timeout", 101, 2, 7000),
    sev(7002, "drop_request", 101, 3, 7000, holder=100, interval_us=5000),
    sev(7030, "acquire", 101, 5, 7020, switch_number=2),
    sev(7040, "release", 100, 4, 7010, forced=1),
    sev(7060, "request", 100, 6, 7050),
    sev(12000, "release", 101, 7, 12000, forced=0),
    sev(12006, "acquire", 100, 8, 12005, switch_number=3),
]


def run(tmp, name, evs):
    trace = write_trace(tmp / name, evs)
    db = tmp / f"{name}.db"
    dbcheck.analyze(trace, db)
    return db


def case_reordered(tmp):
    db = run(tmp, "reordered", HANDOFF)
    expect(db, "SELECT tid, start_ns, end_ns, dur_ns, ended FROM holds ORDER BY start_ns",
           [(100, 1000, 7010, 6010, "forced"), (101, 7020, 12000, 4980, "voluntary"),
            (100, 12005, 12005, 0, "trace_end")], "reordered: holds from the carried ts, in seq order")
    expect(db, "SELECT release_ns, from_tid, acquire_ns, to_tid, gap_ns, forced FROM switches "
           "ORDER BY release_ns", [(7010, 100, 7020, 101, 10, 1), (12000, 101, 12005, 100, 5, 0)],
           "reordered: both hand-offs")
    expect(db, "SELECT ts_ns, requester, holder, released_ns, response_ns FROM drop_requests",
           [(7000, 101, 100, 7010, 10)], "reordered: the drop request answered by the late release")
    expect(db, "SELECT anomalies, reordered_events, order_gaps, late_events, handoffs_checked, "
           "handoff_mismatches FROM runs", [(0, 1, 0, 0, 2, 0)],
           "reordered: no anomaly; one event put back; 2 hand-offs checked, no mismatch")
    expect(db, "SELECT first_anomaly_ns FROM runs", [(None,)], "reordered: no first anomaly's time")
    expect(db, "SELECT handoffs_checked, handoff_mismatches FROM gils", [(2, 0)],
           "reordered: the check per GIL")
    out = dbcheck.summary(db)
    check("hand-offs checked against CPython's own counter: 2, mismatches 0" in out,
          "summary says the check in one line")


def case_missing_acquire(tmp):
    """101's acquire is lost: CPython counted two switches between 100's
    acquires, the trace shows one."""
    evs = [e for e in HANDOFF if not (e.name == "acquire" and e.tid == 101)]
    db = run(tmp, "missing", evs)
    expect(db, "SELECT handoffs_checked, handoff_mismatches, order_gaps FROM runs", [(2, 1, 1)],
           "missing acquire: the self-check fails (1 mismatch) and the gap is counted")
    expect(db, "SELECT handoffs_checked, handoff_mismatches FROM gils", [(2, 1)],
           "missing acquire: per GIL too")
    check(one(db, "SELECT anomalies FROM runs") > 0, "missing acquire: anomalies counted")
    # The first one is 101's release (12000), with no acquire before it:
    # its time says the loss came before it.
    expect(db, "SELECT first_anomaly_ns FROM runs", [(12000,)],
           "missing acquire: the first anomaly's time (101's release)")
    out = dbcheck.summary(db)
    check("mismatches 1" in out and "1 gaps in a GIL's order" in out,
          "summary shows the mismatch and the gap")
    # LTTng said nothing was lost: the gap is a loss all the same.
    expect(db, "SELECT stream, start_ns, end_ns, count FROM lost",
           [("1 place in a GIL's order never seen", None, None, 0)],
           "missing acquire: a loss of unknown size for the gap")
    check("lost    unknown (see findings)" in out, "summary: lost unknown, never 0 beside a gap")
    msg = one(db, "SELECT message FROM findings WHERE kind = 'lost_events'") or ""
    check("place in a GIL's order never seen, though LTTng reported no loss" in msg,
          f"the finding says why ({msg!r})")
    # A database of an older analyzer has the gap and no lost row.
    con = sqlite3.connect(str(db))
    con.execute("DELETE FROM lost")
    con.commit()
    con.close()
    check("lost    unknown (see order)" in dbcheck.summary(db),
          "an older database with gaps: the summary says lost unknown too")


def case_old_tracer(tmp):
    """A trace of the previous tracer (no seq): read in record order, as
    before, and said to be unchecked."""
    old = [Ev(e.ts, e.name, e.pid, e.tid,
              {k: v for k, v in e.fields.items() if k not in ("seq", "ts", "switch_number")})
           for e in HANDOFF if not (e.name == "acquire" and e.tid == 101)]
    old.insert(6, Ev(7045, "acquire", 100, 101, {"gil": G}))  # in order, as it was written then
    db = run(tmp, "old", old)
    expect(db, "SELECT anomalies, handoffs_checked, handoff_mismatches FROM runs", [(0, None, None)],
           "old tracer: analyzed in record order, no check")
    check("hand-offs not checked" in dbcheck.summary(db), "old tracer: summary says it is not checked")


def case_packed(tmp):
    """The current tracer packs the seq events' integers into `state` and
    `site` arrays (docs/events.md): the same events packed and one field
    each (earlier tracers) give the same tables; a `state` array too short
    for its event is refused in one line, never misread."""
    tables = ("SELECT tid, start_ns, end_ns, dur_ns, ended FROM holds ORDER BY start_ns, tid",
              "SELECT tid, start_ns, end_ns, timeouts, outcome FROM waits ORDER BY start_ns, tid",
              "SELECT release_ns, from_tid, acquire_ns, to_tid, gap_ns, forced FROM switches "
              "ORDER BY release_ns",
              "SELECT ts_ns, requester, holder, released_ns, response_ns FROM drop_requests",
              "SELECT event_count, anomalies, reordered_events, order_gaps, handoffs_checked, "
              "handoff_mismatches FROM runs")
    named = run(tmp, "named", HANDOFF)
    trace = write_trace(tmp / "packed", HANDOFF, packed=True)
    packed = tmp / "packed.db"
    dbcheck.analyze(trace, packed)
    for sql in tables:
        want = [tuple(r) for r in rows(named, sql)]
        check(bool(want), f"packed: the named trace has rows for {sql.split(' FROM ')[1].split()[0]}")
        expect(packed, sql, want, f"packed: as named ({sql.split(' FROM ')[1].split()[0]})")
    short = write_trace(tmp / "short", HANDOFF, packed=True, packed_len=2)
    res = dbcheck.analyze(short, tmp / "short.db", expect_ok=False)
    err = res.stderr.strip().splitlines()
    check(res.returncode != 0 and len(err) == 1 and "another gilscope version" in err[0],
          f"packed: a state array too short is refused in one line ({res.returncode}: {err})")


def case_long_command(tmp):
    """The summary's header has 44 columns for the command: a longer one is
    cut with "...", never silently ("churn 2 20000" shown as "churn 2 2")."""
    db = run(tmp, "long", HANDOFF)
    cmd = "/usr/bin/python3 bench/workload.py churn 2 20000 --and-more"
    con = sqlite3.connect(str(db))
    with con:
        con.execute("UPDATE runs SET command = ?", (cmd,))
    con.close()
    head = next(l for l in dbcheck.summary(db).splitlines() if "GIL summary of run" in l)
    check(cmd[:41] + "..." in head, f"long command: cut with '...' ({head!r})")


# What two traces of the same GIL history must give alike.
TABLES = ("SELECT tid, start_ns, end_ns, dur_ns, ended, start_site_id, end_site_id FROM holds "
          "ORDER BY start_ns, tid",
          "SELECT tid, start_ns, end_ns, timeouts, outcome FROM waits ORDER BY start_ns, tid",
          "SELECT release_ns, from_tid, acquire_ns, to_tid, gap_ns, forced FROM switches "
          "ORDER BY release_ns",
          "SELECT ts_ns, requester, holder, released_ns, response_ns FROM drop_requests",
          "SELECT anomalies, order_gaps, handoffs_checked, handoff_mismatches, event_count FROM runs")


def same_tables(tmp, what, base_evs, evs):
    """The events base_evs and evs (written as recorded, by ts) give the
    same TABLES; evs's database is tmp/<what>.db."""
    name = what.replace(" ", "_")
    for n, e in ((name + "_base", base_evs), (name, evs)):
        dbcheck.analyze(write_trace(tmp / n, sorted(e, key=lambda x: x.ts), packed=True), tmp / f"{n}.db")
    for sql in TABLES:
        want = [tuple(r) for r in rows(tmp / f"{name}_base.db", sql)]
        check(bool(want), f"{what}: the base trace has rows ({sql[:40]})")
        expect(tmp / f"{name}.db", sql, want, f"{what}: as the base trace ({sql.split(' FROM ')[1].split()[0]})")


def case_written_for(tmp):
    """A hold's acquire written by a thread waiting for the GIL, for its
    holder (acquire_for, take_for: docs/events.md): read as the holder's.
    The same events with 100's first acquire written by 101 at its time-out
    give the tables of the trace where 100 wrote it."""
    first = HANDOFF[1]
    assert first.name == "acquire" and first.tid == 100
    moved = [e for e in HANDOFF if e is not first]
    moved.insert(4, Ev(7001, "acquire_for", 100, 101, {**first.fields, "tid": 100}))
    # and 101's take (request 6 answered at once by acquire 8) for 100 too
    evs = [e for e in moved if not (e.name in ("request", "acquire") and e.tid == 100
                                    and e.fields["seq"] in (6, 8))]
    evs.append(Ev(12010, "take_for", 100, 101, {"gil": G, "req_seq": 6, "req_ts": 7050, "seq": 8,
                                                "ts": 12005, "switch_number": 3, "tid": 100}))
    orig = [e for e in HANDOFF if not (e.name == "request" and e.fields["seq"] == 6)]
    orig.append(Ev(12010, "take", 100, 100, {"gil": G, "req_seq": 6, "req_ts": 7050, "seq": 8,
                                             "ts": 12005, "switch_number": 3}))
    orig = [e for e in orig if not (e.name == "acquire" and e.fields.get("seq") == 8)]
    same_tables(tmp, "written for", orig, evs)
    # One without the thread it is written for is refused in one line.
    bad = write_trace(tmp / "for_no_tid", [
        Ev(1000, "gil_found", 100, 100, {"gil": 16, "interval_us": 5000, "rule": 1, "version": "3.11.2"}),
        Ev(1001, "acquire_for", 100, 101, {"gil": 16, "seq": 0, "ts": 1000})])
    res = dbcheck.analyze(bad, tmp / "for_no_tid.db", expect_ok=False)
    err = res.stderr.strip().splitlines()
    check(res.returncode != 0 and len(err) == 1 and "lacks the tid" in err[0],
          f"written for: an acquire_for without its tid is refused in one line ({res.returncode}: {err})")


def case_hold(tmp):
    """A whole hold in one record (`hold`, docs/events.md), written at its
    release: its acquire (with its request when that did not wait, else
    req_seq NO_REQ) and its release, each read in its own place and time.
    The same hand-offs written as holds give the tables of the events
    written one by one; a hold cut short is refused in one line."""
    site = {"code": 0, "offset": -1, "stack": 0}
    last = sev(13000, "release", 100, 9, 13000, forced=0, **site)
    one_by_one = HANDOFF + [last]
    held = [e for e in one_by_one if not (e.name in ("acquire", "release")
                                          or (e.name == "request" and e.fields["seq"] == 6))]
    held += [
        Ev(7040, "hold", 100, 100, {"gil": G, "req_seq": NO_REQ, "seq": 0, "ts": 1000,
                                    "switch_number": 1, "rel_seq": 4, "rel_ts": 7010, "forced": 1}),
        Ev(12000, "hold", 100, 101, {"gil": G, "req_seq": NO_REQ, "seq": 5, "ts": 7020,
                                     "switch_number": 2, "rel_seq": 7, "rel_ts": 12000, "forced": 0}),
        Ev(13001, "hold", 100, 100, {"gil": G, "req_seq": 6, "req_ts": 7050, "seq": 8, "ts": 12005,
                                     "switch_number": 3, "rel_seq": 9, "rel_ts": 13000, "forced": 0})]
    same_tables(tmp, "hold", one_by_one, held)
    expect(tmp / "hold.db", "SELECT count(*), sum(dur_ns) FROM holds WHERE tid = 100 AND ended = 'voluntary'",
           [(1, 995)], "hold: 100's last hold, 12005 to 13000")
    short = write_trace(tmp / "hold_short", sorted(held, key=lambda e: e.ts), packed=True, packed_len=7)
    res = dbcheck.analyze(short, tmp / "hold_short.db", expect_ok=False)
    err = res.stderr.strip().splitlines()
    check(res.returncode != 0 and len(err) == 1 and "lacks its release" in err[0],
          f"hold: one without its release's fields is refused in one line ({res.returncode}: {err})")


def case_held_back(tmp):
    """Held-back holds (docs/events.md): thread 100's two holds in one
    two-hold `hold` record, written after 101's later events; and the same
    first hold rescued by 101 (`hold_for`, 100's tid) after 101's own
    later events, its second written alone: both give the tables of the
    events written one by one, whatever the record order. A record whose
    sequences hold no whole number of holds is refused in one line."""
    site = {"code": 0, "offset": -1, "stack": 0}
    last = sev(13000, "release", 100, 9, 13000, forced=0, **site)
    one_by_one = HANDOFF + [last]
    h1 = {"gil": G, "req_seq": NO_REQ, "seq": 0, "ts": 1000, "switch_number": 1, "rel_seq": 4,
          "rel_ts": 7010, "forced": 1}
    h3 = {"gil": G, "req_seq": NO_REQ, "seq": 8, "ts": 12005, "switch_number": 3, "rel_seq": 9,
          "rel_ts": 13000, "forced": 0}
    mine = [e for e in one_by_one if not (e.tid == 100 and e.name in ("acquire", "release"))]
    two = mine + [Ev(13001, "hold", 100, 100, {"_holds": [h1, h3]})]
    same_tables(tmp, "held back", one_by_one, two)
    rescued = mine + [Ev(12500, "hold_for", 100, 101, {**h1, "tid": 100}),
                      Ev(13001, "hold", 100, 100, {"_holds": [h3]})]
    name = "held_back_rescued"

    def as_base(name: str, evs: list, what: str) -> None:
        """evs, written in time order, give the base trace's tables."""
        dbcheck.analyze(write_trace(tmp / name, sorted(evs, key=lambda x: x.ts), packed=True, rare=True),
                        tmp / f"{name}.db")
        for sql in TABLES:
            want = [tuple(r) for r in rows(tmp / "held_back_base.db", sql)]
            expect(tmp / f"{name}.db", sql, want,
                   f"held back, {what}: as the base trace ({sql.split(' FROM ')[1].split()[0]})")

    as_base(name, rescued, "rescued by 101 after its later events")
    expect(tmp / f"{name}.db", "SELECT count(*) FROM holds WHERE tid = 100", [(2,)],
           "held back, rescued: both of 100's holds are 100's")
    # Written at a stop, seconds after the later events of its GIL (a
    # process that went idle): the record that fills the gap is read
    # whole, not given up part by part (one, then the others late).
    late = mine + [Ev(12500 + 3_000_000_000, "hold_for", 100, 101, {**h1, "tid": 100}),
                   Ev(13001, "hold", 100, 100, {"_holds": [h3]})]
    as_base("held_back_stop", late, "written 3 s after its GIL's later events")
    bad = write_trace(tmp / "held_back_bad", sorted(two, key=lambda x: x.ts), packed=True, packed_len=8)
    res = dbcheck.analyze(bad, tmp / "held_back_bad.db", expect_ok=False)
    err = res.stderr.strip().splitlines()
    check(res.returncode != 0 and len(err) == 1 and "another gilscope version" in err[0],
          f"held back: a hold record of 16 state values is refused in one line ({res.returncode}: {err})")


# Holds in one `hold` record at most (analyzer/trace_reader.c's HOLD_MAX;
# the tracer writes up to GILSCOPE_HB_N + 1).
HOLD_MAX = 5


def case_held_back_many(tmp):
    """Records of several held-back holds (docs/events.md): thread 100
    holds the GIL HOLD_MAX times in a row, the last one until 101, which
    asked meanwhile, makes it drop the GIL, and 101 takes it. 100's holds
    in one record of HOLD_MAX holds written after 101's events, and the
    first HOLD_MAX - 1 rescued by 101 after its own events (a hold_for
    each, in order) with the last written alone, give the tables of the
    events written one by one. A record of HOLD_MAX + 1 holds is refused
    in one line."""
    site = {"code": 0, "offset": -1, "stack": 0}
    n = 2 * HOLD_MAX - 1  # 101's request: the place after 100's last acquire
    holds, base = [], [found(1000)]
    for k in range(HOLD_MAX):
        last = k == HOLD_MAX - 1
        h = {"gil": G, "req_seq": NO_REQ, "seq": 2 * k, "ts": 1000 + 100 * k, "switch_number": 1,
             "rel_seq": n + 3 if last else 2 * k + 1, "rel_ts": 1050 + 100 * k, "forced": int(last)}
        holds.append(h)
        base += [sev(h["ts"] + 1, "acquire", 100, h["seq"], h["ts"], switch_number=1),
                 sev(h["rel_ts"] + 1, "release", 100, h["rel_seq"], h["rel_ts"], forced=h["forced"],
                     **site)]
    base += [sev(1311, "request", 101, n, 1310),
             sev(1321, "wait_timeout", 101, n + 1, 1320),
             sev(1322, "drop_request", 101, n + 2, 1320, holder=100, interval_us=5000),
             sev(1361, "acquire", 101, n + 4, 1360, switch_number=2),
             sev(2001, "release", 101, n + 5, 2000, forced=0, **site)]
    mine = [e for e in base if not (e.tid == 100 and e.name in ("acquire", "release"))]
    many = mine + [Ev(2100, "hold", 100, 100, {"_holds": holds})]
    same_tables(tmp, "held back many", base, many)
    rescued = mine + [Ev(2050 + k, "hold_for", 100, 101, {**h, "tid": 100})
                      for k, h in enumerate(holds[:-1])]
    rescued.append(Ev(2100, "hold", 100, 100, {"_holds": holds[-1:]}))
    dbcheck.analyze(write_trace(tmp / "held_back_many_rescued", sorted(rescued, key=lambda x: x.ts),
                                packed=True, rare=True), tmp / "held_back_many_rescued.db")
    for sql in TABLES:
        want = [tuple(r) for r in rows(tmp / "held_back_many_base.db", sql)]
        expect(tmp / "held_back_many_rescued.db", sql, want,
               f"held back many, {HOLD_MAX - 1} rescued by 101: as the base trace "
               f"({sql.split(' FROM ')[1].split()[0]})")
    expect(tmp / "held_back_many_rescued.db", "SELECT count(*) FROM holds WHERE tid = 100",
           [(HOLD_MAX,)], f"held back many, rescued: all {HOLD_MAX} of 100's holds are 100's")
    extra = {**holds[-1], "seq": n + 6, "ts": 2010, "rel_seq": n + 7, "rel_ts": 2020}
    too = mine + [Ev(2100, "hold", 100, 100, {"_holds": holds + [extra]})]
    bad = write_trace(tmp / "held_back_too_many", sorted(too, key=lambda x: x.ts), packed=True)
    res = dbcheck.analyze(bad, tmp / "held_back_too_many.db", expect_ok=False)
    err = res.stderr.strip().splitlines()
    check(res.returncode != 0 and len(err) == 1 and "another gilscope version" in err[0],
          f"held back: a record of {HOLD_MAX + 1} holds is refused in one line ({res.returncode}: {err})")


def case_rare(tmp):
    """The rarely written events in one type (gilscope:rare, docs/events.md:
    gil_found, wait_timeout, take_for, acquire_for, thread_name,
    process_exit... each a kind): the same events written as gilscope:rare
    records and as the events of their own names (earlier versions) give
    the same tables; a record with fewer values than its kind carries is
    refused in one line, never misread."""
    first = HANDOFF[1]
    evs = [e for e in HANDOFF if e is not first]
    evs.insert(4, Ev(7001, "acquire_for", 100, 101, {**first.fields, "tid": 100, "code": 0,
                                                     "offset": -1, "stack": 0}))
    evs += [Ev(1000, "thread_name", 100, 100, {"tid": 100, "name": "MainThread", "tag": 0}),
            Ev(2500, "thread_name", 100, 101, {"tid": 101, "name": "worker", "tag": 0}),
            Ev(12100, "take_for", 100, 101, {"gil": G, "req_seq": 9, "req_ts": 12050, "seq": 10,
                                              "ts": 12060, "switch_number": 4, "tid": 101,
                                              "code": 0, "offset": -1, "stack": 0}),
            sev(12200, "release", 101, 11, 12150, forced=0, code=0, offset=-1, stack=0),
            Ev(12300, "process_exit", 100, 100, {"status": -1})]
    evs = sorted(evs, key=lambda e: e.ts)
    extra = ("SELECT tid, name FROM threads ORDER BY tid",
             "SELECT pid, exit_status FROM processes")
    dbs = {}
    for n, rare in (("rare_named", False), ("rare", True)):
        dbcheck.analyze(write_trace(tmp / n, evs, packed=True, rare=rare), tmp / f"{n}.db")
        dbs[n] = tmp / f"{n}.db"
    for sql in TABLES + extra:
        want = [tuple(r) for r in rows(dbs["rare_named"], sql)]
        check(bool(want), f"rare: the trace of named events has rows ({sql[:40]})")
        expect(dbs["rare"], sql, want, f"rare: as the named events ({sql.split(' FROM ')[1].split()[0]})")
    short = write_trace(tmp / "rare_short", evs, packed=True, rare=True, rare_len=1)
    res = dbcheck.analyze(short, tmp / "rare_short.db", expect_ok=False)
    err = res.stderr.strip().splitlines()
    check(res.returncode != 0 and len(err) == 1 and "another gilscope version" in err[0],
          f"rare: a record with too few values is refused in one line ({res.returncode}: {err})")


def case_foreign_gap(tmp):
    """A per-user session records every traced process of its user: a gap
    in another recording's process (its tag is not ours) is not this
    recording's loss; the same gap in our own process is."""
    def tagged(pid, tag, drop_seq):
        evs = [Ev(e.ts, e.name, pid, e.tid, dict(e.fields)) for e in HANDOFF
               if drop_seq is None or e.fields.get("seq") != drop_seq]
        evs[0].fields["tag"] = tag
        return evs
    for ours_gap, name in ((False, "foreign"), (True, "own")):
        evs = sorted(tagged(100, 7, 5 if ours_gap else None) + tagged(200, 9, None if ours_gap else 5),
                     key=lambda e: e.ts)
        trace = tmp / name  # as `gilscope record` lays it out
        write_trace(trace / "ust", evs, packed=True)
        (trace / "gilscope.info").write_text("tag=7\n")
        db = tmp / f"{name}.db"
        dbcheck.analyze(trace, db)
        want = 1 if ours_gap else 0
        expect(db, "SELECT order_gaps, (SELECT count(*) FROM lost) FROM runs", [(want, want)],
               f"{name} process's gap: {want} place never seen, {want} lost row")


def main():
    dbcheck.run_cases(case_reordered, case_missing_acquire, case_old_tracer, case_packed,
                      case_long_command, case_written_for, case_hold, case_held_back,
                      case_held_back_many, case_rare, case_foreign_gap)


if __name__ == "__main__":
    main()
