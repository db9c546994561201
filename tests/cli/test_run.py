"""`gilscope run` from the outside: help texts, exit status passthrough.

- `gilscope --help` and `gilscope run --help` exit 0 and describe run;
- a Python command that exits 3 makes `gilscope run` exit 3, after still
  writing the trace, run.db (exit_status 3) and report.html and printing
  the summary;
- one killed by SIGTERM gives 143 (128 + 15, as a shell would say);
- a command that cannot be started gives 127, no command at all 2.
"""
import shutil
import sqlite3
import subprocess

import gstest

check = gstest.check


def gilscope(*argv, timeout=240):
    cmd = [str(gstest.gilscope())] + [str(a) for a in argv]
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def main() -> None:
    py = gstest.find_python("debian")
    if py is None:
        gstest.skip("/usr/bin/python3 is missing")
    res = gilscope("--help")
    check(res.returncode == 0 and " run " in res.stdout, "gilscope --help exits 0 and lists run")
    res = gilscope("run", "--help")
    check(res.returncode == 0 and "-o" in res.stdout and "CMD" in res.stdout,
          "gilscope run --help exits 0 and documents -o and CMD")

    tmp = gstest.tmpdir()
    res = gilscope("run", "-o", tmp / "exit3", "--", py, "-c", "import sys; sys.exit(3)")
    check(res.returncode == 3, f"gilscope run exits with the command's status 3 (got {res.returncode})")
    for f in ("trace", "run.db", "report.html"):
        check((tmp / "exit3" / f).exists(), f"a failing command still gets its {f}")
    check("GIL summary" in res.stdout, "and the summary")
    status = sqlite3.connect(str(tmp / "exit3" / "run.db")).execute("SELECT exit_status FROM runs").fetchone()[0]
    check(status == 3, f"runs.exit_status is 3 ({status})")

    res = gilscope("run", "-o", tmp / "term", "--", py, "-c",
                   "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    check(res.returncode == 128 + 15, f"a command killed by SIGTERM gives 143 (got {res.returncode})")

    res = gilscope("run", "-o", tmp / "missing", "--", tmp / "no-such-command")
    check(res.returncode == 127, f"a command that cannot start gives 127 (got {res.returncode})")
    res = gilscope("run", "-o", tmp / "none")
    check(res.returncode == 2 and res.stderr.strip() != "", f"no command: usage error 2 (got {res.returncode})")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
