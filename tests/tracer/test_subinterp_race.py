"""3.12+: two threads that make subinterpreters with their own GIL at the
same time both get their GIL found. The preload looks for a new GIL from
its mutexes' initialisation until it is taken; the first one found ended
that search while the other thread, which had made its GIL meanwhile, had
not taken it yet: that GIL and everything of its interpreter were missing
from the trace (analyzer.live on 3.14 once saw 2 GILs instead of 3).
slow_gil_init.c, preloaded after gilscope's library, holds the first
thread 100 ms between making its GIL and taking it, so that the other
one makes and takes its own in between, every time."""

import argparse
import os

import gstest

PROGRAM = r"""
import sys, threading
if sys.version_info >= (3, 13):
    import _interpreters as si
else:
    import _xxsubinterpreters as si
def in_sub():
    iid = si.create("isolated") if sys.version_info >= (3, 13) else si.create(isolated=True)
    si.run_string(iid, "n = 100000\nwhile n: n -= 1\n")
    si.destroy(iid)
ts = [threading.Thread(target=in_sub, name=f"maker-{i}") for i in range(2)]
for t in ts: t.start()
for t in ts: t.join()
print("ok")
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slow-gil-init", required=True)
    args, _ = ap.parse_known_args()
    label, exe = gstest.python_arg()
    if gstest.python_version(exe) < (3, 12):
        gstest.skip(f"Python {label} has no per-interpreter GIL (3.12+)")
    out = gstest.tmpdir()
    prog = out / "race.py"
    prog.write_text(PROGRAM)
    env = dict(os.environ, LD_PRELOAD=args.slow_gil_init)
    res = gstest.record([str(exe), str(prog)], out / "trace", env=env)
    gstest.check(res.stdout.strip() == "ok", f"the program ran ({res.stdout.strip()})")
    info = gstest.info(out / "trace")
    trace = gstest.own_events(gstest.read_trace(out / "trace"), int(info["tag"]))
    gstest.check_sequences(trace)
    found = trace.named("gil_found")
    gstest.check(len({e.fields["gil"] for e in found}) == 3,
                 f"three GILs found, the main one and both subinterpreters' "
                 f"({[(e.tid, hex(e.fields['gil'])) for e in found]})")
    makers = {e.tid for e in found if e.tid != e.pid}
    gstest.check(len(makers) == 2, f"each by its own thread ({sorted(makers)})")
    con = gstest.analyze(out / "trace", out / "run.db")
    gils = con.execute("SELECT count(*) FROM gils").fetchone()[0]
    lost, anomalies, gaps = con.execute("SELECT lost_events, anomalies, order_gaps FROM runs").fetchone()
    con.close()
    gstest.check((gils, lost, anomalies, gaps) == (3, 0, 0, 0),
                 f"analyzed: {gils} GILs, lost {lost}, anomalies {anomalies}, order gaps {gaps}")
    print(f"PASSED: subinterp_race ({label})")


if __name__ == "__main__":
    main()
