"""Programs that are not Python run unchanged under the recorder: a shell
pipeline, a C program whose locks look exactly like a GIL, and Python 2.7
(old GIL, not traced). Same output, same exit status, no GIL found, and
no LTTng library loaded in them; `record` says no GIL event was recorded
(never "no events lost"). In a mount namespace of its own where it can
(gstest.private_lttng)."""
import argparse
import subprocess
from pathlib import Path

import gstest


def same_as_plain(cmd: list[str], out: Path, what: str, procnames: set[str]) -> gstest.Trace:
    plain = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    traced = gstest.record(cmd, out, check=False)
    gstest.check(traced.stdout == plain.stdout, f"{what}: same output under the recorder")
    gstest.check(traced.returncode == plain.returncode,
                 f"{what}: same exit status ({traced.returncode} vs {plain.returncode})")
    trace = gstest.read_trace(out, allow_empty=True)
    mine = [e for e in trace.events if e.procname in procnames]
    gstest.check(not mine, f"{what}: no gilscope event from {sorted(procnames)}")
    return trace


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fake-gil", required=True)
    args = ap.parse_args()
    # Sessions of their own: another test's traced process makes streams
    # in every session of the user, and one whose registration never
    # completed leaves a trace babeltrace2 cannot read.
    gstest.private_lttng()
    out = gstest.tmpdir()

    same_as_plain(["sh", "-c", "seq 1 2000 | sort -rn | head -3; echo err >&2; exit 5"],
                  out / "shell", "shell pipeline", {"sh", "seq", "sort", "head"})
    said = gstest.record(["true"], out / "true").stderr
    gstest.check("no GIL events recorded" in said and "no CPython" in said
                 and "no events lost" not in said,
                 f"the recorder says nothing was recorded, and why ({said.strip()})")
    same_as_plain([args.fake_gil, "20000"], out / "fake", "GIL-shaped C program", {"fake_gil"})
    # The preload is in it, LTTng is not: no liblttng-ust* library is
    # loaded in a process that is not a traced CPython (tracer/tp_defer.c).
    maps = gstest.record(["cat", "/proc/self/maps"], out / "maps").stdout
    lttng = sorted({l.split()[-1] for l in maps.splitlines() if "liblttng" in l})
    gstest.check("libgilscope-preload.so" in maps and not lttng,
                 f"a program that is not Python has the preload and no LTTng library mapped ({lttng})")

    py2 = None
    root = gstest.pyenv_root()
    if root:
        cands = sorted(root.glob("versions/2.7*/bin/python2"))
        py2 = cands[-1] if cands else None
    if py2 is None:
        print("skipped part: no Python 2.7 in pyenv")
    else:
        prog = "import threading\ndef f():\n    n = 300000\n    while n: n -= 1\n" \
               "ts = [threading.Thread(target=f) for _ in range(2)]\n" \
               "[t.start() for t in ts]; [t.join() for t in ts]\nprint('py2 ok')\n"
        res = gstest.record([str(py2), "-c", prog], out / "py2", check=False)
        gstest.check(res.returncode == 0 and res.stdout == "py2 ok\n", "Python 2.7 runs unchanged")
        gstest.check("old GIL" in res.stderr, "and the tracer says it does not trace it")
        trace = gstest.read_trace(out / "py2", allow_empty=True)
        mine = [e for e in trace.events if e.procname.startswith("python2")]
        gstest.check(not mine, "no gilscope event from Python 2.7")
    print("PASSED: not python")


if __name__ == "__main__":
    main()
