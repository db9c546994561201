"""A stream with no packet at all lost everything it had, and LTTng counts
nothing. The stop's flush writes a packet in every stream, an empty one for
an idle CPU; a stream whose first sub-buffer was never committed (a traced
process killed inside an event before anything of that CPU's stream went
out, or the consumer daemon gone) gets none, and babeltrace2 skips its
empty file without a word.

Since a recording closes its sub-buffers every second (the channel's switch
timer, tracer/session.c), a writer killed inside an event stops its CPU's
stream only from the last second on: what that CPU's stream held before
went out. Without the timer a stream whose first sub-buffer had not filled
(4 MiB by default: minutes of a program's sparse events) lost all of it.

Here a sparse victim runs alone on the second CPU (a hold every 100 ms
for 2.5 s; gdb then stops it inside a hold event's write, liblttng-ust
copying the payload after the reservation, and kills it there): that
stream must hold the victim's events from before (its `gil_found` and at
least a second of its life), and the recorder must say the stream ended
early (it ends before the stop the recorder asked for, gilscope.info's
`stop_clock`), with a loss of unknown size. The same trace with that
stream and its index emptied is what a kill before the stream's first
packet leaves (within its first second; with LTTng's defaults, before its
first sub-buffer filled): `gilscope analyze` must store a loss of unknown
size for that stream and say events were lost. An idle CPU's stream, in a
recording of its own, holds the stop's empty packet: nothing is said.
Last, the consumer daemon killed while recording: no stream has a packet
(and the metadata is empty), where the recorder said "no events lost"
before."""

import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys

import gstest

# A hold every 100 ms on its CPU, killed inside one after 2.5 s.
SPARSE = r"""
import json, os, subprocess, sys, time
victim_cpu, workload, gdbcmds = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
victim = subprocess.Popen(
    ["taskset", "-c", str(victim_cpu), sys.executable, "-c",
     "import time\nwhile True: time.sleep(0.1)"])
print("VICTIM", victim.pid, flush=True)
time.sleep(2.5)
gdb = subprocess.run(["gdb", "-p", str(victim.pid)] + gdbcmds,
                     capture_output=True, text=True, timeout=120)
print("GDB", gdb.stdout.replace("\n", " | "))
victim.wait()
subprocess.run([sys.executable, workload, "churn", "2", "20000"], check=True,
               stdout=subprocess.DEVNULL)
"""

# Kills the consumer daemons of this environment's session daemon (the
# one gilscope started in it) halfway through.
KILL_CONSUMER = r"""
import os, signal, sys, threading
from pathlib import Path
def f():
    n = 100000
    while n: n -= 1
def run():
    ts = [threading.Thread(target=f) for _ in range(2)]
    [t.start() for t in ts]; [t.join() for t in ts]
run()
daemon = Path(sys.argv[1]).read_text().strip()
for d in Path("/proc").glob("[0-9]*"):
    try:
        if ((d / "comm").read_text().strip() == "lttng-consumerd"
                and (d / "stat").read_text().rsplit(")", 1)[1].split()[1] == daemon):
            os.kill(int(d.name), signal.SIGKILL)
            print("KILLED", d.name, flush=True)
    except (OSError, IndexError):
        pass
run()
"""


def index_packets(idx: str) -> int:
    """How many packets a CTF packet index lists (16-byte header, then
    entries of the size it gives)."""
    with open(idx, "rb") as f:
        data = f.read()
    entry = struct.unpack(">I", data[12:16])[0]
    return (len(data) - 16) // entry


