"""CPython's own test suites under `gilscope record`: each test module runs
once without gilscope and once recorded (`python -m test --timeout T`, one
module at a time); a test case failing only under the recorder is a
failure of gilscope (it is run again once, both ways, before it counts, so
that a timing-sensitive test failing once under load does not), and so is
one skipped only under it, but for the one documented (PRELOAD_SKIP). Each
recording is analyzed and checked: no event lost (counted or not), no
place missing from a GIL's order, no anomaly, no overlapping holds of one
GIL. It runs in a mount namespace of its own with a session daemon of its
own (gstest.private_lttng): a session of the machine's daemon would also
record other tests' processes, whose losses would count here.

--set fast runs a short list (part of `make test`), --set full the whole
list of issue 12 (`make test-cpython`). Modules an interpreter does not
have are left out, saying so; an interpreter without its test package
(Debian's python3 needs libpython3.X-testsuite) is skipped."""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import gstest
import losses

FAST = ["test_threading_local", "test_fork1", "test_wait4"]
FULL = ["test_threading", "test_thread", "test_threadsignals", "test_queue",
        "test_concurrent_futures", "test_subprocess", "test_signal", "test_fork1",
        "test_wait4", "test_threading_local", "test_gc", "test_sys",
        "test_interpreters", "test__interpreters", "test__xxsubinterpreters"]

# unittest's summary names each failing case: "FAIL: test_x (test.mod.Class.test_x)"
FAILED = re.compile(r"^(?:FAIL|ERROR): (\S+) \(([^)]+)\)", re.M)
# The one case known to skip itself only under gilscope, and why: CPython
# 3.14+'s strace_helper.requires_strace() skips where LD_PRELOAD is set
# (test_subprocess's test_vfork_used_when_expected; docs/tracer.md,
# "Modules and environment"). Any other case skipped only when recorded
# counts as a failure of gilscope.
PRELOAD_SKIP = re.compile(r"LD_PRELOAD is intercepting system calls")


def skipped_cases(xml: Path) -> dict[str, str]:
    """The cases regrtest's --junit-xml file says were skipped, and why."""
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError):
        return {}
    # (regrtest's testcase names the case in full and has no classname)
    return {".".join(filter(None, (tc.get("classname"), tc.get("name")))): sk.get("message") or sk.text or ""
            for tc in root.iter("testcase") for sk in tc.findall("skipped")}


def present(exe: Path, modules: list[str]) -> list[str]:
    code = ("import importlib.util, sys\n"
            "for m in sys.argv[1:]:\n"
            "    if importlib.util.find_spec('test.' + m) is not None: print(m)\n")
    out = subprocess.run([str(exe), "-c", code, *modules], capture_output=True, text=True, timeout=120)
    return out.stdout.split()


def soft_fd_limit() -> None:
    """Both runs get a soft RLIMIT_NOFILE of 1024 under a higher hard one,
    as on most desktops: where the two are equal, LTTng's descriptors
    cannot be kept above the range test_subprocess's fd_status.py scans
    (docs/tracer.md, "What the traced program can see")."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard > 1024:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 1024), hard))


def soft_fd_limit_session() -> None:
    os.setsid()  # a process group of its own: a timeout ends all of it
    soft_fd_limit()
    # SIGINT at its default both ways, as in a terminal: where the test
    # was started with it ignored (a shell's background job), Python
    # installs no KeyboardInterrupt handler, _thread.interrupt_main() does
    # nothing, and test_threading's test_print_exception_gh_102056
    # (3.12+) recurses until regrtest's timeout, with or without gilscope.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(argv: list[str], timeout: float) -> tuple[int, set[str], str]:
    """Runs a regrtest command (soft_fd_limit_session); returns its status,
    the failing cases, its output. On a timeout its whole process group is ended (SIGTERM, which
    ends a recording, then SIGKILL): regrtest's workers and
    multiprocessing's helpers would otherwise live on."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, preexec_fn=soft_fd_limit_session)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 20)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                out, _ = proc.communicate(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                out = ""
        return -1, {"<timeout>"}, out or ""
    # What it left in its group: a test's child that regrtest's own
    # timeout left spinning (it exits at once, its children do not).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    cases = {f"{name} ({where})" for name, where in FAILED.findall(out)}
    if proc.returncode != 0 and not cases:
        cases = {f"<exit {proc.returncode}>"}
    return proc.returncode, cases, out


