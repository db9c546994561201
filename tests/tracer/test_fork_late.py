"""A process, and a fork child, whose GIL is found before a session records
them: liblttng-ust told not to wait for its registration with the session
daemon (LTTNG_UST_REGISTER_TIMEOUT=0), as happens when the wait times out on
a loaded machine (issue 12: cpython.full's test_concurrent_futures children
began with a release at seq 0 and no gil_found). The parent finds its GIL at
start-up and the child right after fork(), both before their events are
enabled; each must say again what it is (resync, gil_known, thread names)
once they are, and the analyzer must keep both processes, clip what was open
when their events began (started = 'trace_start') and count no anomaly, no
loss and no overlapping hold."""

import os

import gstest

PROGRAM = r"""
import os, threading, time

def churn(secs):
    # os.read/os.write and time.sleep release the GIL on every version
    r, w = os.pipe()
    end = time.monotonic() + secs
    while time.monotonic() < end:
        os.write(w, b"x")
        os.read(r, 1)
        time.sleep(0.0005)
    os.close(r)
    os.close(w)

def threads(secs, prefix):
    ts = [threading.Thread(target=churn, args=(secs,), name=f"{prefix}-{i}") for i in range(2)]
    for t in ts: t.start()
    churn(secs)
    for t in ts: t.join()

# The parent is registered by the time it forks (as in a pool of workers):
# the child keeps its enabled tracepoints, which record nothing until the
# child's own registration is done. Long enough for a loaded session
# daemon to register both (what runs before is not recorded).
churn(1.0)
pid = os.fork()
if pid == 0:
    threads(3.0, "child")
    os._exit(7)
threads(3.0, "parent")
_, status = os.waitpid(pid, 0)
print("child", pid, status >> 8)
print("parent", os.getpid())
"""


def main() -> None:
    # Another recording's session would record the child first, and the
    # analyzer would rightly count a lost start: a daemon of its own.
    gstest.private_lttng()
    label, exe = gstest.python_arg()
    out = gstest.tmpdir()
    prog = out / "late.py"
    prog.write_text(PROGRAM)
    env = dict(os.environ, LTTNG_UST_REGISTER_TIMEOUT="0")
    # The child is recorded from when the session daemon has registered it:
    # under load that once took longer than its 3 s of life (CI, 3.10: no
    # event of it at all). Nothing of it can be recorded then (liblttng-ust
    # drops a process's events until its registration is done; docs/
    # tracer.md): that case is tried again, up to three recordings.
    for attempt in (1, 2, 3):
        trace_dir = out / f"trace-{attempt}"
        res = gstest.record([str(exe), str(prog)], trace_dir, env=env)
        lines = {k: v.split() for k, v in (line.split(" ", 1) for line in res.stdout.splitlines())}
        child, parent = int(lines["child"][0]), int(lines["parent"][0])
        gstest.check(lines["child"][1] == "7", "the child exited with its own status")

        tag = int(gstest.info(trace_dir)["tag"])
        trace = gstest.read_trace(trace_dir)
        by_pid = trace.by_pid()
        kids = by_pid.get(child, [])
        found = [e for e in kids if e.name == "gil_found"]
        known = [e for e in kids if e.name == "gil_known" and e.fields.get("tag") == tag]
        gil_events = [e for e in kids if e.name not in ("process_exit", "thread_name")]
        if gil_events or attempt == 3:
            break
        # Then the analyzer must say so: the child told the recorder it was
        # traced (gilscope.info's traced_processes), and is not in the trace.
        con = gstest.analyze(trace_dir, out / f"run-{attempt}.db")
        said = con.execute("SELECT stream FROM lost WHERE stream LIKE '%traced CPython processes%'"
                           ).fetchall()
        kept = {r[0] for r in con.execute("SELECT pid FROM processes")}
        con.close()
        gstest.check(bool(said) or child in kept,
                     f"a child not recorded is said lost ({said}, processes {sorted(kept)})")
        print(f"attempt {attempt}: nothing of the child's GIL was recorded ({len(kids)} events of "
              f"it): it ended before its registration with the session daemon was done, "
              f"said {said}; again", flush=True)
    # The child finds its GIL microseconds after fork() (3.7+), before its
    # own registration; whether its inherited tracepoints record that
    # gil_found varies: either it or a gil_known must be there.
    gstest.check(bool(found or known), f"the child said what its GIL is ({len(found)} gil_found, "
                 f"{len(known)} gil_known with the recording's tag)")
    print(f"note: the child's gil_found was {'recorded' if found else 'not recorded'}, "
          f"{len(known)} gil_known")
    names = {e.fields.get("name") for e in trace.named("thread_name") if e.pid == child}
    gstest.check({"child-0", "child-1"} <= names, f"the child's threads are named ({sorted(names)})")

    db = out / "run.db"
    con = gstest.analyze(trace_dir, db)
    lost, anomalies = con.execute("SELECT lost_events, anomalies FROM runs").fetchone()
    gstest.check(lost == 0 and anomalies == 0,
                 f"no loss and no anomaly (lost {lost}, anomalies {anomalies})")
    overlaps = gstest.overlapping_holds(con)
    gstest.check(overlaps == 0, f"no overlapping holds ({overlaps})")
    # The parent, like the child, is recorded only from when the daemon got
    # to it: on a loaded machine that may be after its threads ended.
    for pid, who in ((parent, "parent"), (child, "child")):
        rows = con.execute("SELECT h.tid, h.started, count(*) FROM holds h JOIN gils g USING (gil_id) "
                           "WHERE g.pid = ? GROUP BY 1, 2", (pid,)).fetchall()
        tids = {r[0] for r in rows}
        recorded = {e.tid for e in by_pid.get(pid, []) if e.name in ("take", "acquire", "release")}
        gstest.check(tids == recorded and (who == "parent" or len(tids) == 3),
                     f"{who} {pid}: holds of each of its threads whose GIL events were recorded "
                     f"({sorted(tids)}, recorded {sorted(recorded)})")
        clipped = sum(r[2] for r in rows if r[1] == "trace_start")
        gstest.check(clipped <= 1, f"{who}: at most one hold open when its events began ({clipped})")
    # Each GIL announced before its events. LTTng registers a session's
    # probes just before it marks the session active: the first resync may
    # be dropped, and what a process writes until the next one (5 ms on)
    # cannot be told from another recording's: that shows as a loss.
    starts = con.execute("SELECT stream FROM lost WHERE stream LIKE '%start of GIL%'").fetchall()
    gstest.check(not starts, f"every GIL said what it is before its events ({starts})")
    early = con.execute("SELECT stream FROM lost WHERE stream LIKE '%before it was recognised'").fetchall()
    if early:
        print(f"note: recorded before the announcement reached the session: {early}")
    named = {r[0] for r in con.execute("SELECT name FROM threads WHERE pid = ?", (child,))}
    gstest.check({"child-0", "child-1"} <= named, f"the child's thread names in the database ({sorted(map(str, named))})")
    con.close()
    print(f"PASSED: fork_late ({label})")


if __name__ == "__main__":
    main()
