"""`gilscope diff A.db B.db`: did my change help? Two runs side by side:
the headline figures with their change, the threads matched by name (tids
differ from run to run), the code sites when both runs have them
(code_sites, from code attribution), and a verdict line. Prints to the
terminal; --html writes the same as a page. Run by cli/diff.c."""
from __future__ import annotations

import argparse
import html
import math
import os
import re
import sqlite3
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import data, render
from .output import command_parser, open_output, run_command

PROG = "gilscope diff"

EXAMPLES = """\
examples:
  gilscope diff before.db after.db                  # the latest run of each
  gilscope diff run.db run.db --run-a 1 --run-b 2   # two runs of one database (analyze --append)
  gilscope diff before.db after.db --html diff.html

A is the baseline: changes read "from A to B". Threads are matched by
their Python name; code sites (when both runs were recorded with code
attribution) by file and function."""


# --- escaping -------------------------------------------------------------------

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def term(s: Any) -> str:
    """A string from the traced program, safe to print on a terminal: control
    characters (escape sequences) and bidirectional overrides shown as
    \\x1b, \\u202e."""
    text = "" if s is None else str(s)
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                       text)


# --- formatting (ASCII, like `gilscope summary`) --------------------------------

def fmt_dur(ns: Optional[float]) -> str:
    return render.fmt_dur(ns, micro="us", none="-")


def fmt_pct(p: Optional[float]) -> str:
    return "-" if p is None else f"{p:.1f}%"


def fmt_num(x: Optional[float]) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:.1f}"


# --- the runs -------------------------------------------------------------------

@dataclass
class Side:
    path: str
    run_id: int
    command: Optional[str]
    wall_ns: Optional[int]
    metrics: Dict[str, Any]
    threads: Dict[str, Dict[str, Any]]      # by name
    sites: Optional[Dict[Tuple[str, str], Dict[str, Any]]]   # None: no code attribution
    lost: int = 0
    lost_unknown: int = 0   # losses of unknown count (lost rows of count 0)


THREAD_SUMS = ("held_ns", "wait_ns", "holds", "waits", "timeouts", "forced_releases", "convoys")


def _columns(conn: sqlite3.Connection, table: str) -> set:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def load_side(path: str, run_id: Optional[int]) -> Side:
    conn = data.open_db(path)
    try:
        rid = data.pick_run(conn, run_id, path)
        run = dict(conn.execute("SELECT * FROM runs WHERE run_id = ?", (rid,)).fetchone())
        m = conn.execute("SELECT * FROM metrics WHERE run_id = ? AND gil_id IS NULL", (rid,)).fetchone()
        metrics = dict(m) if m else {}
        if metrics.get("convoys") is None:
            metrics["convoys"] = conn.execute("SELECT SUM(convoys) FROM threads WHERE run_id = ?", (rid,)).fetchone()[0]
        threads: Dict[str, Dict[str, Any]] = {}
        for t in conn.execute("SELECT * FROM threads WHERE run_id = ? ORDER BY first_ns, tid", (rid,)):
            t = dict(t)
            # unnamed threads have nothing to match on across runs: one row for all
            name = t.get("name") if t.get("name") is not None else "(unnamed)"
            row = threads.setdefault(name, {"count": 0, **{k: 0 for k in THREAD_SUMS}})
            row["count"] += 1
            for k in THREAD_SUMS:
                row[k] += t.get(k) or 0
        sites = None
        cols = _columns(conn, "code_sites")
        if {"filename", "function", "held_ns", "wait_ns", "holds", "waits"} <= cols:
            sites = {}
            for fn, func, held, wait, holds, waits in conn.execute(
                    "SELECT filename, function, SUM(held_ns), SUM(wait_ns), SUM(holds), SUM(waits) FROM code_sites "
                    "WHERE run_id = ? GROUP BY filename, function", (rid,)):
                sites[(fn, func)] = {"held_ns": held or 0, "wait_ns": wait or 0, "holds": holds or 0,
                                     "waits": waits or 0}
            if not sites:
                sites = None
        unknown = conn.execute("SELECT count(*) FROM lost WHERE run_id = ? AND count = 0",
                               (rid,)).fetchone()[0]
        return Side(path, rid, run.get("command"), run.get("wall_ns") or metrics.get("wall_ns"), metrics,
                    threads, sites, run.get("lost_events") or 0, unknown)
    except sqlite3.DatabaseError as e:
        raise data.ReportError(f"{path}: cannot read the database ({e})") from None
    finally:
        conn.close()


