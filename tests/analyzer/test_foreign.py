"""Another gilscope version's processes in a recording (two versions
tracing through one session daemon): a process of another layout's
`hold` is skipped with its tag, and said so; one that carries this
recording's tag is refused with one line, never read with holes.

The other version is this tree's preload beside a provider whose `hold`
names its `site` field `where` (tests/analyzer/foreign_provider.cmake):
the session daemon keeps both `gilscope:hold` classes in one trace."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gstest
from gstest import check

# A CPython that counts down in two threads (holds on both), then starts
# the "other version's" child, which does the same: the child's tag is
# the recording's when argv[1] says "same", another one else.
PROGRAM = r"""
import os, subprocess, sys, threading
def count(n):
    while n > 0:
        n -= 1
def countdown():
    ts = [threading.Thread(target=count, args=(300_000,)) for _ in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
countdown()
if len(sys.argv) > 1:
    env = dict(os.environ)
    env["LD_PRELOAD"] = sys.argv[2]
    env.pop("GILSCOPE_TRACED", None)  # another recording's process writes none of ours
    if sys.argv[1] == "other":
        env["GILSCOPE_TAG"] = str((int(env["GILSCOPE_TAG"]) + 1) % 2**32)
    child = subprocess.run([sys.executable, __file__], env=env)
    print("child", child.returncode, flush=True)
"""


def record(tmp: Path, py: Path, prog: Path, mode: str, preload: Path) -> Path:
    trace = tmp / f"trace-{mode}"
    res = gstest.record([str(py), str(prog), mode, str(preload)], trace)
    check("child 0" in res.stdout, f"{mode}: the other version's child ran and exited 0 ({res.stdout.strip()})")
    # Both classes are in the trace: else this test proves nothing.
    bt = subprocess.run(["babeltrace2", str(trace)], capture_output=True, text=True, timeout=300)
    foreign = sum(1 for line in bt.stdout.splitlines() if "gilscope:hold" in line and "where = " in line)
    ours = sum(1 for line in bt.stdout.splitlines() if "gilscope:hold" in line and "site = " in line)
    check(foreign > 0 and ours > 0,
          f"{mode}: the trace holds `hold` records of both layouts ({ours} ours, {foreign} the other's)")
    return trace


def main() -> None:
    gstest.private_lttng()
    py = Path("/usr/bin/python3")
    if not py.exists():
        gstest.skip("Debian's /usr/bin/python3 is not installed")
    provider = gstest.build_dir() / "tests" / "foreign" / "libgilscope-probes.so"
    if not provider.exists():
        gstest.fail(f"{provider} is missing: build the tree (target gilscope_probes_foreign)")
    tmp = gstest.tmpdir()
    other = tmp / "other-version"
    other.mkdir()
    shutil.copy2(gstest.preload_lib(), other / "libgilscope-preload.so")
    shutil.copy2(provider, other / "libgilscope-probes.so")
    prog = tmp / "prog.py"
    prog.write_text(PROGRAM)

    with gstest.own_sessiond():
        skipped = record(tmp, py, prog, "other", other / "libgilscope-preload.so")
        same = record(tmp, py, prog, "same", other / "libgilscope-preload.so")

    # Another tag: the child is skipped, the parent analyzed, one note.
    db = tmp / "skipped.db"
    res = subprocess.run([str(gstest.gilscope()), "analyze", str(skipped), "-o", str(db)],
                         capture_output=True, text=True, timeout=300)
    check(res.returncode == 0, f"a recording with another version's process is analyzed ({res.stderr.strip()})")
    check("of another gilscope version's processes, not of this recording" in res.stderr,
          f"analyze says it skipped them ({res.stderr.strip()})")
    con = gstest.analyze(skipped, tmp / "skipped2.db")
    procs = con.execute("SELECT count(*) FROM processes").fetchone()[0]
    check(procs == 1, f"only the recording's own process is analyzed ({procs})")
    said = int(res.stderr.split("note: skipped ")[1].split()[0])
    skipped_events = con.execute("SELECT skipped_events FROM runs").fetchone()[0]
    check(skipped_events >= said, f"runs.skipped_events counts them ({skipped_events} >= {said})")
    holds = con.execute("SELECT count(*) FROM holds").fetchone()[0]
    lost, anomalies = con.execute("SELECT lost_events, anomalies FROM runs").fetchone()
    check(holds > 0 and lost == 0 and anomalies == 0,
          f"its holds are there, nothing lost, no anomaly ({holds} holds, lost {lost}, anomalies {anomalies})")

    # This recording's tag on records it cannot read: refused, one line,
    # no database.
    db = tmp / "same.db"
    res = subprocess.run([str(gstest.gilscope()), "analyze", str(same), "-o", str(db)],
                         capture_output=True, text=True, timeout=300)
    lines = res.stderr.strip().splitlines()
    check(res.returncode != 0 and len(lines) == 1 and "gilscope:hold" in lines[0] and
          "another gilscope version" in lines[0],
          f"a process of this recording with records of another layout is refused in one line ({res.stderr.strip()})")
    check(not db.exists(), "no database is left")

    # Without a tag to tell processes apart (a trace without gilscope.info's
    # tag= line), the same refusal.
    notag = tmp / "notag"
    shutil.copytree(skipped, notag)
    info = notag / "gilscope.info"
    info.write_text("".join(line for line in info.read_text().splitlines(keepends=True)
                            if not line.startswith("tag=")))
    res = subprocess.run([str(gstest.gilscope()), "analyze", str(notag), "-o", str(tmp / "notag.db")],
                         capture_output=True, text=True, timeout=300)
    check(res.returncode != 0 and "another gilscope version" in res.stderr,
          f"without a tag, another version's records are refused ({res.stderr.strip()})")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
    sys.exit(0)
