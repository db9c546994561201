"""Shared helpers for gilscope's tests (stdlib + Debian's python3-bt2).

Tests are plain scripts run by ctest. A script that cannot run here (an
interpreter or a tool is absent) calls skip(), which prints the reason and
exits 77, the SKIP_RETURN_CODE ctest is told about.
"""
from __future__ import annotations

import argparse
import atexit
import collections
import contextlib
import glob
import json
import os
import shutil
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

SKIP = 77


def skip(reason: str) -> "NoReturn":  # type: ignore[name-defined]
    print(f"SKIPPED: {reason}", flush=True)
    sys.exit(SKIP)


def fail(reason: str) -> "NoReturn":  # type: ignore[name-defined]
    print(f"FAILED: {reason}", flush=True)
    sys.exit(1)


def golden_update(path: Path, text: str) -> bool:
    """The one switch for every golden file (tests/README.md): with
    GILSCOPE_UPDATE_GOLDEN set, writes text to path and returns True."""
    if not os.environ.get("GILSCOPE_UPDATE_GOLDEN"):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"rewrote {path}", flush=True)
    return True


def browser_run(script: str, args: list, timeout: float) -> tuple:
    """Runs tests/browser/SCRIPT (a Playwright check in headless Chromium)
    with args, or skips when Chromium, node or the node modules are missing
    (make test-deps installs them). Prints each check the page made and
    returns (the script's JSON result, its exit status)."""
    browser_dir = source_dir() / "tests" / "browser"
    node = shutil.which("node")
    if not Path("/usr/bin/chromium").exists():
        skip("Debian's chromium is not installed (apt-get install chromium, or make test-deps)")
    if node is None:
        skip("node is not installed (apt-get install nodejs npm, or make test-deps)")
    if not (browser_dir / "node_modules" / "playwright-core").is_dir():
        skip("tests/browser/node_modules is missing: run tools/ensure-node-modules (make test-deps does)")
    res = subprocess.run([node, str(browser_dir / script)] + [str(a) for a in args],
                         capture_output=True, text=True, timeout=timeout, cwd=str(browser_dir))
    try:
        seen = json.loads(res.stdout)
    except ValueError:
        fail(f"{script} printed no result (exit {res.returncode}):\n{res.stdout}\n{res.stderr}")
    if seen.get("error"):
        fail(f"the browser run failed: {seen['error']}")
    for c in seen.get("checks", []):
        print(f"{'ok' if c['ok'] else 'FAILED'}: {c['what']}" + ("" if c["ok"] else f" -- saw {c['detail']!r}"))
    return seen, res.returncode


def build_dir() -> Path:
    d = os.environ.get("GILSCOPE_BUILD")
    if not d:
        fail("GILSCOPE_BUILD is not set: run the tests through ctest")
    return Path(d)


def source_dir() -> Path:
    return Path(os.environ.get("GILSCOPE_SOURCE", Path(__file__).resolve().parents[2]))


def held_back_max() -> int:
    """How many holds a thread of the tracer holds back at most
    (GILSCOPE_HB_N in tracer/gilscope_tp.h, "held-back holds"): its
    `hold` records carry up to one more."""
    text = (source_dir() / "tracer" / "gilscope_tp.h").read_text()
    m = re.search(r"^#define GILSCOPE_HB_N (\d+)$", text, re.M)
    if not m:
        fail("tracer/gilscope_tp.h defines no GILSCOPE_HB_N")
    return int(m.group(1))


def gilscope() -> Path:
    return build_dir() / "bin" / "gilscope"


def preload_lib() -> Path:
    return build_dir() / "lib" / "gilscope" / "libgilscope-preload.so"


