"""3.12+: a subinterpreter with its own GIL (PEP 684) is a second GIL, with
its own address and its own gil_found."""

import gstest

# The subinterpreter is made by a thread (so that its start-up, which
# imports site, runs there) and runs on it.
PROGRAM = r"""
import sys, threading
if sys.version_info >= (3, 13):
    import _interpreters as si
else:
    import _xxsubinterpreters as si
def in_sub():
    iid = si.create("isolated") if sys.version_info >= (3, 13) else si.create(isolated=True)
    si.run_string(iid, "n = 400000\nwhile n: n -= 1\n")
    si.destroy(iid)
t = threading.Thread(target=in_sub)
t.start()
n = 400000
while n: n -= 1
t.join()
print("ok")
"""


def main() -> None:
    label, exe = gstest.python_arg()
    if gstest.python_version(exe) < (3, 12):
        gstest.skip(f"Python {label} has no per-interpreter GIL (3.12+)")
    out = gstest.tmpdir()
    prog = out / "subinterp.py"
    prog.write_text(PROGRAM)
    gstest.record([str(exe), str(prog)], out / "trace")
    info = gstest.info(out / "trace")
    trace = gstest.own_events(gstest.read_trace(out / "trace"), int(info["tag"]))
    gstest.check_sequences(trace)
    gils = {e.fields["gil"] for e in trace.named("gil_found")}
    gstest.check(len(gils) == 2, f"two GILs found: {[hex(g) for g in gils]}")
    used = {e.fields["gil"] for e in trace.named("acquire")}
    gstest.check(used == gils, "both GILs were taken and released")
    # The subinterpreter runs the Python-side hook again, on threads the
    # main interpreter named: its threading calls them "Dummy-N".
    names = {}
    for e in trace.named("thread_name"):
        names[e.fields["tid"]] = e.fields["name"]
    gstest.check(not any(n.startswith("Dummy-") for n in names.values())
                 and set(names.values()) == {"MainThread", "Thread-1 (in_sub)"},
                 f"threads keep their names in the subinterpreter: {sorted(names.values())}")
    # Two GILs: the main interpreter's and the subinterpreter's threads ran
    # at once, so no drop request is needed between them.
    print(f"PASSED: subinterpreters ({label})")


if __name__ == "__main__":
    main()
