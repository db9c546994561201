"""The page's decoder (report.js, gilscopeDecode) under node against the
Python packer (data.py): time columns with and without escapes, interval
coverage, the small integer and float columns, and every column of a whole
model. The browser test covers the rest of report.js in Chromium."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
import reportdb  # noqa: E402

reportdb.import_report()
from gilscope_report import data  # noqa: E402

from gstest import check, skip  # noqa: E402

DRIVER = r"""
const d = require(process.argv[2]);
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = {};
out.times = cases.times.map((s) => Array.from(d.times(s)));
const iv = d.intervals(cases.intervals);
out.intervals = { s: Array.from(iv.s), e: Array.from(iv.e), cum: Array.from(iv.cum), n: iv.n };
out.covered = cases.at.map((t) => d.covered(iv, t));
out.upper = cases.at.map((t) => d.upper(iv.s, t));
out.lower = cases.at.map((t) => d.lower(iv.s, t));
out.u16 = Array.from(d.u16(cases.u16));
out.f32 = Array.from(d.f32(cases.f32));
out.u8 = Array.from(d.bytes(cases.u8));
out.model = cases.model.lanes.map((l) => ({ h: Array.from(d.times(l.h)), w: Array.from(d.times(l.w)),
  t: Array.from(d.times(l.t)), f: Array.from(d.times(l.f)), hc: Array.from(d.bytes(l.hc)),
  wt: Array.from(d.u16(l.wt)) }));
out.drops = Array.from(d.times(cases.model.drops.ts));
out.derived = Array.from(d.derivedTicks(d.intervals(cases.derived.w), d.u16(cases.derived.wt), cases.derived.iv));
// a monospace stand-in for the page's ruler: 1 px per code point
const mono = (t) => Array.from(t).length;
out.shorten = cases.shorten.map((c) => d.shortenMiddle(c[0], c[1], mono));
const sm = d.summary(cases.summary.s, cases.summary.w, cases.summary.n);
out.summary = { held: Array.from(sm.held), nh: Array.from(sm.nh),
  at: cases.summary.at.map((t) => d.sumAt(sm, sm.held, t)) };
process.stdout.write(JSON.stringify(out));
"""


def covered(starts, ends, t):
    return sum(max(0, min(e, t) - s) for s, e in zip(starts, ends) if s <= t)


def main() -> None:
    node = shutil.which("node")
    if node is None:
        skip("node is not installed (apt-get install nodejs)")
    js = reportdb.report_package_dir() / "gilscope_report" / "report.js"
    plain = [0, 1, 2, 1000, 5_000_000, 5_000_010]
    escaped = [7, 7 + 2 ** 32, 7 + 2 ** 32 + 1, 3, 2 ** 50 + 5, 2 ** 50 + 5 + 0xFFFFFFFF, 2 ** 50 + 2 ** 33]
    starts = [10, 100, 2 ** 33, 2 ** 33 + 50]
    ends = [20, 160, 2 ** 33 + 10, 2 ** 33 + 51]
    at = [0, 10, 15, 20, 99, 130, 160, 1000, 2 ** 33 + 5, 2 ** 33 + 50, 2 ** 34]
    with tempfile.TemporaryDirectory(prefix="gilscope-report-js-") as tmp:
        model = data.load(str(reportdb.two_thread_db(Path(tmp) / "run.db")))
    cases = {
        "times": [data.pack_times(plain), data.pack_times(escaped), data.pack_times([])],
        "intervals": data.pack_times(data.interleave(starts, ends)),
        "at": at,
        "u16": data.pack_u16([0, 1, 65535, 70000]),
        "f32": data.pack_f32([-1.0, 0.5, 8000.0]),
        "u8": data.pack_u8([0, 1, 2, 5, 255]),
        "model": model,
        # waits [100, 12_000] with 2 time-outs and [20_000, 24_000] with 1 (ending before its tick)
        "derived": {"w": data.pack_times([100, 12_000, 20_000, 24_000]), "wt": data.pack_u16([2, 1]), "iv": 5_000},
        "shorten": [["ThreadPoolExecutor-0_7", 30], ["ThreadPoolExecutor-0_7", 12], ["MainThread", 10],
                    ["ab", 1], ["ThreadPoolExecutor-12_3😀", 12]],
        # a 3-bucket summary, 1000 ns each: held wholly, half, not at all; 4, 2, 0 holds
        "summary": {"s": {"h": data.pack_u16([65535, 32768, 0]), "w": data.pack_u16([0, 0, 0]),
                          "nh": data.pack_u16([4, 2, 0]), "nw": data.pack_u16([0, 0, 0])},
                    "w": 1000, "n": 3, "at": [0, 500, 1000, 1500, 2500, 9999]},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as f:
        f.write(DRIVER)
        driver = f.name
    try:
        res = subprocess.run([node, driver, str(js)], input=json.dumps(cases), capture_output=True, text=True,
                             timeout=60)
    finally:
        Path(driver).unlink()
    check(res.returncode == 0, f"node ran report.js's decoder ({res.stderr.strip()[:500]})")
    got = json.loads(res.stdout)
    check(got["times"] == [plain, escaped, []], "time columns decode, escapes for big gaps and backward times too")
    check(got["intervals"] == {"s": starts, "e": ends, "n": 4,
                               "cum": [0, 10, 70, 80, 81]}, "intervals: starts, ends and prefix sums")
    check(got["covered"] == [covered(starts, ends, t) for t in at], "covered time up to t, at and between edges")
    check(got["upper"] == [sum(1 for s in starts if s <= t) for t in at], "upper bound search")
    check(got["lower"] == [sum(1 for s in starts if s < t) for t in at], "lower bound search")
    check(got["u16"] == [0, 1, 65535, 65535], "uint16 columns (clamped)")
    check(got["f32"] == [-1.0, 0.5, 8000.0], "float32 columns")
    check(got["u8"] == [0, 1, 2, 5, 255], "byte columns")
    for lane, js_lane in zip(model["lanes"], got["model"]):
        check(js_lane["h"] == data.unpack_times(lane["h"]) and js_lane["w"] == data.unpack_times(lane["w"])
              and js_lane["t"] == data.unpack_times(lane["t"]) and js_lane["f"] == data.unpack_times(lane["f"]),
              f"lane {lane['label']!r}: the page reads what Python packed")
    check(got["drops"] == data.unpack_times(model["drops"]["ts"]), "drop request times")
    check(got["derived"] == [5_100, 10_100, 24_000], "ticks drawn from the waits' counts, never past a wait's end")
    check(got["shorten"][0] == "ThreadPoolExecutor-0_7" and got["shorten"][2] == "MainThread",
          "a name that fits is left whole")
    check(got["shorten"][1] == "Threa…or-0_7",
          f"a long name is cut in the middle, its end kept ({got['shorten'][1]!r})")
    check(got["shorten"][3] == "…", f"nothing fits: the ellipsis alone ({got['shorten'][3]!r})")
    check(got["shorten"][4].endswith("2_3\U0001F600") and len(got["shorten"][4]) <= 12,
          f"cuts fall between code points ({got['shorten'][4]!r})")
    half = 32768 * 1000 / 65535
    want = [0, 500, 1000, 1000 + half / 2, 1000 + half, 1000 + half]
    check(all(abs(a - b) < 1e-6 for a, b in zip(got["summary"]["at"], want)),
          f"a summary's running sums, linear inside a bucket ({got['summary']['at']})")
    check(got["summary"]["nh"] == [0, 4, 6, 6], "a summary's counts become running sums")


if __name__ == "__main__":
    main()
