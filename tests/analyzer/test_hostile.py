"""Hostile input and faults for analyze, summary and report (issue 13):
each gives one clear line naming what to do, a non-zero exit and no
signal, leaves no temp file and never a database another process writes
replaced under it."""
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dbcheck
import gstest
from dbcheck import check


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def gs(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([str(gstest.gilscope()), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, **(env or {})))


def one_line(res, cmd: str, words, what: str) -> None:
    lines = res.stderr.strip().splitlines()
    check(res.returncode == 1, f"{what}: exit status 1, not a signal ({res.returncode})")
    check(len(lines) == 1 and lines[0].startswith(f"gilscope {cmd}: "),
          f"{what}: one line on stderr: {res.stderr.strip()!r}")
    for w in words:
        check(w in res.stderr, f"{what}: the message says {w!r}")


def no_temp(d: Path, name: str, what: str, journal: bool = True) -> None:
    left = sorted(p.name for p in d.glob(name + ".tmp-*")) + \
        (sorted(p.name for p in d.glob(name + "-journal")) if journal else [])
    check(not left, f"{what}: no temp file or journal left ({left})")


def stream_dir(trace: Path) -> Path:
    return sorted(trace.glob("ust/uid/*/64-bit"))[0]


def corrupt_copy(good: Path, dest: Path, rel: str, edit) -> Path:
    shutil.copytree(good, dest)
    f = stream_dir(dest) / rel
    data = bytearray(f.read_bytes())
    f.write_bytes(bytes(edit(data)))
    return dest


def case_babeltrace_abort(tmp: Path, good: Path) -> None:
    """An index entry past its stream's end: libbabeltrace2 2.0 asserts
    (babeltrace2 itself dies of SIGABRT). gilscope's own check names the
    index; with the check off, the abort happens in the child and becomes
    the same kind of line."""
    def far_offset(d):
        d[16 + 1] = 0x10  # entry 0's offset: 2^52
        return d
    bad = corrupt_copy(good, tmp / "abort", "index/gilscope_1.idx", far_offset)
    res = subprocess.run(["babeltrace2", "-c", "sink.utils.dummy", str(bad)], capture_output=True)
    check(res.returncode != 0, f"babeltrace2 itself fails on it ({res.returncode})")

    old = tmp / "old.db"
    dbcheck.analyze(good, old)
    before = digest(old)
    res = gs("analyze", bad, "-o", old, "--no-progress")
    one_line(res, "analyze", ["the trace is corrupt at", "gilscope_1.idx", "does not fit"],
             "a damaged index, checked")
    res = gs("analyze", bad, "-o", old, "--no-progress", env={"GILSCOPE_NO_TRACE_CHECK": "1"})
    one_line(res, "analyze", ["the trace is corrupt at", "gilscope_1", "Assertion"],
             "a damaged index, babeltrace2 aborting in the child")
    no_temp(tmp, "old.db", "abort")
    check(digest(old) == before, "the old database is untouched by the abort")
    res = gs("analyze", "--append", bad, "-o", old, "--no-progress",
             env={"GILSCOPE_NO_TRACE_CHECK": "1"})
    one_line(res, "analyze", ["the trace is corrupt at"], "--append, babeltrace2 aborting")
    no_temp(tmp, "old.db", "abort in --append")
    check(dbcheck.one(old, "SELECT count(*) FROM runs") == 1, "--append: the run was not added")
    check(dbcheck.one(old, "PRAGMA integrity_check") == "ok", "--append: the database is intact")


def case_metadata_cut(tmp: Path, good: Path) -> None:
    """A metadata file cut inside a packet: libbabeltrace2 2.0 loops for
    ever on it (54e0c8b hung)."""
    bad = corrupt_copy(good, tmp / "cut", "metadata", lambda d: d[:1117])
    t0 = time.time()
    try:
        res = gs("analyze", bad, "-o", tmp / "cut.db", "--no-progress", timeout=60)
    except subprocess.TimeoutExpired:
        gstest.fail("a cut metadata file: analyze hangs")
    one_line(res, "analyze", ["the trace is corrupt at", "metadata", "cut short"],
             f"a cut metadata file ({time.time() - t0:.1f} s)")
    empty = corrupt_copy(good, tmp / "empty-meta", "metadata", lambda d: b"")
    one_line(gs("analyze", empty, "-o", tmp / "e.db", "--no-progress"), "analyze",
             ["metadata", "empty", "full disk"], "an empty metadata file")
    no_temp(tmp, "cut.db", "cut metadata")


def case_several(tmp: Path, good: Path) -> None:
    both = tmp / "both"
    shutil.copytree(good, both / "first")
    shutil.copytree(dbcheck.unpack("pingpong", tmp), both / "second")
    res = gs("analyze", both, "-o", tmp / "both.db", "--no-progress")
    one_line(res, "analyze", ["holds 2 recordings", "first", "second", "one at a time"],
             "a directory of two recordings")
    check(not (tmp / "both.db").exists(), "no database from two recordings")
    res = gs("analyze", both / "first", "-o", tmp / "first.db", "--no-progress")
    check(res.returncode == 0, f"one of them analyzes: {res.stderr.strip()}")
    t0 = time.time()
    res = gs("analyze", "/", "-o", tmp / "root.db", "--no-progress", timeout=60)
    one_line(res, "analyze", ["/:"], "analyze /")
    check(time.time() - t0 < 30, f"analyze / stops early ({time.time() - t0:.1f} s)")


def case_tag(tmp: Path, good: Path) -> None:
    info = good / "gilscope.info"
    tag = next(l.split("=", 1)[1] for l in info.read_text().splitlines() if l.startswith("tag="))
    flipped = tmp / "tag"
    shutil.copytree(good, flipped)
    text = (flipped / "gilscope.info").read_text()
    bad_tag = tag[:-1] + ("1" if tag[-1] != "1" else "2")
    (flipped / "gilscope.info").write_text(text.replace(f"tag={tag}", f"tag={bad_tag}"))
    res = gs("analyze", flipped, "-o", tmp / "tag.db", "--no-progress")
    one_line(res, "analyze", [f"tag {bad_tag}", f"tagged {tag}", "damaged gilscope.info"],
             "a corrupted digit in the tag")
    (flipped / "gilscope.info").write_text(text.replace(f"tag={tag}", f"tag={tag[:2]}x{tag[3:]}"))
    res = gs("analyze", flipped, "-o", tmp / "tag.db", "--no-progress")
    one_line(res, "analyze", ["gilscope.info", "not a number", "damaged"], "a tag that is no number")


def case_locked(tmp: Path, good: Path) -> None:
    """Another process writes the database (a transaction open): analyze
    does not replace it under the writer, summary and report say who."""
    db = tmp / "locked.db"
    dbcheck.analyze(good, db)
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "c.execute('BEGIN EXCLUSIVE'); c.execute('CREATE TABLE mine (x)')\n"
         "c.execute('INSERT INTO mine VALUES (42)')\n"
         "print('locked', flush=True); sys.stdin.readline()\n"
         "c.execute('COMMIT')\n", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        check(writer.stdout.readline().strip() == "locked", "a writer holds the lock")
        res = gs("analyze", good, "-o", db, "--no-progress")
        one_line(res, "analyze", ["in use", f"pid {writer.pid}", "not replaced"],
                 "analyze over a database being written")
        no_temp(tmp, "locked.db", "locked", journal=False)  # the writer's journal is its own
        res = gs("summary", db)
        one_line(res, "summary", ["locked", f"pid {writer.pid}"], "summary of a locked database")
        res = gs("report", db, "-o", tmp / "locked.html")
        one_line(res, "report", ["locked", f"pid {writer.pid}"], "report of a locked database")
    finally:
        writer.communicate("\n", timeout=30)
    check(writer.returncode == 0, "the writer commits")
    check(dbcheck.one(db, "SELECT x FROM mine") == 42, "and its commit is in the database")


def case_disk_full(tmp: Path, good: Path) -> None:
    """A tmpfs of 256 kB: the database does not fit."""
    mnt = tmp / "small"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        print(f"SKIPPED part: cannot mount a small tmpfs ({res.stderr.strip()}): "
              "the full-disk case needs root")
        return
    try:
        res = gs("analyze", good, "-o", mnt / "run.db", "--no-progress")
        one_line(res, "analyze", ["disk is full", "kB free on", str(mnt)], "a full disk")
        no_temp(mnt, "run.db", "a full disk")
        check(not (mnt / "run.db").exists(), "no database on the full disk")
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def case_summary_schema(tmp: Path, good: Path) -> None:
    for version in (99, 0):
        db = tmp / f"v{version}.db"
        dbcheck.analyze(good, db)
        con = sqlite3.connect(db)
        con.execute(f"PRAGMA user_version = {version}")
        con.commit()
        con.close()
        one_line(gs("summary", db), "summary", [f"schema version {version}", "gilscope analyze"],
                 f"summary of schema version {version}")
        one_line(gs("report", db, "-o", tmp / "v.html"), "report", [f"schema version {version}"],
                 f"report of schema version {version}")


def case_report_types(tmp: Path, good: Path) -> None:
    for table, col, value in (("holds", "start_ns", "'abc'"), ("runs", "start_ns", "1.5")):
        db = tmp / f"types-{table}.db"
        dbcheck.analyze(good, db)
        con = sqlite3.connect(db)
        con.execute(f"UPDATE {table} SET {col} = {value} WHERE rowid = "
                    f"(SELECT min(rowid) FROM {table})")
        con.commit()
        con.close()
        res = gs("report", db, "-o", tmp / "types.html")
        one_line(res, "report", [f"{table}.{col}", "not as `gilscope analyze` writes it"],
                 f"report of a database with {table}.{col} = {value}")
        check("Traceback" not in res.stderr, "no traceback")


def main() -> None:
    tmp = dbcheck.tmpdir()
    good = dbcheck.unpack("countdown", tmp)
    for case in (case_babeltrace_abort, case_metadata_cut, case_several, case_tag,
                 case_locked, case_disk_full, case_summary_schema, case_report_types):
        case(tmp, good)
    if not dbcheck.env_keep():
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASSED: hostile input and faults")


if __name__ == "__main__":
    main()
