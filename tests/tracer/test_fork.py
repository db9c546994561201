"""A program that forks, and a multiprocessing pool: every child's events
come under its own pid, each process finds its GIL exactly once, and each
child's GIL events follow CPython's state machine."""

import gstest

PROGRAM = r"""
import os, sys, threading, multiprocessing
def count(n):
    while n > 0:
        n -= 1
    return os.getpid()
def two_threads():
    ts = [threading.Thread(target=count, args=(300000,)) for _ in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
pid = os.fork()
if pid == 0:
    two_threads()
    os._exit(0)
os.waitpid(pid, 0)
print("forked", pid)
if __name__ == "__main__":
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        pids = set(pool.map(count, [200000] * 4))
    print("pool", " ".join(str(p) for p in sorted(pids)))
    print("parent", os.getpid())
"""


def main() -> None:
    label, exe = gstest.python_arg()
    out = gstest.tmpdir()
    prog = out / "forks.py"
    prog.write_text(PROGRAM)
    res = gstest.record([str(exe), str(prog)], out / "trace")
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines())
    parent = int(lines["parent"])
    forked = int(lines["forked"])
    pool = {int(p) for p in lines["pool"].split()}
    info = gstest.info(out / "trace")
    trace = gstest.own_events(gstest.read_trace(out / "trace"), int(info["tag"]))
    gstest.check(trace.discarded == 0, "no event lost")
    gstest.check_sequences(trace)
    by_pid = trace.by_pid()
    # 3.6 makes its GIL when the first thread starts: the pool's workers,
    # forked before the pool starts its threads, never have one.
    gil_pids = [parent, forked] + (sorted(pool) if gstest.python_version(exe) >= (3, 7) else [])
    for pid in gil_pids:
        evs = by_pid.get(pid, [])
        found = [e for e in evs if e.name == "gil_found"]
        gstest.check(len(found) == 1, f"pid {pid}: exactly one gil_found ({len(found)})")
        gstest.check(any(e.name == "release" for e in evs), f"pid {pid}: its own releases ({len(evs)} events)")
    child = by_pid[forked]
    takers = {e.tid for e in child if e.name == "acquire"}
    gstest.check(len(takers) >= 3 and parent not in takers,
                 f"the forked child's main thread and two threads took its GIL under its own tids ({len(takers)})")
    gstest.check(all(e.procname for e in trace.events), "procname context present")
    if gstest.python_version(exe) >= (3, 7):
        named = {e.pid for e in trace.named("thread_name") if e.fields["tid"] == e.pid}
        gstest.check({parent, forked} | pool <= named,
                     "every process's main thread is named, fork children too (os.register_at_fork)")
    print(f"PASSED: fork ({label})")


if __name__ == "__main__":
    main()
