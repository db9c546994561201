"""A thread that forks and, in the child, just returns: the child's only
thread ends, so glibc ends the child with exit(0) (stdio flushed, atexit
handlers run). Under the recorder liblttng-ust's threads live in the child
too; it must still end exactly so, and the recording must end.

With the joiner variant CPython 3.13+ joins the forking thread with
pthread_join, which some C libraries never return from there (Debian sid's
glibc 2.43, which sid's 3.14 and 3.15 bring along): the program hangs without
gilscope too. fork_join_probe (C, run with the interpreter's own loader and C
library) tells so in milliseconds, and that variant is then not compared."""
import argparse
import os
import signal
import subprocess
from pathlib import Path
from typing import Optional

import gstest

# The child leaves text in libc's stdio buffer: only exit() flushes it
# (not _exit(), and not a kill), so it shows that the child ended the way
# glibc ends it.
PROGRAM = r"""
import ctypes, os, sys, threading
libc = ctypes.CDLL(None)
def joiner(forker):
    forker.join()
    libc.printf(b"joiner printf, flushed by exit\\n")
def work():
    pid = os.fork()
    if pid == 0:
        libc.printf(b"child printf, flushed by exit\\n")
        if len(sys.argv) > 1:
            # The forking thread (the child's thread group leader) ends
            # first: a zombie leader that must not count as alive.
            threading.Thread(target=joiner, args=(threading.current_thread(),)).start()
        return
    _, status = os.waitpid(pid, 0)
    print("child status", status, flush=True)
t = threading.Thread(target=work)
t.start()
t.join()
print("parent done", flush=True)
"""


def run_group(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    """subprocess.run in a process group of its own, all of it killed on
    timeout: a hung fork child would otherwise outlive the test."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def libc_cannot_join(exe: Path, probe: Path) -> Optional[str]:
    """Why the interpreter's C library cannot join a thread that forked and
    exited in the child, or None when it can."""
    where = subprocess.run(
        [str(exe), "-c", "import os\n"
         "print(os.confstr('CS_GNU_LIBC_VERSION') or 'its C library')\n"
         "for l in open('/proc/self/maps'):\n"
         "    p = l.split()[-1]\n"
         "    n = os.path.basename(p)\n"
         "    if n.startswith(('ld-linux', 'libc.so')): print(p)"],
        capture_output=True, text=True, timeout=60)
    lines = where.stdout.splitlines()
    libc_name = lines[0] if lines else "its C library"
    loader = next((p for p in lines[1:] if os.path.basename(p).startswith("ld-linux")), None)
    libc = next((p for p in lines[1:] if os.path.basename(p).startswith("libc.so")), None)
    cmd = [loader, "--library-path", os.path.dirname(libc), str(probe)] if loader and libc else [str(probe)]
    try:
        res = run_group(cmd, timeout=5)
    except subprocess.TimeoutExpired:
        return (f"{libc_name}: pthread_join never returns for a thread that forked and exited "
                "in the child (fork_join_probe hangs)")
    gstest.check(res.returncode == 0 and res.stdout == "joined\n",
                 f"fork_join_probe: joins or hangs, nothing else ({res.returncode} {res.stdout!r} {res.stderr!r})")
    return None


def main() -> None:
    label, exe = gstest.python_arg()
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", type=Path, required=True)
    args, _ = ap.parse_known_args()
    out = gstest.tmpdir()
    prog = out / "fork_thread.py"
    prog.write_text(PROGRAM)
    run_variant(exe, prog, out, [])
    why = libc_cannot_join(exe, args.probe) if gstest.python_version(exe) >= (3, 13) else None
    if why:
        print(f"KNOWN ISSUE (not gilscope's): variant joiner not run: {why}, and CPython "
              f"{'.'.join(map(str, gstest.python_version(exe)))} joins threads with it: "
              "the program hangs without gilscope too")
    else:
        run_variant(exe, prog, out, ["joiner"])
    print(f"PASSED: fork_thread ({label})")


def run_variant(exe: Path, prog: Path, out: Path, variant: list[str]) -> None:
    try:
        bare = run_group([str(exe), str(prog)] + variant, timeout=60)
    except subprocess.TimeoutExpired:
        # Seen on sid's 3.14/3.15 with the joiner: CPython itself may never
        # release the child's new main thread, so there is nothing to compare.
        print(f"note: variant {variant}: without gilscope the program hangs too; not compared")
        return
    gstest.check(bare.returncode == 0 and "child status 0" in bare.stdout and "flushed by exit" in bare.stdout,
                 f"without gilscope the child ends with status 0 ({bare.stdout!r} {bare.stderr!r})")
    try:
        res = gstest.record([str(exe), str(prog)] + variant, out / f"trace{len(variant)}", timeout=60)
    except subprocess.TimeoutExpired:
        gstest.fail("the recording did not end within 60 s: the fork child hangs")
    gstest.check(sorted(res.stdout.splitlines()) == sorted(bare.stdout.splitlines()),
                 f"same output as without gilscope: {res.stdout!r}")
    info = gstest.info(out / f"trace{len(variant)}")
    trace = gstest.own_events(gstest.read_trace(out / f"trace{len(variant)}"), int(info["tag"]))
    gstest.check(len(trace.by_pid()) == 2, f"both processes traced ({sorted(trace.by_pid())})")


if __name__ == "__main__":
    main()
