"""Unit tests of the report's data preparation (report/gilscope_report/data.py)
and of its escaping: small databases built from schema.sql in each test."""
from __future__ import annotations

import json
import os
import sqlite3
import stat
import tempfile
import unittest
from unittest import mock
from pathlib import Path

import reportdb  # noqa: E402
from reportdb import DB, MS, T0, US  # noqa: E402

reportdb.import_report()
from gilscope_report import __main__ as cli  # noqa: E402
from gilscope_report import data, render  # noqa: E402

EVIL = "<img src=x onerror=alert(1)>"


def lane_data(lane: dict) -> dict:
    """A lane's packed columns, unpacked."""
    import array
    import base64

    def u8(s: str) -> list:
        return list(base64.b64decode(s))

    def u16(s: str) -> list:
        a = array.array("H")
        a.frombytes(base64.b64decode(s))
        return list(a)

    h = data.unpack_times(lane["h"])
    w = data.unpack_times(lane["w"])
    f = data.unpack_times(lane["f"])
    return {"holds": list(zip(h[0::2], h[1::2])), "hold_codes": u8(lane["hc"]),
            "waits": list(zip(w[0::2], w[1::2])), "wait_codes": u8(lane["wc"]), "wait_timeouts": u16(lane["wt"]),
            "ticks": data.unpack_times(lane["t"]), "forced": list(zip(f[0::2], f[1::2]))}


class Base(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="gilscope-report-test-")
        self.dir = Path(self.tmp.name)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def db(self, name: str = "run.db") -> DB:
        return DB(self.dir / name)


class Packing(Base):
    def test_round_trip_small_deltas(self) -> None:
        values = [0, 1, 5, 5, 4_000_000_000, 4_294_967_294]
        self.assertEqual(data.unpack_times(data.pack_times(values)), values)

    def test_escape_for_big_gaps_and_backward_times(self) -> None:
        values = [3, 3 + 2 ** 32, 3 + 2 ** 32 + 7, 10, 2 ** 45 + 123, 2 ** 45 + 123 + 0xFFFFFFFF]
        packed = data.pack_times(values)
        self.assertEqual(data.unpack_times(packed), values)
        # 4 bytes per time stamp, 12 for an escaped one
        self.assertEqual(len(__import__("base64").b64decode(packed)), 4 * 2 + 12 * 4)

    def test_empty(self) -> None:
        self.assertEqual(data.pack_times([]), "")
        self.assertEqual(data.unpack_times(""), [])

    def test_negative_time_is_refused(self) -> None:
        with self.assertRaises(ValueError):
            data.pack_times([5, -1])

    def test_interleave(self) -> None:
        self.assertEqual(data.interleave([1, 3], [2, 4]), [1, 2, 3, 4])

    def test_log_bins(self) -> None:
        per = data.BINS_PER_DECADE
        self.assertEqual(data.log_bin(0), 0)
        self.assertEqual(data.log_bin(1), 0)
        self.assertEqual(data.log_bin(10), per)
        self.assertEqual(data.log_bin(9), per - 1)
        self.assertEqual(data.log_bin(5 * MS), int(6.69897 * per))
        h = data.Histogram("x")
        h.add_all([0, 1, 10, 10, 11, 10 ** 9])
        self.assertEqual(h.total, 6)
        self.assertEqual(h.counts, {0: 2, per: 3, 9 * per: 1})

    def test_percentile(self) -> None:
        self.assertIsNone(data.percentile([], 50))
        self.assertEqual(data.percentile([1, 2, 3, 4], 50), 2)
        self.assertEqual(data.percentile(list(range(1, 101)), 99), 99)
        self.assertEqual(data.percentile([7], 99), 7)


