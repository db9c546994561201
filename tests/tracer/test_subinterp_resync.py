"""A resync after subinterpreters with their own GIL are gone.

CPython frees a subinterpreter's GIL with its interpreter state, without
destroying its mutexes (docs/tracer.md): the tracer still lists that GIL
until its memory is reused. A session that starts later makes the process
say again what it knows (resync, gil_known for every GIL listed), from
whichever thread gets there first. That used to read each GIL's switch
interval from the GIL's memory, freed by then: a traced process crashed
(SIGSEGV, 3 runs in 25 on 3.13 when other recordings started meanwhile).

Here a process started by `gilscope exec` runs and destroys two isolated
subinterpreters, then keeps taking and dropping its GIL; `gilscope record
--pid` records it for a moment (a resync), then the process must end as
it would have: exit status 0, the resync in the trace.
"""

import os
import subprocess

import gstest

PROGRAM = r"""
import sys, threading, time
try:
    import _xxsubinterpreters as interpreters
except ImportError:
    import _interpreters as interpreters
def run():
    try:
        iid = interpreters.create(isolated=True)  # its own GIL (PEP 684)
    except TypeError:
        iid = interpreters.create()  # 3.13+: isolated by default
    interpreters.run_string(iid, "n = 20000\nwhile n: n -= 1")
    interpreters.destroy(iid)
for _ in range(3):
    ts = [threading.Thread(target=run) for _ in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    time.sleep(0.001)  # drops and takes the GIL: resync happens here
print("done", flush=True)
"""


def main() -> None:
    label, exe = gstest.python_arg()
    if gstest.python_version(exe) < (3, 12):
        gstest.skip("subinterpreters with their own GIL came in 3.12 (PEP 684)")
    out = gstest.tmpdir()
    prog = out / "subinterp_resync.py"
    prog.write_text(PROGRAM)
    # Every large block its own mapping, unmapped when freed (glibc's
    # threshold otherwise grows after the first free): a read of a freed
    # interpreter state then faults instead of finding stale bytes.
    env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.mmap_threshold=65536")
    proc = subprocess.Popen([str(gstest.gilscope()), "exec", "--", str(exe), str(prog), "8"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        gstest.check(line.strip() == "ready", f"the subinterpreters ran and are gone ({line!r})")
        rec = subprocess.run([str(gstest.gilscope()), "record", "--pid", str(proc.pid),
                              "--duration", "1s", "-o", str(out / "trace")],
                             capture_output=True, text=True, timeout=120)
        gstest.check(rec.returncode == 0, f"record --pid exits 0 ({rec.returncode}): {rec.stderr.strip()}")
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    gstest.check(proc.returncode == 0 and rest.strip() == "done",
                 f"the process ended as it would have (status {proc.returncode}, {rest.strip()!r}, "
                 f"stderr {err.strip()[-300:]!r})")
    trace = gstest.read_trace(out / "trace")
    names = [e.name for e in trace.events if e.pid == proc.pid]
    gstest.check("resync" in names and "gil_known" in names,
                 f"the process said again what it knows (resync, gil_known: {names.count('gil_known')})")
    intervals = {e.fields["interval_us"] for e in trace.events
                 if e.pid == proc.pid and e.name == "gil_known"}
    gstest.check(intervals == {5000}, f"every GIL it lists has the switch interval it had ({intervals})")
    print(f"PASSED: subinterp_resync ({label})")


if __name__ == "__main__":
    main()
