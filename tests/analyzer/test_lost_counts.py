"""Impossible lost-event counts. LTTng-UST before 2.15 may write, in a
packet's header, an older discarded-events counter than in the packet
before it (sub-buffers close out of order; the value is sampled by the
writer that commits last). babeltrace2 reports the difference as an
unsigned count: about 2^64. This test takes the committed real trace
`lossy` (3593 events lost, all counted in its last packet), rewrites the
counters of some packets in a copy as that bug writes them, and checks
that the analyzer stores no impossible count: the packets whose counter
went backwards (or jumped to 2^63 + 75,000) are losses of unknown count,
said so in the finding and the summary, and the events counted twice by
babeltrace2 are counted once: the total is the trace's true 3593."""
import shutil
import struct
import subprocess
from pathlib import Path

import dbcheck
import gstest
from dbcheck import check, one, rows

MAGIC = 0xc1fc1fc1
INDEX_MAGIC = 0xc1f1dcc1
# LTTng-UST's packet header then context, little-endian, byte-aligned
# (the trace's metadata): events_discarded is the 8 bytes at 72.
DISCARDED_AT = 72
SIZE_AT = 56     # packet_size, in bits

# packet index -> the counter value the bug writes there. The original
# stream holds 0 in packets 0-67 and 3593 in packet 68.
PATTERN = {
    50: 3000,                 # losses seen early (a packet closed late)
    51: 0,                    # an older sample: the counter "goes backwards"
    60: (1 << 63) + 75_000,   # a value that cannot be (lttng-ctl's wrap)
    61: 0,
}
TRUE_LOST = 3593              # what LTTng counted (gilscope.info)


def packets(data: bytes) -> list[int]:
    """The offsets of a stream file's packets."""
    out, off = [], 0
    while off < len(data):
        (magic,) = struct.unpack_from("<I", data, off)
        if magic != MAGIC:
            gstest.fail(f"the packet at {off} does not start with the CTF magic")
        out.append(off)
        (bits,) = struct.unpack_from("<Q", data, off + SIZE_AT)
        off += bits // 8
    return out


def rewrite(stream: Path, index: Path) -> None:
    data = bytearray(stream.read_bytes())
    offs = packets(bytes(data))
    check(len(offs) == 69, f"{stream.name} holds the 69 packets of the committed trace ({len(offs)})")
    before = [struct.unpack_from("<Q", data, o + DISCARDED_AT)[0] for o in offs]
    check(before == [0] * 68 + [TRUE_LOST], "its counter is 0 until the last packet's 3593")
    for i, v in PATTERN.items():
        struct.pack_into("<Q", data, offs[i] + DISCARDED_AT, v)
    stream.write_bytes(bytes(data))
    # The packet index (big-endian) carries the same counter.
    idx = bytearray(index.read_bytes())
    magic, _major, _minor, entry = struct.unpack_from(">IIII", idx, 0)
    check(magic == INDEX_MAGIC, "the index starts with its magic")
    for i, v in PATTERN.items():
        # offset, packet_size, content_size, ts_begin, ts_end, then events_discarded
        struct.pack_into(">Q", idx, 16 + i * entry + 40, v)
    index.write_bytes(bytes(idx))


def babeltrace_counts(trace: Path) -> list[int]:
    import bt2  # type: ignore[import-not-found]
    dirs = sorted({str(p.parent) for p in trace.rglob("metadata")})
    return [m.count for m in bt2.TraceCollectionMessageIterator(dirs)
            if type(m) is bt2._DiscardedEventsMessageConst and m.count is not None]


def main() -> None:
    tmp = dbcheck.tmpdir()
    trace = dbcheck.unpack("lossy", tmp)
    chan = trace / "ust" / "uid" / "0" / "64-bit"
    rewrite(chan / "gilscope_0", chan / "index" / "gilscope_0.idx")
    counts = babeltrace_counts(trace)
    check(any(c >= 1 << 62 for c in counts),
          f"babeltrace2 reports the impossible counts of the bug ({counts})")

    db = tmp / "lossy.db"
    dbcheck.analyze(trace, db)
    lost = rows(db, "SELECT start_ns, count FROM lost ORDER BY start_ns")
    check(all(0 <= c < 1 << 62 for _, c in lost), f"no impossible count stored ({lost})")
    check([c for _, c in lost] == [3000, 0, 0, 0, TRUE_LOST - 3000],
          f"the backward packets are losses of unknown count (0), the rest counted once ({lost})")
    check(one(db, "SELECT lost_events FROM runs") == TRUE_LOST,
          f"runs.lost_events is LTTng's true count, {TRUE_LOST}")
    msg = one(db, "SELECT message FROM findings WHERE kind = 'lost_events'") or ""
    check("unknown number more" in msg and "impossible count" in msg
          and str((1 << 64) - 3000) in msg and "went backwards" in msg,
          f"the finding says some counts are unknown, and why ({msg!r})")
    out = subprocess.run([str(gstest.gilscope()), "summary", str(db)], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    check(f"lost    {TRUE_LOST} + unknown" in out, "the summary says lost: 3593 + unknown")
    check("impossible count" in out, "and shows the finding saying why")
    page = tmp / "lossy.html"
    subprocess.run([str(gstest.gilscope()), "report", str(db), "-o", str(page), "-q"],
                   capture_output=True, text=True, timeout=120, check=True)
    html = page.read_text()
    check("3\u202f593 + unknown</dd>" in html, "the report's facts say lost events: 3 593 + unknown")

    # Unchanged, the same trace has nothing unknown.
    clean = dbcheck.unpack("lossy", tmp / "clean")
    db2 = tmp / "clean.db"
    dbcheck.analyze(clean, db2)
    check(rows(db2, "SELECT count FROM lost") == [(TRUE_LOST,)], "the original: one count, 3593")
    msg = one(db2, "SELECT message FROM findings WHERE kind = 'lost_events'") or ""
    check(msg.startswith(f"{TRUE_LOST} events were lost"), f"and a plain finding ({msg!r})")
    out = subprocess.run([str(gstest.gilscope()), "diff", str(db), str(db2)], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    check(f"A lost {TRUE_LOST} + an unknown number of events" in out
          and f"B lost {TRUE_LOST} events" in out, "diff says so too")
    if not dbcheck.env_keep():
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASSED: lost counts")


if __name__ == "__main__":
    main()