class Opening(Base):
    def test_missing_file(self) -> None:
        with self.assertRaisesRegex(data.ReportError, "no such file"):
            data.load(str(self.dir / "nope.db"))

    def test_directory(self) -> None:
        with self.assertRaisesRegex(data.ReportError, "is a directory"):
            data.load(str(self.dir))

    def test_trace_directory(self) -> None:
        # A trace directory where a database goes: said so, with the command.
        t = self.dir / "trace"
        t.mkdir()
        (t / "gilscope.info").write_text("mode=run\n")
        with self.assertRaisesRegex(data.ReportError, "is a trace directory.*gilscope analyze"):
            data.load(str(t))

    def test_not_sqlite(self) -> None:
        p = self.dir / "junk.db"
        p.write_bytes(b"this is not a database, just text " * 40)
        with self.assertRaisesRegex(data.ReportError, "not a gilscope database"):
            data.load(str(p))

    def test_sqlite_without_runs(self) -> None:
        p = self.dir / "other.db"
        c = sqlite3.connect(str(p))
        c.execute("CREATE TABLE t (x)")
        c.commit()
        c.close()
        with self.assertRaisesRegex(data.ReportError, "no runs table"):
            data.load(str(p))

    def test_wrong_schema_version(self) -> None:
        d = DB(self.dir / "v9.db", version=9)
        d.run()
        d.close()
        with self.assertRaisesRegex(data.ReportError, "schema version 9"):
            data.load(str(self.dir / "v9.db"))

    def test_no_runs(self) -> None:
        self.db().close()
        with self.assertRaisesRegex(data.ReportError, "holds no runs"):
            data.load(str(self.dir / "run.db"))

    def test_run_selection(self) -> None:
        d = self.db()
        for run_id in (1, 2, 3):
            d.run(run_id=run_id, command=f"python3 run{run_id}.py")
            d.process(10 + run_id, run_id=run_id)
            d.thread(10 + run_id, 10 + run_id, f"main-{run_id}", run_id=run_id)
        d.close()
        path = str(self.dir / "run.db")
        latest = data.load(path)
        self.assertEqual(latest["run"]["run_id"], 3)
        self.assertEqual(latest["run_ids"], [1, 2, 3])
        self.assertEqual([t["label"] for t in latest["threads"]], ["main-3"])
        first = data.load(path, run_id=1)
        self.assertEqual(first["run"]["command"], "python3 run1.py")
        self.assertEqual([t["label"] for t in first["threads"]], ["main-1"])
        with self.assertRaisesRegex(data.ReportError, r"no run 7 \(runs: 1, 2, 3\)"):
            data.load(path, run_id=7)


