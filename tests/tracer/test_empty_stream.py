"""A stream with no packet at all lost everything it had, and LTTng counts
nothing. The stop's flush writes a packet in every stream, an empty one for
an idle CPU; a stream whose first sub-buffer was never committed (a traced
process killed inside an event before that CPU had filled one, or the
consumer daemon gone) gets none, and babeltrace2 skips its empty file
without a word.

Here the recorded program runs on one CPU and a traced victim alone on
another, writing a few events there (its start-up, then a hold every
100 ms: far from filling a sub-buffer); gdb stops the victim inside a hold event's write
(liblttng-ust copying the payload, after the reservation) and kills it
there. That CPU's stream then has no packet: the recorder must say so in
one line and count the loss as unknown (gilscope.info lost_events=unknown),
and `gilscope analyze` must store a loss of unknown size for that stream
and say events were lost. A recording whose second CPU stays idle must say
nothing of the kind: its stream holds the stop's empty packet. Last, the
consumer daemon killed while recording: no stream has a packet (and the
metadata is empty), where the recorder said "no events lost" before."""

import os
import shutil
import sqlite3
import struct
import subprocess
import sys

import gstest

PROGRAM = r"""
import os, subprocess, sys, time
victim_cpu, workload = int(sys.argv[1]), sys.argv[2]
victim = subprocess.Popen(
    [sys.executable, "-c", "import time\nwhile True: time.sleep(0.1)"],
    preexec_fn=lambda: os.sched_setaffinity(0, {victim_cpu}))
time.sleep(0.5)
gdb = subprocess.run(
    ["gdb", "-p", str(victim.pid), "-batch", "-nx",
     "-ex", "break lttng_ust__event_probe__gilscope___hold", "-ex", "continue",
     "-ex", "delete",
     "-ex", 'eval "tbreak memcpy thread %d", $_thread', "-ex", "continue",
     "-ex", "bt 3", "-ex", "kill"],
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

    prog = out / "victim.py"
    prog.write_text(PROGRAM)
    workload = gstest.source_dir() / "bench" / "workload.py"
    # The default buffers (32 MiB per CPU, 4 MiB sub-buffers): the victim's
    # start-up (some 130 kB of code descriptions) fits in the first one.
    res = gstest.record(taskset + [sys.executable, str(prog), str(victim_cpu), str(workload)],
                        out / "trace")
    gdb = next((line for line in res.stdout.splitlines() if line.startswith("GDB ")), "")
    gstest.check("memcpy" in gdb and "liblttng-ust" in gdb and "killed" in gdb,
                 f"gdb killed the victim inside liblttng-ust's copy of an event ({gdb[:600]})")
    stream = f"gilscope_{victim_cpu}"
    idx = [os.path.join(d, "index", stream + ".idx")
           for d in map(str, (out / "trace" / "ust" / "uid").glob("*/*-bit"))]
    gstest.check(len(idx) == 1 and index_packets(idx[0]) == 0,
                 f"the victim's CPU's stream {stream} has no packet "
                 f"({[(i, index_packets(i)) for i in idx if os.path.exists(i)]})")
    said = [line for line in res.stderr.splitlines() if "no packet at all" in line]
    gstest.check(len(said) == 1 and f"/{stream})" in said[0] and "how many is unknown" in said[0],
                 f"the recorder says, in one line, that {stream} has no packet ({res.stderr.strip()})")
    db = out / "run.db"
    gstest.check_unknown_loss(res, out / "trace", db)
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