# --- comparing ------------------------------------------------------------------

@dataclass
class Figure:
    label: str
    a: Optional[float]
    b: Optional[float]
    fmt: Callable[[Optional[float]], str]
    points: bool = False        # a percentage: its change is in points
    note: str = ""

    def change(self) -> str:
        if self.a is None or self.b is None:
            return ""
        if self.points:
            d = self.b - self.a
            return "same" if abs(d) < 0.05 else f"{d:+.1f} pts"
        if self.a == 0:
            return "new" if self.b else "same"
        r = (self.b - self.a) / abs(self.a) * 100
        if abs(r) < 0.05:
            return "same"
        return f"{r:+.0f}%" if abs(r) >= 10 else f"{r:+.1f}%"


def figures(a: Side, b: Side) -> List[Figure]:
    ma, mb = a.metrics, b.metrics

    def g(m: Dict[str, Any], k: str) -> Optional[float]:
        v = m.get(k)
        return None if v is None else float(v)

    def share(s: Side) -> Optional[float]:
        h, w = s.metrics.get("handoff_ns"), s.wall_ns
        return 100.0 * h / w if h is not None and w else None

    return [
        Figure("wall time", a.wall_ns, b.wall_ns, fmt_dur),
        Figure("GIL held", g(ma, "held_pct"), g(mb, "held_pct"), fmt_pct, True),
        Figure("contention", g(ma, "contention_pct"), g(mb, "contention_pct"), fmt_pct, True),
        Figure("time waiting", g(ma, "wait_pct"), g(mb, "wait_pct"), fmt_pct, True),
        Figure("switches/s", g(ma, "switches_per_s"), g(mb, "switches_per_s"), fmt_num),
        Figure("drop requests/s", g(ma, "drop_requests_per_s"), g(mb, "drop_requests_per_s"), fmt_num),
        Figure("wait p50", g(ma, "wait_p50_ns"), g(mb, "wait_p50_ns"), fmt_dur),
        Figure("wait p99", g(ma, "wait_p99_ns"), g(mb, "wait_p99_ns"), fmt_dur),
        Figure("hold p50", g(ma, "hold_p50_ns"), g(mb, "hold_p50_ns"), fmt_dur),
        Figure("hand-off overhead", g(ma, "handoff_ns"), g(mb, "handoff_ns"), fmt_dur),
        Figure("  of the wall time", share(a), share(b), fmt_pct, True),
        Figure("convoys", g(ma, "convoys"), g(mb, "convoys"), fmt_num),
    ]


def verdict(a: Side, b: Side) -> str:
    """One sentence: what changed most for the GIL, and the wall time."""
    ca, cb = a.metrics.get("contention_pct"), b.metrics.get("contention_pct")
    parts = []
    if ca is not None and cb is not None:
        if abs(cb - ca) < 2:
            parts.append(f"contention stayed at about {cb:.0f}%")
        else:
            parts.append(f"contention {'fell' if cb < ca else 'rose'} from {ca:.0f}% to {cb:.0f}%")
    sa, sb = a.metrics.get("switches_per_s"), b.metrics.get("switches_per_s")
    if sa is not None and sb is not None and max(sa, sb) >= 1 and abs(sb - sa) >= 0.2 * max(sa, sb):
        parts.append(f"switches went from {fmt_num(sa)}/s to {fmt_num(sb)}/s")
    wa, wb = a.wall_ns, b.wall_ns
    if wa and wb:
        r = (wb - wa) / wa * 100
        if abs(r) >= 5:
            parts.append(f"the run took {fmt_dur(wb)} instead of {fmt_dur(wa)} ({r:+.0f}%)")
        else:
            parts.append(f"the run took about as long ({fmt_dur(wb)})")
    if not parts:
        return "no figure to compare (a run without metrics?)"
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


