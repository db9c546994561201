"""`gilscope export` on real recordings, checked with the formats' own tools.

Records samples/countdown.py (two threads; two processes) under `gilscope
record`, analyzes it, exports it, and decodes the Perfetto trace with
`protoc --decode=perfetto.protos.Trace` against perfetto_trace.proto (the
subset of Perfetto's protos gilscope writes). Then checks, against the
database: one slice per hold, wait and forced switch (begin and end on the
thread's track, the same count by name), one instant per drop request and
time-out, every flow begun is ended (drop request -> release, release ->
acquire, one per hand-off), a thread track per thread with its name and a
process track per process, two counter tracks per GIL, interned names
declared on the first packet of sequence 1 (SEQ_INCREMENTAL_STATE_CLEARED)
and every later packet flagged SEQ_NEEDS_INCREMENTAL_STATE, time order
within each sequence, no field outside the schema. The JSON export is
read back with Python's json and checked the same way. Last, the errors:
one line and exit 1, no file left behind.
"""
from __future__ import annotations

import collections
import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
from gstest import check, fail, gilscope, skip, source_dir, tmpdir  # noqa: E402
from recorded import recorded_db  # noqa: E402

PROTO = HERE / "perfetto_trace.proto"
COUNT = "3000000"

Node = Dict[str, List[Any]]


def parse_text(text: str) -> Node:
    """protoc's text format -> {field: [values or nodes]}."""
    root: Node = collections.defaultdict(list)
    stack = [root]
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
            continue
        if line.endswith("{"):
            node: Node = collections.defaultdict(list)
            stack[-1][line[:-1].strip()].append(node)
            stack.append(node)
            continue
        key, _, value = line.partition(": ")
        if value.startswith('"'):
            value = json.loads(value) if "\\" not in value else value[1:-1]
        stack[-1][key].append(value)
    return root


def one(node: Node, key: str, default: Any = None) -> Any:
    v = node.get(key)
    return v[0] if v else default


def decode(path: Path) -> List[Node]:
    with open(path, "rb") as f:
        res = subprocess.run(["protoc", f"--proto_path={HERE}", "--decode=perfetto.protos.Trace", PROTO.name],
                             stdin=f, capture_output=True, text=True, timeout=300)
    check(res.returncode == 0, f"protoc decodes {path.name} ({res.stderr.strip()[:300]})")
    unknown = [l for l in res.stdout.splitlines() if re.match(r"\s*\d+\s*[:{]", l)]
    check(not unknown, f"no field outside the schema in {path.name} ({unknown[:3]})")
    return parse_text(res.stdout)["packet"]


def db_facts(db: Path) -> Dict[str, Any]:
    c = sqlite3.connect(str(db))
    run = c.execute("SELECT MAX(run_id) FROM runs").fetchone()[0]

    def n(sql: str) -> int:
        return c.execute(sql, (run,)).fetchone()[0]

    facts = {
        "holds": n("SELECT COUNT(*) FROM holds WHERE run_id = ?"),
        "waits": n("SELECT COUNT(*) FROM waits WHERE run_id = ?"),
        "forced": n("SELECT COUNT(*) FROM forced_switches WHERE run_id = ?"),
        "drops": n("SELECT COUNT(*) FROM drop_requests WHERE run_id = ?"),
        "drops_released": n("SELECT COUNT(*) FROM drop_requests WHERE run_id = ? AND released_ns IS NOT NULL"),
        "timeouts": n("SELECT COUNT(*) FROM timeouts WHERE run_id = ?"),
        "switches": n("SELECT COUNT(*) FROM switches WHERE run_id = ?"),
        "gils": n("SELECT COUNT(DISTINCT gil_id) FROM holds WHERE run_id = ?"),
        "sites": n("SELECT COUNT(*) FROM holds WHERE run_id = ? AND end_site_id IS NOT NULL"),
        "threads": {(r[0], r[1]): r[2] for r in c.execute("SELECT pid, tid, name FROM threads WHERE run_id = ?",
                                                          (run,))},
        "pids": {r[0] for r in c.execute("SELECT pid FROM processes WHERE run_id = ?", (run,))},
        "first_hold": c.execute("SELECT h.start_ns, h.end_ns, h.tid FROM holds h WHERE run_id = ? "
                                "ORDER BY start_ns LIMIT 1", (run,)).fetchone(),
    }
    c.close()
    return facts


