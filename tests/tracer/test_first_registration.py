"""The command's first traced process registers as fast as later ones.

With per-user buffers, lttng-sessiond makes a channel's ring buffers when
the first process of the user registers while the session is active, and
answers that registration only then: the first CPython of a recording
waited for all of it in liblttng-ust's constructor (2.2 to 2.5 s with
-b 256M at a load of 11 here, 0.2 s for the second), and past
LTTNG_UST_REGISTER_TIMEOUT ran untraced. The recorder now makes them
before it starts the command (tracer/preregister.c), so:

- the command finds the trace's stream files already there, before any
  traced process ran (`record` and `run`); without the fix there are none
  then, every time;
- the command's environment and file descriptors are what they are
  without gilscope's throw-away process (no LTTNG_UST_REGISTER_TIMEOUT of
  its, no extra fd);
- a short first CPython is recorded from its gil_found on, and starts no
  later than a second one of the same recording, by a wide margin (the
  figures are printed);
- a command that runs no CPython still records "no GIL events" although
  the streams exist (the metadata then declares no event).

In a mount namespace of its own (gstest.private_lttng): a fresh session
daemon, whose first registration this is."""
import os
import subprocess
import sys
from pathlib import Path

import gstest

STREAMS = 'ls "$1"/ust/uid/*/*-bit/ 2>/dev/null | grep -c "^gilscope_"'
# $1: the trace directory, $2: the Python. Stream files, the shell's fds
# and environment, then two short CPythons, each timed from the shell.
COMMAND = ("echo streams=$(" + STREAMS + "); echo fds=$(ls /proc/$$/fd | tr '\\n' ' '); "
           "echo env_timeout=${LTTNG_UST_REGISTER_TIMEOUT-unset}; "
           "for i in 1 2; do echo sh=$(date +%s.%N); "
           "\"$2\" -c 'import os, time; print(\"py=%r %d\" % (time.time(), os.getpid()))'; done")


def parse(out: str) -> dict:
    vals: dict = {"sh": [], "py": []}
    for line in out.splitlines():
        key, _, val = line.partition("=")
        if key in ("sh", "py"):
            vals[key].append(val)
        else:
            vals[key] = val.strip()
    return vals


def main() -> None:
    if not gstest.private_lttng():
        gstest.skip("needs a mount namespace of its own (root and unshare(1)): a fresh "
                    "session daemon, whose buffers no other recording made")
    py = gstest.find_python("debian")
    if py is None:
        gstest.skip("needs Debian's python3")
    out = gstest.tmpdir()
    bare = subprocess.run(["sh", "-c", COMMAND, "sh", str(out / "none"), str(py)],
                          capture_output=True, text=True, timeout=120)
    ref = parse(bare.stdout)

    trace = out / "first"
    res = gstest.record(["sh", "-c", COMMAND, "sh", str(trace), str(py)], trace, ["-b", "256M"])
    got = parse(res.stdout)
    gstest.check(got.get("streams", "0") not in ("", "0"),
                 f"the stream files exist before the command's first process ({got.get('streams')})")
    gstest.check(got.get("fds") == ref.get("fds"),
                 f"the command's fds are those it has without gilscope ({got.get('fds')!r} vs "
                 f"{ref.get('fds')!r})")
    gstest.check(got.get("env_timeout") == ref.get("env_timeout"),
                 f"the command's LTTNG_UST_REGISTER_TIMEOUT is untouched ({got.get('env_timeout')})")
    gstest.check(len(got["sh"]) == 2 and len(got["py"]) == 2, f"both CPythons ran: {res.stdout!r}")
    delays = [float(p.split()[0]) - float(s) for s, p in zip(got["sh"], got["py"])]
    pids = [int(p.split()[1]) for p in got["py"]]
    print(f"start delays: first {delays[0]:.3f} s, second {delays[1]:.3f} s")
    # Generous: before, the first waited for the buffers (seconds).
    gstest.check(delays[0] <= 3 * delays[1] + 1.0,
                 f"the first CPython starts about as fast as the second ({delays[0]:.3f} s vs "
                 f"{delays[1]:.3f} s)")
    events = gstest.read_trace(trace).events
    for pid in pids:
        mine = [e for e in events if e.pid == pid]
        gstest.check(bool(mine) and mine[0].name == "gil_found",
                     f"process {pid} is recorded from its gil_found "
                     f"({mine[0].name if mine else 'no event'})")

    res = subprocess.run([str(gstest.gilscope()), "run", "-o", str(out / "run"), "--", "sh", "-c",
                          COMMAND, "sh", str(out / "run" / "trace"), str(py)],
                         capture_output=True, text=True, timeout=300)
    got = parse(res.stdout)
    gstest.check(res.returncode == 0 and got.get("streams", "0") not in ("", "0"),
                 f"`run`: the stream files exist before the command ({res.returncode}, "
                 f"{got.get('streams')}, {res.stderr.strip()})")

    res = gstest.record(["sh", "-c", "exit 3"], out / "shell", check=False)
    gstest.check(res.returncode == 3 and "no GIL events recorded" in res.stderr
                 and "no events lost" not in res.stderr
                 and any((out / "shell").glob("ust/uid/*/*-bit/gilscope_*")),
                 f"no CPython: streams made, yet 'no GIL events recorded' ({res.stderr.strip()})")
    print("PASSED: the first traced process registers with the buffers already made")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.pop("LTTNG_UST_REGISTER_TIMEOUT", None)
    main()
