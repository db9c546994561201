"""Impossible lost-event counts. LTTng-UST before 2.15 may write, in a
packet's header, a discarded-events counter that is no sample of it: a
sub-buffer that closes late (a writer descheduled inside it) gets the
value of whichever writer commits last, often 0. babeltrace2 reports the
difference with the packet before as an unsigned count, about 2^64, and
the next packet counts again what was counted; lttng-consumerd reads it as
a wrap at 2^63.

1. `lttng_bug` (tests/data/analyzer) is a real recording with that bug,
   cut to 50 packets: 64k buffers, 16 processes of 4 threads calling
   os.sched_yield() 20,000 times each, under load (the whole recording:
   44,031 events lost by LTTng's count, four such packets, and the analyzer
   counts 44,031). The analyzer must store no impossible count and count
   each stream's losses once: the events beyond the highest good value.
2. The committed `lossy` trace (3593 events lost, all counted in its last
   packet) with some packet counters rewritten in a copy as the bug writes
   them: a value below the one before, and one of 2^63 + 75,000. The total
   stays the true 3593; a stream that ends on such a value has lost an
   unknown number, which the finding, summary, report and diff say."""
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
IMPOSSIBLE = (1 << 63) + 75_000

# stream file -> {packet index: the counter value the bug writes there}.
# The original holds 0 in every packet but gilscope_0's last (68): 3593.
PATTERN = {
    "gilscope_0": {
        50: 3000,          # losses seen early
        51: 0,             # no sample: the counter "goes backwards"
        60: IMPOSSIBLE,    # no sample either, and a count that cannot be
        61: 0,
    },
    "gilscope_1": {15: IMPOSSIBLE},  # its last packet: nothing good after
}
TRUE_LOST = 3593   # what LTTng counted (gilscope.info)


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


def counters(stream: Path) -> list[int]:
    data = stream.read_bytes()
    return [struct.unpack_from("<Q", data, o + DISCARDED_AT)[0] for o in packets(data)]


def rewrite(stream: Path, index: Path, pattern: dict[int, int]) -> None:
    data = bytearray(stream.read_bytes())
    offs = packets(bytes(data))
    for i, v in pattern.items():
        struct.pack_into("<Q", data, offs[i] + DISCARDED_AT, v)
    stream.write_bytes(bytes(data))
    # The packet index (big-endian) carries the same counter.
    idx = bytearray(index.read_bytes())
    magic, _major, _minor, entry = struct.unpack_from(">IIII", idx, 0)
    check(magic == INDEX_MAGIC, "the index starts with its magic")
    for i, v in pattern.items():
        # offset, packet_size, content_size, ts_begin, ts_end, then events_discarded
        struct.pack_into(">Q", idx, 16 + i * entry + 40, v)
    index.write_bytes(bytes(idx))


def babeltrace_counts(trace: Path) -> list[int]:
    import bt2  # type: ignore[import-not-found]
    dirs = sorted({str(p.parent) for p in trace.rglob("metadata")})
    return [m.count for m in bt2.TraceCollectionMessageIterator(dirs)
            if type(m) is bt2._DiscardedEventsMessageConst and m.count is not None]


def good_losses(values: list[int]) -> int:
    """A stream's losses: what its counter rose beyond its highest value so
    far, from its first packet's; a value below that is no sample."""
    high, total = values[0], 0
    for v in values[1:]:
        if high < v < 1 << 62:
            total += v - high
            high = v
    return total


def gilscope(*args: str) -> str:
    return subprocess.run([str(gstest.gilscope()), *args], capture_output=True, text=True,
                          timeout=120, check=True).stdout