class Model(Base):
    def test_two_thread_run(self) -> None:
        path = reportdb.two_thread_db(self.dir / "run.db", EVIL)
        m = data.load(str(path))
        self.assertEqual(m["t0"], str(T0))  # a string: too big for a JavaScript number
        self.assertEqual(m["span"], 20 * (5 * MS + 20 * US) - 10 * US)
        labels = [l["label"] for l in m["lanes"]]
        # main thread first, then by first appearance; the idle thread last, in its own group
        self.assertEqual(labels, ["MainThread", EVIL, "tid 1002"])
        self.assertEqual([g["gil"] for g in m["groups"]], [1, None])
        self.assertEqual(m["groups"][0]["lanes"], [0, 1])
        self.assertEqual(m["groups"][0]["interval"], "5 ms")
        main, worker, idle = (lane_data(l) for l in m["lanes"])
        self.assertEqual(len(main["holds"]) + len(worker["holds"]), 20)
        self.assertEqual(main["holds"][0], (0, 5 * MS + 10 * US))
        self.assertEqual(main["hold_codes"][0], data.HOLD_ENDED["forced"])
        # the 8th hold crossed a loss: bit 2
        self.assertEqual(worker["hold_codes"][3], data.HOLD_ENDED["forced"] | data.CODE_LOSS)
        last = main if m["lanes"][0]["n_holds"] == 10 and main["hold_codes"][-1] == 2 else worker
        self.assertEqual(last["hold_codes"][-1], data.HOLD_ENDED["trace_end"])
        self.assertEqual(worker["waits"][0], (1 * MS, 5 * MS + 20 * US))
        self.assertEqual(worker["wait_timeouts"][0], 1)
        self.assertIn(data.WAIT_OUTCOME["trace_end"], main["wait_codes"] + worker["wait_codes"])
        self.assertEqual(len(main["ticks"]) + len(worker["ticks"]), 19)
        self.assertEqual(len(main["forced"]) + len(worker["forced"]), 19)
        self.assertEqual(idle, {"holds": [], "hold_codes": [], "waits": [], "wait_codes": [], "wait_timeouts": [],
                                "ticks": [], "forced": []})
        # drop requests: requester and holder lanes alternate
        self.assertEqual(m["drops"]["n"], 19)
        self.assertEqual(m["drops"]["unplaced"], 0)
        ts = data.unpack_times(m["drops"]["ts"])
        self.assertEqual(ts, sorted(ts))
        # the metrics row gives the hold percentiles; the others are computed
        hist = {h["name"]: h for h in m["histograms"]}
        self.assertEqual(hist["hold"]["percentiles"]["p50"], 5 * MS)
        self.assertEqual(hist["hold"]["total"], 20)
        self.assertEqual(hist["drop_response"]["percentiles"]["p50"], 8 * US)
        self.assertEqual(hist["gap"]["percentiles"]["max"], 10 * US)
        self.assertEqual(m["lost"], [{"stream": "channel0_0", "start": 40 * MS, "end": 41 * MS, "count": 3}])
        # the findings as stored, in their order, times relative to t0
        self.assertEqual([f["kind"] for f in m["findings"]],
                         ["lost_events", "waiting", "cpu_bound", "slow_drop_response"])
        self.assertEqual(m["findings"][1]["value"], 80.0)
        self.assertEqual(m["findings"][1]["title"], "time waiting")
        slow = m["findings"][3]
        self.assertEqual((slow["tid"], slow["at_ns"], slow["dur_ns"]), (1001, 5 * MS + 2 * US, 8 * US))
        self.assertTrue(slow["detail"].startswith("The slowest: MainThread"))
        rows = {t["tid"]: t for t in m["threads"]}
        self.assertEqual(rows[1001]["name"], EVIL)
        self.assertEqual(rows[1002]["gils"], [])
        self.assertEqual(rows[1000]["gils"], [1])

    def test_interval_before_run_start_moves_t0(self) -> None:
        d = self.db()
        d.run(start=T0 + 10 * MS, end=T0 + 20 * MS)
        d.process(5)
        d.gil(1, 5)
        d.thread(5, 5, "MainThread")
        d.hold(1, 5, T0 + 2 * MS, T0 + 12 * MS)
        d.close()
        m = data.load(str(self.dir / "run.db"))
        self.assertEqual(m["t0"], str(T0 + 2 * MS))
        self.assertEqual(lane_data(m["lanes"][0])["holds"], [(0, 10 * MS)])
        self.assertIsNone(m["metrics"])
        self.assertEqual(m["histograms"][0]["percentiles"]["p50"], 10 * MS)

    def test_two_gils_and_two_processes(self) -> None:
        d = self.db()
        d.run()
        d.process(20, first=T0 + 5 * MS)
        d.process(10, first=T0)
        d.gil(1, 10)
        d.gil(2, 20, found=T0 + 5 * MS)
        d.gil(3, 20, found=T0 + 6 * MS, address="0x7f00000020aa")
        for pid, tid, first in ((10, 10, T0), (20, 20, T0 + 5 * MS), (20, 21, T0 + 6 * MS)):
            d.thread(pid, tid, None, first=first)
        d.hold(1, 10, T0, T0 + MS)
        d.hold(2, 20, T0 + 5 * MS, T0 + 6 * MS)
        d.hold(3, 21, T0 + 6 * MS, T0 + 7 * MS)  # a subinterpreter's own GIL
        d.wait(2, 21, T0 + 6 * MS, T0 + 6 * MS + 5)
        d.drop(2, T0 + 6 * MS, 21, 20, None)
        d.drop(2, T0 + 6 * MS + 1, 99, 20, 5)  # an unknown requester: cannot be placed
        d.close()
        m = data.load(str(self.dir / "run.db"))
        self.assertEqual([(g["pid"], g["gil"]) for g in m["groups"]], [(10, 1), (20, 2), (20, 3)])
        self.assertEqual([(l["pid"], l["gil"], l["tid"]) for l in m["lanes"]],
                         [(10, 1, 10), (20, 2, 20), (20, 2, 21), (20, 3, 21)])
        self.assertTrue(m["lanes"][0]["main"])
        self.assertEqual(m["drops"]["n"], 1)
        self.assertEqual(m["drops"]["unplaced"], 1)
        self.assertEqual({t["tid"]: t["gils"] for t in m["threads"]}[21], [2, 3])

    def test_unsorted_rows_come_out_sorted(self) -> None:
        d = self.db()
        d.run()
        d.process(5)
        d.gil(1, 5)
        d.thread(5, 5, "MainThread")
        for k in (7, 1, 5, 3):
            d.hold(1, 5, T0 + k * MS, T0 + k * MS + 100, ended="forced" if k == 5 else "voluntary")
        d.close()
        lane = lane_data(data.load(str(self.dir / "run.db"))["lanes"][0])
        self.assertEqual([s for s, _ in lane["holds"]], [MS, 3 * MS, 5 * MS, 7 * MS])
        self.assertEqual(lane["hold_codes"], [0, 0, 1, 0])

    def test_run_without_any_interval(self) -> None:
        d = self.db()
        d.run(start=None, end=None, wall_ns=None, command=None)
        d.close()
        m = data.load(str(self.dir / "run.db"))
        self.assertEqual(m["lanes"], [])
        self.assertEqual(m["span"], 1)
        self.assertEqual(m["title"], "trace-1")
        page = render.render(m, "0.1.0")
        self.assertIn("No threads in this run", page)
        self.assertIn("no data in this run", page)

    def test_short_command(self) -> None:
        self.assertEqual(data.short_command("/usr/bin/python3 /tmp/x/app.py -v --out=a/b ./t.py"),
                         "python3 app.py -v --out=a/b t.py")
        self.assertEqual(data.short_command("python3 x.py </script>"), "python3 x.py </script>")
        self.assertEqual(data.short_command("python3 -c pass"), "python3 -c pass")
        self.assertEqual(data.short_command("/"), "/")

    def test_anomalies_show_only_when_there_are_some(self) -> None:
        path = reportdb.two_thread_db(self.dir / "run.db")
        self.assertNotIn("<dt>anomalies</dt>", render.render(data.load(str(path)), ""))
        c = sqlite3.connect(str(path))
        c.execute("UPDATE runs SET anomalies = 5")
        c.commit()
        c.close()
        self.assertIn('<dt>anomalies</dt><dd class="bad">5</dd>', render.render(data.load(str(path)), ""))

    def test_too_many_ticks_are_left_to_the_waits_counts(self) -> None:
        path = reportdb.two_thread_db(self.dir / "run.db")
        m = data.load(str(path))
        self.assertEqual(m["ticks"], {"count": 19, "derived": False})
        with mock.patch.object(data, "TICK_BUDGET", 10):
            m = data.load(str(path))
        self.assertEqual(m["ticks"], {"count": 19, "derived": True})
        self.assertEqual([l["t"] for l in m["lanes"]], ["", "", ""])
        self.assertEqual(m["groups"][0]["interval_ns"], 5 * MS)
        self.assertIn("19 wait time-outs, too many to embed", render.render(m, ""))
        # a GIL whose switch interval is unknown (3.6) keeps the exact ticks
        c = sqlite3.connect(str(path))
        c.execute("UPDATE gils SET interval_us = NULL")
        c.commit()
        c.close()
        with mock.patch.object(data, "TICK_BUDGET", 10):
            self.assertFalse(data.load(str(path))["ticks"]["derived"])

    def test_title(self) -> None:
        reportdb.two_thread_db(self.dir / "run.db")
        self.assertEqual(data.load(str(self.dir / "run.db"), title="T <1>")["title"], "T <1>")


