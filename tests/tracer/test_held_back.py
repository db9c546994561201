"""Held-back holds are never lost (docs/events.md, "Held-back holds").

A thread that takes the GIL again soon after its release holds its
completed holds back, up to HB (GILSCOPE_HB_N), and writes them with its
next one (up to HB + 1 holds a record: the churn's records carry that
many). Here a thread named "churner" churns the GIL N times (os.write),
then takes it once more after a 2 ms sleep (that hold is not "hot":
written at once) and HB times right after (hot: all HB held back), and
blocks on a pipe. Then:

- idle, `gilscope record` stopped by SIGINT: every thread is blocked; the
  program ignores SIGINT, so the recorder stops with it still running.
  The stop's gilscope_ctl:flush switch must make the process write the
  held-back holds, every one: the database holds the churner's N+ holds,
  the last one ending at the line of its blocking read, the last HB
  written by another thread after it blocked;
- idle, `gilscope record --pid` stopped by SIGINT: the same, for a process
  that `gilscope exec` started and that churns once the recording runs;
- rescue: the main thread takes the GIL again 50 ms after the churner
  blocked: it writes the churner's HB held-back holds for it (a hold_for
  each, the churner's tid) before the churner wakes, and the tables hold
  every hold of both threads, in order (no anomaly, no place of the GIL's
  order missing), the churner's as many as its reader here counts.

- order: two threads hold holds back, and the whole process sleeps past
  the analyzer's horizon (1 s) after a record that waits for the earlier
  of them; the main thread then wakes and writes both for them. It must
  write them in the GIL's order (the earlier holds first), whatever the
  threads' slots: in slot order the later holds, written first, made the
  reader give the earlier places up and count them late (seen in CPython's
  test_concurrent_futures on 3.13 to 3.15, session 22). Here the thread
  with the later holds has the lower slot.

A run where the scheduler kept the churner from one of its last holds
for more than 100 us (not hot: not all held back) proves nothing and is
run again.
"""

import collections
import os
import signal
import subprocess
import time

import gstest

N = 2000
HB = gstest.held_back_max()
PROGRAM = r"""
import os, signal, sys, threading, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a stop must find it running
n, mode, hb = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
r, w = os.pipe()
null = os.open(os.devnull, os.O_WRONLY)
flag = threading.Event()
def churn():
    for _ in range(n):
        os.write(null, b"x")  # lets the GIL go and takes it back, on every version
    print("churned", os.getpid(), flush=True)
    flag.set()
    time.sleep(0.002)  # the hold after it is not hot: written at once
    for _ in range(hb):
        os.write(null, b"x")  # the hold after each is hot: held back
    os.read(r, 1)  # LINE_IDLE
t = threading.Thread(target=churn, name="churner")
if mode == "go":
    print("ready", flush=True)
    sys.stdin.readline()
t.start()
if mode == "rescue":
    flag.wait()  # woken while the churner sleeps, before its last two holds
    time.sleep(0.05)  # the churner is blocked: the main thread takes the GIL again
    for _ in range(100):
        os.write(null, b"x")
    os.write(w, b"x")
t.join()
print("done", flush=True)
"""
LINE_IDLE = next(i for i, l in enumerate(PROGRAM.lstrip("\n").split("\n"), 1) if "LINE_IDLE" in l)


# "later" starts first (the lower thread slot) and parks; "earlier"
# holds the GIL HB times hot (held back), wakes "later" and parks; "later"
# takes the GIL (not hot: written at its release, a record that waits for
# "earlier"'s held-back holds), then HB times hot, and parks; the main
# thread sleeps past the analyzer's 1 s horizon, then takes the GIL.
PROGRAM_ORDER = r"""
import os, sys, threading, time
hb = int(sys.argv[1])
null = os.open(os.devnull, os.O_WRONLY)
go_later, parked, end = threading.Event(), threading.Event(), threading.Event()
def later():
    go_later.wait()
    for _ in range(hb):
        os.write(null, b"x")
    parked.set()
    end.wait()
def earlier():
    for _ in range(hb):
        os.write(null, b"x")
    go_later.set()
    end.wait()
threads = [threading.Thread(target=later, name="later"), threading.Thread(target=earlier, name="earlier")]
for t in threads:
    t.start()
parked.wait()
time.sleep(1.5)
os.write(null, b"x")
end.set()
for t in threads:
    t.join()
print("done", os.getpid(), flush=True)
"""


