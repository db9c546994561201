"""A vfork child that cannot exec ends in _exit(255) in its parent's
memory, on its parent's thread (CPython's _posixsubprocess uses vfork from
3.10 on when it can). The preload's _exit used to write the parent's
records and a process_exit from there, with the parent's pid: the analyzer
then took the parent for ended (exit status 255) and dropped everything it
did after (913 of some 8,900 holds here). The program runs a command that
does not exist, then churns the GIL from two threads: the parent must have
one process_exit, its own, and all its holds."""

import gstest

PROGRAM = r"""
import os, subprocess, threading
for _ in range(3):
    try:
        subprocess.run(["/nonexistent/gilscope-no-such-program"])
    except FileNotFoundError:
        pass
def churn():
    r, w = os.pipe()
    for _ in range(1000):
        os.write(w, b"x")
        os.read(r, 1)
ts = [threading.Thread(target=churn) for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
print("pid", os.getpid())
"""


def main() -> None:
    label, exe = gstest.python_arg()
    out = gstest.tmpdir()
    prog = out / "vfork.py"
    prog.write_text(PROGRAM)
    res = gstest.record([str(exe), str(prog)], out / "trace")
    pid = int(res.stdout.split()[1])
    info = gstest.info(out / "trace")
    trace = gstest.own_events(gstest.read_trace(out / "trace"), int(info["tag"]))
    exits = [e.fields.get("status") for e in trace.named("process_exit") if e.pid == pid]
    gstest.check(exits == [-1], f"one process_exit for the parent, at its own exit ({exits})")
    con = gstest.analyze(out / "trace", out / "run.db")
    status = con.execute("SELECT exit_status FROM processes WHERE pid = ?", (pid,)).fetchone()
    churners = con.execute(
        "SELECT count(*) FROM (SELECT tid FROM holds JOIN gils USING (gil_id) WHERE pid = ? "
        "AND tid != pid GROUP BY tid HAVING count(*) >= 1000)", (pid,)).fetchone()[0]
    con.close()
    gstest.check(status is not None and status[0] != 255,
                 f"the parent is not taken for ended by its vfork child's _exit ({status})")
    gstest.check(churners == 2, f"both churning threads' 1000 holds or more analyzed ({churners})")
    print(f"PASSED: vfork_exit ({label})")


if __name__ == "__main__":
    main()
