"""A recorded command starts with the stop signals' dispositions it would
have had without gilscope. `gilscope record` catches SIGINT, SIGTERM,
SIGHUP and SIGQUIT for itself; the command used to get them all at
SIG_DFL, also where whoever started the recorder had them ignored (a
shell's background job has SIGINT and SIGQUIT ignored). Python installs
its KeyboardInterrupt handler only where SIGINT is not ignored, so
CPython's test_threading (test_print_exception_gh_102056, whose
_thread.interrupt_main() does nothing where SIGINT is ignored) hung
without gilscope and passed under it.

The same program, bare and recorded, started once with every stop
signal at its default and once with SIGINT and SIGQUIT ignored, must
print the same dispositions."""
import signal
import subprocess
import sys

import gstest

PROGRAM = r"""
import signal
for name in ("SIGINT", "SIGQUIT", "SIGTERM", "SIGHUP"):
    print(name, signal.getsignal(getattr(signal, name)))
"""


def ignoring(sigs: tuple) -> callable:
    def pre() -> None:
        for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN if s in sigs else signal.SIG_DFL)
    return pre


def main() -> None:
    gstest.private_lttng()
    out = gstest.tmpdir()
    cmd = [sys.executable, "-c", PROGRAM]
    with gstest.own_sessiond():
        for ignored in ((), (signal.SIGINT, signal.SIGQUIT)):
            pre = ignoring(ignored)
            bare = subprocess.run(cmd, capture_output=True, text=True, timeout=120, preexec_fn=pre)
            trace = out / f"trace-{len(ignored)}"
            rec = subprocess.run([str(gstest.gilscope()), "record", "-q", "-o", str(trace), "--"] + cmd,
                                 capture_output=True, text=True, timeout=240, preexec_fn=pre)
            names = ", ".join(signal.Signals(s).name for s in ignored) or "none"
            gstest.check(bare.returncode == 0 and "SIGINT" in bare.stdout,
                         f"ignored: {names}: the bare run ({bare.stdout.strip()!r})")
            gstest.check(rec.returncode == 0 and rec.stdout == bare.stdout,
                         f"ignored: {names}: recorded, the same dispositions "
                         f"({rec.stdout.strip()!r} vs {bare.stdout.strip()!r}; {rec.stderr.strip()[-300:]})")
    print("PASSED: a recorded command's stop signals are as without gilscope")


if __name__ == "__main__":
    main()