def of_pid(out, pid: int) -> gstest.Trace:
    """The trace's events of process pid alone: a session records every
    traced process of the user (other tests' churners too)."""
    trace = gstest.read_trace(out / "trace")
    return gstest.Trace([e for e in trace.events if e.pid == pid], trace.discarded)


def tids(trace: gstest.Trace, pid: int) -> dict:
    """The churner (the thread other than the main one with the most
    acquires: 3.6's hook names a thread from the one that made it) and
    the main thread (its tid is the pid)."""
    n = collections.Counter(e.tid for e in trace.events if e.name == "acquire" and e.tid != pid)
    return {"churner": n.most_common(1)[0][0] if n else None, "MainThread": pid}


def last_holds(trace: gstest.Trace, tid: int) -> list:
    """The thread's last HB acquires (by seq)."""
    acq = sorted((e for e in trace.events if e.tid == tid and e.name == "acquire"),
                 key=lambda e: e.fields["seq"])
    gstest.check(len(acq) >= HB, f"thread {tid} held the GIL {HB} times or more")
    return acq[-HB:]


def last_release(trace: gstest.Trace, tid: int):
    """The thread's last release (by seq)."""
    rel = [e for e in trace.events if e.tid == tid and e.name == "release"]
    gstest.check(bool(rel), f"thread {tid} released the GIL")
    return max(rel, key=lambda e: e.fields["seq"])


def check_db(out, trace: gstest.Trace, churner: int, what: str, sited: bool) -> None:
    per = collections.Counter(e.fields.get("holds", 1) for e in trace.events
                              if e.tid == churner and e.name == "acquire" and "by" not in e.fields)
    gstest.check(max(per) == HB + 1,
                 f"{what}: the churner's records carry up to {HB + 1} holds ({dict(per)} holds a record: "
                 "holds read)")
    con = gstest.analyze(out / "trace", out / "trace.db")
    holds = con.execute("SELECT count(*) FROM holds WHERE tid = ?", (churner,)).fetchone()[0]
    gstest.check(holds >= N + 2, f"{what}: the database holds the churner's {holds} holds (>= {N} + 2)")
    counted = sum(1 for e in trace.events if e.tid == churner and e.name == "acquire")
    gstest.check(holds == counted, f"{what}: as many as its acquires in the trace ({counted})")
    line = con.execute("SELECT c.line FROM holds h JOIN code_sites c ON c.site_id = h.end_site_id "
                       "AND c.run_id = h.run_id WHERE h.tid = ? ORDER BY h.start_ns DESC LIMIT 1",
                       (churner,)).fetchone()
    if sited:
        gstest.check(line is not None and line[0] == LINE_IDLE,
                     f"{what}: its last hold ends at its blocking read, line {LINE_IDLE} ({line})")
    an, gaps, late = con.execute("SELECT anomalies, order_gaps, late_events FROM runs").fetchone()
    gstest.check((an, gaps) == (0, 0), f"{what}: no anomaly, no order gap ({an}, {gaps})")
    # A trace that starts mid-life (record --pid) waits for its GIL's
    # first places 1024 events at most (analyzer/reorder.c): a thread
    # descheduled before it wrote them, on a loaded machine, makes them
    # late there, whatever this test checks.
    gstest.check(late == 0 or what == "record --pid", f"{what}: no late event ({late})")
    con.close()


