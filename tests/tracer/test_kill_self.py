"""A process that signals itself to death runs no exit handler: CPython
ends so after an unhandled KeyboardInterrupt (kill(getpid(), SIGINT) with
the default action, once finalized; issue 12: a test_threading child whose
other thread's release, captured under the GIL's mutex but not yet written,
was lost, leaving a hole in the GIL's order and an anomaly). The preload
lets the other threads write what they captured first. To make the window
wide, the other thread releases the GIL from 60 frames of code objects it
has never met, whose descriptions it writes before its release record,
while the main thread takes the GIL and kills the process at once."""

import sqlite3
import subprocess

import gstest

PROGRAM = r"""
import os, signal, subprocess, sys, threading

DEPTH, BODY = 60, 400

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
    os.kill(os.getpid(), signal.SIGTERM)

if len(sys.argv) > 1:
    child()
else:
    for i in range(5):
        print("child", subprocess.run([sys.executable, __file__, "child"]).returncode)
"""


def main() -> None:
    label, exe = gstest.python_arg()
    out = gstest.tmpdir()
    prog = out / "killself.py"
    prog.write_text(PROGRAM)
    res = gstest.record([str(exe), str(prog)], out / "trace")
    codes = [line.split()[1] for line in res.stdout.splitlines() if line.startswith("child ")]
    gstest.check(codes == ["-15"] * 5, f"each child ended by its own SIGTERM ({codes})")
    db = out / "run.db"
    an = subprocess.run([str(gstest.gilscope()), "analyze", str(out / "trace"), "-o", str(db)],
                        capture_output=True, text=True, timeout=300)
    gstest.check(an.returncode == 0, f"analyze succeeded ({an.stderr.strip()})")
    con = sqlite3.connect(str(db))
    lost, anomalies, gaps, late = con.execute(
        "SELECT lost_events, anomalies, order_gaps, late_events FROM runs").fetchone()
    procs = con.execute("SELECT count(*) FROM processes").fetchone()[0]
    con.close()
    gstest.check(procs == 6, f"the parent and its five children analyzed ({procs})")
    gstest.check((lost, anomalies, gaps, late) == (0, 0, 0, 0),
                 f"every captured event was written before the process killed itself: "
                 f"lost {lost}, anomalies {anomalies}, order gaps {gaps}, late {late}")
    print(f"PASSED: kill_self ({label})")


if __name__ == "__main__":
    main()
