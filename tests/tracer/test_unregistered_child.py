"""A traced process that ends before its registration with the session
daemon is done leaves nothing in the trace (liblttng-ust drops its events
until then): a fork child whose registration does not wait
(LTTNG_UST_REGISTER_TIMEOUT=0, or a wait that ran out on a busy machine)
and that ends at once. tracer.fork_late's child once ended so under CI's
load, 3 s after its fork, and nothing said so. Every traced CPython, fork
children too, now tells its recorder that it is traced
(gilscope.info: traced_processes); the analyzer counts those not in the
trace as a loss of unknown size, with a lost row that says how many.
Here a registered parent forks five children that exit at once."""

import os

import gstest

PROGRAM = r"""
import os, time
time.sleep(1.0)  # the parent is registered by now
for _ in range(5):
    pid = os.fork()
    if pid == 0:
        os._exit(0)  # long before its own registration
    os.waitpid(pid, 0)
print("done")
"""


def main() -> None:
    # A daemon of its own: another recording's session would not change
    # the count, but keeps the test to its own processes.
    gstest.private_lttng()
    label, exe = gstest.python_arg()
    out = gstest.tmpdir()
    prog = out / "unreg.py"
    prog.write_text(PROGRAM)
    env = dict(os.environ, LTTNG_UST_REGISTER_TIMEOUT="0")
    res = gstest.record([str(exe), str(prog)], out / "trace", env=env)
    gstest.check(res.stdout.strip() == "done", f"the program ran ({res.stdout.strip()})")
    info = gstest.info(out / "trace")
    gstest.check(info.get("traced_processes") == "6",
                 f"the parent and its five children said they were traced ({info})")
    con = gstest.analyze(out / "trace", out / "run.db")
    # A child may have a thread_name recorded and no GIL (the analyzer
    # keeps it): what counts is a GIL of its own.
    procs = con.execute("SELECT count(DISTINCT pid) FROM gils").fetchone()[0]
    rows = [r[0] for r in con.execute("SELECT stream FROM lost WHERE count = 0")]
    finding = con.execute("SELECT message FROM findings WHERE kind = 'lost_events'").fetchone()
    con.close()
    missing = 6 - procs
    gstest.check(missing > 0, f"children whose GIL was not recorded ({missing}: "
                 f"the case this test makes did not occur)")
    want = f"{missing} of the 6 traced CPython processes"
    gstest.check(any(r.startswith(want) for r in rows),
                 f"a lost row says how many traced processes left nothing ({want}; {rows})")
    gstest.check(finding is not None and finding[0].startswith("An unknown number"),
                 f"the lost_events finding says an unknown number were lost ({finding})")
    print(f"PASSED: unregistered_child ({label}: {missing} of 5 children not recorded)")


if __name__ == "__main__":
    main()