def idle_launch(exe, prog, out) -> bool:
    rec = subprocess.Popen([str(gstest.gilscope()), "record", "-o", str(out / "trace"), "--",
                            str(exe), str(prog), str(N), "idle", str(HB)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE,
                           text=True)
    child = None
    try:
        line = rec.stdout.readline().split()
        gstest.check(line[:1] == ["churned"], f"launch: the churner churned ({line})")
        child = int(line[1])
        time.sleep(0.3)  # blocked: its last hold held back
        rec.send_signal(signal.SIGINT)
        _, err = rec.communicate(timeout=120)
    finally:
        if rec.poll() is None:
            rec.kill()
            rec.wait()
        if child and gstest.live(child):
            os.kill(child, signal.SIGKILL)
    gstest.check("trace written" in err, f"launch: the recording stopped ({err.strip()[-300:]})")
    return check_idle(out, "launch", child)


def idle_pid(exe, prog, out) -> bool:
    proc = subprocess.Popen([str(gstest.gilscope()), "exec", "--", str(exe), str(prog), str(N), "go",
                             str(HB)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE,
                            text=True)
    rec = None
    try:
        gstest.check(proc.stdout.readline().strip() == "ready", "record --pid: the program is ready")
        rec = subprocess.Popen([str(gstest.gilscope()), "record", "--pid", str(proc.pid), "-o",
                                str(out / "trace")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        said = rec.stderr.readline()
        gstest.check("recording pid" in said, f"record --pid: recording ({said.strip()})")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = proc.stdout.readline().split()
        gstest.check(line[:1] == ["churned"], f"record --pid: the churner churned ({line})")
        time.sleep(0.3)
        rec.send_signal(signal.SIGINT)
        _, err = rec.communicate(timeout=120)
        gstest.check(rec.returncode == 0, f"record --pid: exit 0 ({rec.returncode}: {err.strip()[-300:]})")
    finally:
        for p in (rec, proc):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    return check_idle(out, "record --pid", proc.pid)


def check_idle(out, what: str, pid: int) -> bool:
    trace = of_pid(out, pid)
    churner = tids(trace, pid).get("churner")
    gstest.check(churner is not None, f"{what}: the churner held the GIL")
    held, rel = last_holds(trace, churner), last_release(trace, churner)
    if SITED:
        # Lost, it would leave the hold before it the last one.
        con = gstest.analyze(out / "trace", out / "trace.db")
        line = con.execute("SELECT c.line FROM holds h JOIN code_sites c ON c.site_id = h.end_site_id "
                           "AND c.run_id = h.run_id WHERE h.tid = ? ORDER BY h.start_ns DESC LIMIT 1",
                           (churner,)).fetchone()
        con.close()
        gstest.check(line is not None and line[0] == LINE_IDLE,
                     f"{what}: the churner's last hold, ending at its blocking read (line "
                     f"{LINE_IDLE}), is in the trace (the last one ends at {line})")
    late = [round((a.rec_ts - rel.ts) / 1e9, 3) for a in held]
    by = [a.fields.get("by", churner) for a in held]
    if min(late) < 0.01 or churner in by:
        print(f"note: {what}: the churner's last {HB} holds were written {late} s after its last "
              f"release, by {by}: not all held back (descheduled?); again", flush=True)
        return False
    gstest.check(len(set(by)) == 1 and churner not in by,
                 f"{what}: its last {HB} holds, held back, were written by another thread at the "
                 f"stop ({late} s after its last release, by {by})")
    check_db(out, trace, churner, what, SITED)
    return True


def rescue(exe, prog, out) -> bool:
    res = gstest.record([str(exe), str(prog), str(N), "rescue", str(HB)], out / "trace")
    gstest.check("done" in res.stdout, f"rescue: the program ran ({res.stdout.strip()!r})")
    pid = int(res.stdout.split()[1])
    trace = of_pid(out, pid)
    names = tids(trace, pid)
    churner, main_tid = names.get("churner"), names.get("MainThread")
    gstest.check(churner is not None, "rescue: the churner held the GIL")
    mine = sorted((e for e in trace.events if e.tid == churner and e.name == "acquire"),
                  key=lambda e: e.fields["seq"])
    # Its holds before its last (the one after the pipe wakes it).
    held = mine[-HB - 1:-1]
    if len(held) < HB or any(e.fields.get("by") != main_tid for e in held):
        late = [(e.rec_ts - e.ts) / 1e9 for e in mine[-HB - 2:]]
        print(f"note: rescue: the churner's {HB} holds before its last were not all written by the "
              f"main thread (the last ones written {late} s after they began: not all held back?); "
              "again", flush=True)
        return False
    rescued = held
    gstest.check([e.rec_ts for e in rescued] == sorted(e.rec_ts for e in rescued),
                 f"rescue: the main thread wrote the churner's {HB} held-back holds in order")
    z = rescued[-1]
    nxt = [e for e in mine if e.fields["seq"] > z.fields["seq"]]
    gstest.check(bool(nxt) and z.rec_ts < nxt[0].ts,
                 f"rescue: the main thread wrote the churner's held-back hold (seq {z.fields['seq']}) "
                 f"before the churner took the GIL again")
    gstest.check_sequences(trace)
    check_db(out, trace, churner, "rescue", SITED)
    return True


def order(exe, prog, out) -> bool:
    prog.write_text(PROGRAM_ORDER.lstrip("\n"))
    res = gstest.record([str(exe), str(prog), str(HB)], out / "trace")
    gstest.check("done" in res.stdout, f"order: the program ran ({res.stdout.strip()!r})")
    pid = int(res.stdout.split()[1])
    trace = of_pid(out, pid)
    # Written for their owners by the main thread once it woke: a hold_for
    # each (`by`, its owner's tid).
    rescued = [e for e in trace.events if e.name == "acquire" and e.fields.get("by") == pid]
    owners = {e.tid for e in rescued}
    if len(owners) < 2:
        print(f"note: order: the main thread wrote held-back holds of {len(owners)} thread(s), not "
              "both (one was not hot?); again", flush=True)
        return False
    by_write = sorted(rescued, key=lambda e: e.rec_ts)
    seqs = [e.fields["seq"] for e in by_write]
    gstest.check(seqs == sorted(seqs),
                 f"order: the main thread wrote the held-back holds of threads {sorted(owners)} in the "
                 f"GIL's order (acquire places as written: {seqs})")
    con = gstest.analyze(out / "trace", out / "trace.db")
    an, gaps, late = con.execute("SELECT anomalies, order_gaps, late_events FROM runs").fetchone()
    gstest.check((an, gaps, late) == (0, 0, 0),
                 f"order: no anomaly, no place given up, no late event ({an}, {gaps}, {late})")
    per = dict(con.execute("SELECT tid, count(*) FROM holds GROUP BY tid").fetchall())
    counted = collections.Counter(e.tid for e in trace.events if e.name == "acquire")
    gstest.check(per == dict(counted), f"order: every hold in the database ({per}; trace {dict(counted)})")
    con.close()
    return True


SITED = True  # code attribution: 3.7 and later (docs/tracer.md)


def main() -> None:
    global SITED
    # A daemon of its own: another recording's stop turns gilscope_ctl:flush
    # on in every process of the user, and its listener thread then writes
    # what this one's threads hold back, before any case here can.
    gstest.private_lttng()
    label, exe = gstest.python_arg()
    SITED = gstest.python_version(exe) >= (3, 7)
    for name, case in (("launch", idle_launch), ("pid", idle_pid), ("rescue", rescue), ("order", order)):
        for attempt in range(3):
            out = gstest.tmpdir()
            prog = out / "held_back.py"
            prog.write_text(PROGRAM.lstrip("\n"))
            if case(exe, prog, out):
                break
        else:
            gstest.fail(f"{name}: the churner's last {HB} holds were never all held back in 3 runs")


if __name__ == "__main__":
    main()
