"""Short traced processes keep their first events: a program starts
children one after the other (`python -c pass`, and children that end at
once through os._exit), each traced; every child's trace starts with its
gil_found, then the acquire of CPython's very first take of the GIL, and
its GIL events carry every sequence number from 0 on (none lost at
start-up), up to its process_exit. (3.6 makes its GIL at the first thread
start: there a child's first event is its main thread's name.) liblttng-ust's registration with the
session daemon overlaps the child's own start-up (docs/tracer.md, "Cost"):
its events must wait for it, not be dropped.
Run by root, a traced process has one LTTng listener thread, not two (the
second, for a per-user daemon root never has, is not started:
docs/tracer.md, "Cost"), and its environment is the one it was started
with, in the same order (HOME is hidden from liblttng-ust only while it
loads)."""
import os

import gstest

PROGRAM = r"""
import subprocess, sys
pids = []
for code in ["pass"] * 6 + ["import os; os._exit(3)"] * 2:
    p = subprocess.Popen([sys.executable, "-c", code])
    p.wait()
    pids.append(p.pid)
print("children", " ".join(map(str, pids)))
"""

# A traced process's own view: its threads (the kernel's count, LTTng's
# included) and its environment against the one it was started with (the
# kernel's copy, which changes to environ's pointers do not touch).
LOOK = r"""
import os
start = [e.split(b"=", 1) for e in open("/proc/self/environ", "rb").read().split(b"\0") if b"=" in e]
print("look", len(os.listdir("/proc/self/task")), [tuple(e) for e in start] == list(os.environb.items()))
"""


def seqs(e: gstest.Event) -> list[int]:
    if e.name == "take":
        return [e.fields["req_seq"], e.fields["seq"]]
    return [e.fields["seq"]] if "seq" in e.fields else []


def main() -> None:
    label, exe = gstest.python_arg()
    out = gstest.tmpdir()
    prog = out / "children.py"
    prog.write_text(PROGRAM)
    res = gstest.record([str(exe), str(prog)], out / "trace")
    children = [int(p) for p in res.stdout.split("children", 1)[1].split()]
    trace = gstest.own_events(gstest.read_trace(out / "trace"), int(gstest.info(out / "trace")["tag"]))
    gstest.check(trace.discarded == 0, "no event lost")
    gstest.check_sequences(trace)
    by_pid = trace.by_pid()
    lazy_gil = gstest.python_version(exe) < (3, 7)
    for pid in children:
        evs = gstest.in_gil_order([e for e in by_pid.get(pid, []) if e.name not in ("code", "stack")])
        names = [e.name for e in evs]
        if lazy_gil:
            gstest.check(names[:1] == ["thread_name"], f"child {pid}: its main thread's name ({names})")
            continue
        found = [e for e in evs if e.name == "gil_found"]
        gstest.check(len(found) == 1, f"child {pid}: exactly one gil_found ({names[:5]})")
        gil = found[0].fields["gil"]
        # Its state changes (a resync's gil_known, written at once, may come
        # before the first acquire, which is written with its release).
        mine = [e for e in evs if e.fields.get("gil") == gil and seqs(e)]
        gstest.check(bool(mine) and mine[0].name == "acquire" and mine[0].fields["seq"] == 0
                     and mine[0].fields["switch_number"] == 1,
                     f"child {pid}: the first take of the GIL recorded "
                     f"({[(e.name, seqs(e)) for e in mine[:3]]})")
        got = sorted(s for e in mine for s in seqs(e))
        gstest.check(got == list(range(len(got))),
                     f"child {pid}: GIL events 0 to {len(got) - 1}, none missing "
                     f"(first {got[:5]}, last {got[-3:]})")
        gstest.check(names[-1] == "process_exit", f"child {pid}: ends with process_exit ({names[-3:]})")
    look = out / "look.py"
    look.write_text(LOOK)
    res = gstest.record([str(exe), str(look)], out / "trace-look")
    tasks, same_env = res.stdout.split("look", 1)[1].split()
    gstest.check(same_env == "True", "a traced process's environment is the one it started with, in order")
    if os.geteuid() == 0:
        gstest.check(tasks == "2", f"a traced process run by root: its thread and one LTTng listener ({tasks} threads)")
    print(f"PASSED: startup ({label}): {len(children)} children, each from its first GIL event")


if __name__ == "__main__":
    main()