def pyenv_root() -> Optional[Path]:
    root = os.environ.get("PYENV_ROOT")
    if root:
        return Path(root)
    exe = shutil.which("pyenv")
    if exe:
        try:
            out = subprocess.run([exe, "root"], capture_output=True, text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip():
                return Path(out.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    home = Path.home() / ".pyenv"
    return home if home.is_dir() else None


def fetched_pythons_dir() -> Path:
    """Where tools/fetch-pythons puts Debian sid's newest Pythons."""
    d = os.environ.get("GILSCOPE_PYTHONS_DIR")
    if d:
        return Path(d)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "gilscope" / "pythons"


def fetched_python(label: str) -> Optional[Path]:
    """Python X.Y as unpacked by tools/fetch-pythons, if it is ready."""
    root = fetched_pythons_dir() / label
    exe = root / "usr" / "bin" / f"python{label}"
    try:
        ready = (root / ".gilscope-ready").read_text().strip() == str(root)
    except OSError:
        return None
    return exe if ready and exe.exists() else None


def find_python(label: str) -> Optional[Path]:
    """'debian' is /usr/bin/python3; 'X.Y' is the newest pyenv X.Y.*, else
    the one tools/fetch-pythons brought (3.14 and 3.15 from Debian sid)."""
    if label == "debian":
        p = Path("/usr/bin/python3")
        return p if p.exists() else None
    root = pyenv_root()
    if root is None:
        return fetched_python(label)
    cands = sorted(
        (Path(p) for p in glob.glob(str(root / "versions" / f"{label}.*"))
         if Path(p).name.split(".")[:2] == label.split(".")
         and Path(p).name.replace(".", "").isdigit()),
        key=lambda p: [int(x) for x in p.name.split(".")])
    for c in reversed(cands):
        exe = c / "bin" / "python3"
        if exe.exists():
            return exe
    return fetched_python(label)


def python_version(exe: Path) -> tuple[int, int]:
    out = subprocess.run([str(exe), "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
                         capture_output=True, text=True, check=True)
    a, b = out.stdout.split()
    return int(a), int(b)


def python_arg() -> tuple[str, Path]:
    """Parses --python LABEL and returns (label, interpreter), or skips."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default="debian")
    args, _ = ap.parse_known_args()
    exe = find_python(args.python)
    if exe is None:
        where = ("/usr/bin/python3" if args.python == "debian" else
                 f"pyenv versions ({pyenv_root()}) and {fetched_pythons_dir()}; "
                 "tools/fetch-pythons brings 3.14 and 3.15")
        skip(f"Python {args.python} is not installed here (looked in {where})")
    return args.python, exe


def attributed_python_arg() -> tuple[str, Path, int, int]:
    """python_arg() for a test of code locations: (label, interpreter,
    major, minor), or skips before 3.7, which the tracer names no code on."""
    label, exe = python_arg()
    major, minor = python_version(exe)
    if (major, minor) < (3, 7):
        skip(f"Python {major}.{minor}: no code attribution before 3.7 (docs/tracer.md)")
    return label, exe, major, minor


def tmpdir(prefix: str = "gilscope-test-") -> Path:
    base = os.environ.get("GILSCOPE_TEST_TMP")
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def live(pid: int) -> bool:
    """pid runs (a zombie is gone: some containers' init, or a private
    namespace's shell, reaps nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def sessiond_state(kind: str) -> Path:
    """A file of the recorders' shared state (tracer/sessiond.c, state_path)
    for this environment's session daemon: kind "ref" (the reference count:
    every live recorder holds a shared flock on it), "marker" (the pid of
    the daemon gilscope started) or "lock". Named as gilscope names it:
    after the uid and the daemon's run directory (its device, or its
    nearest existing parent's, and an FNV-1a hash of its path)."""
    uid = os.getuid()
    state = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    if uid == 0:
        rundir = "/var/run/lttng"
    else:
        home = os.environ["LTTNG_HOME"] if "LTTNG_HOME" in os.environ else os.environ.get("HOME", "/")
        rundir = f"{home}/.lttng"
    h = 2166136261
    for b in rundir.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    probe, dev = rundir, 0
    while probe:
        try:
            dev = os.stat(probe).st_dev
            break
        except OSError:
            probe = "" if probe == "/" else (os.path.dirname(probe) or "")
    key = f"{dev:x}-{h:08x}"
    names = {"ref": f"gilscope-sessiond-{uid}-{key}.lock",
             "marker": f"gilscope-sessiond-{uid}-{key}.pid",
             "lock": f"gilscope-{uid}-{key}.sessiond-lock"}
    return Path(state) / names[kind]


def sessiond_pids(uid: Optional[int] = None, reachable: bool = False) -> list[str]:
    """Live lttng-sessiond pids, of user uid when given. A stopped daemon
    can stay a zombie where nothing reaps orphans (some containers' init):
    that one is gone. reachable: only daemons in this process's mount
    namespace (one in another, see private_lttng(), cannot be reached)."""
    live = []
    own_ns = os.readlink("/proc/self/ns/mnt") if reachable else None
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
        if (fields.get("Name") == "lttng-sessiond" and fields.get("State", "Z")[0] not in "ZX"
                and (uid is None or fields.get("Uid", "").split("\t")[0] == str(uid))):
            if own_ns is not None:
                try:
                    if os.readlink(status.parent / "ns" / "mnt") != own_ns:
                        continue
                except OSError:
                    continue
            live.append(status.parent.name)
    return live


PRIVATE_NS_MARK = "GILSCOPE_TEST_PRIVATE_LTTNG"


def _private_home() -> tuple[Path, dict]:
    """A fresh HOME, LTTNG_HOME and XDG_RUNTIME_DIR (gilscope's lock files)."""
    home = Path(tempfile.mkdtemp(prefix="gilscope-ns-home-"))
    (home / "run").mkdir()
    return home, dict(os.environ, HOME=str(home), LTTNG_HOME=str(home), XDG_RUNTIME_DIR=str(home / "run"))


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the test process dies
    (ctest's time-out kills it with SIGKILL: no clean-up of its own runs)."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _leftovers(home: Path) -> list[int]:
    """Processes of a private environment still alive: HOME is its fresh
    one and they are in another mount namespace than this process (the
    machine's daemons, HOME=/root, are never among them)."""
    own_ns = os.readlink("/proc/self/ns/mnt")
    want = b"HOME=" + str(home).encode()
    pids = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            if want not in (d / "environ").read_bytes().split(b"\0"):
                continue
            if os.readlink(d / "ns" / "mnt") == own_ns:
                continue
        except OSError:
            continue
        pids.append(int(d.name))
    return pids


def _kill_leftovers(home: Path) -> None:
    """SIGKILL for whatever a private environment left running (a session
    daemon that did not stop, its consumer daemons, a traced program)."""
    left = _leftovers(home)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if left:
        print(f"note: killed {len(left)} process(es) left in the private LTTng environment: {left}",
              flush=True)


def private_lttng(as_user: bool = False) -> bool:
    """Runs this test script again in a mount namespace of its own with an
    empty /run/lttng and a fresh HOME, where no session daemon of anyone
    else can be reached (root, unshare(1)); returns True inside it. Returns
    False where that cannot be done: the caller then works with the
    machine's daemons. Never returns in the outer process.
    The namespace has its own pids too, when it can (unshare -p): a shell
    is its first process, and when it ends the kernel kills every process
    left in it, so that no session daemon outlives the test, even one
    killed by ctest's time-out (the shell is killed with the test,
    PR_SET_PDEATHSIG and --kill-child). Without a pid namespace, what is
    left with the fresh HOME is killed once the script ends.
    as_user: a user who is not root gets a fresh HOME, LTTNG_HOME and
    XDG_RUNTIME_DIR in this process instead (its recorders then talk only
    to a daemon under that LTTNG_HOME, though its traced programs also
    register with root's) and True."""
    if os.environ.get(PRIVATE_NS_MARK) == "1":
        return True
    if os.geteuid() != 0 and as_user:
        home, env = _private_home()
        atexit.register(shutil.rmtree, home, True)
        os.environ.update({k: env[k] for k in ("HOME", "LTTNG_HOME", "XDG_RUNTIME_DIR")})
        os.environ[PRIVATE_NS_MARK] = "1"
        return True
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    # /run/lttng exists once a root session daemon has run; not before.
    isolate = "mkdir -p /run/lttng && mount -t tmpfs gilscope-test /run/lttng"
    unshare = None
    for cand in (["unshare", "-m", "-p", "--fork", "--kill-child", "--mount-proc", "--"],
                 ["unshare", "-m", "--"]):
        probe = subprocess.run(cand + ["sh", "-c", isolate], capture_output=True)
        if probe.returncode == 0:
            unshare = cand
            break
    if unshare is None:
        return False
    home, env = _private_home()
    env[PRIVATE_NS_MARK] = "1"
    # The fresh HOME must not hide the interpreters found through the old one.
    env.setdefault("GILSCOPE_PYTHONS_DIR", str(fetched_pythons_dir()))
    root = pyenv_root()
    if root:
        env.setdefault("PYENV_ROOT", str(root))
    # The shell stays the namespace's first process (no exec): it reaps
    # the daemons' orphans, and its end ends the namespace.
    argv = unshare + ["sh", "-c", isolate + ' && "$@"', "sh", sys.executable, *sys.argv]
    sys.stdout.flush()
    # SIGTERM (make test interrupted) goes through subprocess.run's clean-up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        rc = subprocess.run(argv, env=env, preexec_fn=_die_with_parent).returncode
    finally:
        _kill_leftovers(home)
        shutil.rmtree(home, ignore_errors=True)
    sys.exit(rc)


def _children(pid: int) -> list[int]:
    """The live children of pid (a session daemon's consumer daemons)."""
    kids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid) and fields.get("State", "Z")[0] not in "ZX":
            kids.append(int(status.parent.name))
    return kids


@contextlib.contextmanager
def own_sessiond() -> Iterator[int]:
    """Inside private_lttng(): starts a session daemon for this test alone
    (gilscope record uses a daemon that answers rather than starting its
    own) and yields its pid; stops that daemon, by the pid it wrote in this
    environment's run directory, when the block ends: SIGTERM, and SIGKILL
    for it and its consumer daemons if it is still there 10 s later."""
    if os.environ.get(PRIVATE_NS_MARK) != "1":
        fail("own_sessiond() outside private_lttng(): it would start a daemon every test shares")
    run_dir = (Path("/run/lttng") if os.geteuid() == 0
               else Path(os.environ["LTTNG_HOME"]) / ".lttng")
    pidfile = run_dir / "lttng-sessiond.pid"
    res = subprocess.run(["lttng-sessiond", "--daemonize", "--no-kernel"], capture_output=True,
                         text=True, timeout=60)
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError) as e:
        fail(f"lttng-sessiond --daemonize --no-kernel (exit {res.returncode}) wrote no pid "
             f"in {pidfile}: {e}; {res.stderr.strip()[-300:]}")
    try:
        yield pid
    finally:
        kids = _children(pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(200):
            if str(pid) not in sessiond_pids():
                break
            time.sleep(0.05)
        else:
            # The consumer daemons too: a daemon killed leaves them running.
            left = [p for p in dict.fromkeys([pid] + kids + _children(pid)) if _comm(p).startswith("lttng-")]
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            print(f"note: the test's session daemon (pid {pid}) did not stop within 10 s of "
                  f"SIGTERM: SIGKILL for {left}", flush=True)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def pid_choice(pid: int) -> str:
    """Whether a shell in a pid namespace of its own (unshare -p) can give
    its next child `pid` by writing ns_last_pid: "" when it can, else why
    not (for a skip)."""
    probe = subprocess.run(["unshare", "-p", "-f", "--mount-proc", "sh", "-c",
                            f"echo {pid - 1} > /proc/sys/kernel/ns_last_pid && sh -c 'echo $$'"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode == 0 and probe.stdout.strip() == str(pid):
        return ""
    return (f"cannot choose a pid in a pid namespace of its own (unshare -p, ns_last_pid): "
            f"{(probe.stderr or probe.stdout).strip()[-200:]}")


def record(cmd: list[str], outdir: Path, extra: Optional[list[str]] = None,
           env: Optional[dict] = None, timeout: float = 240,
           check: bool = True) -> subprocess.CompletedProcess:
    """Runs `gilscope record -o outdir [extra] -- cmd` and returns the result."""
    argv = [str(gilscope()), "record", "-o", str(outdir)] + (extra or []) + ["--"] + cmd
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                         env=env if env is not None else os.environ.copy())
    if check and res.returncode != 0:
        fail(f"{' '.join(argv)} exited {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}")
    return res


# gdb's commands (after `gdb -p PID`) that stop a traced process inside
# liblttng-ust's copy of a `hold` event's payload, after its reservation in
# the ring buffer and before its commit, and kill it there: its CPU's
# stream of the per-user buffers stops (docs/events.md).
GDB_KILL_IN_EVENT = ["-batch", "-nx",
                     "-ex", "break lttng_ust__event_probe__gilscope___hold", "-ex", "continue",
                     "-ex", "delete",
                     "-ex", 'eval "tbreak memcpy thread %d", $_thread', "-ex", "continue",
                     "-ex", "bt 3", "-ex", "kill"]


def need_gdb_in_event() -> None:
    """Skips unless gdb can stop a traced process inside an event
    (GDB_KILL_IN_EVENT): gdb installed, the probes' symbols there."""
    if not shutil.which("gdb"):
        skip("gdb is not installed (apt-get install gdb): it stops a process inside an event")
    probes = build_dir() / "lib" / "gilscope" / "libgilscope-probes.so"
    nm = subprocess.run(["nm", str(probes)], capture_output=True, text=True)
    if "lttng_ust__event_probe__gilscope___hold" not in nm.stdout:
        skip(f"{probes} has no symbol table: gdb cannot stop inside the hold event")


def check_whole(con: sqlite3.Connection, procs: int, who: str, what: str, detail: str = "") -> None:
    """Checks an analyzed recording of processes that end by their own
    signal: `procs` processes (`who`), and nothing lost, no anomaly, no
    hole in a GIL's order, no late event (`what` says why; `detail` is
    added to the failure)."""
    lost, anomalies, gaps, late = con.execute(
        "SELECT lost_events, anomalies, order_gaps, late_events FROM runs").fetchone()
    n = con.execute("SELECT count(*) FROM processes").fetchone()[0]
    check(n == procs, f"{who} analyzed ({n})")
    check((lost, anomalies, gaps, late) == (0, 0, 0, 0),
          f"{what}: lost {lost}, anomalies {anomalies}, order gaps {gaps}, late {late} {detail}")


def check_unknown_loss(res: subprocess.CompletedProcess, trace: Path, db: Path) -> None:
    """A recording that lost an unknown number of events (a stream ended
    early or had no packet): the recorder says so, not for want of
    buffer, gilscope.info says `unknown`, and analyze reads the trace and
    says events were lost, into db."""
    check("no events lost" not in res.stderr and "a larger --buffer-size would not help" in res.stderr,
          f"the recorder says events were lost, not for want of buffer ({res.stderr.strip()})")
    lost = info(trace)["lost_events"]
    check(lost == "unknown", f"gilscope.info: lost_events=unknown ({lost})")
    an = subprocess.run([str(gilscope()), "analyze", str(trace), "-o", str(db)],
                        capture_output=True, text=True, timeout=300)
    check(an.returncode == 0 and "an unknown number of events were lost" in an.stderr,
          f"analyze succeeded and says events were lost ({an.stderr.strip()})")


@dataclass
class Event:
    name: str          # without the "gilscope:" prefix
    ts: int            # ns from origin
    pid: int
    tid: int
    procname: str
    fields: dict = field(default_factory=dict)
    rec_ts: int = 0    # when LTTng recorded it (ts: when it happened)


@dataclass
class Trace:
    events: list[Event]
    discarded: int     # the sum of babeltrace2's discarded-events counts
    # A count babeltrace2 reported cannot be true (>= 2^62: LTTng-UST < 2.15
    # wrote a packet counter that is no sample of it, docs/events.md).
    impossible_loss: bool = False
    # What the analyzer counts: per stream, the events its counter rose
    # beyond its highest good value (docs/events.md); = discarded without
    # an impossible count.
    discarded_good: int = 0
    # The trace clock's origin offset: ns from origin = raw clock ns (as
    # gilscope.info's stop_clock and unrecorded_marks) + this.
    clock_offset_ns: int = 0

    def by_pid(self) -> dict[int, list[Event]]:
        d: dict[int, list[Event]] = collections.defaultdict(list)
        for e in self.events:
            d[e.pid].append(e)
        return d

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]


def _field_value(bt2: object, v: object) -> object:
    """A payload field as str, int, or list of ints (sequences)."""
    if isinstance(v, bt2._StringFieldConst):  # type: ignore[attr-defined]
        return str(v)
    if isinstance(v, bt2._ArrayFieldConst):  # type: ignore[attr-defined]
        return [int(x) for x in v]
    return int(v)  # type: ignore[call-overload]


# The packed layout of the frequent events (tracer/gilscope_tp.h,
# docs/events.md): element names of their `state` and `site` arrays, read
# as the fields of the same names that earlier versions wrote one by one.
_GIL_SEQ = ("gil", "seq", "ts")
PACKED_STATE: dict[str, tuple[str, ...]] = {
    "request": _GIL_SEQ, "wait_timeout": _GIL_SEQ, "forced_switch_begin": _GIL_SEQ,
    "forced_switch_end": _GIL_SEQ, "request_abandoned": _GIL_SEQ,
    "acquire": ("gil", "seq", "ts", "switch_number"),
    "take": ("gil", "req_seq", "req_ts", "seq", "ts", "switch_number"),
    "release": ("gil", "seq", "ts", "forced"),
}
# take_for and acquire_for: a take or an acquire written by another thread
# for the one in their `tid` field (docs/events.md).
PACKED_STATE["take_for"] = PACKED_STATE["take"]
PACKED_STATE["acquire_for"] = PACKED_STATE["acquire"]
# hold: a whole hold in one record (its take, or its acquire when req_seq is
# HOLD_NO_REQ, then its release), read as those events.
PACKED_STATE["hold"] = ("gil", "req_seq", "req_ts", "seq", "ts", "switch_number",
                        "rel_seq", "rel_ts", "forced")
HOLD_NO_REQ = (1 << 64) - 1
# Holds in one `hold` record at most (analyzer/trace_reader.c's HOLD_MAX).
HOLD_MAX = 5
PACKED_SITE = ("code", "offset", "stack")
SITE_OF = {"hold": PACKED_SITE + ("rel_code", "rel_offset", "rel_stack")}

# gilscope:rare (tracer/gilscope_tp.h, docs/events.md): the rarely written
# events in one type; by kind, the event name earlier versions wrote it
# under, the names of its `v` elements and of its `text` (None: none);
# `tag` is carried by the kinds that had one.
_GIL_DESC = ("gil", "interval_us", "rule")
RARE_KINDS: dict[int, tuple[str, tuple[str, ...], Optional[str]]] = {
    1: ("gil_found", _GIL_DESC, "version"),
    2: ("gil_known", _GIL_DESC, "version"),
    3: ("gil_retired", ("gil",), None),
    4: ("wait_timeout", _GIL_SEQ, None),
    5: ("request_abandoned", _GIL_SEQ, None),
    6: ("take_for", PACKED_STATE["take"] + PACKED_SITE + ("tid",), None),
    7: ("acquire_for", PACKED_STATE["acquire"] + PACKED_SITE + ("tid",), None),
    8: ("process_exit", ("status",), None),
    9: ("thread_name", ("tid",), "name"),
    10: ("resync", ("ngils",), None),
    # A hold held back by thread `tid` and written by another (docs/events.md).
    11: ("hold_for", PACKED_STATE["hold"] + SITE_OF["hold"] + ("tid",), None),
}
RARE_TAGGED = ("gil_found", "gil_known", "thread_name", "resync")


def unpack_rare(fields: dict) -> tuple[str, dict]:
    """A gilscope:rare payload as the event of its kind, with the fields
    that event had in earlier versions. Unknown kinds: ("rare", fields)."""
    kind = RARE_KINDS.get(int(fields.get("kind", 0)))
    if kind is None:
        return "rare", fields
    name, names, text = kind
    values = list(fields.get("v") or [])
    if len(values) < len(names):
        fail(f"a gilscope:rare record of kind {name} carries {len(values)} values, "
             f"not {len(names)}")
    out = dict(zip(names, values))
    if text:
        out[text] = fields.get("text")
    if name in RARE_TAGGED:
        out["tag"] = fields.get("tag")
    if "gil" in out:
        out["gil"] %= 1 << 64  # carried signed, an address
    if "req_seq" in out:
        out["req_seq"] %= 1 << 64  # HOLD_NO_REQ, carried signed
    return name, out


def unpack_fields(name: str, fields: dict) -> dict:
    """A payload with the packed arrays of event `name` spelt out by name
    (and a code event's hex line table as its bytes, `linetable`)."""
    if name == "code" and isinstance(fields.get("linetable_hex"), str):
        fields["linetable"] = list(bytes.fromhex(fields.pop("linetable_hex")))
    state, site = fields.get("state"), fields.get("site")
    if name in PACKED_STATE and isinstance(state, list):
        del fields["state"]
        fields.update(zip(PACKED_STATE[name], state))
        if isinstance(site, list):
            del fields["site"]
            fields.update(zip(SITE_OF.get(name, PACKED_SITE), site))
    return fields


def read_trace(path: Path, allow_empty: bool = False) -> Trace:
    """Reads every gilscope event of a trace with babeltrace2's Python bindings.
    LTTng writes no CTF stream when no traced process registered: with
    allow_empty that is an empty trace, else a failure."""
    try:
        import bt2  # Debian's python3-bt2
    except ImportError:
        fail("python3-bt2 is missing: apt-get install python3-bt2")
    events: list[Event] = []
    discarded = 0
    impossible = False
    pos: dict[int, int] = {}    # per stream: its counter, from its first packet's
    high: dict[int, int] = {}   # its highest good value
    good = 0
    offset = 0
    dirs = sorted({str(Path(m).parent) for m in glob.glob(str(path / "**" / "metadata"), recursive=True)})
    if not dirs:
        if allow_empty:
            return Trace([], 0)
        fail(f"no CTF trace under {path}")
    for msg in bt2.TraceCollectionMessageIterator(dirs):
        if type(msg) is bt2._DiscardedEventsMessageConst:
            discarded += msg.count or 0
            impossible = impossible or (msg.count or 0) >= 1 << 62
            if msg.count:
                key = msg.stream.addr
                pos[key] = (pos.get(key, 0) + msg.count) % (1 << 64)
                beyond = (pos[key] - high.get(key, 0)) % (1 << 64)
                span = None
                if msg.stream.cls.discarded_events_have_default_clock_snapshots:
                    span = (msg.end_default_clock_snapshot.ns_from_origin
                            - msg.beginning_default_clock_snapshot.ns_from_origin)
                if 0 < beyond < 1 << 62 and (span is None or span < 0 or beyond <= span + 1):
                    good += beyond
                    high[key] = pos[key]
            continue
        if type(msg) is not bt2._EventMessageConst:
            continue
        ev = msg.event
        if not ev.name.startswith("gilscope:"):
            continue
        ctx = ev.common_context_field
        name = ev.name[len("gilscope:"):]
        fields = {k: _field_value(bt2, v) for k, v in ev.payload_field.items()}
        if name == "rare":
            name, fields = unpack_rare(fields)
        offset = offset or msg.default_clock_snapshot.clock_class.cycles_to_ns_from_origin(0)
        parts = [fields]
        if name == "hold" and isinstance(fields.get("state"), list):
            # 1 to HOLD_MAX holds a record (held-back holds): each read alone.
            state, site = fields["state"], fields.get("site") or []
            n = len(state) // 9
            if not 1 <= n <= HOLD_MAX or len(state) != 9 * n or len(site) != 6 * n:
                fail(f"a gilscope:hold record carries {len(state)} state and {len(site)} "
                     f"site values, not 9 and 6 for each of 1 to {HOLD_MAX} holds")
            parts = [{**fields, "state": state[9 * k:9 * k + 9], "site": site[6 * k:6 * k + 6]}
                     for k in range(n)]
            if n > 1:
                for p in parts:
                    p["holds"] = n
        for fields in parts:
            read_one(events, msg, name, unpack_fields(name, fields))
    return Trace(in_gil_order(events), discarded, impossible, good, offset)


def read_one(events: list, msg: object, name: str, fields: dict) -> None:
    """One event of a record (a hold record's holds each) into events, as
    read_trace reads it."""
    ctx = msg.event.common_context_field  # type: ignore[attr-defined]
    snap = msg.default_clock_snapshot  # type: ignore[attr-defined]
    ts = snap.ns_from_origin
    if isinstance(fields.get("seq"), int) and isinstance(fields.get("ts"), int):
        # When it happened, in the record's clock.
        ts = snap.clock_class.cycles_to_ns_from_origin(fields["ts"])
    pid, tid, proc = int(ctx["vpid"]), int(ctx["vtid"]), str(ctx["procname"])
    after: Optional[Event] = None
    if name in ("take_for", "acquire_for", "hold_for"):
        # Read as the take or acquire of the thread it is for; `by`
        # says which thread wrote it.
        name = name[:-len("_for")]
        fields["by"] = tid
        tid = int(fields.pop("tid"))
    if name == "hold":
        # A whole hold in one record (docs/events.md): read as its
        # take (or acquire) and its release, as the analyzer does.
        rel = {"gil": fields["gil"], "seq": fields.pop("rel_seq"), "ts": fields.pop("rel_ts"),
               "forced": fields.pop("forced"), "hold": 1}
        for k in ("code", "offset", "stack"):
            if f"rel_{k}" in fields:
                rel[k] = fields.pop(f"rel_{k}")
        fields["hold"] = 1
        if fields["req_seq"] == HOLD_NO_REQ:
            del fields["req_seq"], fields["req_ts"]
            name = "acquire"
        else:
            name = "take"
        after = Event("release", snap.clock_class.cycles_to_ns_from_origin(rel["ts"]),
                      pid, tid, proc, rel, snap.ns_from_origin)
    if name == "take":
        # A request and its acquire in one record (docs/events.md):
        # read as both, as the analyzer does.
        req = {"gil": fields["gil"], "seq": fields.pop("req_seq"), "ts": fields.pop("req_ts"),
               "take": 1}
        fields["take"] = 1  # both halves say which record they came from
        events.append(Event("request", snap.clock_class.cycles_to_ns_from_origin(req["ts"]),
                            pid, tid, proc, req, snap.ns_from_origin))
        name = "acquire"
    events.append(Event(name, ts, pid, tid, proc, fields, snap.ns_from_origin))
    if after is not None:
        events.append(after)


def in_gil_order(events: list[Event]) -> list[Event]:
    """Puts each GIL's events in CPython's order (by seq): the tracer writes
    them after it lets go of the GIL's mutex, so records of different threads
    may come out of order. Events without seq (an older tracer's, and
    gil_found, gil_retired, thread_name, process_exit) keep their place,
    after what waits for the GILs they close. The analyzer does the same
    (analyzer/reorder.c), with a bounded window; here nothing is lost."""
    out: list[Event] = []
    waiting: dict[tuple[int, int], dict[int, Event]] = collections.defaultdict(dict)
    nxt: dict[tuple[int, int], int] = {}

    def drain(key: tuple[int, int]) -> None:
        w = waiting.pop(key, {})
        out.extend(w[s] for s in sorted(w))
        nxt.pop(key, None)

    for e in events:
        if isinstance(e.fields.get("seq"), int) and isinstance(e.fields.get("ts"), int):
            key = (e.pid, e.fields["gil"])
            w = waiting[key]
            w[e.fields["seq"]] = e
            n = nxt.get(key)
            if n is None:
                continue  # no gil_found seen: in order at the end
            while n in w:
                out.append(w.pop(n))
                n += 1
            nxt[key] = n
            continue
        if e.name == "gil_found":
            drain((e.pid, e.fields["gil"]))
            nxt[(e.pid, e.fields["gil"])] = 0
        elif e.name == "gil_retired":
            drain((e.pid, e.fields["gil"]))
        elif e.name == "process_exit":
            for key in [k for k in waiting if k[0] == e.pid]:
                drain(key)
        out.append(e)
    for key in list(waiting):
        drain(key)
    return out


def check(cond: bool, what: str) -> None:
    if not cond:
        fail(what)
    print(f"ok: {what}", flush=True)


def info(trace_dir: Path) -> dict[str, str]:
    """Reads the gilscope.info file that `gilscope record` leaves."""
    out: dict[str, str] = {}
    for line in (trace_dir / "gilscope.info").read_text().splitlines():
        k, _, v = line.partition("=")
        out[k] = v.replace("\\n", "\n").replace("\\\\", "\\")
    return out


def analyze(trace_dir: Path, db: Path) -> sqlite3.Connection:
    """Runs `gilscope analyze trace_dir -o db`; fails the test if it does,
    with its last words; returns a connection to the database."""
    res = subprocess.run([str(gilscope()), "analyze", str(trace_dir), "-o", str(db)],
                         capture_output=True, text=True, timeout=300)
    check(res.returncode == 0, f"gilscope analyze {trace_dir.name} succeeded ({res.stderr.strip()[-300:]})")
    return sqlite3.connect(str(db))


def overlapping_holds(con: sqlite3.Connection) -> int:
    """How many holds of an analyzed recording start before the previous
    hold of the same GIL ended (two threads holding one GIL at once)."""
    return con.execute(
        "SELECT count(*) FROM (SELECT start_ns, "
        "lag(end_ns) OVER (PARTITION BY run_id, gil_id ORDER BY start_ns, end_ns) AS prev_end "
        "FROM holds) WHERE prev_end > start_ns").fetchone()[0]


def own_events(trace: Trace, tag: int) -> Trace:
    """Keeps the processes whose first gil_found/gil_known/thread_name
    carries `tag`: a UST session also sees other recordings' processes of
    the same user. A pid can stand for two processes in one trace (pids
    wrap at 32768 on a busy machine): one life of a pid ends where a
    tagged event says another tag."""
    decisive = ("gil_found", "gil_known", "thread_name")

    def lives() -> Iterator[tuple[Event, tuple[int, int]]]:
        life: dict[int, int] = {}
        seen: dict[tuple[int, int], bool] = {}
        for e in trace.events:
            key = (e.pid, life.get(e.pid, 0))
            if e.name in decisive:
                mine = e.fields.get("tag") == tag
                if key in seen and seen[key] != mine:
                    life[e.pid] = key[1] + 1
                    key = (e.pid, key[1] + 1)
                seen.setdefault(key, mine)
            yield e, key

    verdict: dict[tuple[int, int], bool] = {}
    for e, key in lives():
        if e.name in decisive and key not in verdict:
            verdict[key] = e.fields.get("tag") == tag
    return Trace([e for e, key in lives() if verdict.get(key, False)], trace.discarded,
                 trace.impossible_loss, trace.discarded_good, trace.clock_offset_ns)


# Allowed transitions of one thread's state for one GIL, mirroring
# CPython's take_gil/drop_gil. States: idle, waiting, holding, forced
# (after a forced release, waiting for another thread to take the GIL).
_NEXT = {
    ("idle", "request"): "waiting",
    ("idle", "forced_switch_begin"): "forced",
    ("forced", "forced_switch_end"): "idle",
    ("waiting", "wait_timeout"): "waiting",
    ("waiting", "drop_request"): "waiting",
    ("waiting", "acquire"): "holding",
    ("waiting", "request_abandoned"): "idle",
    ("holding", "release"): "idle",
}


def gil_life_events(trace: Trace) -> tuple[dict[tuple[int, int, int], list[Event]], collections.Counter]:
    """The events with a seq of each life of each GIL, in trace order,
    keyed (pid, gil, life): a life starts at a gil_found (a
    subinterpreter's GIL made again at a freed one's address starts a new
    one, numbered from 0); and how many lives each (pid, gil) had."""
    life: collections.Counter = collections.Counter()
    events: dict[tuple[int, int, int], list[Event]] = collections.defaultdict(list)
    for e in trace.events:
        if "gil" not in e.fields:
            continue
        key = (e.pid, e.fields["gil"])
        if e.name == "gil_found":
            life[key] += 1
        if isinstance(e.fields.get("seq"), int):
            events[key + (life[key],)].append(e)
    return events, life


def gil_lives(trace: Trace) -> tuple[dict[tuple[int, int, int], list[int]], collections.Counter]:
    """The seq values of each life of each GIL (gil_life_events), and how
    many lives each (pid, gil) had. A record of one life written into the
    next shows as a gap in the one and a duplicate or a jump in the other."""
    events, life = gil_life_events(trace)
    return {k: [e.fields["seq"] for e in v] for k, v in events.items()}, life


def check_sequences(trace: Trace) -> dict[tuple[int, int, int], collections.Counter]:
    """Checks that every thread's events for every GIL follow CPython's state
    machine; returns event counts per (pid, gil, tid). Fails on a violation."""
    state: dict[tuple[int, int, int], str] = {}
    counts: dict[tuple[int, int, int], collections.Counter] = collections.defaultdict(collections.Counter)
    found: set[tuple[int, int]] = set()
    holder: dict[tuple[int, int], int] = {}
    rule: dict[tuple[int, int], int] = {}
    released_forced: dict[tuple[int, int, int], bool] = {}
    for e in trace.events:
        # resync and gil_known say again what is known (a fork child says
        # it a few times after its fork, docs/tracer.md): no state change.
        if e.name in ("thread_name", "process_exit", "code", "stack", "resync", "gil_known"):
            continue
        gil = e.fields["gil"]
        if e.name == "gil_found":
            # A GIL starts here: at an address already found it is a new
            # one (its memory reused, or its pid: a later process), as the
            # analyzer reads it. Nothing of the old one carries over.
            if (e.pid, gil) in found:
                holder.pop((e.pid, gil), None)
                for k in [k for k in state if k[:2] == (e.pid, gil)]:
                    del state[k]
            found.add((e.pid, gil))
            rule[(e.pid, gil)] = e.fields.get("rule")
            state[(e.pid, gil, e.tid)] = "waiting"  # its acquire follows at once
            continue
        if e.name == "gil_retired":
            found.discard((e.pid, gil))
            continue
        if (e.pid, gil) not in found:
            fail(f"{e.name} at {e.ts} for GIL {gil:#x} of pid {e.pid} before its gil_found")
        key = (e.pid, gil, e.tid)
        cur = state.get(key, "idle")
        nxt = _NEXT.get((cur, e.name))
        if nxt is None:
            fail(f"thread {e.tid} (pid {e.pid}): {e.name} while {cur} at {e.ts}")
        if e.name == "acquire":
            h = holder.get((e.pid, gil))
            if h is not None:
                fail(f"thread {e.tid} acquired GIL {gil:#x} at {e.ts} while {h} held it")
            holder[(e.pid, gil)] = e.tid
        elif e.name == "release":
            holder.pop((e.pid, gil), None)
            released_forced[key] = bool(e.fields.get("forced"))
        elif e.name == "forced_switch_begin" and rule.get((e.pid, gil)) == 1 \
                and released_forced.get(key) is False:
            # drop_gil waits for the switch only when gil_drop_request was
            # set while the thread held the GIL: that release was forced.
            # (Where CPython's switch_number is readable, rule 1; 3.6's is
            # not, and the tracer cannot tell a retake from a switch.)
            fail(f"thread {e.tid} (pid {e.pid}): forced_switch_begin at {e.ts} after a release not marked "
                 f"forced: a drop request went unrecorded")
        state[key] = nxt
        counts[key][e.name] += 1
    return counts
