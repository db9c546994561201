"""A stream that ends before the recording does has lost its last packets,
though neither LTTng nor babeltrace2 counts them. Seen in a real recording
made while other recordings ran (per-user buffers shared with their
processes): gilscope_0 stopped after 4 full packets (16 MiB) 2 s before the
end, 95 of the program's events missing from its GIL's order, and
everything said "lost 0". Every stream gets a packet at the stop (LTTng
flushes them all), so their ends lie within a fraction of a millisecond.

The committed `lossy` trace (a real recording) with gilscope_1's last
packet cut off, from its file and its index, as LTTng leaves it: that
stream then ends 31 ms before gilscope_0. The analyzer must store a loss
of unknown size for gilscope_1 from its new end to the trace's, and the
finding, summary and report must say events were lost; the uncut trace
must show no such loss."""
import shutil
import struct
import subprocess
from pathlib import Path

import dbcheck
import gstest
from dbcheck import check, one, rows

MAGIC = 0xc1fc1fc1
INDEX_MAGIC = 0xc1f1dcc1
SIZE_AT = 56     # packet_size, in bits (little-endian packet header + context)
TRUE_LOST = 3593  # what LTTng counted in the lossy trace (gilscope_0's last packet)


def cut_last_packet(stream: Path, index: Path) -> None:
    data = stream.read_bytes()
    offs, off = [], 0
    while off < len(data):
        (magic,) = struct.unpack_from("<I", data, off)
        check(magic == MAGIC, f"a packet starts at {off} of {stream.name}")
        offs.append(off)
        off += struct.unpack_from("<Q", data, off + SIZE_AT)[0] // 8
    stream.write_bytes(data[:offs[-1]])
    idx = index.read_bytes()
    magic, _major, _minor, entry = struct.unpack_from(">IIII", idx, 0)
    check(magic == INDEX_MAGIC, "the index starts with its magic")
    check((len(idx) - 16) // entry == len(offs), "one index entry per packet")
    index.write_bytes(idx[:len(idx) - entry])


def gilscope(*args: str) -> str:
    return subprocess.run([str(gstest.gilscope()), *args], capture_output=True, text=True,
                          timeout=120, check=True).stdout


def main() -> None:
    tmp = dbcheck.tmpdir()
    clean = dbcheck.unpack("lossy", tmp / "clean")
    db0 = tmp / "clean.db"
    dbcheck.analyze(clean, db0)
    check(rows(db0, "SELECT stream, count FROM lost") == [("ust/uid/0/64-bit/gilscope_0", TRUE_LOST)],
          f"the uncut trace: LTTng's one count, no stream ending early "
          f"({rows(db0, 'SELECT stream, start_ns, end_ns, count FROM lost')})")

    trace = dbcheck.unpack("lossy", tmp / "cut")
    chan = trace / "ust" / "uid" / "0" / "64-bit"
    cut_last_packet(chan / "gilscope_1", chan / "index" / "gilscope_1.idx")
    db = tmp / "cut.db"
    an = dbcheck.analyze(trace, db)
    check(f"warning: {TRUE_LOST} + an unknown number of events were lost" in an.stderr,
          f"analyze says so in one line ({an.stderr.strip()!r})")
    dbcheck.check_db(db, trace)
    lost = rows(db, "SELECT stream, start_ns, end_ns, count FROM lost ORDER BY stream")
    check([(s, c) for s, _, _, c in lost] ==
          [("ust/uid/0/64-bit/gilscope_0", TRUE_LOST), ("ust/uid/0/64-bit/gilscope_1", 0)],
          f"LTTng's count, and a loss of unknown size where gilscope_1 ends ({lost})")
    _, start, end, _ = lost[1]
    last = one(db, "SELECT max(end_ns) FROM lost")
    check(end == last and 25_000_000 < end - start < 40_000_000,
          f"from gilscope_1's last packet to the trace's end, 31 ms ({start}..{end})")
    msg = one(db, "SELECT message FROM findings WHERE kind = 'lost_events'") or ""
    check("an unknown number more" in msg and "1 stream ended before the recording did" in msg,
          f"the finding says some are unknown, and why ({msg!r})")
    out = gilscope("summary", str(db))
    check(f"lost    {TRUE_LOST} + unknown" in out, f"the summary says lost: {TRUE_LOST} + unknown")
    page = tmp / "cut.html"
    gilscope("report", str(db), "-o", str(page), "-q")
    check("3\u202f593 + unknown</dd>" in page.read_text(),
          "the report's facts say lost events: 3 593 + unknown")
    if not dbcheck.env_keep():
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASSED: a stream that ends early is a loss")


if __name__ == "__main__":
    main()
