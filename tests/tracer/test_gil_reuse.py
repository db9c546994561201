"""3.12+: a subinterpreter's GIL is freed with it, and the next one's is
often made at the same address (gil_retired, then a new gil_found). A
thread of the old subinterpreter that ended right before (its last
release captured under the GIL's mutex, not yet written) must not write
that record after the gil_retired, where a reader takes it for the new
GIL's: test_interpreters (3.12, load 12) had a release of the old GIL,
seq 2069, after the new GIL's seq 1675 (394 places missing, 2 anomalies).
The preload lets the other threads write what they captured before it
says the GIL retired. Two busy processes keep both CPUs taken, so that the
ending threads are often descheduled right after their last unlock."""

import subprocess
import sys

import gstest

PROGRAM = r"""
import sys
if sys.version_info >= (3, 13):
    import _interpreters as si
else:
    import _xxsubinterpreters as si
CODE = '''
import threading
def work():
    n = 2000
    while n: n -= 1
ts = [threading.Thread(target=work) for _ in range(3)]
for t in ts: t.start()
for t in ts: t.join()
'''
for i in range(25):
    iid = si.create("isolated") if sys.version_info >= (3, 13) else si.create(isolated=True)
    si.run_string(iid, CODE)
    si.destroy(iid)
print("done")
"""


def main() -> None:
    label, exe = gstest.python_arg()
    if gstest.python_version(exe) < (3, 12):
        gstest.skip(f"Python {label} has no per-interpreter GIL (3.12+)")
    out = gstest.tmpdir()
    prog = out / "reuse.py"
    prog.write_text(PROGRAM)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        res = gstest.record([str(exe), str(prog)], out / "trace", timeout=600)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    gstest.check("done" in res.stdout, "the program ran")
    info = gstest.info(out / "trace")
    trace = gstest.own_events(gstest.read_trace(out / "trace"), int(info["tag"]))
    gstest.check(trace.discarded == 0, "no event lost")
    seqs, life = gstest.gil_lives(trace)
    reused = sum(1 for n in life.values() if n > 1)
    gstest.check(reused >= 1 and len(seqs) >= 20,
                 f"GIL addresses reused ({reused}), GIL lives ({len(seqs)})")
    bad = {}
    for k, v in seqs.items():
        if sorted(v) != list(range(len(v))):
            bad[f"{k[1]:#x} life {k[2]}"] = sorted(set(range(max(v) + 1)) - set(v))[:5] or "duplicate"
    gstest.check(not bad, f"every life of every GIL has its events 0..n, each once ({bad})")
    print(f"PASSED: gil_reuse ({label})")


if __name__ == "__main__":
    main()