def real_bug(tmp: Path) -> None:
    trace = dbcheck.unpack("lttng_bug", tmp)
    streams = sorted((trace / "ust" / "uid" / "0" / "64-bit").glob("gilscope_*"))
    values = {s.name: counters(s) for s in streams}
    backwards = sum(b < a for v in values.values() for a, b in zip(v, v[1:]))
    check(backwards == 2, f"the recording holds two packets whose counter went backwards ({backwards})")
    counts = babeltrace_counts(trace)
    check(sum(c >= 1 << 62 for c in counts) == 2,
          f"babeltrace2 reports two impossible counts for them ({counts})")
    db = tmp / "lttng_bug.db"
    dbcheck.analyze(trace, db)
    dbcheck.check_db(db, trace)
    lost = [c for (c,) in rows(db, "SELECT count FROM lost")]
    check(all(0 <= c < 1 << 62 for c in lost), f"no impossible count stored ({lost})")
    want = sum(good_losses(v) for v in values.values())
    got = one(db, "SELECT lost_events FROM runs")
    check(got == want == 2055, f"each stream's losses counted once: {got} (the packets say {want})")
    msg = one(db, "SELECT message FROM findings WHERE kind = 'lost_events'") or ""
    check("impossible" not in msg, f"a count it could take is not called unknown ({msg!r})")


def rewritten(tmp: Path) -> None:
    trace = dbcheck.unpack("lossy", tmp)
    chan = trace / "ust" / "uid" / "0" / "64-bit"
    check(counters(chan / "gilscope_0") == [0] * 68 + [TRUE_LOST] and
          counters(chan / "gilscope_1") == [0] * 16,
          "the committed trace's counters are 0 until gilscope_0's last packet: 3593")
    for name, pattern in PATTERN.items():
        rewrite(chan / name, chan / "index" / f"{name}.idx", pattern)
    counts = babeltrace_counts(trace)
    check(sum(c >= 1 << 62 for c in counts) == 4,
          f"babeltrace2 reports the impossible counts of the bug ({counts})")

    db = tmp / "lossy.db"
    dbcheck.analyze(trace, db)
    dbcheck.check_db(db, trace)
    lost = rows(db, "SELECT stream, start_ns, end_ns, count FROM lost ORDER BY stream, start_ns")
    check(all(0 <= c < 1 << 62 for *_, c in lost), f"no impossible count stored ({lost})")
    check([(s[-10:], c) for s, _, _, c in lost] ==
          [("gilscope_0", 3000), ("gilscope_0", TRUE_LOST - 3000), ("gilscope_1", 0)],
          f"3000, then what rose beyond it, and an unknown loss where the stream ends ({lost})")
    check(lost[1][1] == lost[0][2],
          "the second loss spans the packets without a good value: from the first one's end")
    check(one(db, "SELECT lost_events FROM runs") == TRUE_LOST,
          f"runs.lost_events is LTTng's true count, {TRUE_LOST}")
    msg = one(db, "SELECT message FROM findings WHERE kind = 'lost_events'") or ""
    check("an unknown number more" in msg and "impossible count" in msg
          and str(IMPOSSIBLE) in msg and "gilscope_1" in msg,
          f"the finding says some are unknown, where and why ({msg!r})")
    out = gilscope("summary", str(db))
    check(f"lost    {TRUE_LOST} + unknown" in out, "the summary says lost: 3593 + unknown")
    check("impossible count" in out, "and shows the finding saying why")
    page = tmp / "lossy.html"
    gilscope("report", str(db), "-o", str(page), "-q")
    check("3\u202f593 + unknown</dd>" in page.read_text(),
          "the report's facts say lost events: 3 593 + unknown")

    # Unchanged, the same trace has nothing unknown.
    clean = dbcheck.unpack("lossy", tmp / "clean")
    db2 = tmp / "clean.db"
    dbcheck.analyze(clean, db2)
    check(rows(db2, "SELECT count FROM lost") == [(TRUE_LOST,)], "the original: one count, 3593")
    msg = one(db2, "SELECT message FROM findings WHERE kind = 'lost_events'") or ""
    check(msg.startswith(f"{TRUE_LOST} events were lost"), f"and a plain finding ({msg!r})")
    out = gilscope("diff", str(db), str(db2))
    check(f"A lost {TRUE_LOST} + an unknown number of events" in out
          and f"B lost {TRUE_LOST} events" in out, "diff says so too")


def main() -> None:
    tmp = dbcheck.tmpdir()
    real_bug(tmp)
    rewritten(tmp)
    if not dbcheck.env_keep():
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASSED: lost counts")


if __name__ == "__main__":
    main()