@dataclass
class Row:
    name: str
    a: Optional[Dict[str, Any]]
    b: Optional[Dict[str, Any]]


def thread_rows(a: Side, b: Side) -> List[Row]:
    names = list(a.threads) + [n for n in b.threads if n not in a.threads]
    return [Row(n, a.threads.get(n), b.threads.get(n)) for n in names]


def site_rows(a: Side, b: Side, limit: int = 15) -> List[Row]:
    assert a.sites is not None and b.sites is not None
    keys = set(a.sites) | set(b.sites)

    def weight(k: Tuple[str, str]) -> float:
        sa, sb = a.sites.get(k) or {}, b.sites.get(k) or {}  # type: ignore[union-attr]
        return max(sa.get("held_ns", 0) + sa.get("wait_ns", 0), sb.get("held_ns", 0) + sb.get("wait_ns", 0))

    top = sorted(keys, key=lambda k: (-weight(k), k))[:limit]
    return [Row(f"{os.path.basename(k[0])}:{k[1]}", a.sites.get(k), b.sites.get(k)) for k in top]  # type: ignore


def _pct_of(v: Optional[int], wall: Optional[int]) -> Optional[float]:
    return 100.0 * v / wall if v is not None and wall else None


# --- the terminal -----------------------------------------------------------------

def text_report(a: Side, b: Side) -> str:
    out: List[str] = []
    out.append(f"A: run {a.run_id} of {term(a.path)}: {term(a.command) or '?'}")
    out.append(f"B: run {b.run_id} of {term(b.path)}: {term(b.command) or '?'}")
    for s, label in ((a, "A"), (b, "B")):
        if s.lost or s.lost_unknown:
            n = (f"{s.lost} + an unknown number of" if s.lost else "an unknown number of") \
                if s.lost_unknown else str(s.lost)
            out.append(f"   {label} lost {n} events: figures near the losses may be wrong")
    out.append("")
    out.append(f"  {'':20} {'A':>12} {'B':>12}  change")
    for f in figures(a, b):
        out.append(f"  {f.label:20} {f.fmt(f.a):>12} {f.fmt(f.b):>12}  {f.change()}")
    out.append("")
    out.append(f"  {verdict(a, b)}")
    out.append("")
    out.append("  Threads, matched by name (held and waiting: % of each run's wall time):")
    out.append(f"  {'NAME':24} {'N':>5} {'HELD A':>7} {'HELD B':>7} {'WAIT A':>7} {'WAIT B':>7} "
               f"{'HOLDS A':>8} {'HOLDS B':>8}")
    for r in thread_rows(a, b):
        name = term(r.name)
        if len(name) > 24:
            name = name[:10] + "..." + name[-11:]
        n = f"{(r.a or {}).get('count', 0)}/{(r.b or {}).get('count', 0)}"
        out.append(f"  {name:24} {n:>5} "
                   f"{fmt_pct(_pct_of((r.a or {}).get('held_ns'), a.wall_ns)) if r.a else 'absent':>7} "
                   f"{fmt_pct(_pct_of((r.b or {}).get('held_ns'), b.wall_ns)) if r.b else 'absent':>7} "
                   f"{fmt_pct(_pct_of((r.a or {}).get('wait_ns'), a.wall_ns)) if r.a else '':>7} "
                   f"{fmt_pct(_pct_of((r.b or {}).get('wait_ns'), b.wall_ns)) if r.b else '':>7} "
                   f"{fmt_num((r.a or {}).get('holds')) if r.a else '':>8} "
                   f"{fmt_num((r.b or {}).get('holds')) if r.b else '':>8}")
    out.append("")
    if a.sites is None or b.sites is None:
        which = " and ".join(l for l, s in (("A", a), ("B", b)) if s.sites is None)
        out.append(f"  Code sites: {which} {'has' if len(which) == 1 else 'have'} no code attribution "
                   "(code_sites): nothing to compare per site.")
    else:
        out.append("  Code sites (file:function), the busiest of either run:")
        out.append(f"  {'SITE':34} {'HELD A':>9} {'HELD B':>9} {'WAIT A':>9} {'WAIT B':>9}")
        for r in site_rows(a, b):
            name = term(r.name)
            if len(name) > 34:
                name = name[:12] + "..." + name[-19:]
            out.append(f"  {name:34} {fmt_dur((r.a or {}).get('held_ns')) if r.a else 'absent':>9} "
                       f"{fmt_dur((r.b or {}).get('held_ns')) if r.b else 'absent':>9} "
                       f"{fmt_dur((r.a or {}).get('wait_ns')) if r.a else '':>9} "
                       f"{fmt_dur((r.b or {}).get('wait_ns')) if r.b else '':>9}")
    return "\n".join(out) + "\n"


