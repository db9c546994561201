"""A process that ends by a signal of its own runs no exit handler: CPython's
fatal errors end in abort() (issue 12: test_threading's subinterpreter test
ending in "Fatal Python error: Py_EndInterpreter: not the last thread" lost
another thread's release, captured under the GIL's mutex but not yet
written: a hole in the GIL's order and an anomaly), and an unhandled
KeyboardInterrupt in kill(getpid(), SIGINT) with the default action. The
preload lets the other threads write what they captured first. To make the
window wide, the other thread releases the GIL from 30 frames of code
objects it has never met, whose descriptions it writes before its release
record, while the main thread takes the GIL and kills the process (SIGTERM)
or aborts at once."""


import gstest

PROGRAM = r"""
import os, resource, signal, subprocess, sys, threading

DEPTH, BODY = 30, 100

def child():
    r, w = os.pipe()
    ev = threading.Event()
    lines = []
    for d in range(DEPTH):
        lines.append(f"def f{d}():")
        lines += [f"    x{j} = {j}" for j in range(BODY)]
        lines.append(f"    f{d + 1}()" if d + 1 < DEPTH else "    ev.set(); os.write(w, b'x')")
    ns = {"ev": ev, "os": os, "w": w}
    exec(compile("\n".join(lines), "<chain>", "exec"), ns)
    t = threading.Thread(target=ns["f0"])
    t.start()
    ev.wait()
    if sys.argv[1] == "abort":  # as CPython's fatal errors end
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.abort()
    os.kill(os.getpid(), signal.SIGTERM)

if len(sys.argv) > 1:
    child()
else:
    for how in ["kill"] * 5 + ["abort"] * 3:
        print("child", subprocess.run([sys.executable, __file__, how]).returncode)
"""


def main() -> None:
    # A daemon of its own: no other recording's process shares its streams.
    gstest.private_lttng()
    label, exe = gstest.python_arg()
    out = gstest.tmpdir()
    prog = out / "killself.py"
    prog.write_text(PROGRAM)
    res = gstest.record([str(exe), str(prog)], out / "trace")
    codes = [line.split()[1] for line in res.stdout.splitlines() if line.startswith("child ")]
    gstest.check(codes == ["-15"] * 5 + ["-6"] * 3,
                 f"each child ended by its own SIGTERM, or abort() ({codes})")
    db = out / "run.db"
    con = gstest.analyze(out / "trace", db)
    # The recorder's word on streams that stopped short (a thread killed
    # inside an event): what to look at when this fails.
    streams = " ".join(line for line in res.stderr.splitlines() if "stream" in line)
    gstest.check_whole(con, 9, "the parent and its eight children",
                       "every captured event was written before the process killed itself", streams)
    con.close()
    print(f"PASSED: kill_self ({label})")


if __name__ == "__main__":
    main()
