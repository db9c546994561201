"""A trace recorded with a tiny buffer loses events: the analyzer counts
them (lost rows, runs.lost_events = babeltrace2's discarded count), marks
the intervals that cross a loss and still keeps every invariant."""
import shutil

import dbcheck
import gstest
from dbcheck import check, one

CHURN = """
import os, threading
def churn():
    for _ in range(20000):
        os.sched_yield() if hasattr(os, "sched_yield") else None
        os.write(w, b"x"); os.read(r, 1)
r, w = os.pipe()
ts = [threading.Thread(target=churn) for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
"""


def main():
    if not gstest.preload_lib().exists():
        gstest.skip("the tracer is not built")
    py = gstest.find_python("debian")
    if py is None:
        gstest.skip("no /usr/bin/python3")
    tmp = dbcheck.tmpdir()
    trace = tmp / "lossy"
    gstest.record([str(py), "-c", CHURN], trace, extra=["--buffer-size", "64k"])
    db = tmp / "lossy.db"
    dbcheck.analyze(trace, db)
    dbcheck.check_db(db, trace)
    lost = one(db, "SELECT lost_events FROM runs")
    if lost == 0:
        gstest.skip("no event was lost this time (the machine was quick enough)")
    check(one(db, "SELECT count(*) FROM lost") >= 1, f"{lost} lost events in lost rows")
    marked = one(db, "SELECT (SELECT count(*) FROM holds WHERE crosses_loss) + "
                     "(SELECT count(*) FROM waits WHERE crosses_loss)")
    check(marked >= 1, f"intervals crossing a loss are marked ({marked})")
    check(one(db, "SELECT count(*) FROM findings WHERE kind = 'lost_events'") == 1, "a finding says so")
    if not dbcheck.env_keep():
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
