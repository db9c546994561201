"""Golden tests: small traces recorded by `gilscope record` (committed as
tests/data/analyzer/NAME.tar.xz) analyzed again, with the expected query
results beside them (NAME.expected.json), plus the consistency checks
and the summary's layout. GILSCOPE_UPDATE_GOLDEN=1 rewrites the expected
files (tests/README.md)."""
import json
import shutil

import dbcheck
import gstest
from dbcheck import check, fail

TRACES = {
    "countdown": "two threads counting down: drop requests, forced switches",
    "pingpong": "two threads passing a byte through pipes: one hand-off per read",
    "convoy": "an I/O thread next to a CPU hog: the convoy effect",
    "lossy": "GIL churn recorded with a 64k buffer: 3593 events lost",
    "fork": "a parent and its fork child, two worker threads each",
}

QUERIES = [
    "SELECT event_count, lost_events, anomalies, interval_us, python_versions, command, "
    "exit_status, start_ns, end_ns, wall_ns, hostname FROM runs",
    "SELECT pid, procname, first_ns, last_ns FROM processes ORDER BY pid",
    "SELECT gil_id, pid, address, interval_us, rule, python_version, found_ns, retired_ns "
    "FROM gils ORDER BY gil_id",
    "SELECT pid, tid, name, first_ns, last_ns, holds, waits, held_ns, wait_ns, timeouts, "
    "drop_requests_issued, drop_requests_received, forced_releases, convoys FROM threads "
    "ORDER BY pid, tid",
    "SELECT pid, tid, hold_p50_ns, hold_p90_ns, hold_p99_ns, hold_max_ns, wait_p50_ns, "
    "wait_p90_ns, wait_p99_ns, wait_max_ns FROM threads ORDER BY pid, tid",
    "SELECT gil_id, tid, ended, count(*), sum(dur_ns), max(dur_ns), sum(crosses_loss) FROM holds "
    "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    "SELECT gil_id, tid, outcome, count(*), sum(dur_ns), sum(timeouts), sum(convoy), "
    "sum(crosses_loss) FROM waits GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    "SELECT gil_id, from_tid, to_tid, count(*), sum(gap_ns), sum(forced), sum(crosses_loss) "
    "FROM switches GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    "SELECT gil_id, requester, holder, count(*), sum(response_ns), count(released_ns) "
    "FROM drop_requests GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    "SELECT gil_id, tid, count(*), sum(dur_ns) FROM forced_switches GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT gil_id, tid, count(*), min(ts_ns) FROM timeouts GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT stream, start_ns, end_ns, count FROM lost ORDER BY start_ns, stream",
    "SELECT * FROM metrics ORDER BY gil_id IS NOT NULL, gil_id",
    "SELECT kind, gil_id, tid, value, message FROM findings ORDER BY rowid",
    "SELECT kind, title, detail, at_ns, dur_ns FROM findings ORDER BY rowid",
]
METRICS_QUERY = "SELECT * FROM metrics ORDER BY gil_id IS NOT NULL, gil_id"
assert METRICS_QUERY in QUERIES


def main():
    tmp = dbcheck.tmpdir()
    for name, what in TRACES.items():
        print(f"== {name}: {what}", flush=True)
        trace = dbcheck.unpack(name, tmp)
        db = tmp / f"{name}.db"
        dbcheck.analyze(trace, db)
        dbcheck.check_db(db, trace)
        dbcheck.summary(db)
        got = {q: [list(r) for r in dbcheck.rows(db, q)] for q in QUERIES}
        # Past its memory budget for durations, the analyzer keeps them in
        # histograms: the same figures, percentiles within 1/128, exact max.
        spilled = tmp / f"{name}-spilled.db"
        dbcheck.analyze(trace, spilled, env={"GILSCOPE_DURS_BUDGET": "10"})
        check(dbcheck.one(spilled, "SELECT percentiles_exact FROM runs") == 0
              and dbcheck.one(db, "SELECT percentiles_exact FROM runs") == 1,
              f"{name}: runs.percentiles_exact says which")
        for q in (METRICS_QUERY, QUERIES[4]):
            a, b = dbcheck.rows(spilled, q), dbcheck.rows(db, q)
            cols = [c.strip().split()[-1] for c in q.split("FROM")[0][len("SELECT "):].split(",")]
            ok = len(a) == len(b)
            for ra, rb in zip(a, b):
                for i, (x, y) in enumerate(zip(ra, rb)):
                    if isinstance(x, int) and isinstance(y, int) and "_p" in str(cols[i] if i < len(cols) else ""):
                        ok = ok and abs(x - y) <= y / 128 + 1
                    elif q == METRICS_QUERY and isinstance(x, int) and isinstance(y, int):
                        # metrics: SELECT *; percentile columns are 12..27
                        ok = ok and (x == y if not 12 <= i <= 27 else abs(x - y) <= y / 128 + 1)
                    else:
                        ok = ok and x == y
            check(ok, f"{name}: histogram percentiles within 1/128 of the exact ones ({q[:40]}...)")
        exp_path = dbcheck.DATA / f"{name}.expected.json"
        if gstest.golden_update(exp_path, json.dumps(got, indent=1) + "\n"):
            continue
        if not exp_path.exists():
            fail(f"{exp_path} is missing: run this test with GILSCOPE_UPDATE_GOLDEN=1")
        want = json.loads(exp_path.read_text())
        for q in QUERIES:
            if got[q] != want.get(q):
                fail(f"{name}: {q}\n got: {got[q][:5]}\nwant: {(want.get(q) or [])[:5]}")
        check(True, f"{name}: {len(QUERIES)} golden queries match")
    if not dbcheck.env_keep():
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
