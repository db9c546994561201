"""What a traced program sees of itself is what it sees without gilscope:
the same open file descriptors (LTTng's are kept out of the range the
program allocates from: above the soft RLIMIT_NOFILE when the hard limit
is higher, so that a scan up to the soft limit, like CPython's
fd_status.py, sees nothing more; in the top 256 of the range when both
limits are equal), no fork() warning on 3.12+ from
LTTng's threads (the program runs with -W default::DeprecationWarning), the
same modules loaded at start-up (the Python hook imports nothing: importing
threading there cost every traced process milliseconds), the same
environment but for gilscope's own variables, and no other output. A
program that closes every descriptor (os.closerange, as CPython's
close_fds does in a fork child) and then calls setuid (whose signal wakes
LTTng's threads) runs on and stays traced: liblttng-ust 2.13 aborted the
program on finding its descriptors closed."""
import resource
import subprocess

import gstest

PROGRAM = r"""
import os, resource, sys
print("modules", sorted(m for m in sys.modules if m != "sitecustomize"))
print("environment", sorted(k for k in os.environ
                            if k not in ("LD_PRELOAD", "PYTHONPATH") and not k.startswith("GILSCOPE_")))
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
# Where gilscope may put LTTng's descriptors, when the limits are equal.
top = soft - 256 if soft == hard and soft > 1024 else soft
fds = []
for fd in range(min(top, 65536)):
    try:
        os.fstat(fd)
        fds.append(fd)
    except OSError:
        pass
print("fds below", top, fds)
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print("forked without a warning")
"""

CLOSER = r"""
import os, resource, threading
# Up to the hard limit: LTTng's descriptors are above the soft one.
os.closerange(3, min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1 << 20))
os.setuid(os.getuid())
t = threading.Thread(target=lambda: None, name="after-closerange")
t.start(); t.join()
print("ran on", flush=True)
"""


def lowered_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, soft), hard))


def main() -> None:
    label, exe = gstest.python_arg()
    out = gstest.tmpdir()
    prog = out / "unchanged.py"
    prog.write_text(PROGRAM)
    cmd = [str(exe), "-W", "default::DeprecationWarning", str(prog)]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limits = [("the default limit", None)]
    if hard > 1024:
        limits.append(("a soft limit of 1024 below the hard one", lowered_limit))
    for what, preexec in limits:
        bare = subprocess.run(cmd, capture_output=True, text=True, timeout=60, preexec_fn=preexec)
        if bare.returncode != 0:
            gstest.fail(f"the program fails without gilscope: {bare.stderr}")
        argv = [str(gstest.gilscope()), "record", "-q", "-o", str(out / f"trace{len(what)}"), "--"] + cmd
        res = subprocess.run(argv, capture_output=True, text=True, timeout=120, preexec_fn=preexec)
        gstest.check(res.returncode == 0, f"with {what}, the traced program succeeds ({res.stderr.strip()!r})")
        gstest.check(res.stdout == bare.stdout,
                     f"with {what}, it sees the same modules, environment, descriptors and no fork warning: "
                     f"{res.stdout.strip()!r} vs {bare.stdout.strip()!r}")
        # The tracer's own one-line notices (a limit it says it has, like
        # the code locations unknown on 3.6) are documented output.
        said = [line for line in res.stderr.splitlines() if not line.startswith("gilscope: ")]
        gstest.check(said == bare.stderr.splitlines(), f"with {what}, nothing more on stderr")
        info = gstest.info(out / f"trace{len(what)}")
        trace = gstest.own_events(gstest.read_trace(out / f"trace{len(what)}"), int(info["tag"]))
        # 3.6 has no os.register_at_fork to name the child, nor a GIL
        # until a thread starts: its child leaves no event.
        want = 2 if gstest.python_version(exe) >= (3, 7) else 1
        gstest.check(len(trace.by_pid()) == want, f"the program and its fork child were traced ({want})")
    closer = out / "closer.py"
    closer.write_text(CLOSER)
    res = gstest.record([str(exe), str(closer)], out / "trace-closer", check=False)
    gstest.check(res.returncode == 0 and res.stdout == "ran on\n",
                 f"after closing every descriptor and setuid, the program runs on "
                 f"({res.returncode}, {res.stdout!r}, {res.stderr.strip()[-300:]!r})")
    info = gstest.info(out / "trace-closer")
    trace = gstest.own_events(gstest.read_trace(out / "trace-closer"), int(info["tag"]))
    names = {e.fields["name"] for e in trace.named("thread_name")}
    gstest.check("after-closerange" in names, f"and stays traced: {sorted(names)}")
    print(f"PASSED: unchanged ({label})")


if __name__ == "__main__":
    main()
