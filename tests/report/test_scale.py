"""The page of a large run (report/gilscope_report/scale.py) and --window:
synthetic databases from bench/make_big_db.py, whose every interval is
known, against what the page model embeds."""
from __future__ import annotations

import array
import base64
import sqlite3
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Dict, List, Tuple

import reportdb  # noqa: E402
from reportdb import MS, SOURCE  # noqa: E402

reportdb.import_report()
from gilscope_report import __main__ as cli  # noqa: E402
from gilscope_report import data, scale  # noqa: E402
from test_data import lane_data  # noqa: E402

MAKE = SOURCE / "bench" / "make_big_db.py"


def u16(text: str) -> List[int]:
    a = array.array("H")
    a.frombytes(base64.b64decode(text))
    return list(a)


def make(path: Path, intervals: int, threads: int = 3) -> Path:
    subprocess.run([sys.executable, str(MAKE), "--intervals", str(intervals), "--threads", str(threads),
                    "-o", str(path)], check=True, capture_output=True)
    return path


class Large(unittest.TestCase):
    """One database just past the threshold, shared by the tests."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory(prefix="gilscope-scale-")
        cls.db = make(Path(cls.tmp.name) / "big.db", scale.SUMMARY_THRESHOLD + 50_000)
        cls.model = data.load(str(cls.db))
        c = sqlite3.connect(str(cls.db))
        cls.per_lane: Dict[Tuple[str, int], Tuple[int, int]] = {}
        for table in ("holds", "waits"):
            for tid, n, total in c.execute(f"SELECT tid, COUNT(*), SUM(end_ns - start_ns) FROM {table} GROUP BY tid"):
                cls.per_lane[(table, tid)] = (n, total)
        cls.conn = c

    @classmethod
    def tearDownClass(cls) -> None:
        cls.conn.close()
        cls.tmp.cleanup()

    def test_summarised_past_the_threshold(self) -> None:
        sm = self.model.get("summary")
        self.assertIsNotNone(sm)
        self.assertEqual(sm["intervals"], sum(n for n, _ in self.per_lane.values()))
        self.assertEqual(sm["buckets"] * sm["bucket_ns"] >= self.model["span"], True)

    def test_summary_holds_every_interval_and_all_their_time(self) -> None:
        sm = self.model["summary"]
        w = sm["bucket_ns"]
        for lane in self.model["lanes"]:
            for kind, table, frac, count in (("holds", "holds", "h", "nh"), ("waits", "waits", "w", "nw")):
                n, total = self.per_lane[(table, lane["tid"])]
                self.assertEqual(sum(u16(lane["s"][count])), n, f"{kind} of {lane['tid']}")
                fr = u16(lane["s"][frac])
                self.assertTrue(all(0 <= v <= 0xFFFF for v in fr))
                got = sum(fr) * w / 0xFFFF
                # each bucket rounds to 1/65535 of its width
                self.assertAlmostEqual(got, total, delta=len(fr) * w / 0xFFFF + 1, msg=f"{kind} time of {lane['tid']}")

    def test_bucket_contents_are_where_the_intervals_are(self) -> None:
        sm = self.model["summary"]
        w = sm["bucket_ns"]
        t0 = int(self.model["t0"])
        lane = self.model["lanes"][1]
        fr = u16(lane["s"]["h"])
        k = len(fr) // 3
        lo, hi = t0 + k * w, t0 + (k + 1) * w
        held = self.conn.execute("SELECT SUM(MIN(end_ns, ?) - MAX(start_ns, ?)) FROM holds WHERE tid = ? "
                                 "AND start_ns < ? AND end_ns > ?", (hi, lo, lane["tid"], hi, lo)).fetchone()[0] or 0
        self.assertAlmostEqual(fr[k] * w / 0xFFFF, held, delta=w / 0xFFFF + 1)

    def test_detail_windows_hold_their_intervals_in_full(self) -> None:
        sm = self.model["summary"]
        t0 = int(self.model["t0"])
        self.assertEqual(len(sm["windows"]), scale.DETAIL_WINDOWS)
        self.assertLessEqual(sm["detail_intervals"], scale.DETAIL_INTERVALS * 1.2)
        for lane in self.model["lanes"]:
            got = lane_data(lane)
            want = []
            for a, b, _ in sm["windows"]:
                want += [(s - t0, e - t0) for s, e in self.conn.execute(
                    "SELECT start_ns, end_ns FROM holds WHERE tid = ? AND start_ns < ? AND end_ns > ? "
                    "ORDER BY start_ns", (lane["tid"], b + t0, a + t0))]
            self.assertEqual(sorted(set(want)), got["holds"], f"holds of {lane['tid']} in the windows")
        drops = self.conn.execute(" OR ".join(["SELECT COUNT(*) FROM drop_requests WHERE 0"] +
                                              [f"(ts_ns >= {a + t0} AND ts_ns < {b + t0})" for a, b, _ in sm["windows"]])
                                  ).fetchone()[0]
        self.assertEqual(self.model["drops"]["n"], drops)

    def test_windows_are_the_busiest_and_apart(self) -> None:
        wins = self.model["summary"]["windows"]
        for (a1, b1, _), (a2, b2, _) in zip(wins, wins[1:]):
            self.assertLess(b1, a2)
            self.assertAlmostEqual(b1 - a1, b2 - a2, delta=1)

    def test_histograms_count_every_interval(self) -> None:
        h = {x["name"]: x for x in self.model["histograms"]}
        self.assertEqual(h["hold"]["total"], sum(n for (t, _), (n, _) in self.per_lane.items() if t == "holds"))
        self.assertEqual(h["wait"]["total"], sum(n for (t, _), (n, _) in self.per_lane.items() if t == "waits"))
        # the same bins as Python's, counted by SQLite
        durs = [r[0] for r in self.conn.execute("SELECT end_ns - start_ns FROM holds")]
        ref = data.Histogram("hold")
        ref.add_all(durs)
        self.assertEqual({b: c for b, c in h["hold"]["bins"]}, ref.counts)

    def test_the_page_says_so(self) -> None:
        from gilscope_report import render
        page = render.render(self.model)
        self.assertIn('id="tl-summary"', page)
        self.assertIn("gilscope export", page)
        self.assertEqual(page.count('class="tl-win"'), scale.DETAIL_WINDOWS)


class Threshold(unittest.TestCase):
    def test_under_the_threshold_everything_is_embedded(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            db = make(Path(d) / "small.db", 20_000, threads=2)
            m = data.load(str(db))
            self.assertNotIn("summary", m)
            self.assertNotIn("s", m["lanes"][0])
            self.assertEqual(sum(l["n_holds"] + l["n_waits"] for l in m["lanes"]), 20_002)


class Window(unittest.TestCase):
    def test_parse(self) -> None:
        self.assertEqual(cli.parse_window("12s:12.5s"), (12 * 10 ** 9, 12_500_000_000))
        self.assertEqual(cli.parse_window("1500ms:2"), (1_500_000_000, 2 * 10 ** 9))
        self.assertEqual(cli.parse_window(":40us"), (0, 40_000))
        for bad in ("12", "2s:1s", "a:b", "1s:1s", "-1:2"):
            with self.assertRaises(Exception, msg=bad):
                cli.parse_window(bad)

    def test_window_keeps_its_stretch_clipped(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            db = make(Path(d) / "w.db", 20_000, threads=2)
            full = data.load(str(db))
            t0 = int(full["t0"])
            a, b = 1000 * MS + 123, 1200 * MS
            m = data.load(str(db), window=(a, b))
            self.assertEqual(int(m["t0"]), t0 + a)
            self.assertEqual(m["span"], b - a)
            self.assertEqual(m["window"]["start"], a)
            c = sqlite3.connect(str(db))
            cut = False
            for lane in m["lanes"]:
                got = lane_data(lane)["holds"]
                want = [(max(s, t0 + a) - t0 - a, min(e, t0 + b) - t0 - a) for s, e in c.execute(
                    "SELECT start_ns, end_ns FROM holds WHERE tid = ? AND start_ns < ? AND end_ns > ? ORDER BY start_ns",
                    (lane["tid"], t0 + b, t0 + a))]
                self.assertEqual(got, want)
                cut = cut or (bool(want) and want[0][0] == 0)
            self.assertTrue(cut, "the hold across the window's start is cut there")
            c.close()
            with self.assertRaisesRegex(data.ReportError, "after the run's end"):
                data.load(str(db), window=(10 ** 15, 10 ** 15 + 1))


if __name__ == "__main__":
    unittest.main(verbosity=2)
