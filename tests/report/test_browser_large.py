"""The page of a large run in a real browser: a synthetic database of
10 million holds and waits (bench/make_big_db.py, about 1.7 GB; bench/run
times the same page) written by
`gilscope report`, opened in Debian's headless Chromium
(tests/browser/check_report.mjs --large): it must open as a summary and
say so, paint, zoom and pan, and zooming into one of its detail windows
must show single intervals (the tooltip of one hold or wait). Keeps
build/test-artifacts/report-large.png."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
from gstest import browser_run, build_dir, check, gilscope, source_dir, tmpdir  # noqa: E402

INTERVALS = 10_000_000
MAX_PAGE = 40e6  # issue 15: a 10M-interval page stays under 40 MB
def main() -> None:
    tmp = tmpdir("gilscope-report-large-")
    db = tmp / "big.db"
    subprocess.run([sys.executable, str(source_dir() / "bench" / "make_big_db.py"), "--intervals", str(INTERVALS),
                    "--threads", "3", "-o", str(db)], check=True, capture_output=True, timeout=600)
    html = tmp / "big.html"
    res = subprocess.run([str(gilscope()), "report", str(db), "-o", str(html)], capture_output=True, text=True,
                         timeout=600)
    check(res.returncode == 0 and "summarised" in res.stdout, f"gilscope report summarises the run ({res.stdout.strip()}"
          f" {res.stderr.strip()})")
    size = html.stat().st_size
    check(size < MAX_PAGE, f"the page of {INTERVALS} intervals is light ({size / 1e6:.1f} MB, "
          f"under {MAX_PAGE / 1e6:.0f} MB)")
    artifacts = build_dir() / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "report-large.png"
    seen, rc = browser_run("check_report.mjs", ["--html", html, "--lanes", "3", "--large", "--zoom-ms", "20",
                                                "--screenshot", shot], 300)
    print(f"timing: load {seen.get('load_ms')} ms, first contentful paint {seen.get('fcp_ms')} ms, "
          f"timeline drawn {seen.get('timeline_drawn_ms')} ms")
    check(all(c["ok"] for c in seen["checks"]) and rc == 0, "every browser check passed")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
