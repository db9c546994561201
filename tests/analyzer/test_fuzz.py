"""Fuzzing `gilscope analyze` (issue 13): mutated copies of a small real
trace (its streams, packet indexes, metadata and gilscope.info: bit flips,
random bytes, cuts, zeroed or 0xff runs, inserted and deleted runs), each
analyzed with a time limit. Every run must end by itself (no hang), by
exit, not by a signal; leave no temp file; fail in lines of its own; and
every database it calls complete must pass PRAGMA integrity_check, hold
no negative duration and be summarized.

  --iterations N   how many mutated traces (default 200, under a minute)
  --seed S         the random seed (default: fixed, so a failure repeats)

A failing trace is kept, and its directory printed."""
import argparse
import random
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import dbcheck
import gstest
from dbcheck import check

LIMIT_S = 60  # a hang: the whole trace takes 0.2 s
NEGATIVE = ("SELECT (SELECT count(*) FROM holds WHERE dur_ns < 0)"
            " + (SELECT count(*) FROM waits WHERE dur_ns < 0)"
            " + (SELECT count(*) FROM switches WHERE gap_ns < 0)"
            " + (SELECT count(*) FROM forced_switches WHERE dur_ns < 0)"
            " + (SELECT count(*) FROM drop_requests WHERE response_ns < 0)"
            " + (SELECT count(*) FROM runs WHERE wall_ns < 0)")


def mutate(data: bytes, rnd: random.Random) -> tuple[bytes, str]:
    d = bytearray(data)
    if not d:
        return bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64))), "filled"
    pos = rnd.randrange(len(d))
    kind = rnd.choice(("flip", "bytes", "cut", "zero", "ff", "insert", "delete"))
    n = rnd.choice((1, 2, 4, 8, 16, 64, 512))
    if kind == "flip":
        d[pos] ^= 1 << rnd.randrange(8)
    elif kind == "bytes":
        for _ in range(rnd.randint(1, 8)):
            d[rnd.randrange(len(d))] = rnd.randrange(256)
    elif kind == "cut":
        del d[pos:]
    elif kind == "zero":
        d[pos:pos + n] = bytes(len(d[pos:pos + n]))
    elif kind == "ff":
        d[pos:pos + n] = b"\xff" * len(d[pos:pos + n])
    elif kind == "insert":
        d[pos:pos] = bytes(rnd.randrange(256) for _ in range(n))
    else:
        del d[pos:pos + n]
    return bytes(d), f"{kind} {n} at {pos}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--seed", type=int, default=13)
    args, _ = ap.parse_known_args()
    rnd = random.Random(args.seed)
    tmp = dbcheck.tmpdir()
    good = dbcheck.unpack("countdown", tmp)
    files = sorted(p.relative_to(good) for p in good.rglob("*") if p.is_file())
    work = tmp / "work"
    shutil.copytree(good, work)
    outcomes = {"ok": 0, "refused": 0}
    t0 = time.time()
    for i in range(args.iterations):
        rel = rnd.choice(files)
        original = (good / rel).read_bytes()
        mutated, how = mutate(original, rnd)
        (work / rel).write_bytes(mutated)
        what = f"#{i} {rel}: {how}"
        db = tmp / "fuzz.db"
        try:
            res = subprocess.run([str(gstest.gilscope()), "analyze", str(work), "-o", str(db),
                                  "--no-progress"], capture_output=True, text=True,
                                 timeout=LIMIT_S)
        except subprocess.TimeoutExpired:
            keep = tmp / f"hang-{i}"
            shutil.copytree(work, keep)
            gstest.fail(f"{what}: analyze still runs after {LIMIT_S} s (trace kept in {keep})")
        if res.returncode not in (0, 1):
            keep = tmp / f"failed-{i}"
            shutil.copytree(work, keep)
            gstest.fail(f"{what}: analyze ended with {res.returncode} (a signal?): "
                        f"{res.stderr.strip()[-300:]} (trace kept in {keep})")
        left = sorted(p.name for p in tmp.glob("fuzz.db.tmp-*"))
        if left:
            gstest.fail(f"{what}: temp files left behind: {left}")
        lines = res.stderr.strip().splitlines()
        if res.returncode == 1:
            check(lines and all(l.startswith("gilscope analyze: ") for l in lines),
                  f"{what}: failed in gilscope's lines only: {res.stderr.strip()[-300:]!r}")
            outcomes["refused"] += 1
        else:
            con = sqlite3.connect(db)
            try:
                integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
                negative = con.execute(NEGATIVE).fetchone()[0]
            finally:
                con.close()
            if integrity != "ok" or negative:
                keep = tmp / f"baddb-{i}"
                shutil.copytree(work, keep)
                gstest.fail(f"{what}: exit 0 but integrity_check says {integrity!r}, "
                            f"{negative} negative durations (trace kept in {keep})")
            summ = subprocess.run([str(gstest.gilscope()), "summary", str(db)],
                                  capture_output=True, text=True, timeout=LIMIT_S)
            check(summ.returncode == 0, f"{what}: summary of the database: {summ.stderr.strip()}")
            outcomes["ok"] += 1
            db.unlink()
        (work / rel).write_bytes(original)
    print(f"PASSED: {args.iterations} mutated traces (seed {args.seed}) in "
          f"{time.time() - t0:.0f} s: {outcomes['ok']} analyzed, {outcomes['refused']} refused "
          "in one line; no signal, no hang, no temp file, every database sound")
    if not dbcheck.env_keep():
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
