"""A thread pool in the findings and on the page: a real recording of a
ThreadPoolExecutor of 8 workers (long names) that block next to a
CPU-bound thread, at two places in turn. Their convoys make one finding
listing every worker with the total (in the database, `gilscope summary`
and the page), whichever place each worker's longest wait was at; two
threads of another kind (uploader-N) make a finding of their own; in
headless Chromium the lane labels are cut in the middle, keep the
distinguishing end and carry the whole name in the tooltip."""
from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
from gstest import browser_run, check, gilscope, tmpdir  # noqa: E402
from recorded import recorded_db  # noqa: E402

PREFIX = "ThreadPoolExecutor-for-image-resizing"


def main() -> None:
    tmp = tmpdir("gilscope-pool-")
    db = recorded_db(["/usr/bin/python3", str(HERE / "pool_program.py")], tmp, "pool")
    c = sqlite3.connect(str(db))
    workers = {tid: n for tid, n in c.execute("SELECT tid, convoys FROM threads WHERE name LIKE ? AND convoys > 0",
                                              (PREFIX + "%",))}
    uploaders = {tid for (tid,) in c.execute("SELECT tid FROM threads WHERE name LIKE 'uploader-%' AND convoys > 0")}
    # The site each worker's longest convoy wait asked at: what a finding
    # about it names, and the scheduler's choice (test_pool's program).
    longest = {r[0] for r in c.execute(
        "SELECT (SELECT site_id FROM waits w WHERE w.tid = t.tid AND convoy = 1 ORDER BY dur_ns DESC LIMIT 1) "
        "FROM threads t WHERE name LIKE ? AND convoys > 0", (PREFIX + "%",))}
    rows = c.execute("SELECT tid, value, message, detail FROM findings WHERE kind = 'convoy'").fetchall()
    c.close()
    print(f"{len(workers)} workers with convoys, their longest at {len(longest)} site(s)")
    check(len(workers) >= 2, f"workers had convoys ({len(workers)})")
    pool = [r for r in rows if PREFIX in r[2]]
    check(len(pool) == 1, f"one convoy finding for the pool, not one per worker ({len(pool)} of {len(rows)})")
    ups = [r for r in rows if "uploader-" in r[2]]
    check(len(uploaders) == 2 and len(ups) == 1 and PREFIX not in ups[0][2] and "uploader-" not in pool[0][2]
          and {int(t) for t in re.findall(r"\(tid (\d+)\)", ups[0][3] or "")} == uploaders,
          f"the uploaders, another kind, have a finding of their own ({len(ups)}, {len(uploaders)} threads)")
    tid, value, message, detail = pool[0]
    listed = {int(t) for t in re.findall(r"\(tid (\d+)\)", detail or "")}
    check(listed == set(workers), f"its detail lists every worker ({sorted(listed)} vs {sorted(workers)})")
    check(value == sum(workers.values()) and f"{sum(workers.values())} times in all" in message,
          f"with the total ({value}): {message}")
    check(message.startswith(f"{len(workers)} threads of one kind") and tid in workers, "and the thread with the most")
    res = subprocess.run([str(gilscope()), "summary", str(db)], capture_output=True, text=True, timeout=120)
    flat = " ".join(res.stdout.split())
    check(flat.count("threads of one kind") == 2 and not re.search(rf"\(({PREFIX}_\d)\) released", flat),
          "the summary shows the two grouped findings")
    html = tmp / "pool.html"
    res = subprocess.run([str(gilscope()), "report", str(db), "-o", str(html), "-q"], capture_output=True, text=True,
                         timeout=120)
    found = re.search(r'<ul class="findings">(.*?)</ul>', html.read_text(), re.S)
    check(res.returncode == 0 and found is not None and found.group(1).count("threads of one kind") == 2
          and found.group(1).count("convoy effect</span>") == len(rows), "so does the page's findings list")

    seen, _ = browser_run("check_report.mjs", ["--html", html, "--long-names"], 300)
    print("labels:", seen.get("labels_shown"))
    check(seen.get("ok") and not seen.get("error"), "every browser check passed")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
