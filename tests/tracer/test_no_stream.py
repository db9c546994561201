"""A recording with no stream at all: LTTng makes a session's streams when
a traced process registers with the session daemon, so none means none
did, and `record` must say what is true, never "no events lost" (what it
said before).

- A command that runs no CPython (a shell) runs unchanged and legitimately
  records nothing: `record` says "no GIL events recorded ... no traced
  process registered (no CPython ...)", exits with the command's status,
  and gilscope.info says lost_events=0; `gilscope run` says the same and
  analyzes nothing.
- A CPython whose registration never completes lost everything it did:
  here it runs in a mount namespace of its own whose /run/lttng is empty
  (no session daemon to find; LTTNG_UST_REGISTER_TIMEOUT=0), the case of
  a process that ends before a busy daemon registers it (docs/tracer.md).
  `record` names it (its pid), says none of its events was recorded and
  how many is unknown (lost_events=unknown), with the command's status.
  So does one that ran beside another recording's CPython, whose process
  made streams in its session too (a session without a process tracker
  gets every traced process of the user).
- A CPython that registers: "trace written", "no events lost" (the files
  the recorder keeps meanwhile are gone).

In a mount namespace of its own (gstest.private_lttng): no other
recording's process can make a stream in these sessions."""
import subprocess
import sys
import time
from pathlib import Path

import gstest

PROG = "import os, sys\nprint(os.getpid(), flush=True)\nsys.exit(4)\n"


def gs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(gstest.gilscope()), *args], capture_output=True, text=True, timeout=300)


def closing(res: subprocess.CompletedProcess) -> list[str]:
    return [l for l in res.stderr.splitlines() if l.startswith("gilscope")]


def main() -> None:
    if not gstest.private_lttng():
        gstest.skip("needs a mount namespace of its own (root and unshare(1)): another "
                    "recording's process would make streams in these sessions")
    py = gstest.find_python("debian")
    if py is None:
        gstest.skip("needs Debian's python3")
    out = gstest.tmpdir()

    # 1. No CPython: nothing to record, nothing lost.
    res = gstest.record(["sh", "-c", "echo plain; exit 3"], out / "shell", check=False)
    lines = closing(res)
    gstest.check(res.returncode == 3 and res.stdout == "plain\n",
                 f"a shell runs unchanged, its exit status passed on ({res.returncode})")
    gstest.check(len(lines) == 1 and lines[0].startswith(f"gilscope: no GIL events recorded in {out / 'shell'}")
                 and "no traced process registered" in lines[0] and "no CPython" in lines[0],
                 f"one line says nothing was recorded, and why: {lines}")
    gstest.check("no events lost" not in res.stderr and "trace written" not in res.stderr
                 and "WARNING" not in res.stderr, "never 'trace written', 'no events lost' or a loss")
    info = gstest.info(out / "shell")
    gstest.check(info["lost_events"] == "0" and info["exit_status"] == "3"
                 and info["traced_processes"] == "0",
                 f"gilscope.info: lost_events=0, exit_status=3 ({info})")
    gstest.check(sorted(p.name for p in (out / "shell").iterdir()) == ["gilscope.info", "ust"],
                 "the recorder's list of traced processes is gone")
    res = gs("run", "-o", str(out / "run-shell"), "--", "sh", "-c", "exit 3")
    gstest.check(res.returncode == 3 and "no GIL events recorded" in res.stderr
                 and "no CPython" in res.stderr and "cannot" not in res.stderr,
                 f"`run` says the same and analyzes nothing: {res.returncode} {res.stderr.strip()}")

    # 1b. No CPython, beside another recording's: that one's process makes
    # streams in this session too (no process tracker), none of this one.
    ready, go = out / "ready", out / "go"
    beside = subprocess.Popen(
        [str(gstest.gilscope()), "record", "-o", str(out / "beside"), "--", "sh", "-c",
         f'touch {ready}; while [ ! -e {go} ]; do sleep 0.05; done; exit 3'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline and beside.poll() is None:
            time.sleep(0.05)
        gstest.check(ready.exists(), "the shell's recording runs")
        gstest.record([str(py), "-c", "import threading; t = threading.Thread(target=print); "
                       "t.start(); t.join()"], out / "other")
    finally:
        go.touch()
        _, err = beside.communicate(timeout=120)
    streams = list((out / "beside").glob("ust/uid/*/*-bit/gilscope_*"))
    gstest.check(bool(streams), f"the other recording's process made streams in the shell's ({len(streams)})")
    lines = [l for l in err.splitlines() if l.startswith("gilscope")]
    gstest.check(beside.returncode == 3 and len(lines) == 1 and "no GIL events recorded" in lines[0]
                 and "no CPython" in lines[0],
                 f"the shell's recording still says nothing of its own was recorded ({beside.returncode}, {lines})")
    info = gstest.info(out / "beside")
    gstest.check(info["lost_events"] == "0" and info["traced_processes"] == "0",
                 f"gilscope.info: lost_events=0, traced_processes=0 ({info})")

    # 2. A CPython that never registers: all its events lost.
    hidden = ["unshare", "-m", "sh", "-c",
              'mount -t tmpfs gilscope-none /run/lttng && exec "$@"', "sh",
              "env", "LTTNG_UST_REGISTER_TIMEOUT=0", str(py), "-c", PROG]
    res = gstest.record(hidden, out / "unregistered", check=False)
    pid = res.stdout.strip()
    lines = closing(res)
    gstest.check(res.returncode == 4 and pid.isdigit(),
                 f"the CPython ran, its exit status passed on ({res.returncode}, {res.stdout!r}, {res.stderr})")
    gstest.check(len(lines) == 2 and lines[0].startswith("gilscope record: 1 traced CPython process ran "
                                                         f"(pid {pid}) but LTTng made no stream")
                 and "how many is unknown" in lines[0]
                 and lines[1].startswith("gilscope: no GIL events recorded")
                 and "WARNING" in lines[1] and "were lost" in lines[1],
                 f"it is named, and its events said lost: {lines}")
    gstest.check("no events lost" not in res.stderr and "trace written" not in res.stderr,
                 "never 'no events lost' or 'trace written'")
    info = gstest.info(out / "unregistered")
    gstest.check(info["lost_events"] == "unknown" and info["exit_status"] == "4"
                 and info["traced_processes"] == "1",
                 f"gilscope.info: lost_events=unknown ({info})")
    res = gs("run", "-o", str(out / "run-unregistered"), "--", *hidden)
    gstest.check(res.returncode == 4 and "LTTng made no stream" in res.stderr
                 and "were lost" in res.stderr,
                 f"`run` says the same: {res.returncode} {res.stderr.strip()}")

    # 3. A CPython that registers.
    res = gstest.record([str(py), "-c", PROG], out / "registered", check=False)
    lines = closing(res)
    gstest.check(res.returncode == 4 and lines == [f"gilscope: trace written to {out / 'registered'}",
                                                   "gilscope: no events lost"],
                 f"a CPython that registered: trace written, no events lost ({lines})")
    info = gstest.info(out / "registered")
    gstest.check(info["lost_events"] == "0" and info["traced_processes"] == "1",
                 f"gilscope.info: lost_events=0, traced_processes=1 ({info})")
    gstest.check(not (out / "registered" / "gilscope.traced").exists(),
                 "the recorder's list of traced processes is gone")
    print("PASSED: a recording with no stream says what is true")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
