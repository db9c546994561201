"""The tracer's shared tables of code objects and stacks (tracer/attrib.c),
past their small first part: each code object and each stack gets one id
for its whole life, however many of them a process meets.

The tables are looked in and filled from a small part first (a start-up's
few dozen entries then touch a few pages, not the whole table) and from the
rest once that part has no room: a lookup that missed an entry in either
part would give a code object, or a stack, a second id and a second
description. The program makes N functions (distinct code objects, kept
alive: more than either first part holds, and more than a thread's own
caches) and calls each of them twice, in two passes from one call site;
each call's os.read releases and takes the GIL. Checks, in the trace:
every generated function is described by exactly one `code` event, every
stack whose innermost frame is one of them by exactly one `stack` event,
and each call's release names its own function, with the same code and
stack ids in both passes.
"""
import collections
import json

import gstest

N = 1200

PROGRAM = r'''
import json, os, sys
N = int(sys.argv[2])
r, w = os.pipe()
os.write(w, b"x" * (2 * N + 40))
fns = []
for i in range(N):
    ns = {"os": os, "r": r}
    exec(compile("def gen_%04d():\n    os.read(r, 1)\n" % i, "gen_%04d.py" % i, "exec"), ns)
    fns.append(ns["gen_%04d" % i])


def drive():
    for p in range(2):
        for fn in fns:
            fn()


drive()
with open(sys.argv[1], "w") as out:
    json.dump(N, out)
'''


def main() -> None:
    label, exe, _, _ = gstest.attributed_python_arg()
    # Alone: a session that starts beside it (another test's recording)
    # resyncs this process, which then rightly describes its code objects
    # and stacks again, for that session (seen in CI: 672 codes twice).
    gstest.private_lttng()
    out = gstest.tmpdir()
    prog = out / "table.py"
    prog.write_text(PROGRAM)
    trace_dir = out / "trace"
    res = gstest.record([str(exe), str(prog), str(out / "done.json"), str(N)], trace_dir)
    gstest.check("without their code location" not in res.stderr,
                 "the tracer knows this interpreter's frames")
    gstest.check(json.loads((out / "done.json").read_text()) == N, "the program ran to its end")
    info = gstest.info(trace_dir)
    trace = gstest.own_events(gstest.read_trace(trace_dir), int(info["tag"]))
    gstest.check(trace.discarded == 0, f"no event lost ({trace.discarded})")

    codes = collections.defaultdict(list)   # generated function name -> its code ids
    code_name = {}
    for e in trace.named("code"):
        code_name[e.fields["id"]] = e.fields["name"]
        if e.fields["name"].startswith("gen_"):
            codes[e.fields["name"]].append(e.fields["id"])
    twice = {n: ids for n, ids in codes.items() if len(ids) != 1}
    gstest.check(len(codes) == N and not twice,
                 f"each of the {N} generated functions is described once: {len(codes)} described, "
                 f"{len(twice)} more than once (e.g. {sorted(twice.items())[:3]})")

    stacks = collections.Counter()          # innermost generated code id -> its stack events
    for e in trace.named("stack"):
        inner = e.fields["codes"][0] if e.fields["codes"] else 0
        if code_name.get(inner, "").startswith("gen_"):
            stacks[inner] += 1
    more = {code_name[c]: n for c, n in stacks.items() if n != 1}
    gstest.check(len(stacks) == N and not more,
                 f"each generated function's stack is described once: {len(stacks)} described, "
                 f"{len(more)} more than once (e.g. {sorted(more.items())[:3]})")

    # The releases in the generated functions, in the order they were made:
    # pass 1 then pass 2, each function in turn.
    rel = [(code_name[e.fields["code"]], e.fields["code"], e.fields["stack"])
           for e in trace.named("release")
           if code_name.get(e.fields["code"], "").startswith("gen_")]
    want = [f"gen_{i:04d}" for i in range(N)] * 2
    gstest.check([r[0] for r in rel] == want,
                 f"each call's release names its own function, in call order ({len(rel)} of {2 * N})")
    gstest.check(rel[:N] == rel[N:],
                 "the second pass has the first's code and stack ids, call for call")
    print(f"PASSED: code and stack tables ({label})")


if __name__ == "__main__":
    main()
