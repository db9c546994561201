"""`gilscope exec` + `gilscope record --pid`: a service started idle is
recorded for 2 s while a client hammers it, then runs on untraced.

The trace must read alone: the GILs and the names of threads started
before the recording come from the resync, holds and waits already open
at its start are clipped to it and marked started = 'trace_start'; the
service's answers never change; after the recording no session remains
and the trace does not grow."""
import sqlite3
import subprocess
from pathlib import Path

import svc  # noqa: E402
from svc import gstest  # noqa: E402


def main() -> None:
    _, py = gstest.python_arg()
    out = gstest.tmpdir()
    service = svc.Service(py)
    client = None
    try:
        maps = Path(f"/proc/{service.pid}/maps").read_text()
        gstest.check("libgilscope-preload.so" in maps and "libgilscope-probes.so" in maps,
                     "gilscope exec started the service with the preload, its provider loaded")
        gstest.check(f"{service.pid}" not in svc.sessions(), "no session records it")
        client = svc.Client(service)
        svc.wait_until(lambda: client.count() >= 5, 60, "the service answers")
        before = client.count()

        res = svc.gs("record", "--pid", str(service.pid), "--follow-children", "--duration", "2s",
                     "-o", str(out / "trace"))
        gstest.check(res.returncode == 0, f"record --pid exits 0 ({res.returncode}): {res.stderr.strip()}")
        during = client.count() - before
        gstest.check(during > 0, f"the service answered while recorded ({during} answers)")
        info = gstest.info(out / "trace")
        pids = {int(p) for p in info["pids"].split(",")}
        gstest.check(info.get("mode") == "attach" and {service.pid, service.server_pid} <= pids,
                     f"gilscope.info: mode=attach, pids {sorted(pids)} include the service and its "
                     "server child (--follow-children)")

        trace = gstest.read_trace(out / "trace")
        gstest.check(trace.discarded == 0, "no events lost")
        # trace.events are in each GIL's order, not in time order across
        # processes: the span is from the earliest to the latest.
        times = [e.ts for e in trace.events]
        span = (max(times) - min(times)) / 1e9
        gstest.check(1.7 <= span <= 7, f"it recorded for the 2 s asked ({span:.2f} s of events; stopping "
                     "the session takes a moment under load)")
        by_pid = trace.by_pid()
        gstest.check(set(by_pid) <= pids, f"only the recorded processes are in the trace ({sorted(by_pid)})")
        for pid in (service.pid, service.server_pid):
            evs = by_pid.get(pid, [])
            names = [e.name for e in evs]
            gstest.check("resync" in names and "gil_known" in names,
                         f"pid {pid} re-emitted its GIL on the session's start (resync, gil_known)")
            # Said at the switch and again 5, 50, 250 ms, 1 s and 3 s later, then every
            # second: when LTTng is slow to activate the session in a process
            # (a late child under load: seen at 587 ms), only the periodic one
            # lands. The bound is that second, with room for the 64-event tick.
            after = (evs[names.index("resync")].ts - evs[0].ts) / 1e6
            gstest.check(after < 1300, f"pid {pid}: resync within 1.3 s of its first event ({after:.1f} ms)")
            gstest.check("gil_found" not in names, f"pid {pid}: no gil_found (its GIL was found long ago)")
        named = {e.fields["name"] for e in trace.named("thread_name")}
        gstest.check({"cpu-worker-0", "cpu-worker-1", "http-server"} <= named,
                     f"names of threads started before the recording were re-emitted ({sorted(named)[:8]})")

        # Untraced again: no session left, nothing written any more.
        gstest.check(f"attach-{service.pid}" not in svc.sessions(),
                     "the session is gone")
        size = svc.dir_size(out / "trace")
        mark = client.count()
        svc.wait_until(lambda: client.count() >= mark + 20, 60, "the service answers after the recording")
        gstest.check(svc.dir_size(out / "trace") == size, f"the trace did not grow afterwards ({size} bytes)")
        gstest.check(service.proc.poll() is None, "the service runs on")
        client.stop()
        gstest.check(not client.bad, f"every answer was right ({client.ok} answers, bad: {client.bad[:3]})")

        db = out / "run.db"
        res = subprocess.run([str(gstest.gilscope()), "analyze", str(out / "trace"), "-o", str(db)],
                             capture_output=True, text=True, timeout=300)
        gstest.check(res.returncode == 0, f"the trace analyzes: {res.stderr.strip()}")
        con = sqlite3.connect(db)
        q = lambda sql, *a: con.execute(sql, a).fetchall()  # noqa: E731
        gstest.check(q("SELECT trace_start FROM runs")[0][0] == "attach", "runs.trace_start = 'attach'")
        threads = {name: (pid, tid, holds, waits) for pid, tid, name, holds, waits in
                   q("SELECT pid, tid, name, holds, waits FROM threads")}
        for name in ("cpu-worker-0", "cpu-worker-1"):
            gstest.check(name in threads and threads[name][2] > 0 and threads[name][3] > 0,
                         f"{name} has holds and waits ({threads.get(name)})")
        conns = [n for n in threads if n and n.startswith("server-conn-") and threads[n][2] > 0]
        gstest.check(len(conns) >= 3, f"handler threads have names and holds ({len(conns)})")
        drops = q("SELECT count(*) FROM drop_requests")[0][0]
        gstest.check(drops > 0, f"drop requests were recorded ({drops})")
        start = q("SELECT start_ns FROM runs")[0][0]
        clipped_h = q("SELECT count(*), min(start_ns), max(start_ns) FROM holds WHERE started = 'trace_start'")[0]
        clipped_w = q("SELECT count(*), min(start_ns), max(start_ns) FROM waits WHERE started = 'trace_start'")[0]
        # service.py keeps the GIL held or waited for at every moment.
        firsts: dict = {}
        for e in trace.events:
            if "seq" in e.fields:
                firsts.setdefault((e.pid, e.tid), f"{e.name} seq {e.fields['seq']}")
        clipped = clipped_h[0] + clipped_w[0]
        gstest.check(clipped >= 1,
                     f"holds/waits open at the start are kept, marked 'trace_start' "
                     f"({clipped_h[0]} holds, {clipped_w[0]} waits"
                     + (f"; each thread's first GIL event: {sorted(firsts.items())[:12]})" if not clipped else ")"))
        late = {int(x) for x in info.get("late_pids", "").split(",") if x}
        # 3.14+ start multiprocessing children from a forkserver: more of them.
        gstest.check(service.server_pid in late and service.pid not in late,
                     f"gilscope.info: late_pids lists the children that joined during the recording ({late})")
        starts = q("SELECT c.start_ns, p.pid, p.first_ns FROM (SELECT gil_id, start_ns FROM holds "
                   "WHERE started = 'trace_start' UNION ALL SELECT gil_id, start_ns FROM waits "
                   "WHERE started = 'trace_start') c JOIN gils g USING (gil_id) "
                   "JOIN processes p ON p.pid = g.pid AND p.run_id = g.run_id")
        off = [(pid, s, first if pid in late else start) for s, pid, first in starts
               if s != (first if pid in late else start)]
        # On a mismatch, what the analyzer's clip time could have been
        # lowered by after it was used (session 19 saw this fail once).
        detail = "" if not off else (
            f": (pid, clipped at, expected) {off[:6]}; first GIL events by time: "
            + str(sorted((e.ts, e.pid, e.tid, e.name) for e in trace.events if "seq" in e.fields)[:6]))
        gstest.check(not off, "and clipped to the trace's start (a child that joined later: to its first event)"
                     + detail)
        per_tid = q("SELECT tid, count(*) FROM holds WHERE started = 'trace_start' GROUP BY tid HAVING count(*) > 1")
        gstest.check(not per_tid, "at most one clipped hold per thread")
        gstest.check(q("SELECT count(*) FROM holds WHERE started NOT IN ('acquired', 'trace_start')")[0][0] == 0
                     and q("SELECT count(*) FROM waits WHERE started NOT IN ('request', 'trace_start')")[0][0] == 0,
                     "every other hold started with an acquire, every wait with a request")
        sites = q("SELECT filename, function, sum(holds) FROM code_sites WHERE filename LIKE '%service.py' "
                  "GROUP BY function")
        unknown = q("SELECT count(*) FROM code_sites WHERE filename = '?'")[0][0]
        if not trace.named("code") and gstest.python_version(py) == (3, 6):
            print("not checked: code attribution does not cover Python 3.6 (docs/tracer.md)")
        else:
            gstest.check(sum(n for _, _, n in sites) > 0,
                         "the code objects were described again: holds end in service.py "
                         f"({[(f, n) for _, f, n in sites]})")
            gstest.check(unknown <= 2, f"(almost) no site whose description was lost ({unknown})")
        anomalies = q("SELECT anomalies FROM runs")[0][0]
        gstest.check(anomalies <= 4, f"the clipped start leaves (almost) no anomaly ({anomalies})")
        print("PASSED: exec + record --pid")
    finally:
        if client:
            client.stop()
        service.stop()


if __name__ == "__main__":
    main()
