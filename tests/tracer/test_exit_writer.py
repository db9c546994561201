"""A process that exits while another of its threads is inside an LTTng
event must not crash (issue 12: tracer.sites' daemon threads at exit died
of SIGSEGV once each on 3.9 and 3.11 under load).

At exit() gilscope marks the process as dying (threads that start writing
from then on write nothing) and waits up to 50 ms for the threads already
writing; then glibc runs the libraries' destructors. The first is
gilscope's own: the header's tracepoint destructor unregisters the
tracepoints and zeroes liblttng-ust-tracepoint's function pointers, the
RCU read lock and unlock among them. A thread still inside an event
(preempted there for more than the 50 ms on a loaded machine) then calls
the zeroed unlock when its event ends: SIGSEGV at address 0, with
liblttng-ust's destructor waiting for it in synchronize_rcu.

slow_event_write.c (GILSCOPE_TEST_EXIT_WRITER), preloaded after gilscope's
library, holds such a thread inside its event for 0.5 s from the moment the
process calls exit(): the child exits with daemon-like threads churning
the GIL (libc's exit() through ctypes: Python's finalization would stop
them first). Each child must exit 0, a thread held each time, and the
recording must be whole."""

import gstest

PROG = r"""
import ctypes, os, subprocess, sys, threading, time

def child():
    def churn():
        r, w = os.pipe()
        while True:
            os.write(w, b"x"); os.read(r, 1)
    def spin():
        n = 0
        while True:
            n += 1
    for fn in (churn, churn, spin):
        threading.Thread(target=fn, daemon=True).start()
    time.sleep(0.2)
    print("bye", flush=True)
    ctypes.CDLL(None).exit(0)  # the threads still run: no finalization

if len(sys.argv) > 2:
    child()
else:
    env = dict(os.environ, LD_PRELOAD=os.environ.get("LD_PRELOAD", "") + ":" + sys.argv[1],
               GILSCOPE_TEST_EXIT_WRITER="1")
    for _ in range(3):
        res = subprocess.run([sys.executable, __file__, sys.argv[1], "child"], env=env,
                             stdout=subprocess.PIPE, timeout=60)
        print("child", res.returncode, res.stdout.decode().strip(), flush=True)
"""


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--slow-event-write", required=True)
    args, _ = ap.parse_known_args()
    label, exe = gstest.python_arg()
    # A daemon of its own: no other recording's process shares its streams.
    gstest.private_lttng()
    out = gstest.tmpdir()
    prog = out / "exitwriter.py"
    prog.write_text(PROG)
    res = gstest.record([str(exe), str(prog), args.slow_event_write], out / "trace")
    children = [line.split(None, 2)[1:] for line in res.stdout.splitlines()
                if line.startswith("child ")]
    gstest.check(children == [["0", "bye"]] * 3,
                 f"each child exited 0 with a thread inside an event ({children}; "
                 f"-11 is SIGSEGV)")
    held = [line for line in res.stderr.splitlines()
            if line.startswith("slow_event_write: a thread is held inside an event while")]
    gstest.check(len(held) == 3, f"a thread of each child was held inside its event ({held})")
    gstest.check("no events lost" in res.stderr, f"the recorder lost nothing ({res.stderr.strip()})")
    trace = gstest.own_events(gstest.read_trace(out / "trace"), int(gstest.info(out / "trace")["tag"]))
    gstest.check_sequences(trace)
    con = gstest.analyze(out / "trace", out / "run.db")
    gstest.check_whole(con, 4, "the parent and its three children", "the recording is whole")
    con.close()
    print(f"PASSED: exit_writer ({label})")


if __name__ == "__main__":
    main()