def check_perfetto(path: Path, facts: Dict[str, Any], what: str) -> None:
    packets = decode(path)
    check(len(packets) > 10, f"{what}: the trace has packets ({len(packets)})")
    # sequences: the first packet of each clears the incremental state
    first_of: Dict[str, Node] = {}
    for p in packets:
        seq = one(p, "trusted_packet_sequence_id")
        if seq is None:
            fail(f"{what}: a packet without trusted_packet_sequence_id: {dict(p)}")
        first_of.setdefault(seq, p)
    want = {str(i) for i in range(1, 3 + facts["gils"])}
    check(set(first_of) == want, f"{what}: 2 + one per GIL packet sequences ({sorted(first_of)})")
    check(all(one(p, "sequence_flags") == "1" for p in first_of.values()),
          f"{what}: each sequence starts with SEQ_INCREMENTAL_STATE_CLEARED")
    interned = [p for p in packets if "interned_data" in p]
    check(len(interned) == 1 and interned[0] is first_of["1"], f"{what}: names are interned once, on sequence 1")
    names = {one(e, "iid"): one(e, "name") for e in interned[0]["interned_data"][0]["event_names"]}
    cats = {one(e, "iid"): one(e, "name") for e in interned[0]["interned_data"][0]["event_categories"]}
    anames = {one(e, "iid") for e in interned[0]["interned_data"][0]["debug_annotation_names"]}
    site_iid = next((one(e, "iid") for e in interned[0]["interned_data"][0]["debug_annotation_names"]
                     if one(e, "name") == "released at"), None)
    site_args = 0
    check(cats == {"1": "gil"}, f"{what}: one category, gil ({cats})")

    tracks: Dict[str, Node] = {}
    for p in packets:
        if "track_descriptor" in p:
            d = p["track_descriptor"][0]
            tracks[one(d, "uuid")] = d
    threads = {(int(one(d["thread"][0], "pid")), int(one(d["thread"][0], "tid"))): one(d["thread"][0], "thread_name")
               for d in tracks.values() if "thread" in d}
    procs = {int(one(d["process"][0], "pid")) for d in tracks.values() if "process" in d}
    for key, name in facts["threads"].items():
        if key not in threads:
            fail(f"{what}: no thread track for {key} ({sorted(threads)})")
        if name is not None and threads[key] != name:
            fail(f"{what}: thread {key} is named {threads[key]!r}, the database says {name!r}")
    check(True, f"{what}: a thread track per thread ({len(facts['threads'])}), named as in the database")
    check(facts["pids"] <= procs, f"{what}: a process track per process ({sorted(facts['pids'])} in {sorted(procs)})")
    counters = [d for d in tracks.values() if "counter" in d]
    check(len(counters) == 2 * facts["gils"] and all(one(d, "parent_uuid") in tracks for d in counters),
          f"{what}: two counter tracks per GIL, under their process ({len(counters)})")

    begins: collections.Counter = collections.Counter()
    ends = 0
    instants: collections.Counter = collections.Counter()
    open_on: Dict[str, List[str]] = collections.defaultdict(list)
    flows_out: set = set()
    flows_in: set = set()
    last_ts: Dict[str, int] = {}
    counter_events = 0
    first_hold = None
    for p in packets:
        if "track_event" not in p:
            continue
        seq = one(p, "trusted_packet_sequence_id")
        if one(p, "sequence_flags") != "2":
            fail(f"{what}: a track event without SEQ_NEEDS_INCREMENTAL_STATE: {dict(p)}")
        ts = int(one(p, "timestamp"))
        if ts < last_ts.get(seq, 0):
            fail(f"{what}: time goes back on sequence {seq}: {ts} after {last_ts[seq]}")
        last_ts[seq] = ts
        e = p["track_event"][0]
        typ, track = one(e, "type"), one(e, "track_uuid")
        if track not in tracks:
            fail(f"{what}: an event on an undescribed track {track}")
        for a in e.get("debug_annotations", []):
            if one(a, "name_iid") == site_iid:
                site_args += 1
            if one(a, "name_iid") not in anames:
                fail(f"{what}: an argument name not interned: {dict(a)}")
        flows_out.update(e.get("flow_ids", []))
        flows_in.update(e.get("terminating_flow_ids", []))
        if typ == "TYPE_SLICE_BEGIN":
            name = names.get(one(e, "name_iid"))
            if name is None or one(e, "category_iids") != "1":
                fail(f"{what}: a slice with an unknown name or category: {dict(e)}")
            begins[name] += 1
            open_on[track].append(name)
            if name == "holding GIL" and first_hold is None:
                first_hold = (ts, track)
        elif typ == "TYPE_SLICE_END":
            if not open_on[track]:
                fail(f"{what}: a slice end with no open slice on track {track} at {ts}")
            open_on[track].pop()
            ends += 1
        elif typ == "TYPE_INSTANT":
            instants[names.get(one(e, "name_iid"))] += 1
        elif typ == "TYPE_COUNTER":
            counter_events += 1
            if seq == "1":
                fail(f"{what}: a counter on the slices' sequence")
    print(f"{what}: slices {dict(begins)}, instants {dict(instants)}, {counter_events} counter values, "
          f"{len(flows_out)} flows")
    check(begins["holding GIL"] == facts["holds"], f"{what}: one 'holding GIL' slice per hold "
          f"({begins['holding GIL']} vs {facts['holds']})")
    check(begins["waiting for GIL"] == facts["waits"], f"{what}: one 'waiting for GIL' slice per wait "
          f"({begins['waiting for GIL']} vs {facts['waits']})")
    check(begins["forced switch: waiting for hand-off"] == facts["forced"],
          f"{what}: one forced-switch slice per forced switch ({facts['forced']})")
    check(ends == sum(begins.values()) and not any(open_on.values()), f"{what}: every slice ends ({ends})")
    check(instants["drop request"] == facts["drops"] and instants["wait timed out"] == facts["timeouts"],
          f"{what}: an instant per drop request ({facts['drops']}) and per time-out ({facts['timeouts']})")
    check(flows_out == flows_in, f"{what}: every flow that starts ends ({len(flows_out - flows_in)} open, "
          f"{len(flows_in - flows_out)} never started)")
    check(len(flows_out) >= facts["switches"] and len(flows_out) <= facts["switches"] + facts["drops_released"],
          f"{what}: a flow per hand-off ({facts['switches']}) and per answered drop request "
          f"({facts['drops_released']}): {len(flows_out)}")
    check(counter_events > 0, f"{what}: the counters have values")
    if facts["sites"]:
        check(site_args > 0, f"{what}: code sites ride on the slices as arguments ({site_args})")
    start, _, tid = facts["first_hold"]
    th = [u for u, d in tracks.items() if "thread" in d and int(one(d["thread"][0], "tid")) == tid]
    check(first_hold is not None and first_hold[0] == start and first_hold[1] in th,
          f"{what}: the first hold is at its database time on its thread's track")


