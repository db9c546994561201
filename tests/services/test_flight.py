"""The flight recorder: `gilscope record --flight -b 4M` on a service
started with `gilscope exec`, hammered for about 30 s; three snapshots.

Each snapshot's newest event is within 1 s of the snapshot command, its
size stays within the ring (4 MiB per CPU, plus metadata), it analyzes
like any trace (runs.trace_start = 'snapshot', starting at the buffers'
horizon) with the threads' names; `flight stop` ends the session."""
import os
import sqlite3
import subprocess
import time

import svc  # noqa: E402
from svc import gstest  # noqa: E402

RING = 4 << 20
SNAPSHOTS = 3
EVERY_S = 9.0


def main() -> None:
    _, py = gstest.python_arg()
    out = gstest.tmpdir()
    service = svc.Service(py)
    client = None
    session = None
    try:
        client = svc.Client(service)
        svc.wait_until(lambda: client.count() >= 5, 60, "the service answers")
        res = svc.gs("record", "--flight", "-b", "4M", "--pid", f"{service.pid},{service.server_pid}")
        gstest.check(res.returncode == 0, f"record --flight exits 0 at once: {res.stderr.strip()}")
        session = res.stdout.strip()
        gstest.check(session.startswith("gilscope-flight-") and session in svc.sessions(),
                     f"it prints the session's name, {session}, which lives on")
        again = svc.gs("record", "--flight", "--pid", str(service.pid))
        lines = again.stderr.strip().splitlines()
        gstest.check(again.returncode == 1 and len(lines) == 1 and "already runs" in lines[0]
                     and session in svc.sessions(),
                     f"a second flight recorder of the same pid: one line, exit 1, the first one kept ({lines})")
        started = time.time_ns()
        ncpu = os.cpu_count() or 1
        sizes = []
        for k in range(SNAPSHOTS):
            time.sleep(EVERY_S)
            snap = out / f"snap{k}"
            asked = time.time_ns()
            res = svc.gs("snapshot", "-o", str(snap))
            done = time.time_ns()
            gstest.check(res.returncode == 0, f"snapshot {k} exits 0: {res.stderr.strip()}")
            db = out / f"snap{k}.db"
            res = subprocess.run([str(gstest.gilscope()), "analyze", str(snap), "-o", str(db)],
                                 capture_output=True, text=True, timeout=300)
            gstest.check(res.returncode == 0, f"snapshot {k} analyzes: {res.stderr.strip()}")
            con = sqlite3.connect(db)
            kind, horizon, start, newest, before = con.execute(
                "SELECT trace_start, horizon_ns, start_ns, end_ns, before_horizon_events FROM runs").fetchone()
            gstest.check(kind == "snapshot" and horizon is not None and start >= horizon,
                         f"snapshot {k}: runs.trace_start 'snapshot', starting at the buffers' horizon "
                         f"({before} events before it skipped)")
            # The service runs on while the command works: its newest
            # event falls between a second before the command and its end.
            gstest.check(asked - 1_000_000_000 <= newest <= done,
                         f"snapshot {k}: newest event {(newest - asked) / 1e6:+.0f} ms from the command, "
                         f"which took {(done - asked) / 1e6:.0f} ms ({(newest - horizon) / 1e9:.1f} s "
                         "after the horizon)")
            size = svc.dir_size(snap)
            sizes.append(size)
            gstest.check(size <= ncpu * RING + (1 << 20),
                         f"snapshot {k}: {size / 2**20:.1f} MiB, within {ncpu} x 4 MiB + metadata")
            info = gstest.info(snap)
            gstest.check(info.get("mode") == "snapshot" and info.get("session") == session,
                         "gilscope.info: mode=snapshot, the session")
        print(f"sizes: {[round(x / 2**20, 2) for x in sizes]} MiB; recorder ran {(time.time_ns() - started) / 1e9:.0f} s")
        gstest.check(horizon > started, "the last snapshot holds only recent events: a ring turned over "
                     f"(its horizon {(horizon - started) / 1e9:.1f} s after the start)")
        names = {r[0] for r in con.execute("SELECT name FROM threads WHERE holds > 0")}
        gstest.check({"cpu-worker-0", "cpu-worker-1"} <= names and any(n and n.startswith("server-conn-") for n in names),
                     f"threads have their names ({sorted(n for n in names if n)[:6]})")
        clipped = con.execute("SELECT count(*) FROM holds WHERE started = 'trace_start'").fetchone()[0] + \
            con.execute("SELECT count(*) FROM waits WHERE started = 'trace_start'").fetchone()[0]
        gstest.check(clipped >= 1, f"holds/waits open at the horizon are marked 'trace_start' ({clipped})")

        html = out / "snap.html"
        rep = svc.gs("report", str(db), "-o", str(html))
        summ = svc.gs("summary", str(db))
        gstest.check(rep.returncode == 0 and "buffer horizon" in html.read_text()
                     and summ.returncode == 0 and "buffer horizon" in summ.stdout,
                     "the report and the summary say the run starts at the buffer's horizon")

        res = svc.gs("flight", "stop")
        gstest.check(res.returncode == 0 and session not in svc.sessions(), "flight stop ends the session")
        session = None
        client.stop()
        gstest.check(not client.bad, f"every answer was right ({client.ok} answers, bad: {client.bad[:3]})")
        print("PASSED: flight recorder")
    finally:
        if session:
            svc.gs("flight", "stop", session)
        if client:
            client.stop()
        service.stop()


if __name__ == "__main__":
    main()