class Escaping(Base):
    def test_json_cannot_close_the_script(self) -> None:
        obj = {"name": "</script><script>alert(1)</script>", "amp": "a & b", "sep": "\u2028\u2029", "nan": float("nan")}
        text = render.json_for_script(obj)
        for bad in ("<", ">", "&", "\u2028", "\u2029"):
            self.assertNotIn(bad, text)
        back = json.loads(text)
        self.assertEqual(back["name"], obj["name"])
        self.assertEqual(back["sep"], obj["sep"])
        self.assertIsNone(back["nan"])

    def test_untrusted_strings_are_escaped_in_the_page(self) -> None:
        path = reportdb.two_thread_db(self.dir / "run.db", EVIL)
        page = render.render(data.load(str(path)), "0.1.0")
        self.assertNotIn(EVIL, page)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", page)
        self.assertNotIn("<script>alert(2)", page)
        self.assertNotIn("<b>x</b>", page)
        self.assertEqual(page.count("<script"), 2)  # the data and the page's own script
        self.assertEqual(page.count("</script>"), 2)

    def test_finding_kind_is_a_safe_class(self) -> None:
        d = self.db()
        d.run()
        d.finding('x" onmouseover="alert(1)', "message")
        d.close()
        page = render.render(data.load(str(self.dir / "run.db")), "")
        self.assertNotIn('onmouseover="', page)


