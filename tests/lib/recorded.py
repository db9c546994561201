"""Real recordings for the tests of what reads a database (export, diff):
a command run under `gilscope record`, then `gilscope analyze`."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List

from gstest import fail, gilscope, record


def recorded_db(cmd: List[str], workdir: Path, name: str) -> Path:
    """Records cmd into workdir/name.trace and analyzes it into workdir/name.db."""
    trace = workdir / f"{name}.trace"
    record(cmd, trace)
    db = workdir / f"{name}.db"
    res = subprocess.run([str(gilscope()), "analyze", str(trace), "-o", str(db), "--no-progress"],
                         capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        fail(f"gilscope analyze {trace} exited {res.returncode}: {res.stderr.strip()}")
    return db
