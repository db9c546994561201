"""The report's Code panel on a real recording, in a real browser.

Records a program with known lines (a CPU loop at line C in h, a regex that
holds the GIL at line B in g, pipe reads at line A in f) with `gilscope
record`, analyzes and reports it, then checks the page: the Code panel's
table has those sites with their source text and the flame graphs have
their frames (HTML); and in Debian's headless Chromium
(tests/browser/check_code.mjs) the table sorts, a click on g's line
highlights its intervals on the timeline, the tooltip of one of g's holds
says where it let the GIL go, and nothing is fetched or logged. Keeps
build/test-artifacts/code.png.
"""
from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
from gstest import browser_run, build_dir, check, fail, gilscope, record, tmpdir  # noqa: E402

PROGRAM = r'''
import os, re, threading, time
r, w = os.pipe()
os.write(w, b"x" * 300)
done = []
P = re.compile(r"(a+)+$")
S = "a" * 17 + "b"

def f():
    for _ in range(300):
        os.read(r, 1)  # LINE_A

def g():
    while not done: P.match(S)  # LINE_B

def h():
    n = 0
    while not done: n += 1  # LINE_C

ts = [threading.Thread(target=fn, name=fn.__name__) for fn in (g, h, f)]
for t in ts: t.start()
time.sleep(0.4)
done.append(1)
for t in ts: t.join()
'''
def line_of(tag: str) -> int:
    return next(n for n, ln in enumerate(PROGRAM.splitlines(), 1) if ln.rstrip().endswith("# " + tag))


def main() -> None:
    tmp = tmpdir("gilscope-report-code-")
    prog = tmp / "known.py"
    prog.write_text(PROGRAM)
    record(["/usr/bin/python3", str(prog)], tmp / "trace")
    db = tmp / "run.db"
    res = subprocess.run([str(gilscope()), "analyze", str(tmp / "trace"), "-o", str(db)],
                         capture_output=True, text=True, timeout=240)
    if res.returncode:
        fail(f"gilscope analyze exited {res.returncode}: {res.stderr.strip()}")
    page = tmp / "report.html"
    res = subprocess.run([str(gilscope()), "report", str(db), "-o", str(page)],
                         capture_output=True, text=True, timeout=120)
    check(res.returncode == 0, f"gilscope report wrote the page ({res.stderr.strip()})")
    text = page.read_text()
    panel = text.partition('id="code"')[2].partition("</section>")[0]
    for fn, tag, src in (("g", "LINE_B", "while not done: P.match(S)  # LINE_B"),
                         ("h", "LINE_C", "while not done: n += 1  # LINE_C"),
                         ("f", "LINE_A", "os.read(r, 1)  # LINE_A")):
        site = f"known.py:{line_of(tag)} {fn}"
        check(f'<span class="mono">{html.escape(site)}</span><code class="src">{html.escape(src)}</code>' in panel,
              f"the Code panel lists {site} with its source line")
        if fn != "f":  # f holds the GIL too briefly to be a pixel wide
            check(f"<title>{html.escape(site)} — " in panel, f"a flame graph has a frame for {site}")
    check(panel.count("<svg") == 2, "two flame graphs (held, waited)")

    artifacts = build_dir() / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "code.png"
    seen, rc = browser_run("check_code.mjs", ["--html", page, "--site", f"known.py:{line_of('LINE_B')} g",
                                              "--lane", "g", "--screenshot", shot], 180)
    check(all(c["ok"] for c in seen["checks"]) and rc == 0, "every browser check of the Code panel passed")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
