"""The recorder ends on SIGTERM even when the traced program does not:
a parent that ignores SIGTERM waits for a child that ignores it too. The
recorder passes the signal on, waits its grace time, then ends (status
128+15) with the trace written, naming the pids it leaves running. And
a process the command leaves behind at a normal end is named too."""
import os
import signal
import subprocess
import time

import gstest

STUBBORN = r"""
import os, signal, time
pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(120)
    os._exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(os.getpid(), pid, flush=True)
os.waitpid(pid, 0)
"""

ORPHAN = r"""
import os, time
pid = os.fork()
if pid == 0:
    time.sleep(120)
    os._exit(0)
print(pid, flush=True)
"""


def kill_all(pids: list[int]) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main() -> None:
    py = gstest.find_python("debian")
    if py is None:
        gstest.skip("no /usr/bin/python3")
    out = gstest.tmpdir()
    (out / "stubborn.py").write_text(STUBBORN)
    (out / "orphan.py").write_text(ORPHAN)

    # Files, not pipes: the processes left running keep them open.
    with open(out / "out1", "w") as o, open(out / "err1", "w") as e:
        rec = subprocess.Popen([str(gstest.gilscope()), "record", "-o", str(out / "t1"), "--",
                                str(py), str(out / "stubborn.py")], stdout=o, stderr=e)
    pids: list[int] = []
    try:
        for _ in range(600):
            pids = [int(p) for p in (out / "out1").read_text().split()]
            if len(pids) == 2:
                break
            time.sleep(0.1)
        gstest.check(len(pids) == 2, f"the program started ({pids})")
        rec.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        try:
            rec.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rec.kill()
            gstest.fail("the recorder did not end within 60 s of SIGTERM")
        took = time.monotonic() - t0
        err = (out / "err1").read_text()
        gstest.check(rec.returncode == 128 + signal.SIGTERM, f"status 143 ({rec.returncode})")
        for p in pids:
            gstest.check(f"pid {p} (python3) did not end within 5 s of signal 15" in err,
                         f"it names pid {p} as left running: {err!r}")
        gstest.check("trace written to" in err, f"the trace is written ({took:.1f} s after SIGTERM)")
        gstest.check(all(os.path.exists(f"/proc/{p}") for p in pids), "the processes were left, not killed")
    finally:
        kill_all(pids)

    with open(out / "out2", "w") as o, open(out / "err2", "w") as e:
        rc = subprocess.run([str(gstest.gilscope()), "record", "-o", str(out / "t2"), "--",
                             str(py), str(out / "orphan.py")], stdout=o, stderr=e, timeout=120).returncode
    orphan = int((out / "out2").read_text().split()[0])
    err = (out / "err2").read_text()
    try:
        gstest.check(rc == 0, f"the recording of a program leaving a child behind succeeds ({rc})")
        gstest.check(f"pid {orphan} (python3) still runs after the command ended" in err,
                     f"a process left behind is named: {err!r}")
    finally:
        kill_all([orphan])
    print("PASSED: record_signal")


if __name__ == "__main__":
    main()
