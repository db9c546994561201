"""A traced CPython does not stand still waiting for liblttng-ust's
registration with the session daemon: its first events are kept in memory
(the early log, tracer/early_log.c) and written once the registration is
done (docs/tracer.md, "Start-up"). Each child below is traced with
gate_registration.c preloaded after gilscope's library, which holds the
registration until a gate opens:

- start-up: the gate opens only when the child's own Python code creates a
  file. A child that waited for its registration before its first GIL event
  (the tracer before the early log) never gets there: it gives up at
  LTTNG_UST_REGISTER_TIMEOUT and its start-up events are lost. Here every
  event is recorded from its gil_found and seq 0, and the first acquire's
  own time precedes the gate's opening (so the registration's end).
- fork: the child forks with its events held (the gate still shut); the
  fork child must not write its parent's records (one gil_found and its
  own GIL's events from seq 0 in the fork child), the parent writes them.
- exit: the gate opens at the process's first wait for its registration;
  children that end (exit, os._exit, a SIGTERM to themselves, os.execv)
  or start a thread with their events held wait there, write what they
  kept, and lose nothing; the wait came after their Python code ran."""
import argparse
import os

import gstest

PROGRAM = r"""
import os, subprocess, sys
shim, out = sys.argv[1], sys.argv[2]
NS = "ns = getattr(time, 'monotonic_ns', lambda: int(time.monotonic() * 1e9))\n"  # 3.6: no _ns
CASES = {
    "startup": ("file", "import os, time\n" + NS + "t = ns()\n"
                "open(os.environ['GILSCOPE_TEST_GATE'], 'w').close()\nprint('gate', t)\n"),
    "fork": ("file", "import os\npid = os.fork()\n"
             "if pid == 0:\n    os._exit(0)\n"
             "open(os.environ['GILSCOPE_TEST_GATE'], 'w').close()\n"
             "os.waitpid(pid, 0)\nprint('forked', pid)\n"),
    "exit": ("wait", "import time\n" + NS + "print('ran', ns(), flush=True)\n"),
    "os_exit": ("wait", "import os, time\n" + NS + "print('ran', ns(), flush=True)\n"
                "os._exit(3)\n"),
    "kill": ("wait", "import os, signal, time\n" + NS + "print('ran', ns(), flush=True)\n"
             "os.kill(os.getpid(), signal.SIGTERM)\n"),
    "exec": ("wait", "import os, time\n" + NS + "print('ran', ns(), flush=True)\n"
             "os.execv('/bin/true', ['true'])\n"),
    "thread": ("wait", "import threading, time\n" + NS + "print('ran', ns(), flush=True)\n"
               "t = threading.Thread(target=lambda: sum(range(200000)))\nt.start()\nt.join()\n"),
}
for name, (mode, code) in CASES.items():
    env = dict(os.environ)
    env["LD_PRELOAD"] = env.get("LD_PRELOAD", "") + " " + shim
    if mode == "file":
        env["GILSCOPE_TEST_GATE"] = os.path.join(out, name + ".gate")
    else:
        env["GILSCOPE_TEST_GATE_WAIT"] = "1"
    p = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    stdout, stderr = p.communicate(timeout=60)
    lines = (stdout + stderr).replace("\n", " | ")
    print("case %s %d %d %s" % (name, p.pid, p.returncode, lines), flush=True)
"""


def seqs(e: gstest.Event) -> list[int]:
    if e.name == "take":
        return [e.fields["req_seq"], e.fields["seq"]]
    return [e.fields["seq"]] if "seq" in e.fields else []


def whole(evs: list[gstest.Event], who: str, lazy_gil: bool, exits: bool = True) -> list[gstest.Event]:
    """Checks one process's events: one gil_found, its first take's acquire
    at seq 0, every seq from 0 on, process_exit last (unless it ends by
    exec). Returns its GIL's state changes in order."""
    evs = gstest.in_gil_order([e for e in evs if e.name not in ("code", "stack")])
    names = [e.name for e in evs]
    found = [e for e in evs if e.name == "gil_found"]
    gstest.check(len(found) == 1, f"{who}: exactly one gil_found ({names[:6]})")
    gil = found[0].fields["gil"]
    mine = [e for e in evs if e.fields.get("gil") == gil and seqs(e)]
    if not lazy_gil:
        gstest.check(bool(mine) and mine[0].name == "acquire" and mine[0].fields["seq"] == 0,
                     f"{who}: the first take of the GIL recorded ({[(e.name, seqs(e)) for e in mine[:3]]})")
    got = sorted(s for e in mine for s in seqs(e))
    gstest.check(bool(got) and got == list(range(len(got))),
                 f"{who}: GIL events 0 to {len(got) - 1}, none missing nor twice "
                 f"(first {got[:5]}, last {got[-3:]})")
    if exits:
        gstest.check(names[-1] == "process_exit", f"{who}: ends with process_exit ({names[-3:]})")
    return mine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gate", required=True)
    args, _ = ap.parse_known_args()
    label, exe = gstest.python_arg()
    out = gstest.tmpdir()
    prog = out / "children.py"
    prog.write_text(PROGRAM)
    res = gstest.record([str(exe), str(prog), args.gate, str(out)], out / "trace")
    cases: dict[str, tuple[int, int, str]] = {}
    for line in res.stdout.splitlines():
        if line.startswith("case "):
            _, name, pid, rc, rest = line.split(" ", 4)
            cases[name] = (int(pid), int(rc), rest)
    gstest.check(set(cases) == {"startup", "fork", "exit", "os_exit", "kill", "exec", "thread"}, f"every case ran ({res.stdout})")
    trace = gstest.own_events(gstest.read_trace(out / "trace"), int(gstest.info(out / "trace")["tag"]))
    gstest.check(trace.discarded == 0, "no event lost")
    gstest.check_sequences(trace)
    by_pid = trace.by_pid()
    lazy_gil = gstest.python_version(exe) < (3, 7)  # 3.6 makes its GIL at the first thread

    for name, (pid, rc, rest) in cases.items():
        want = {"os_exit": 3, "kill": -15}.get(name, 0)
        gstest.check(rc == want, f"{name}: the child exited as it would ({rc}: {rest})")
        if lazy_gil and name != "thread":
            continue
        mine = whole(by_pid.get(pid, []), f"{name} child {pid}", lazy_gil, exits=name not in ("exec", "kill"))
        words = rest.split()
        if name == "startup":
            gate = int(words[words.index("gate") + 1])
            first = mine[0].fields["ts"]
            gstest.check(first < gate, f"startup: the first GIL event ({first}) came before the gate "
                         f"opened ({gate}), so before the registration ended, and was recorded")
        elif name == "fork":
            child = int(words[words.index("forked") + 1])
            whole(by_pid.get(child, []), f"fork child {child} of {pid}", lazy_gil)
        elif not lazy_gil:  # 3.6 names its main thread before its GIL: that waits
            ran = int(words[words.index("ran") + 1])
            waited = int(words[words.index("waited") + 2])
            gstest.check(ran < waited, f"{name}: the child's Python code ran ({ran}) before it first "
                         f"waited for its registration ({waited})")
    print(f"PASSED: early_log ({label}): start-up, fork, exit, os._exit, kill, exec and a thread with the "
          f"registration pending, no event lost")


if __name__ == "__main__":
    main()