# --- the page ---------------------------------------------------------------------

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2433; margin: 0;
  background: #f5f6f8; }
header { background: #161d2b; color: #e9edf5; padding: 18px 28px; }
header h1 { margin: 4px 0; font-size: 20px; }
header .runs div { font-family: ui-monospace, monospace; font-size: 12px; color: #b8c2d6; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 40px; }
section { background: #fff; border: 1px solid #dde2ea; border-radius: 8px; padding: 14px 18px; margin: 14px 0; }
h2 { font-size: 16px; margin: 0 0 10px; }
.verdict { font-size: 17px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #eef0f4; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.better { color: #1d7a43; } td.worse { color: #b3261e; }
td.name { max-width: 26em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.note { color: #5b6475; }
"""

# For each figure: does a rise make things better (+1), worse (-1), or neither (0)?
DIRECTION = {"wall time": -1, "contention": -1, "time waiting": -1, "switches/s": -1, "drop requests/s": -1,
             "wait p50": -1, "wait p99": -1, "hand-off overhead": -1, "  of the wall time": -1, "convoys": -1}


def html_report(a: Side, b: Side, version: str) -> str:
    e = lambda s: html.escape("" if s is None else str(s), quote=True)  # noqa: E731
    rows = []
    for f in figures(a, b):
        cls = ""
        d = DIRECTION.get(f.label, 0)
        if d and f.a is not None and f.b is not None and f.a != f.b:
            cls = "better" if (f.b - f.a) * d > 0 else "worse"
        rows.append(f"<tr><td>{e(f.label.strip())}</td><td>{e(f.fmt(f.a))}</td><td>{e(f.fmt(f.b))}</td>"
                    f'<td class="{cls}">{e(f.change())}</td></tr>')
    threads = []
    for r in thread_rows(a, b):
        ta, tb = r.a or {}, r.b or {}
        threads.append(
            f'<tr><td class="name" title="{e(r.name)}">{e(r.name)}</td><td>{ta.get("count", 0)}/{tb.get("count", 0)}</td>'
            f"<td>{e(fmt_pct(_pct_of(ta.get('held_ns'), a.wall_ns)) if r.a else 'absent')}</td>"
            f"<td>{e(fmt_pct(_pct_of(tb.get('held_ns'), b.wall_ns)) if r.b else 'absent')}</td>"
            f"<td>{e(fmt_pct(_pct_of(ta.get('wait_ns'), a.wall_ns)) if r.a else '')}</td>"
            f"<td>{e(fmt_pct(_pct_of(tb.get('wait_ns'), b.wall_ns)) if r.b else '')}</td>"
            f"<td>{e(fmt_num(ta.get('holds')) if r.a else '')}</td><td>{e(fmt_num(tb.get('holds')) if r.b else '')}</td></tr>")
    if a.sites is None or b.sites is None:
        sites = '<p class="note">No code attribution (code_sites) in ' + \
                e(" and ".join(l for l, s in (("A", a), ("B", b)) if s.sites is None)) + ": nothing to compare per site.</p>"
    else:
        srows = "".join(
            f'<tr><td class="name" title="{e(r.name)}">{e(r.name)}</td>'
            f"<td>{e(fmt_dur((r.a or {}).get('held_ns')) if r.a else 'absent')}</td>"
            f"<td>{e(fmt_dur((r.b or {}).get('held_ns')) if r.b else 'absent')}</td>"
            f"<td>{e(fmt_dur((r.a or {}).get('wait_ns')) if r.a else '')}</td>"
            f"<td>{e(fmt_dur((r.b or {}).get('wait_ns')) if r.b else '')}</td></tr>" for r in site_rows(a, b))
        sites = ("<table><thead><tr><th>file:function</th><th>held A</th><th>held B</th><th>waiting A</th>"
                 f"<th>waiting B</th></tr></thead><tbody>{srows}</tbody></table>")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="generator" content="gilscope {e(version)}">
<title>gilscope diff</title>
<style>{CSS}</style>
</head>
<body>
<header><div>gilscope · comparing two runs</div><h1>{e(verdict(a, b))}</h1>
<div class="runs"><div>A: run {a.run_id} of {e(a.path)}: {e(a.command)}</div>
<div>B: run {b.run_id} of {e(b.path)}: {e(b.command)}</div></div></header>
<main>
<section id="figures"><h2>Headline figures</h2>
<table><thead><tr><th></th><th>A</th><th>B</th><th>change</th></tr></thead><tbody>{"".join(rows)}</tbody></table>
<p class="note">Green: better in B; red: worse. GIL held is neither: it is the share of time Python code ran.</p>
</section>
<section id="threads"><h2>Threads, matched by name</h2>
<table><thead><tr><th>name</th><th>threads A/B</th><th>held A</th><th>held B</th><th>waiting A</th><th>waiting B</th>
<th>holds A</th><th>holds B</th></tr></thead><tbody>{"".join(threads)}</tbody></table>
<p class="note">Held and waiting: % of each run's wall time, summed over the threads of that name.</p>
</section>
<section id="sites"><h2>Code sites</h2>{sites}</section>
</main>
</body>
</html>
"""


def main(argv: Optional[List[str]] = None) -> int:
    ap = command_parser(PROG, "Compares two runs (A, the baseline, and B): the headline figures side by "
                        "side with their change, the threads matched by name, the code sites when both "
                        "runs have them, and a verdict.", EXAMPLES)
    ap.add_argument("a", metavar="A.db", help="the baseline database")
    ap.add_argument("b", metavar="B.db", help="the database to compare with it")
    ap.add_argument("--run-a", type=int, metavar="N", help="the run of A (default: the latest)")
    ap.add_argument("--run-b", type=int, metavar="N", help="the run of B (default: the latest)")
    ap.add_argument("--html", metavar="FILE", help="also write the comparison as a page")
    args = ap.parse_args(argv)
    return run_command(PROG, lambda: _diff(args))


def _diff(args: argparse.Namespace) -> int:
    a = load_side(args.a, args.run_a)
    b = load_side(args.b, args.run_b)
    sys.stdout.write(text_report(a, b))
    if args.html:
        with open_output(args.html, prefix=".gilscope-diff-") as f:
            f.write(html_report(a, b, os.environ.get("GILSCOPE_VERSION", "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
