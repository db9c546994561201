"""`gilscope report`: the command line. Run by cli/report_cmd.c, or as
`python3 -m gilscope_report` with report/ on sys.path."""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

if sys.version_info < (3, 9):  # pragma: no cover
    sys.exit("gilscope report: needs Python 3.9 or newer, this is " + sys.version.split()[0])

from . import data, render  # noqa: E402
from .output import open_output  # noqa: E402

PROG = "gilscope report"

EXAMPLES = """\
examples:
  gilscope report run.db -o report.html          # the latest run in run.db
  gilscope report run.db -o run2.html --run-id 2 # a run added with --append
  gilscope report run.db -o r.html --title "countdown, 2 threads"

The page is self-contained (no network): open it in any browser.
docs/report.md tells how to read it."""


def write_atomic(path: str, text: str) -> None:
    """Writes text to path so that a reader never sees half a page
    (output.open_output says how)."""
    with open_output(path, prefix=".gilscope-report-") as f:
        f.write(text)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="Writes the HTML report of a gilscope database: Beazley's GIL diagram "
                    "for Python 3 (one lane per thread), headline metrics, a per-thread "
                    "table, histograms and findings, in one self-contained page.")
    ap.add_argument("db", help="database written by `gilscope analyze`")
    ap.add_argument("-o", "--output", default="report.html", metavar="HTML",
                    help="page to write (default: report.html; '-': standard output); "
                         "replaced atomically")
    ap.add_argument("--run-id", type=int, metavar="N", help="the run to show (default: the latest)")
    ap.add_argument("--title", metavar="T", help="page title (default: the recorded command)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    args = ap.parse_args(argv)
    try:
        model = data.load(args.db, args.run_id, args.title)
        page = render.render(model, os.environ.get("GILSCOPE_VERSION", ""))
        write_atomic(args.output, page)
    except data.ReportError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if not args.quiet and args.output != "-" and os.path.isfile(args.output):
        size = len(page.encode("utf-8"))
        print(f"{PROG}: wrote {args.output} ({size / 1e6:.1f} MB; run {model['run']['run_id']}, "
              f"{len(model['lanes'])} lanes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