def main() -> None:
    gstest.need_gdb_in_event()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        gstest.skip(f"one CPU only ({cpus}): the victim needs a CPU of its own")
    # A daemon of its own: no other recording's process writes in its streams.
    private = gstest.private_lttng()
    out = gstest.tmpdir()
    main_cpu, victim_cpu = cpus[0], cpus[1]
    taskset = ["taskset", "-c", str(main_cpu)]

    # An idle CPU: its stream holds the stop's empty packet, nothing is said.
    res = gstest.record(taskset + [sys.executable, "-c", "pass"], out / "idle")
    gstest.check("no packet" not in res.stderr and "no events lost" in res.stderr,
                 f"a recording with an idle CPU says no events lost ({res.stderr.strip()})")

    workload = gstest.source_dir() / "bench" / "workload.py"
    stream = f"gilscope_{victim_cpu}"

    def stream_index(trace: str) -> list[str]:
        return [os.path.join(d, "index", stream + ".idx")
                for d in map(str, (out / trace / "ust" / "uid").glob("*/*-bit"))]

    def gdb_line(res: subprocess.CompletedProcess) -> str:
        gdb = next((line for line in res.stdout.splitlines() if line.startswith("GDB ")), "")
        gstest.check("memcpy" in gdb and "liblttng-ust" in gdb and "killed" in gdb,
                     f"gdb killed the victim inside liblttng-ust's copy of an event ({gdb[:600]})")
        return gdb

    # The sparse victim: far from filling a sub-buffer, its events went out
    # with the switch timer's packets before the kill.
    prog = out / "sparse.py"
    prog.write_text(SPARSE)
    res = gstest.record(taskset + [sys.executable, str(prog), str(victim_cpu), str(workload),
                                   json.dumps(gstest.GDB_KILL_IN_EVENT)], out / "sparse")
    gdb_line(res)
    victim = int(next(line.split()[1] for line in res.stdout.splitlines()
                      if line.startswith("VICTIM ")))
    idx = stream_index("sparse")
    gstest.check(len(idx) == 1 and index_packets(idx[0]) >= 1,
                 f"the sparse victim's CPU's stream {stream} holds packets from before the kill "
                 f"({[(i, index_packets(i)) for i in idx if os.path.exists(i)]})")
    gstest.check("ended early" in res.stderr and "no packet at all" not in res.stderr,
                 f"the recorder says that stream ended early ({res.stderr.strip()})")
    # Its start-up, then a release every 100 ms for 2.5 s and more before
    # gdb killed it: those of the last second at most are lost.
    mine = [e for e in gstest.read_trace(out / "sparse").events if e.pid == victim]
    span = (max(e.ts for e in mine) - min(e.ts for e in mine)) / 1e9 if mine else 0.0
    gstest.check(any(e.name == "gil_found" for e in mine) and span >= 1.0,
                 f"the victim's events from before the kill are in the trace: its gil_found "
                 f"({sum(e.name == 'gil_found' for e in mine)}) and {span:.2f} s of its life "
                 f"(>= 1 s of 2.5 s and more)")
    gstest.check_unknown_loss(res, out / "sparse", out / "sparse.db")
    # Its last packet, a partial one the timer closed, ends before the stop
    # the recorder asked for (gilscope.info's stop_clock): a loss of unknown
    # size from there to the trace's end.
    con = sqlite3.connect(str(out / "sparse.db"))
    rows = con.execute("SELECT stream, end_ns - start_ns, count FROM lost "
                       "WHERE stream LIKE ?", (f"ust/uid/%/{stream}",)).fetchall()
    con.close()
    gstest.check(len(rows) == 1 and rows[0][2] == 0 and rows[0][1] > 0,
                 f"analyze: a loss of unknown size from where {stream} stopped ({rows})")

    # No packet at all: the same trace, that stream and its index emptied.
    shutil.copytree(out / "sparse", out / "trace")
    (idx,) = stream_index("trace")
    with open(idx, "r+b") as f:
        f.truncate(16)    # the index's header alone
    with open(os.path.join(os.path.dirname(os.path.dirname(idx)), stream), "wb"):
        pass
    db = out / "run.db"
    an = subprocess.run([str(gstest.gilscope()), "analyze", str(out / "trace"), "-o", str(db)],
                        capture_output=True, text=True, timeout=300)
    gstest.check(an.returncode == 0 and "an unknown number of events were lost" in an.stderr,
                 f"analyze succeeded and says events were lost ({an.stderr.strip()})")
    con = sqlite3.connect(str(db))
    rows = con.execute("SELECT stream, start_ns, end_ns, count FROM lost "
                       "WHERE stream LIKE ?", (f"ust/uid/%/{stream}",)).fetchall()
    finding = con.execute("SELECT message FROM findings WHERE kind = 'lost_events'").fetchone()
    con.close()
    gstest.check(len(rows) == 1 and rows[0][3] == 0 and rows[0][2] is not None,
                 f"a loss of unknown size for {stream}, to the trace's end ({rows})")
    gstest.check(finding is not None and "1 stream with no packet at all" in finding[0],
                 f"the lost_events finding says why ({finding})")
    summ = subprocess.run([str(gstest.gilscope()), "summary", str(db)], capture_output=True,
                          text=True, timeout=120)
    text = " ".join(summ.stdout.split())
    gstest.check("unknown (see findings)" in text,
                 f"the summary says lost: unknown ({summ.stdout[:800]})")
    # The consumer daemon killed while recording: no stream gets a packet.
    # Only in an environment of its own: its consumer is this test's alone.
    pidfile = "/run/lttng/lttng-sessiond.pid"
    if private and os.geteuid() == 0:
        prog = out / "consumer.py"
        prog.write_text(KILL_CONSUMER)
        res = gstest.record([sys.executable, str(prog), pidfile], out / "consumer", check=False)
        gstest.check("KILLED" in res.stdout, f"the consumer daemon was killed ({res.stdout.strip()})")
        streams = list((out / "consumer" / "ust" / "uid").glob("*/*-bit/index/*.idx"))
        said = [line for line in res.stderr.splitlines() if "no packet at all" in line]
        gstest.check(len(said) == 1 and said[0].startswith(
                         f"gilscope record: {len(streams)} stream{'s' if len(streams) > 1 else ''} "
                         "of the trace ha"),
                     f"the recorder says none of the {len(streams)} streams has a packet "
                     f"({res.stderr.strip()})")
        info = gstest.info(out / "consumer")
        gstest.check(info["lost_events"] == "unknown" and "no events lost" not in res.stderr,
                     f"and never 'no events lost': lost_events={info['lost_events']}")
    else:
        print("note: no private LTTng environment: the consumer daemon is not killed")
    if not os.environ.get("GILSCOPE_TEST_KEEP"):
        shutil.rmtree(out, ignore_errors=True)
    print("PASSED: a stream with no packet is a loss, said by record and analyze")


if __name__ == "__main__":
    main()
