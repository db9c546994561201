"""One innermost site reached from two callers in turn: a release's site
is first checked against the site its thread's last walk found
(pyframe_walk_match, tracer/attrib.c site_read), and there every frame
counts, not the innermost alone. The program calls leaf() (an os.read,
which releases and takes the GIL) through via_a() and via_b() in turn, so
that each release has the same code object at the same offset innermost
as the one before, and another caller below it. Checks, in the analyzer's
database: the holds that ended at that os.read, in time order, have
via_a and via_b in turn as the caller in their end stacks, and so do the
holds that started there (an acquire takes its release's site). A walk
check that looked at the innermost frame alone gives every release
via_a's stack (tried: it fails here on every interpreter).
"""
from pathlib import Path

import gstest

N = 200

PROGRAM = r'''
import os, sys
N = int(sys.argv[1])
r, w = os.pipe()
os.write(w, b"x" * (2 * N + 40))

def leaf():
    os.read(r, 1)

def via_a():
    leaf()

def via_b():
    leaf()

def drive():
    for _ in range(N):
        via_a()
        via_b()

drive()
'''


def callers(con, stack_column: str) -> list:
    """The caller (depth 1) of each hold whose `stack_column` stack has
    leaf innermost, in time order."""
    return [r[0] for r in con.execute(
        "SELECT c1.function FROM holds h "
        f"JOIN stack_frames f0 ON f0.run_id = h.run_id AND f0.stack_id = h.{stack_column} AND f0.depth = 0 "
        "JOIN code_sites c0 ON c0.run_id = f0.run_id AND c0.site_id = f0.site_id "
        f"JOIN stack_frames f1 ON f1.run_id = h.run_id AND f1.stack_id = h.{stack_column} AND f1.depth = 1 "
        "JOIN code_sites c1 ON c1.run_id = f1.run_id AND c1.site_id = f1.site_id "
        "WHERE c0.function = 'leaf' ORDER BY h.start_ns")]


def main() -> None:
    label, exe, _, _ = gstest.attributed_python_arg()
    out = gstest.tmpdir()
    prog = out / "callers.py"
    prog.write_text(PROGRAM)
    trace = out / "trace"
    res = gstest.record([str(exe), str(prog), str(N)], trace, extra=["--code", "stack"])
    gstest.check("without their code location" not in res.stderr,
                 "the tracer knows this interpreter's frames")
    con = gstest.analyze(trace, out / "run.db")
    lost = con.execute("SELECT sum(lost_events) FROM runs").fetchone()[0]
    gstest.check(lost == 0, f"no event lost ({lost})")
    want = ["via_a", "via_b"] * N
    for column, what in (("end_stack_id", "holds ended by leaf's os.read"),
                         ("start_stack_id", "holds started there")):
        got = callers(con, column)
        # The last os.read's hold may still be open at the end: its
        # release is the program's next, elsewhere.
        gstest.check(len(got) >= 2 * N - 1 and got == want[:len(got)],
                     f"{what}: {len(got)} of {2 * N}, their callers via_a and via_b in turn"
                     + ("" if got == want[:len(got)] else
                        f"; first wrong (i, got): {[(i, g) for i, (g, w) in enumerate(zip(got, want)) if g != w][:3]}"))
    con.close()
    print(f"PASSED: site callers ({label})")


if __name__ == "__main__":
    main()
