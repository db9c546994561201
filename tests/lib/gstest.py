"""Shared helpers for gilscope's tests (stdlib + Debian's python3-bt2).

Tests are plain scripts run by ctest. A script that cannot run here (an
interpreter or a tool is absent) calls skip(), which prints the reason and
exits 77, the SKIP_RETURN_CODE ctest is told about.
"""
from __future__ import annotations

import argparse
import collections
import glob
import os
import shutil
import subprocess
import sys
import tempfile
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


def build_dir() -> Path:
    d = os.environ.get("GILSCOPE_BUILD")
    if not d:
        fail("GILSCOPE_BUILD is not set: run the tests through ctest")
    return Path(d)


def source_dir() -> Path:
    return Path(os.environ.get("GILSCOPE_SOURCE", Path(__file__).resolve().parents[2]))


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


def find_python(label: str) -> Optional[Path]:
    """'debian' is /usr/bin/python3; 'X.Y' is the newest pyenv X.Y.*."""
    if label == "debian":
        p = Path("/usr/bin/python3")
        return p if p.exists() else None
    root = pyenv_root()
    if root is None:
        return None
    cands = sorted(
        (Path(p) for p in glob.glob(str(root / "versions" / f"{label}.*"))
         if Path(p).name.split(".")[:2] == label.split(".")
         and Path(p).name.replace(".", "").isdigit()),
        key=lambda p: [int(x) for x in p.name.split(".")])
    for c in reversed(cands):
        exe = c / "bin" / "python3"
        if exe.exists():
            return exe
    return None


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
        where = "/usr/bin/python3" if args.python == "debian" else f"pyenv versions ({pyenv_root()})"
        skip(f"Python {args.python} is not installed here (looked in {where})")
    return args.python, exe


def tmpdir(prefix: str = "gilscope-test-") -> Path:
    base = os.environ.get("GILSCOPE_TEST_TMP")
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


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


@dataclass
class Event:
    name: str          # without the "gilscope:" prefix
    ts: int            # ns from origin
    pid: int
    tid: int
    procname: str
    fields: dict = field(default_factory=dict)


@dataclass
class Trace:
    events: list[Event]
    discarded: int

    def by_pid(self) -> dict[int, list[Event]]:
        d: dict[int, list[Event]] = collections.defaultdict(list)
        for e in self.events:
            d[e.pid].append(e)
        return d

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]


def read_trace(path: Path) -> Trace:
    """Reads every gilscope event of a trace with babeltrace2's Python bindings."""
    try:
        import bt2  # Debian's python3-bt2
    except ImportError:
        fail("python3-bt2 is missing: apt-get install python3-bt2")
    events: list[Event] = []
    discarded = 0
    dirs = sorted({str(Path(m).parent) for m in glob.glob(str(path / "**" / "metadata"), recursive=True)})
    if not dirs:
        fail(f"no CTF trace under {path}")
    for msg in bt2.TraceCollectionMessageIterator(dirs):
        if type(msg) is bt2._DiscardedEventsMessageConst:
            discarded += msg.count or 0
            continue
        if type(msg) is not bt2._EventMessageConst:
            continue
        ev = msg.event
        if not ev.name.startswith("gilscope:"):
            continue
        ctx = ev.common_context_field
        fields = {k: (str(v) if isinstance(v, bt2._StringFieldConst) else int(v))
                  for k, v in ev.payload_field.items()}
        events.append(Event(ev.name[len("gilscope:"):], msg.default_clock_snapshot.ns_from_origin,
                            int(ctx["vpid"]), int(ctx["vtid"]), str(ctx["procname"]), fields))
    return Trace(events, discarded)


def check(cond: bool, what: str) -> None:
    if not cond:
        fail(what)
    print(f"ok: {what}", flush=True)