class Writing(Base):
    def test_atomic_write_replaces_and_leaves_no_temp(self) -> None:
        out = self.dir / "r.html"
        out.write_text("old")
        cli.write_atomic(str(out), "new")
        self.assertEqual(out.read_text(), "new")
        self.assertEqual(sorted(p.name for p in self.dir.iterdir()), ["r.html"])
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o666 & ~_umask())

    def test_special_outputs_are_written_in_place(self) -> None:
        # a symbolic link: the file it points to is replaced, the link stays
        real = self.dir / "real.html"
        real.write_text("old")
        link = self.dir / "link.html"
        link.symlink_to(real)
        cli.write_atomic(str(link), "via link")
        self.assertTrue(link.is_symlink())
        self.assertEqual(real.read_text(), "via link")
        # a pipe (as /dev/stdout often is) is written, never renamed over
        fifo = self.dir / "fifo"
        os.mkfifo(fifo)
        r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            cli.write_atomic(str(fifo), "through a pipe")
            self.assertEqual(os.read(r, 100), b"through a pipe")
        finally:
            os.close(r)
        self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode))

    def test_unwritable(self) -> None:
        with self.assertRaisesRegex(data.ReportError, "cannot write"):
            cli.write_atomic(str(self.dir / "no" / "such" / "dir.html"), "x")
        with self.assertRaisesRegex(data.ReportError, "is a directory"):
            cli.write_atomic(str(self.dir), "x")

    def test_main_exit_codes(self) -> None:
        path = reportdb.two_thread_db(self.dir / "run.db")
        out = self.dir / "out.html"
        self.assertEqual(cli.main([str(path), "-o", str(out), "-q"]), 0)
        self.assertTrue(out.read_text().startswith("<!DOCTYPE html>"))
        self.assertEqual(cli.main([str(self.dir / "missing.db"), "-o", str(out), "-q"]), 1)


def _umask() -> int:
    u = os.umask(0)
    os.umask(u)
    return u


if __name__ == "__main__":
    unittest.main(verbosity=2)
