"""bench/probes_variant.py: a copy of the tracer whose provider library
registers other event types, for `workload.py spawn-ab` (issue 12, the
start-up's registration with the session daemon: one round trip per
enabled event type).

    python3 bench/probes_variant.py BUILD OUT [--dummies N] [--drop NAME...] [--keep NAME...]
                                    [--late-on-hold]

BUILD is a build directory of this tree (its libgilscope-preload.so is
copied as is); OUT receives that preload and a libgilscope-probes.so built
from tracer/gilscope_tp.h with N never-fired `gilscope:dummyNN` events of
the gil_seq class added, and/or the named events removed (--drop) or all
but the named kept (--keep). The preload then finds that provider beside
it: `LD_PRELOAD=OUT/libgilscope-preload.so` in a spawn-ab variant.

An event type missing from the provider is never enabled, and the tracer
captures a GIL event only while its own type is enabled (request, acquire,
release: preload.c, pev_enabled), so --keep without them records no GIL
event at all: --dummies alone changes the registration and nothing else.

The tracer writes a whole hold as one `hold` record only while take_for
and acquire_for are enabled too (preload.c, late_enabled: a hold that
lasts is written by another thread): --late-on-hold builds the preload
too, from a copy whose late_enabled reads `hold` alone, so that a --keep
without take_for and acquire_for still records the same holds (a hold
that outlasts a waiter's timeout is then lost: for start-up figures only).
Since gilscope:rare (session 18) carries take_for and acquire_for,
late_enabled reads `rare`, which no variant can leave out: --late-on-hold
applies to the earlier layout only, and says so.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.dirname(HERE)
EVENT = re.compile(r"^LTTNG_UST_TRACEPOINT_EVENT(_INSTANCE)?\(", re.M)


def event_blocks(text: str) -> list:
    """(start, end, name) of each event and event instance macro."""
    blocks = []
    for m in EVENT.finditer(text):
        depth, j = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        args = [a.strip() for a in text[m.end():j].split(",")]
        blocks.append((m.start(), j, args[3] if m.group(1) else args[1]))
    return blocks


def edit_header(text: str, dummies: int, drop: set, keep: set) -> str:
    out, pos = [], 0
    for start, end, name in event_blocks(text):
        out.append(text[pos:start])
        if not (name in drop or (keep and name not in keep)):
            out.append(text[start:end])
        pos = end
    out.append(text[pos:])
    text = "".join(out)
    add = "".join("LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(gilscope, gil_seq, gilscope, dummy%02d,\n"
                  "\tLTTNG_UST_TP_ARGS(const uint64_t *, state))\n" % i for i in range(dummies))
    end = "#endif /* GILSCOPE_TP_H */"
    if end not in text:
        sys.exit("probes_variant: no %r in gilscope_tp.h" % end)
    return text.replace(end, add + end)


def late_on_hold(path: str) -> None:
    """preload.c's late_enabled reading `hold` alone (--late-on-hold)."""
    with open(path) as f:
        text = f.read()
    old = ("\treturn lttng_ust_tracepoint_enabled(gilscope, take_for) &&\n"
           "\t       lttng_ust_tracepoint_enabled(gilscope, acquire_for);\n")
    if old not in text:
        sys.exit("probes_variant: --late-on-hold: late_enabled reads take_for and "
                 "acquire_for in the layout before gilscope:rare only; this preload.c's does not")
    with open(path, "w") as f:
        f.write(text.replace(old, "\treturn lttng_ust_tracepoint_enabled(gilscope, hold);\n"))


def build_step(cmd: list) -> None:
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        sys.exit("probes_variant: %s failed:\n%s" % (" ".join(cmd), r.stderr))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("out")
    ap.add_argument("--dummies", type=int, default=0)
    ap.add_argument("--drop", nargs="*", default=[])
    ap.add_argument("--keep", nargs="*", default=[])
    ap.add_argument("--late-on-hold", action="store_true")
    a = ap.parse_args()
    preload = os.path.join(a.build, "lib", "gilscope", "libgilscope-preload.so")
    if not os.path.exists(preload):
        sys.exit("probes_variant: no %s (build the tree first)" % preload)
    with tempfile.TemporaryDirectory(prefix="gs-probes-") as tmp:
        src = os.path.join(tmp, "src")
        shutil.copytree(TREE, src, ignore=shutil.ignore_patterns(".git", "build*"))
        bdir = os.path.join(tmp, "build")
        steps = [["cmake", "-S", src, "-B", bdir, "-DGILSCOPE_WERROR=OFF"]]
        if a.late_on_hold:
            # The preload with every event type: built before the header's edit.
            late_on_hold(os.path.join(src, "tracer", "preload.c"))
            steps.append(["cmake", "--build", bdir, "--target", "gilscope_preload"])
        for cmd in steps:
            build_step(cmd)
        if a.late_on_hold:
            preload = os.path.join(tmp, "libgilscope-preload.so")
            shutil.copy2(os.path.join(bdir, "lib", "gilscope", "libgilscope-preload.so"), preload)
        hdr = os.path.join(src, "tracer", "gilscope_tp.h")
        with open(hdr) as f:
            text = f.read()
        with open(hdr, "w") as f:
            f.write(edit_header(text, a.dummies, set(a.drop), set(a.keep)))
        build_step(["cmake", "--build", bdir, "--target", "gilscope_probes"])
        os.makedirs(a.out, exist_ok=True)
        shutil.copy2(preload, a.out)
        shutil.copy2(os.path.join(bdir, "lib", "gilscope", "libgilscope-probes.so"), a.out)
    print("probes_variant: %s: LD_PRELOAD=%s" % (a.out, os.path.join(a.out, "libgilscope-preload.so")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
