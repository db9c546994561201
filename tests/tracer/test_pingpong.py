"""An os.read/os.write ping-pong between two threads over pipes.

Each call releases the GIL around the system call and takes it back: one
request/acquire/release per call, and no thread ever has to ask the other to
drop it (no drop request).
"""

import gstest

ROUNDS = 2000
PROGRAM = r"""
import os, sys, threading
rounds = int(sys.argv[1])
a_r, a_w = os.pipe()
b_r, b_w = os.pipe()
def ping():
    for _ in range(rounds):
        os.write(a_w, b"x")
        os.read(b_r, 1)
def pong():
    for _ in range(rounds):
        os.read(a_r, 1)
        os.write(b_w, b"y")
threads = [threading.Thread(target=ping, name="ping"), threading.Thread(target=pong, name="pong")]
for t in threads: t.start()
for t in threads: t.join()
print("done")
"""


def main() -> None:
    label, exe = gstest.python_arg()
    out = gstest.tmpdir()
    prog = out / "pingpong.py"
    prog.write_text(PROGRAM)
    gstest.record([str(exe), str(prog), str(ROUNDS)], out / "trace")
    info = gstest.info(out / "trace")
    trace = gstest.own_events(gstest.read_trace(out / "trace"), int(info["tag"]))
    gstest.check(trace.discarded == 0, "no event lost")
    counts = gstest.check_sequences(trace)
    tid_of = {e.fields["name"]: e.fields["tid"] for e in trace.named("thread_name")}
    gstest.check("ping" in tid_of and "pong" in tid_of, "both threads named")
    for name in ("ping", "pong"):
        c = sum((v for k, v in counts.items() if k[2] == tid_of[name]), start=__import__("collections").Counter())
        calls = 2 * ROUNDS
        # A few more: thread start-up and exit take and drop the GIL too.
        for ev in ("request", "acquire", "release"):
            gstest.check(calls <= c[ev] <= calls + 40,
                         f"{name}: {c[ev]} {ev} events for {calls} os.read/os.write calls")
    # A thread back from its system call finds the GIL free (the other
    # thread let it go to block in its own call): its request and acquire
    # go out as one `take` record (docs/events.md).
    acq = [e for e in trace.named("acquire") if e.tid in tid_of.values()]
    takes = sum(1 for e in acq if e.fields.get("take"))
    gstest.check(takes >= len(acq) // 2,
                 f"{takes} of the threads' {len(acq)} acquires came with their request in one take record")
    drops = trace.named("drop_request")
    gstest.check(len(drops) == 0, f"no drop request ({len(drops)})")
    print(f"PASSED: pingpong ({label})")


if __name__ == "__main__":
    main()
