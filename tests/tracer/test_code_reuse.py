"""A code object freed and a new one allocated at its very address: the
tracer's caches (its per-thread code cache and whole-site cache, and the
shared code table, tracer/attrib.c) are keyed by the object's address and
must tell the new object from the old one by its identity, not by the
pointer alone (pyframe_ident / pyframe_ident_equal / pyframe_idents_match).

The program makes N code objects one after the other from one template
(each with its own file name, function name and first line, the strings
kept alive so that they never share an address), calls each once (its
os.read releases and takes the GIL), frees it and makes the next, which
CPython's allocator puts where the freed one was. It writes id() of each:
the test fails, saying so, unless most of them really landed on the
address the previous one had (a test that never reuses an address would
pass with the check weakened to the pointer). Checks, in the analyzer's
database: every hold that ended, and every hold and wait that started, in
one of those functions names that function's own file, line and name, in
order; once with whole stacks (the whole-site cache) and once with
`--code site` (the code cache alone).
"""
import json
import sqlite3
from pathlib import Path

import gstest

N = 200

PROGRAM = r'''
import json, os, sys, types
N = int(sys.argv[2])
r, w = os.pipe()
os.write(w, b"x" * (N + 40))

def template():
    os.read(r, 1)

T = template.__code__
# Made up front and kept alive: the new code objects' strings never sit
# where a freed one's did.
names = ["reused_%03d" % i for i in range(N)]
files = ["reused_%03d.py" % i for i in range(N)]
# Each version's cheapest way to a new code object: nothing else of its
# size is allocated between freeing one and making the next.
if sys.version_info >= (3, 11):
    def make(i):
        return T.replace(co_name=names[i], co_qualname=names[i], co_filename=files[i],
                         co_firstlineno=100 + i)
elif sys.version_info >= (3, 8):
    def make(i):
        return T.replace(co_name=names[i], co_filename=files[i], co_firstlineno=100 + i)
else:
    ARGS = [(T.co_argcount, T.co_kwonlyargcount, T.co_nlocals, T.co_stacksize, T.co_flags,
             T.co_code, T.co_consts, T.co_names, T.co_varnames, files[i], names[i], 100 + i,
             T.co_lnotab, T.co_freevars, T.co_cellvars) for i in range(N)]
    def make(i):
        return types.CodeType(*ARGS[i])

FT = types.FunctionType
g = globals()
addrs = []

def drive():
    for i in range(N):
        c = make(i)
        addrs.append(id(c))
        fn = FT(c, g)
        fn()
        # The function first, then its code: the code's block is the one
        # the allocator hands out next (on 3.7 both are of one size class).
        del fn
        del c

drive()
with open(sys.argv[1], "w") as out:
    json.dump(addrs, out)
'''


def sites(con: sqlite3.Connection, column: str, table: str = "holds") -> list[tuple]:
    """(filename, line, function) of each row of `table` whose `column`
    site is one of the generated functions, in time order."""
    return [tuple(r) for r in con.execute(
        f"SELECT c.filename, c.line, c.function FROM {table} x JOIN code_sites c "
        f"ON c.run_id = x.run_id AND c.site_id = x.{column} "
        f"WHERE c.filename LIKE 'reused\\_%' ESCAPE '\\' ORDER BY x.start_ns")]


def check_mode(exe: Path, out: Path, mode: str) -> None:
    prog = out / "reuse.py"
    truth_file = out / f"truth-{mode}.json"
    trace = out / f"trace-{mode}"
    res = gstest.record([str(exe), str(prog), str(truth_file), str(N)], trace, extra=["--code", mode])
    gstest.check("without their code location" not in res.stderr,
                 f"--code {mode}: the tracer knows this interpreter's frames")
    addrs = json.loads(truth_file.read_text())
    reused = sum(1 for i in range(1, N) if addrs[i] == addrs[i - 1])
    # Without real reuse this test proves nothing: fail, never pass.
    gstest.check(len(addrs) == N and reused >= N // 2,
                 f"--code {mode}: {reused} of {N - 1} new code objects landed at the address of the one "
                 f"freed just before (id(); at least {N // 2} needed, else the test is void: "
                 f"{len(set(addrs))} distinct addresses)")
    db = out / f"run-{mode}.db"
    con = gstest.analyze(trace, db)
    lost = con.execute("SELECT sum(lost_events) FROM runs").fetchone()[0]
    gstest.check(lost == 0, f"--code {mode}: no event lost ({lost})")
    # os.read is the line after the def, which says it is line 100 + i.
    want = [(f"reused_{i:03d}.py", 101 + i, f"reused_{i:03d}") for i in range(N)]

    def same(got: list[tuple], what: str) -> None:
        bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
        gstest.check(got == want, f"--code {mode}: {what}: {len(got)} of {N}, each the file, line and "
                     f"function of its own code object"
                     + ("" if got == want else f"; first wrong (i, got, want): {bad[:3]}"))

    same(sites(con, "end_site_id"), "holds ended by the os.read of a reused function")
    same(sites(con, "start_site_id"), "holds started after it")
    same(sites(con, "site_id", "waits"), "waits asked for there")
    if mode == "stack":
        # The innermost frame of each stack is that function too; the
        # caller's frame is drive's.
        rows = con.execute(
            "SELECT c.filename, c.line, c.function, c2.function FROM holds h "
            "JOIN stack_frames f0 ON f0.run_id = h.run_id AND f0.stack_id = h.end_stack_id AND f0.depth = 0 "
            "JOIN code_sites c ON c.run_id = f0.run_id AND c.site_id = f0.site_id "
            "JOIN stack_frames f1 ON f1.run_id = h.run_id AND f1.stack_id = h.end_stack_id AND f1.depth = 1 "
            "JOIN code_sites c2 ON c2.run_id = f1.run_id AND c2.site_id = f1.site_id "
            "WHERE c.filename LIKE 'reused\\_%' ESCAPE '\\' ORDER BY h.start_ns").fetchall()
        same([tuple(r[:3]) for r in rows], "the innermost frames of the holds' end stacks")
        gstest.check(all(r[3] == "drive" for r in rows), "--code stack: called from drive in each stack")
    codes = con.execute("SELECT count(DISTINCT filename) FROM code_sites "
                        "WHERE filename LIKE 'reused\\_%' ESCAPE '\\'").fetchone()[0]
    gstest.check(codes == N, f"--code {mode}: {codes} distinct generated files among the code sites")
    con.close()


def main() -> None:
    label, exe, _, _ = gstest.attributed_python_arg()
    out = gstest.tmpdir()
    (out / "reuse.py").write_text(PROGRAM)
    for mode in ("stack", "site"):
        check_mode(exe, out, mode)
    print(f"PASSED: code reuse ({label})")


if __name__ == "__main__":
    main()