def check_recording(trace: Path, db: Path) -> tuple[str, int, str]:
    """Analyzes a recording; returns what is wrong with it, or '', how
    many processes it recorded, and the known issue it shows, or ''."""
    res = subprocess.run([str(gstest.gilscope()), "analyze", str(trace), "-o", str(db)],
                         capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        return f"analyze failed: {res.stderr.strip()}", 0, ""
    con = sqlite3.connect(db)
    try:
        # (order_gaps and late_events count every process of the trace:
        # only this test's in its own daemon.)
        lost, anomalies, gaps, late, first_anomaly = con.execute(
            "SELECT lost_events, anomalies, order_gaps, late_events, first_anomaly_ns FROM runs").fetchone()
        # A loss of unknown count (a GIL whose start is not in the trace, a
        # lost packet) adds nothing to lost_events but has its row; a
        # stream that ended early (docs/events.md) has one naming it.
        unknown = [losses.Loss(*r) for r in con.execute(
            "SELECT stream, start_ns, end_ns FROM lost WHERE count = 0")]
        killed = con.execute("SELECT count(*) FROM processes WHERE exit_status IS NULL").fetchone()[0]
        overlaps = gstest.overlapping_holds(con)
        holds = con.execute("SELECT count(*) FROM holds").fetchone()[0]
        procs = con.execute("SELECT count(*) FROM processes").fetchone()[0]
    finally:
        con.close()
    ended = [u for u in unknown if u.what.startswith("ust/")]
    others = [u for u in unknown if not u.what.startswith("ust/")]
    wrong = []
    known = ""
    # Traced processes that recorded nothing are judged there too (one
    # killed during its registration wait is accepted, losses.py).
    if (ended or (killed and (gaps or late or others or anomalies))
            or any(losses.UNRECORDED.match(u.what) for u in others)):
        # What cannot be hidden (docs/tracer.md), and only that: losses
        # that follow a stream's early end, places at the end of a
        # process killed before its exit (tests/cpython/losses.py).
        info = gstest.info(trace)
        own = gstest.own_events(gstest.read_trace(trace), int(info["tag"]))
        v = losses.attribute(own, ended, others, gaps, late, lost, killed, anomalies, first_anomaly,
                             losses.unrecorded(info), losses.waiting(info))
        wrong += v.wrong
        streams = ", ".join(s.what for s in ended)
        explained = "; ".join(([f"stream {streams} ended early ({killed} traced processes without an "
                                f"exit)"] if ended else []) + v.known)
        if not v.wrong:
            known = "KNOWN ISSUE: " + explained
        elif explained:
            # Said too: a refused recording's other losses may be explained.
            wrong.append(f"(explained, not the failure: {explained})")
    else:
        if lost:
            wrong.append(f"{lost} events lost")
        if others:
            wrong.append("losses of unknown count: " + "; ".join(u.what for u in others[:5]))
        if gaps or late:
            wrong.append(f"{gaps} places missing from a GIL's order, {late} events after their place")
        if anomalies:
            wrong.append(f"{anomalies} anomalies")
    if overlaps:
        wrong.append(f"{overlaps} overlapping holds")
    if not holds:
        wrong.append("no hold recorded")
    return ", ".join(wrong), procs, known


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=["fast", "full"], default="fast")
    ap.add_argument("--timeout", type=int, default=600, help="regrtest's per-test timeout, s")
    ap.add_argument("--modules", help="only these modules of the set, comma-separated (by hand)")
    ap.add_argument("--pairs", type=int, default=1,
                    help="runs of each module both ways, alternating which goes first (measuring)")
    args, _ = ap.parse_known_args()
    gstest.private_lttng(as_user=True)
    label, exe = gstest.python_arg()
    probe = subprocess.run([str(exe), "-c", "import test.support, test.libregrtest"],
                           capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        gstest.skip(f"Python {label} ({exe}) has no test package"
                    + (" (apt-get install libpython3.11-testsuite)" if label == "debian" else ""))
    wanted = FAST if args.set == "fast" else FULL
    if args.modules:
        wanted = [m for m in wanted if m in args.modules.split(",")]
    modules = present(exe, wanted)
    missing = [m for m in wanted if m not in modules]
    if missing:
        print(f"not in Python {label}: {' '.join(missing)}", flush=True)
    out = gstest.tmpdir("gilscope-cpython-")
    with gstest.own_sessiond() as daemon:
        run_modules(args, label, exe, modules, out, daemon)


def daemon_cpu(pid: int) -> float:
    """CPU time (user + system, s) the session daemon and its consumer
    daemons have used so far: they work for the recorded runs outside
    their process tree, which RUSAGE_CHILDREN does not see."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in [pid] + gstest._children(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


@dataclass
class Run:
    """One regrtest run of a module, bare or recorded."""
    rc: int
    cases: set[str]
    out: str
    wall: float           # s
    cpu: float            # s: its processes' user + system time, and the session daemon's
    load: tuple[float, float]  # the load average at its start and end
    skipped: dict[str, str] = field(default_factory=dict)  # case -> why (--junit-xml)


def timed(argv: list[str], timeout: float, daemon: int, xml: Path) -> Run:
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    d0 = daemon_cpu(daemon)
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    rc, cases, out = run(argv, timeout)
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime) + daemon_cpu(daemon) - d0
    run_ = Run(rc, cases, out, wall, cpu, (load0, os.getloadavg()[0]), skipped_cases(xml))
    xml.unlink(missing_ok=True)
    return run_


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else 0.0


def run_modules(args: argparse.Namespace, label: str, exe: Path, modules: list[str], out: Path,
                daemon: int) -> None:
    """Runs each module bare and recorded (--pairs times, alternating
    which goes first: the pair's second run sees the load the first one
    left), checks each recording; fails with every problem found."""
    regrtest = [str(exe), "-m", "test", "--timeout", str(args.timeout)]
    whole = args.timeout * 2 + 120
    problems: list[str] = []
    # Per module of those that passed both ways every time: the median
    # wall and CPU time of its bare and of its recorded runs. A module that
    # hangs until regrtest's timeout would set a total alone.
    passed: dict[str, dict[str, float]] = {}
    walls = {"bare": 0.0, "recorded": 0.0}
    processes = 0
    for m in modules:
        runs: dict[str, list[Run]] = {"bare": [], "recorded": []}
        ok = True
        for pair in range(args.pairs):
            for attempt in (1, 2):
                trace = out / f"{m}-{pair}-{attempt}"
                xml = {kind: out / f"{m}-{kind}.xml" for kind in ("bare", "recorded")}
                argv = {"bare": regrtest + ["--junit-xml", str(xml["bare"]), m],
                        "recorded": [str(gstest.gilscope()), "record", "-q", "-o", str(trace), "--"]
                        + regrtest + ["--junit-xml", str(xml["recorded"]), m]}
                this = {}
                for kind in (("bare", "recorded") if pair % 2 == 0 else ("recorded", "bare")):
                    this[kind] = timed(argv[kind], whole + (60 if kind == "recorded" else 0), daemon,
                                       xml[kind])
                bare, rec = this["bare"], this["recorded"]
                # A case skipped only when recorded runs less of the program:
                # a change of behaviour too, but for the one documented.
                skips = {c: why for c, why in rec.skipped.items() if c not in bare.skipped}
                known_skips = sorted(c for c, why in skips.items() if PRELOAD_SKIP.search(why))
                only = rec.cases - bare.cases | {f"skipped: {c} ({why})" for c, why in skips.items()
                                                 if c not in known_skips}
                if not only:
                    break
                # The run without gilscope too: one that hung or crashed
                # lists no skip, and every skip of the recorded run is then
                # "only under gilscope" (seen: 3.13's test_concurrent_futures).
                print(f"{m}: attempt {attempt}: failing only under gilscope: {sorted(only)} "
                      f"(without gilscope: status {bare.rc}, {bare.wall:.1f} s, {len(bare.cases)} "
                      f"failing, {len(bare.skipped)} skipped; recorded: status {rec.rc}, "
                      f"{rec.wall:.1f} s)", flush=True)
                if attempt == 1:
                    print("  " + "\n  ".join(rec.out.splitlines()[-15:]), flush=True)
                    shutil.rmtree(trace, ignore_errors=True)
            for kind in runs:
                runs[kind].append(this[kind])
                walls[kind] += this[kind].wall / args.pairs
            # The load average at each end of each run: a change of the
            # machine's load between the two moves the ratio.
            print(f"{m}: without gilscope {bare.wall:.1f} s, CPU {bare.cpu:.1f} s (status {bare.rc}; "
                  f"load {bare.load[0]:.1f} to {bare.load[1]:.1f}), recorded {rec.wall:.1f} s, CPU "
                  f"{rec.cpu:.1f} s (status {rec.rc}; load {rec.load[0]:.1f} to {rec.load[1]:.1f})"
                  + (f" [pair {pair + 1}, {'bare' if pair % 2 == 0 else 'recorded'} first]"
                     if args.pairs > 1 else ""), flush=True)
            if known_skips:
                print(f"{m}: skipped only under gilscope, as documented (LD_PRELOAD is set): "
                      f"{', '.join(known_skips)}", flush=True)
            ok = ok and bare.rc == 0 and rec.rc == 0
            if only:
                tail = "\n".join(rec.out.splitlines()[-30:])
                problems.append(f"{m}: fails only under gilscope: {sorted(only)}\n{tail}")
                ok = False
                break
            if rec.rc == -1:
                continue  # timed out both ways: nothing recorded to check
            wrong, procs, known = check_recording(trace, out / f"{m}.db")
            processes += procs
            if known:
                print(f"{m}: {known}", flush=True)
            if wrong:
                print(f"{m}: recording: {wrong} (kept in {trace})", flush=True)
                problems.append(f"{m}: recording: {wrong} (kept in {trace})")
                continue
            clean = "but the known issue above" if known else "no loss, no gap"
            print(f"ok: {m}: recording analyzed: {clean}, no anomaly, no overlapping holds "
                  f"({du(trace) / 2**20:.0f} MiB, {procs} processes)", flush=True)
            # test_threading alone records 2 GB: keep one module's at a time.
            shutil.rmtree(trace, ignore_errors=True)
            (out / f"{m}.db").unlink(missing_ok=True)
        if ok and len(runs["bare"]) == args.pairs:
            passed[m] = {f"{k} {what}": median([getattr(r, what) for r in v])
                         for k, v in runs.items() for what in ("wall", "cpu")}
            if args.pairs > 1:
                b, r = passed[m]["bare wall"], passed[m]["recorded wall"]
                print(f"{m}: median wall {b:.1f} s without gilscope, {r:.1f} s recorded ({r / b:.2f}x)",
                      flush=True)
    if walls["bare"]:
        print(f"wall time: {walls['bare']:.1f} s without gilscope, {walls['recorded']:.1f} s recorded "
              f"({walls['recorded'] / walls['bare']:.2f}x; a mean per module over {args.pairs} pairs); "
              f"{processes} traced processes analyzed", flush=True)
    print_passed(passed, len(modules))
    if problems:
        gstest.fail("\n".join(problems))
    print(f"PASSED: cpython {args.set} ({label}): {' '.join(modules)}")


def print_passed(passed: dict[str, dict[str, float]], nmodules: int) -> None:
    """The ratios over the modules that passed both ways: of the summed
    medians (what a user waits) and the median of the modules' own."""
    if not passed:
        return
    tot = {k: sum(v[k] for v in passed.values()) for k in next(iter(passed.values()))}
    ratios = [v["recorded wall"] / max(v["bare wall"], 1e-9) for v in passed.values()]
    print(f"modules that passed both ways ({len(passed)} of {nmodules}): wall {tot['bare wall']:.1f} s "
          f"without gilscope, {tot['recorded wall']:.1f} s recorded "
          f"({tot['recorded wall'] / tot['bare wall']:.2f}x); CPU {tot['bare cpu']:.1f} s, "
          f"{tot['recorded cpu']:.1f} s ({tot['recorded cpu'] / max(tot['bare cpu'], 1e-9):.2f}x); "
          f"median of the modules' wall ratios {median(ratios):.2f}x "
          f"({', '.join(f'{m} {ratio:.2f}' for m, ratio in zip(passed, ratios))})",
          flush=True)


if __name__ == "__main__":
    main()