def check_json(path: Path, facts: Dict[str, Any], what: str) -> None:
    doc = json.loads(path.read_text())
    check(isinstance(doc, dict) and isinstance(doc.get("traceEvents"), list),
          f"{what}: a JSON object with traceEvents")
    evs = doc["traceEvents"]
    by = collections.Counter((e["ph"], e.get("name")) for e in evs)
    check(by[("X", "holding GIL")] == facts["holds"] and by[("X", "waiting for GIL")] == facts["waits"]
          and by[("X", "forced switch: waiting for hand-off")] == facts["forced"],
          f"{what}: a complete event per hold, wait and forced switch")
    check(by[("i", "drop request")] == facts["drops"] and by[("i", "wait timed out")] == facts["timeouts"],
          f"{what}: an instant per drop request and time-out")
    starts = {e["id"] for e in evs if e["ph"] == "s"}
    finishes = {e["id"] for e in evs if e["ph"] == "f"}
    check(starts == finishes and len(starts) >= facts["switches"], f"{what}: flows pair up ({len(starts)})")
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in evs if e["ph"] == "M" and e["name"] == "thread_name"}
    named = {k: v for k, v in facts["threads"].items() if v is not None}
    check(all(names.get(k) == v for k, v in named.items()), f"{what}: thread names ({len(named)})")
    bad = [e for e in evs if not isinstance(e.get("ts", 0), (int, float)) or e.get("ts", 0) < 0
           or (e["ph"] == "X" and e["dur"] < 0)]
    check(not bad, f"{what}: times are non-negative microseconds ({bad[:2]})")
    check(any(e["ph"] == "C" for e in evs), f"{what}: counters")


