"""A stream whose last packet is the stop's flush ended where the stop
found it, however late the flush came to the others: nothing was lost.
Seen in a suite run (a niced consumer at a load of 6): both streams of a
test_queue recording held one flush packet each, the larger (3,985,408
bytes) ending 21.6 ms before the other; taken as "as large as the
largest packet beside it", it was called a stream that ended early, an
unknown number of events lost. A switch closes a packet at the
sub-buffer's size, a power of two; a flush at any number of pages.

The committed `countdown` trace (a real recording: one flush packet per
stream, gilscope_0's the larger, 122,880 bytes) with gilscope_1's packet
end moved 30 ms later, in its packet context and its index: the analyzer
must store no loss. The same move on a trace whose earlier stream did
switch is test_lost_tail's (a loss)."""
import shutil
import struct
from pathlib import Path

import dbcheck
import gstest
from dbcheck import check, rows

INDEX_MAGIC = 0xc1f1dcc1
TS_END_AT = 40        # the packet context's timestamp_end (little-endian u64)
ENTRY_TS_END = 32     # an index entry's ts_end (big-endian u64)
LATER = 30_000_000    # cycles of the 1 GHz clock: 30 ms, beyond GS_TAIL_SLACK_NS


def move_end(stream: Path, index: Path, by: int) -> None:
    data = bytearray(stream.read_bytes())
    (end,) = struct.unpack_from("<Q", data, TS_END_AT)
    struct.pack_into("<Q", data, TS_END_AT, end + by)
    stream.write_bytes(bytes(data))
    idx = bytearray(index.read_bytes())
    magic, _major, _minor, entry = struct.unpack_from(">IIII", idx, 0)
    check(magic == INDEX_MAGIC and (len(idx) - 16) // entry == 1,
          f"{index.name}: an index of one packet")
    (iend,) = struct.unpack_from(">Q", idx, 16 + ENTRY_TS_END)
    check(iend == end, f"{index.name}'s end is its packet's ({iend} = {end})")
    struct.pack_into(">Q", idx, 16 + ENTRY_TS_END, end + by)
    index.write_bytes(bytes(idx))


def main() -> None:
    tmp = dbcheck.tmpdir()
    trace = dbcheck.unpack("countdown", tmp / "moved")
    chan = trace / "ust" / "uid" / "0" / "64-bit"
    sizes = {}
    for name in ("gilscope_0", "gilscope_1"):
        idx = (chan / "index" / f"{name}.idx").read_bytes()
        sizes[name] = struct.unpack_from(">Q", idx, 16 + 8)[0] // 8
    check(sizes["gilscope_0"] > sizes["gilscope_1"] and sizes["gilscope_0"] & (sizes["gilscope_0"] - 1),
          f"gilscope_0's one packet is the larger, no power of two ({sizes})")
    move_end(chan / "gilscope_1", chan / "index" / "gilscope_1.idx", LATER)
    db = tmp / "moved.db"
    an = dbcheck.analyze(trace, db)
    lost = rows(db, "SELECT stream, start_ns, end_ns, count FROM lost")
    check(lost == [], f"a flush packet 30 ms before another stream's end is no loss ({lost})")
    check("lost" not in an.stderr, f"analyze says nothing lost ({an.stderr.strip()!r})")
    if not dbcheck.env_keep():
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASSED: a late flush is no stream that ended early")


if __name__ == "__main__":
    main()
