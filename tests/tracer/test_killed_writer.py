"""A traced process killed inside an event, after its reservation in the
ring buffer and before its commit, leaves that sub-buffer uncommitted for
good: LTTng's consumer takes a stream's sub-buffers in order, so that
CPU's stream stops there. Every later event of that CPU, of any process
of the user (per-user buffers are shared), is lost, and LTTng counts
nothing: no discarded events, no discarded packets, lost_events 0. That is
what made a recording beside other tests' miss 95 events of its GIL's
order while everything said "no events lost" (another recording's
process, killed while writing, stopped the shared stream).

Here gdb stops a churning child of the recorded program inside its
hold event's write (liblttng-ust copying the payload, after the
reservation) and kills it there; the program then churns on every CPU.
The child runs on one CPU only: on a loaded machine it once ran 2 s on one
CPU and was killed on the other, whose stream had no packet yet (the
recorder then said nothing of it: one failure in a full run, its trace
kept). Such a stream with no packet at all is tracer.empty_stream's case.
The recorder must say a stream ended early and events were lost
(gilscope.info lost_events=unknown), and `gilscope analyze` must store a
loss of unknown size for that stream: the summary never says lost 0."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import gstest

PROGRAM = r"""
import json, os, subprocess, sys, time
churn = [sys.executable, sys.argv[1], "churn"]
cpu = min(os.sched_getaffinity(0))
# Pinned (with every thread it makes): killed where its events went.
child = subprocess.Popen(churn + ["1", "100000000"], preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
time.sleep(2)   # a few sub-buffers of its events written on its CPU
gdb = subprocess.run(["gdb", "-p", str(child.pid)] + json.loads(sys.argv[2]),
                     capture_output=True, text=True, timeout=120)
print("GDB", gdb.stdout.replace("\n", " | "))
child.wait()
time.sleep(0.5)
subprocess.run(churn + ["2", "50000"], check=True, stdout=subprocess.DEVNULL)
"""


def main() -> None:
    gstest.need_gdb_in_event()
    gstest.private_lttng()
    out = gstest.tmpdir()
    prog = out / "killer.py"
    prog.write_text(PROGRAM)
    workload = gstest.source_dir() / "bench" / "workload.py"
    res = gstest.record([sys.executable, str(prog), str(workload), json.dumps(gstest.GDB_KILL_IN_EVENT)],
                        out / "trace",
                        extra=["--buffer-size", "256k"])
    gdb = next((line for line in res.stdout.splitlines() if line.startswith("GDB ")), "")
    gstest.check("memcpy" in gdb and "liblttng-ust" in gdb and "killed" in gdb,
                 f"gdb killed the child inside liblttng-ust's copy of an event ({gdb[:600]})")
    gstest.check("ended early" in res.stderr, f"the recorder says a stream ended early ({res.stderr.strip()})")
    db = out / "run.db"
    gstest.check_unknown_loss(res, out / "trace", db)
    con = sqlite3.connect(str(db))
    # Events of the later churn whose GIL start went to that stream also
    # lose their start (rows `pid N: start of GIL ...`): not counted here.
    tails = con.execute("SELECT stream, end_ns - start_ns FROM lost "
                        "WHERE count = 0 AND stream LIKE 'ust/uid/%'").fetchall()
    con.close()
    gstest.check(len(tails) >= 1 and all(d > 400_000_000 for _, d in tails),
                 f"a loss of unknown size from where a stream stopped, 0.5 s and more ({tails})")
    summ = subprocess.run([str(gstest.gilscope()), "summary", str(db)], capture_output=True,
                          text=True, timeout=120)
    text = " ".join(summ.stdout.split())
    gstest.check("unknown (see findings)" in text and "stream ended before the recording" in text,
                 f"the summary says lost: unknown, and why ({summ.stdout[:800]})")
    if not os.environ.get("GILSCOPE_TEST_KEEP"):
        shutil.rmtree(out, ignore_errors=True)
    print("PASSED: a writer killed inside an event")


if __name__ == "__main__":
    main()
