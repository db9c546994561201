"""`gilscope export`: a run as a Perfetto trace (protobuf TrackEvent), or as
Chrome JSON trace events. Run by cli/export.c."""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List, Optional

from . import data, perfetto, timeline
from .output import command_parser, open_output, run_command

PROG = "gilscope export"

EXAMPLES = """\
examples:
  gilscope export run.db -o run.pftrace              # open it in https://ui.perfetto.dev
  gilscope export run.db -o run.json --format json   # Chrome trace events (chrome://tracing)
  gilscope export run.db -o run2.pftrace --run-id 2  # a run added with analyze --append

Every hold, wait and forced switch becomes a slice on its thread's track,
drop requests and time-outs instants, drop request -> release and
release -> next acquire flows, and each GIL gets two counter tracks (held %
and threads waiting). docs/export.md tells more."""


def main(argv: Optional[List[str]] = None) -> int:
    ap = command_parser(PROG, "Writes a run of a gilscope database as a trace for Perfetto's UI "
                        "(protobuf TrackEvent, the default) or for viewers of Chrome's JSON "
                        "trace events, every interval included, reading the database as it "
                        "writes (memory stays flat however long the run).", EXAMPLES)
    ap.add_argument("db", help="database written by `gilscope analyze`")
    ap.add_argument("-o", "--output", required=True, metavar="FILE",
                    help="trace to write ('-': standard output); replaced atomically")
    ap.add_argument("--format", choices=("perfetto", "json"), default=None,
                    help="perfetto (protobuf, the default) or json (Chrome trace events); "
                         "default: json when FILE ends in .json")
    ap.add_argument("--run-id", type=int, metavar="N", help="the run to export (default: the latest)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    args = ap.parse_args(argv)
    return run_command(PROG, lambda: _export(args))


def _export(args: argparse.Namespace) -> int:
    fmt = args.format or ("json" if args.output.endswith(".json") else "perfetto")
    t_start = time.monotonic()
    conn = data.open_db(args.db)
    try:
        run_id = data.pick_run(conn, args.run_id, args.db)
        walker = timeline.Walker(conn, run_id)
        if fmt == "perfetto":
            with open_output(args.output, binary=True, prefix=".gilscope-export-") as out:
                totals = walker.walk(perfetto.PerfettoSink(out))
        else:
            with open_output(args.output, prefix=".gilscope-export-") as out:
                jsink = perfetto.JsonSink(out)
                jsink.start()
                totals = walker.walk(jsink)
                jsink.finish({"generator": "gilscope " + os.environ.get("GILSCOPE_VERSION", ""),
                              "database": args.db, "run_id": run_id})
    finally:
        conn.close()
    if not args.quiet and args.output != "-":
        size = os.path.getsize(args.output) if os.path.isfile(args.output) else 0
        print(f"{PROG}: wrote {args.output} ({fmt}, {size / 1e6:.1f} MB, {time.monotonic() - t_start:.1f} s; "
              f"run {run_id}: {totals.holds} holds, {totals.waits} waits, {totals.forced} forced switches, "
              f"{totals.drops} drop requests, {totals.handoffs} hand-offs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
