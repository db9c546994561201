"""The report in a real browser, on a real recording.

Records a small Python program (two threads counting down, one of them named
`<img src=x onerror=alert(1)>`) with `gilscope record`, analyzes it with
`gilscope analyze`, writes the report with `gilscope report`, and opens it in
Debian's headless Chromium driven by playwright-core
(tests/browser/check_report.mjs): no console error, nothing fetched, one lane
per thread, wheel zoom and drag change the visible range, the name shows as
text and runs nothing. Keeps build/test-artifacts/report.png and report.html.
"""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
from gstest import browser_run, build_dir, check, fail, gilscope, record, skip, tmpdir  # noqa: E402

EVIL = "<img src=x onerror=alert(1)>"
PROGRAM = f"""
import threading

def countdown(n):
    while n > 0:
        n -= 1

threads = [threading.Thread(target=countdown, args=(2_500_000,), name="counter"),
           threading.Thread(target=countdown, args=(2_500_000,), name={EVIL!r})]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""
def main() -> None:

    tmp = tmpdir("gilscope-report-browser-")
    prog = tmp / "countdown.py"
    prog.write_text(PROGRAM)
    trace = tmp / "trace"
    record(["/usr/bin/python3", str(prog)], trace)
    db = tmp / "run.db"
    res = subprocess.run([str(gilscope()), "analyze", str(trace), "-o", str(db)], capture_output=True, text=True,
                         timeout=240)
    if res.returncode != 0 and "not built yet" in res.stderr:
        skip("gilscope analyze is not built yet (issue 3): this test needs a real database")
    if res.returncode != 0:
        fail(f"gilscope analyze exited {res.returncode}: {res.stderr.strip()}")
    c = sqlite3.connect(str(db))
    names = [r[0] for r in c.execute("SELECT name FROM threads WHERE run_id = (SELECT MAX(run_id) FROM runs)")]
    holds = c.execute("SELECT COUNT(*) FROM holds").fetchone()[0]
    c.close()
    check(EVIL in names, f"the recording names the thread {EVIL!r} ({names})")
    check(holds > 20, f"the recording has GIL holds ({holds})")

    html = tmp / "report.html"
    res = subprocess.run([str(gilscope()), "report", str(db), "-o", str(html)], capture_output=True, text=True,
                         timeout=120)
    check(res.returncode == 0, f"gilscope report wrote the page ({res.stderr.strip()})")

    artifacts = build_dir() / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "report.png"
    if shot.exists():
        shot.unlink()
    seen, rc = browser_run("check_report.mjs", ["--html", html, "--lanes", len(names), "--text", EVIL,
                                                "--screenshot", shot, "--zoom-ms", "60"], 180)
    print(f"timing: load {seen.get('load_ms')} ms, first contentful paint {seen.get('fcp_ms')} ms, "
          f"timeline drawn {seen.get('timeline_drawn_ms')} ms")
    shutil.copy(html, artifacts / "report.html")
    check(all(c["ok"] for c in seen["checks"]) and rc == 0, "every browser check passed")
    check(shot.exists() and shot.stat().st_size > 10_000, f"the screenshot is kept: {shot}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
