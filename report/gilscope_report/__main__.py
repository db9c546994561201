"""`gilscope report`: the command line. Run by cli/report.c, or as
`python3 -m gilscope_report` with report/ on sys.path."""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Tuple

if sys.version_info < (3, 9):  # pragma: no cover
    sys.exit("gilscope report: needs Python 3.9 or newer, this is " + sys.version.split()[0])

from . import data, render  # noqa: E402
from .output import command_parser, open_output, run_command  # noqa: E402

PROG = "gilscope report"

EXAMPLES = """\
examples:
  gilscope report run.db -o report.html          # the latest run in run.db
  gilscope report run.db -o run2.html --run-id 2 # a run added with --append
  gilscope report run.db -o r.html --title "countdown, 2 threads"
  gilscope report run.db -o w.html --window 12s:12.5s   # one stretch, every interval

The page is self-contained (no network): open it in any browser.
docs/report.md tells how to read it."""


def write_atomic(path: str, text: str) -> None:
    """Writes text to path so that a reader never sees half a page
    (output.open_output says how)."""
    with open_output(path, prefix=".gilscope-report-") as f:
        f.write(text)


UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


def parse_time(text: str) -> int:
    """'12.5s', '300ms', '40us', '1000ns' or '2' (seconds) -> ns."""
    t = text.strip()
    for unit in ("ns", "us", "µs", "ms", "s"):
        if t.endswith(unit):
            number, scale = t[:-len(unit)], UNITS[unit]
            break
    else:
        number, scale = t, UNITS["s"]
    value = float(number)
    if value != value or value < 0 or value == float("inf"):
        raise ValueError(text)
    return round(value * scale)


def parse_window(text: str) -> Tuple[int, int]:
    """'START:END' from the run's first event -> (start_ns, end_ns)."""
    start, sep, end = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: START:END, e.g. 12s:12.5s")
    try:
        a, b = parse_time(start) if start else 0, parse_time(end)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: times are numbers with ns, us, ms or s (default s)") from None
    if b <= a:
        raise argparse.ArgumentTypeError(f"{text!r}: the end must come after the start")
    return a, b


def main(argv: Optional[List[str]] = None) -> int:
    ap = command_parser(PROG, "Writes the HTML report of a gilscope database: Beazley's GIL diagram "
                        "for Python 3 (one lane per thread), headline metrics, a per-thread "
                        "table, histograms and findings, in one self-contained page.", EXAMPLES)
    ap.add_argument("db", help="database written by `gilscope analyze`")
    ap.add_argument("-o", "--output", default="report.html", metavar="HTML",
                    help="page to write (default: report.html; '-': standard output); "
                         "replaced atomically")
    ap.add_argument("--run-id", type=int, metavar="N", help="the run to show (default: the latest)")
    ap.add_argument("--title", metavar="T", help="page title (default: the recorded command)")
    ap.add_argument("--window", type=parse_window, metavar="START:END",
                    help="only this stretch of the run, times from its first event (12s:12.5s, "
                         "1500ms:2s; no unit: seconds), with every interval in it")
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    args = ap.parse_args(argv)
    return run_command(PROG, lambda: _report(args))


def _report(args: argparse.Namespace) -> int:
    model = data.load(args.db, args.run_id, args.title, args.window)
    page = render.render(model, os.environ.get("GILSCOPE_VERSION", ""))
    write_atomic(args.output, page)
    if not args.quiet and args.output != "-" and os.path.isfile(args.output):
        size = len(page.encode("utf-8"))
        sm = model.get("summary")
        how = (f"; {sm['intervals']} intervals summarised, {sm['detail_intervals']} in full in "
               f"{len(sm['windows'])} windows") if sm else ""
        print(f"{PROG}: wrote {args.output} ({size / 1e6:.1f} MB; run {model['run']['run_id']}, "
              f"{len(model['lanes'])} lanes{how})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
