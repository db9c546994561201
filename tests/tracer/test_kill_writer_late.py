"""A process that kills itself must not kill a thread inside an LTTng
event: the event's reservation in the per-user ring buffer is never
committed, the rest of that CPU's stream (of every process) is lost, and
lttng-sessiond 2.13 then does not end on SIGTERM (tracer.kill_self failed
so under CI's load: 12.4 s, four of its nine processes missing).
gilscope's kill() waits for the threads that are writing; two kinds were
not waited for (slow_event_write.c, preloaded after gilscope's library,
holds a thread inside its event while the process kills itself):

--case late: a thread that starts writing after the killing thread
  looked (here: woken as the signal is about to be sent, it takes the
  GIL, which the killing thread holds, and writes its request). gilscope
  marks the process as dying first: such a thread writes nothing.
--case found (3.12+): a thread that found a subinterpreter's GIL and is
  writing its gil_found while another thread kills the process: waited
  for like any other writer.

Each child ends by its own SIGTERM, three times; the recording must be
whole: nothing lost, no anomaly, no hole in any GIL's order."""

import argparse
import os

import gstest

LATE = r"""
import os, signal, subprocess, sys, threading, time

def child():
    r, w = os.pipe()
    def waiter():
        os.read(r, 1)  # woken by the kill (slow_event_write.c), then wants the GIL
    threading.Thread(target=waiter, name="late-writer").start()
    time.sleep(0.05)
    os.environ["GILSCOPE_TEST_LATE_WRITER_FD"] = str(w)
    os.kill(os.getpid(), signal.SIGTERM)
"""

FOUND = r"""
import os, signal, subprocess, sys, threading, time
if sys.version_info >= (3, 13):
    import _interpreters as si
else:
    import _xxsubinterpreters as si

def child():
    def in_sub():  # held inside its GIL's gil_found while the process is killed
        si.create("isolated") if sys.version_info >= (3, 13) else si.create(isolated=True)
        time.sleep(5)
    t = threading.Thread(target=in_sub, name="maker")
    t.start()
    t.join()
"""

MAIN = r"""
if len(sys.argv) > 2:
    child()
else:
    env = dict(os.environ, LD_PRELOAD=os.environ.get("LD_PRELOAD", "") + ":" + sys.argv[1],
               **EXTRA)
    for _ in range(3):
        print("child", subprocess.run([sys.executable, __file__, sys.argv[1], "child"], env=env,
                                      timeout=60).returncode, flush=True)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slow-event-write", required=True)
    ap.add_argument("--case", choices=["late", "found"], required=True)
    args, _ = ap.parse_known_args()
    label, exe = gstest.python_arg()
    if args.case == "found" and gstest.python_version(exe) < (3, 12):
        gstest.skip(f"Python {label} has no per-interpreter GIL (3.12+)")
    # A daemon of its own: no other recording's process shares its streams.
    gstest.private_lttng()
    out = gstest.tmpdir()
    prog = out / "killwriter.py"
    body = LATE if args.case == "late" else FOUND
    extra = "{}" if args.case == "late" else '{"GILSCOPE_TEST_SLOW_FOUND": "1"}'
    prog.write_text(body + MAIN.replace("EXTRA", extra))
    res = gstest.record([str(exe), str(prog), args.slow_event_write], out / "trace")
    codes = [line.split()[1] for line in res.stdout.splitlines() if line.startswith("child ")]
    gstest.check(codes == ["-15"] * 3, f"each child ended by its own SIGTERM ({codes})")
    gstest.check("no events lost" in res.stderr, f"the recorder lost nothing ({res.stderr.strip()})")
    held = [line for line in res.stderr.splitlines() if line.startswith("slow_event_write:")]
    if args.case == "found":
        gstest.check(len(held) == 3, f"a thread of each child was held in its gil_found ({held})")
    else:
        gstest.check(not held, f"no thread began an event once its process began to end ({held})")
    trace = gstest.own_events(gstest.read_trace(out / "trace"), int(gstest.info(out / "trace")["tag"]))
    gstest.check_sequences(trace)
    if args.case == "found":
        for pid, evs in sorted(trace.by_pid().items()):
            if any(e.name == "thread_name" and e.fields.get("name") == "maker" for e in evs):
                gils = {e.fields["gil"] for e in evs if e.name == "gil_found"}
                gstest.check(len(gils) == 2, f"pid {pid}: its subinterpreter's gil_found, written "
                             f"while the process killed itself, is there ({len(gils)} GILs)")
    con = gstest.analyze(out / "trace", out / "run.db")
    gstest.check_whole(con, 4, "the parent and its three children", "the recording is whole")
    con.close()
    print(f"PASSED: kill_writer_late --case {args.case} ({label})")


if __name__ == "__main__":
    main()
