"""Every error case of issue 3: one clear line on stderr, a non-zero exit,
no new database left behind and an old one untouched."""
import hashlib
import shutil
import sqlite3
import subprocess

import dbcheck
import gstest
from dbcheck import check
from synth import Ev, write_trace

G = 0x7F0000001000


def digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def expect_error(tmp, trace, words, db_name="out.db", extra=(), status=1):
    """Runs analyze into an existing database and checks the failure."""
    db = tmp / db_name
    res = dbcheck.analyze(trace, db, *extra, expect_ok=False)
    lines = res.stderr.strip().splitlines()
    check(res.returncode == status, f"{trace.name}: exit status {res.returncode} == {status}")
    check(len(lines) == 1 and lines[0].startswith("gilscope analyze: "),
          f"{trace.name}: one line on stderr: {res.stderr.strip()!r}")
    for w in words:
        check(w in res.stderr, f"{trace.name}: the message says {w!r}")
    left = sorted(p.name for p in tmp.glob(db_name + ".tmp-*"))
    check(not left, f"{trace.name}: no temp file left behind ({left})")
    return res


def main():
    tmp = dbcheck.tmpdir()
    good = dbcheck.unpack("countdown", tmp)

    # An old database that every failure below must leave untouched.
    old = tmp / "out.db"
    dbcheck.analyze(good, old)
    before = digest(old)

    f = tmp / "a-file"
    f.write_text("not a trace\n")
    expect_error(tmp, f, ["not a directory"])
    expect_error(tmp, tmp / "missing", ["No such file or directory"])
    empty = tmp / "empty"
    empty.mkdir()
    expect_error(tmp, empty, ["no CTF trace"])

    other = write_trace(tmp / "other", [Ev(1000 + i, "thing", 1, 1, {"x": i}, provider="other")
                                         for i in range(3)])
    expect_error(tmp, other, ["no gilscope events", "3 events of other providers"])

    evs = [Ev(1000, "gil_found", 1, 1, {"gil": G, "interval_us": 5000, "rule": 1, "version": "3.11"}),
           Ev(1001, "acquire", 1, 1, {"gil": G})]
    novtid = write_trace(tmp / "novtid", evs, ctx_fields=("vpid", "procname"))
    expect_error(tmp, novtid, ["vtid"])

    # Truncated: cut the first data stream in the middle of a packet.
    trunc = tmp / "truncated"
    shutil.copytree(good, trunc)
    stream = sorted(trunc.glob("ust/uid/*/64-bit/gilscope_0"))[0]
    data = stream.read_bytes()
    stream.write_bytes(data[:len(data) // 2 + 13])
    expect_error(tmp, trunc, ["gilscope_0"])

    # Corrupt: a packet header whose magic number is wrong.
    bad = tmp / "corrupt"
    shutil.copytree(good, bad)
    stream = sorted(bad.glob("ust/uid/*/64-bit/gilscope_0"))[0]
    data = bytearray(stream.read_bytes())
    data[0:4] = b"\xde\xad\xbe\xef"
    stream.write_bytes(bytes(data))
    expect_error(tmp, bad, ["gilscope_0"])

    # Corrupt inside a packet: found while reading, after the indexing.
    mid = tmp / "corrupt-events"
    shutil.copytree(good, mid)
    stream = sorted(mid.glob("ust/uid/*/64-bit/gilscope_0"))[0]
    data = bytearray(stream.read_bytes())
    data[len(data) // 2:len(data) // 2 + 400] = b"\xff" * 400
    stream.write_bytes(bytes(data))
    expect_error(tmp, mid, ["cannot read the trace"])

    check(digest(old) == before, "the old database is untouched by every failure")

    # --append to a database of something else.
    foreign = tmp / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.execute("PRAGMA user_version = 42")
    con.commit()
    con.close()
    fd = digest(foreign)
    expect_error(tmp, good, ["schema version 42"], db_name="foreign.db", extra=("--append",))
    check(digest(foreign) == fd, "--append leaves a foreign database untouched")

    # Nowhere to write.
    res = dbcheck.analyze(good, tmp / "no" / "such" / "dir.db", expect_ok=False)
    check(res.returncode == 1 and res.stderr.count("\n") == 1 and "cannot create" in res.stderr,
          f"an unwritable output: one line: {res.stderr.strip()!r}")

    # Usage errors and help.
    g = str(gstest.gilscope())
    res = subprocess.run([g, "analyze"], capture_output=True, text=True)
    check(res.returncode == 2 and "usage:" in res.stderr, "analyze without TRACE_DIR: usage, exit 2")
    res = subprocess.run([g, "analyze", "--help"], capture_output=True, text=True)
    check(res.returncode == 0 and "Examples:" in res.stdout, "analyze --help has examples")
    res = subprocess.run([g, "summary", "--help"], capture_output=True, text=True)
    check(res.returncode == 0 and "Examples:" in res.stdout, "summary --help has examples")
    res = subprocess.run([g, "summary", str(tmp / "missing.db")], capture_output=True, text=True)
    check(res.returncode == 1 and res.stderr.startswith("gilscope summary: ")
          and res.stderr.count("\n") == 1, f"summary of a missing db: {res.stderr.strip()!r}")
    check(not (tmp / "missing.db").exists(), "summary does not create a database")
    check("No such file or directory" in res.stderr, f"summary names why: {res.stderr.strip()!r}")
    # A trace directory given where a database goes (SQLite alone says
    # "disk I/O error"): named as a trace, with the command that helps.
    res = subprocess.run([g, "summary", str(good)], capture_output=True, text=True)
    check(res.returncode == 1 and res.stderr.count("\n") == 1
          and "is a trace directory" in res.stderr and "gilscope analyze" in res.stderr,
          f"summary of a trace directory: {res.stderr.strip()!r}")
    res = subprocess.run([g, "summary", str(empty)], capture_output=True, text=True)
    check(res.returncode == 1 and "is a directory, not a gilscope database" in res.stderr,
          f"summary of a directory: {res.stderr.strip()!r}")
    res = subprocess.run([g, "summary", str(foreign)], capture_output=True, text=True)
    check(res.returncode == 1 and res.stderr.count("\n") == 1,
          f"summary of a foreign db: {res.stderr.strip()!r}")
    if not dbcheck.env_keep():
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
