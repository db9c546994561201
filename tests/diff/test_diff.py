"""`gilscope diff` on real recordings of samples/countdown.py.

One thread against four (`seq ... 1` and `threads ... 4`): contention
rises, switches per second rise, the verdict says "contention rose", and
the counter threads of B have no match in A. Threads against processes:
contention falls and the verdict says so, MainThread is matched by name in
both. Directions only: the machine is shared, so no timing is asserted.
Then, on small databases built row by row: a thread name with an escape
sequence is shown escaped in the terminal and in the page, per-site rows
appear when both databases have a code_sites table (code attribution)
and a note when one lacks it, and errors are one line with exit 1.
"""
from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Dict

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "report"))
from gstest import check, gilscope, source_dir, tmpdir  # noqa: E402
from recorded import recorded_db  # noqa: E402
import reportdb  # noqa: E402

COUNT = "4000000"


def diff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(gilscope()), "diff", *args], capture_output=True, text=True, timeout=120)


def figures(out: str) -> Dict[str, str]:
    """The headline table: label -> change column."""
    rows = {}
    for line in out.splitlines():
        m = re.match(r"  (\S.{19}) +(\S+(?: \S+)?) +(\S+(?: \S+)?)  (.*)$", line)
        if m:
            rows[m.group(1).strip()] = m.group(4).strip()
    return rows


def metric(db: Path, col: str) -> float:
    c = sqlite3.connect(str(db))
    v = c.execute(f"SELECT {col} FROM metrics WHERE gil_id IS NULL ORDER BY run_id DESC LIMIT 1").fetchone()[0]
    c.close()
    return float(v)


def has_sites(db: Path) -> bool:
    c = sqlite3.connect(str(db))
    try:
        return c.execute("SELECT COUNT(*) FROM code_sites").fetchone()[0] > 0
    except sqlite3.OperationalError:
        return False
    finally:
        c.close()


def main() -> None:
    tmp = tmpdir("gilscope-diff-")
    countdown = str(source_dir() / "samples" / "countdown.py")
    py = "/usr/bin/python3"
    one = recorded_db([py, countdown, "seq", COUNT, "1"], tmp, "one")
    four = recorded_db([py, countdown, "threads", COUNT, "4"], tmp, "four")
    res = diff(str(one), str(four))
    print(res.stdout)
    check(res.returncode == 0, f"diff of 1 vs 4 threads runs ({res.stderr.strip()})")
    print(f"contention: 1 thread {metric(one, 'contention_pct'):.1f}%, 4 threads {metric(four, 'contention_pct'):.1f}%")
    check(metric(four, "contention_pct") > metric(one, "contention_pct") + 20, "the recordings differ as expected")
    f = figures(res.stdout)
    check(f.get("contention", "").startswith("+") and f["contention"].endswith("pts"),
          f"contention rises from 1 to 4 threads ({f.get('contention')})")
    check(f.get("switches/s", "").startswith("+") or f.get("switches/s") == "new",
          f"switches/s rise ({f.get('switches/s')})")
    check(re.search(r"Contention rose from \d+% to \d+%", res.stdout) is not None, "the verdict: contention rose")
    for i in range(1, 5):
        check(re.search(rf"counter-{i} +0/1 +absent", res.stdout) is not None, f"counter-{i} is only in B")
    check(re.search(r"MainThread +1/1 ", res.stdout) is not None, "MainThread is matched by name")
    if has_sites(one) and has_sites(four):
        check(re.search(r"countdown\.py:count_down +\S", res.stdout) is not None,
              "code sites: count_down is compared (code attribution in both runs)")
    else:
        check("no code attribution" in res.stdout, "code sites: says there is no attribution to compare")

    threads = recorded_db([py, countdown, "threads", COUNT], tmp, "threads")
    procs = recorded_db([py, countdown, "processes", COUNT], tmp, "procs")
    html = tmp / "diff.html"
    res = diff(str(threads), str(procs), "--html", str(html))
    print(res.stdout)
    check(res.returncode == 0, f"diff of threads vs processes runs ({res.stderr.strip()})")
    f = figures(res.stdout)
    check(f.get("contention", "").startswith("-"), f"contention falls with processes ({f.get('contention')})")
    check(re.search(r"Contention fell from \d+% to \d+%", res.stdout) is not None, "the verdict: contention fell")
    check(re.search(r"MainThread +1/1 ", res.stdout) is not None and re.search(r"counter-1 +1/0", res.stdout) is not None
          and re.search(r"counter-proc-1 +0/1", res.stdout) is not None,
          "threads matched by name: MainThread in both, the counters in one each")
    page = html.read_text()
    check(page.startswith("<!DOCTYPE html>") and "Contention fell" in page and 'id="threads"' in page,
          "--html writes the page with the verdict")

    # escaping, on built databases: a name with an escape sequence and a bidi override
    evil = "\x1b[31mred\x1b[0m\u202eevil"
    a = reportdb.two_thread_db(tmp / "a.db", evil_name=evil)
    b = reportdb.two_thread_db(tmp / "b.db", evil_name=evil)
    res = diff(str(a), str(b), "--html", str(tmp / "evil.html"))
    check(res.returncode == 0 and "\x1b" not in res.stdout and "\u202e" not in res.stdout,
          "no raw escape or bidi character reaches the terminal")
    check("\\x1b[31m" in res.stdout and "\\u202e" in res.stdout, "they are shown as \\x1b and \\u202e")
    page = (tmp / "evil.html").read_text()
    check("<script" not in page and "&lt;/script&gt;&lt;script&gt;" in page,
          "the command's </script><script> is escaped in the page (which has no script at all)")

    # code sites: both have them -> rows; one lacks them -> a note
    for db, held in ((a, 5_000_000), (b, 1_000_000)):
        c = sqlite3.connect(str(db))
        c.execute("CREATE TABLE IF NOT EXISTS code_sites (run_id INTEGER, site_id INTEGER, filename TEXT, "
                  "function TEXT, line INTEGER, holds INTEGER, held_ns INTEGER, waits INTEGER, wait_ns INTEGER)")
        cols = [r[1] for r in c.execute("PRAGMA table_info(code_sites)")]
        for row in (dict(run_id=1, site_id=1, filename="/app/work.py", function="crunch", line=10, holds=10,
                         held_ns=held, waits=4, wait_ns=2000),
                    dict(run_id=1, site_id=2, filename="/app/work.py", function="crunch", line=12, holds=1,
                         held_ns=1000, waits=0, wait_ns=0)):
            values = [row.get(k, 0) for k in cols]  # columns of a newer schema: 0
            c.execute(f"INSERT INTO code_sites ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
        c.commit()
        c.close()
    res = diff(str(a), str(b))
    check(re.search(r"work\.py:crunch +5\.00 ms +1\.00 ms", res.stdout) is not None,
          f"per-site rows, lines of a function summed ({res.stdout[-300:]!r})")
    c = sqlite3.connect(str(b))
    c.execute("DROP TABLE code_sites")
    c.commit()
    c.close()
    res = diff(str(a), str(b))
    check("B has no code attribution" in res.stdout, "a database without code_sites: a note, no failure")

    res = diff(str(a), str(tmp / "missing.db"))
    lines = res.stderr.strip().splitlines()
    check(res.returncode == 1 and len(lines) == 1 and lines[0].startswith("gilscope diff: ") and "no such file" in lines[0],
          f"a missing database: one line, exit 1 ({res.stderr.strip()!r})")
    res = diff("--help")
    check(res.returncode == 0 and "examples:" in res.stdout, "--help shows examples")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