def export(db: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(gilscope()), "export", str(db), "-o", str(out), *extra],
                          capture_output=True, text=True, timeout=300)


def main() -> None:
    if shutil.which("protoc") is None:
        skip("protoc is not installed (Debian's protobuf-compiler: make test-deps installs it)")
    tmp = tmpdir("gilscope-export-")
    countdown = str(source_dir() / "samples" / "countdown.py")
    for mode in ("threads", "processes"):
        db = recorded_db(["/usr/bin/python3", countdown, mode, COUNT], tmp, mode)
        facts = db_facts(db)
        check(facts["holds"] > 10 and facts["waits"] > 0, f"{mode}: the recording has holds and waits")
        pf = tmp / f"{mode}.pftrace"
        res = export(db, pf)
        check(res.returncode == 0 and "wrote" in res.stdout, f"{mode}: export writes {pf.name} ({res.stderr.strip()})")
        check_perfetto(pf, facts, mode)
        js = tmp / f"{mode}.json"
        res = export(db, js, "--format", "json", "-q")
        check(res.returncode == 0 and res.stdout == "", f"{mode}: --format json writes {js.name} quietly")
        check_json(js, facts, mode)
        if mode == "processes":
            check(len(facts["pids"]) >= 3, f"processes: the parent and two children ({sorted(facts['pids'])})")

    # errors: one line, exit 1, nothing left behind
    def fails(res: subprocess.CompletedProcess, pattern: str, what: str) -> None:
        lines = res.stderr.strip().splitlines()
        check(res.returncode == 1 and len(lines) == 1 and lines[0].startswith("gilscope export: ")
              and pattern in lines[0], f"{what}: one line, exit 1 ({res.returncode}: {res.stderr.strip()!r})")

    fails(export(tmp / "missing.db", tmp / "x.pftrace"), "no such file", "a missing database")
    junk = tmp / "junk.db"
    junk.write_text("not a database\n" * 100)
    fails(export(junk, tmp / "x.pftrace"), "not a gilscope database", "a file that is not SQLite")
    fails(export(tmp / "threads.db", tmp / "no" / "dir" / "x.pftrace"), "cannot write", "a missing directory")
    fails(export(tmp / "threads.db", tmp / "x.pftrace", "--run-id", "9"), "no run 9", "a run that is not there")
    left = sorted(p.name for p in tmp.iterdir() if p.name.startswith(".gilscope"))
    check(not left and not (tmp / "x.pftrace").exists(), f"no file is left behind ({left})")
    res = subprocess.run([str(gilscope()), "export", "--help"], capture_output=True, text=True, timeout=60)
    check(res.returncode == 0 and "ui.perfetto.dev" in res.stdout and "examples:" in res.stdout,
          "--help shows examples")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
