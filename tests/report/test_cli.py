"""`gilscope report` as a user runs it (build/bin/gilscope): help, the page,
and a clear one-line error with a non-zero status for each way it can fail."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
import reportdb  # noqa: E402

from gstest import check, find_python, gilscope, tmpdir  # noqa: E402


def run(*args: str, env: dict = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(gilscope()), "report", *args], capture_output=True, text=True, timeout=120,
                          env=env)


def fails(res: subprocess.CompletedProcess, pattern: str, what: str) -> None:
    lines = res.stderr.strip().splitlines()
    check(res.returncode == 1 and len(lines) == 1 and lines[0].startswith("gilscope report: ")
          and pattern in lines[0], f"{what}: one line, exit 1 ({res.returncode}: {res.stderr.strip()!r})")


def main() -> None:
    tmp = tmpdir("gilscope-report-cli-")
    db = reportdb.two_thread_db(tmp / "run.db")

    res = run("--help")
    check(res.returncode == 0 and "usage: gilscope report" in res.stdout and "examples:" in res.stdout
          and "--run-id" in res.stdout, "--help shows usage and examples")

    out = tmp / "report.html"
    out.write_text("old page")
    res = run(str(db), "-o", str(out))
    check(res.returncode == 0, f"writes the page ({res.stderr.strip()})")
    page = out.read_text()
    check(page.startswith("<!DOCTYPE html>") and "</html>" in page, "the page is a whole HTML document")
    check(f'content="gilscope {subprocess.run([str(gilscope()), "--version"], capture_output=True, text=True).stdout.split()[1]}"'
          in page, "the page names the gilscope version that wrote it")
    check(sorted(p.name for p in tmp.iterdir()) == ["report.html", "run.db"], "no temporary file is left behind")
    check("wrote" in res.stdout and "report.html" in res.stdout, "says what it wrote")

    res = run(str(db), "-o", "-", "-q")
    check(res.returncode == 0 and res.stdout.startswith("<!DOCTYPE html>"), "-o - writes the page to stdout")

    res = run(str(db), "-o", str(out), "--title", "my <title>", "-q")
    check(res.returncode == 0 and res.stdout == "", "-q prints nothing")
    check("<h1>my &lt;title&gt;</h1>" in out.read_text(), "--title sets the (escaped) title")

    # several runs: the latest by default, --run-id for another
    two = tmp / "two.db"
    two.write_bytes(db.read_bytes())
    c = sqlite3.connect(str(two))
    c.execute("INSERT INTO runs (run_id, trace_path, command, event_count, lost_events, analyzer_version, analyzed_at)"
              " VALUES (2, '/tmp/t2', 'python3 second.py', 0, 0, 'test', 'now')")
    c.commit()
    c.close()
    run(str(two), "-o", str(out), "-q")
    check("python3 second.py" in out.read_text(), "the latest run by default")
    run(str(two), "-o", str(out), "-q", "--run-id", "1")
    check("countdown.py" in out.read_text(), "--run-id picks a run")
    fails(run(str(two), "-o", str(out), "--run-id", "5"), "no run 5 (runs: 1, 2)", "a run that is not there")

    fails(run(str(tmp / "missing.db"), "-o", str(out)), "no such file", "a missing database")
    junk = tmp / "junk.db"
    junk.write_text("not a database at all\n" * 50)
    fails(run(str(junk), "-o", str(out)), "not a gilscope database", "a file that is not SQLite")
    other = tmp / "other.db"
    c = sqlite3.connect(str(other))
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    fails(run(str(other), "-o", str(out)), "not a gilscope database", "a SQLite file that is not gilscope's")
    v = reportdb.DB(tmp / "v7.db", version=7)
    v.run()
    v.close()
    fails(run(str(tmp / "v7.db"), "-o", str(out)), "schema version 7", "a wrong schema version")
    reportdb.DB(tmp / "empty.db").close()
    fails(run(str(tmp / "empty.db"), "-o", str(out)), "holds no runs", "a database with no runs")
    fails(run(str(db), "-o", str(tmp / "no" / "dir" / "r.html")), "cannot write", "an output in a missing directory")
    fails(run(str(db), "-o", str(tmp)), "is a directory", "an output that is a directory")
    if os.geteuid() != 0:
        ro = tmp / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        fails(run(str(db), "-o", str(ro / "r.html")), "Permission denied", "an unwritable directory")
        ro.chmod(0o755)
    res = run()
    check(res.returncode == 2 and "usage" in res.stderr, "no argument: usage, exit 2")

    env = dict(os.environ, GILSCOPE_PYTHON=str(tmp / "no-python"))
    res = run(str(db), "-o", str(out), env=env)
    check(res.returncode == 1 and "cannot run" in res.stderr, "a missing interpreter is reported")
    old = find_python("3.8") or find_python("3.6")
    if old is not None:
        res = run(str(db), "-o", str(out), env=dict(os.environ, GILSCOPE_PYTHON=str(old)))
        fails(res, "needs Python 3.9 or newer", f"an old interpreter ({old}) is refused")
    else:
        print("note: no Python older than 3.9 here to check the version message with")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
