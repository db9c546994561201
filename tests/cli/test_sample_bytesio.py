"""samples/bytesio.py under `gilscope run`: does BytesIO.write release the GIL?

Each loop in the sample is bracketed by two 50 ms sleeps, visible in the
database as stretches where the thread neither held nor asked for the GIL;
between them:
- bytesio-writer (100k BytesIO.write): no voluntary release at all; its
  holds end only when the os.write thread's drop request forces them to;
- os-writer (100k os.write to /dev/null): one release per call, 100000 of
  them (1% more allowed), nearly all voluntary (a release is recorded as
  forced when the other thread's drop request happened to be pending);
- each streamer (HTTP body read in 16 KiB chunks into a BytesIO): at least
  one voluntary release per read (the socket reads), none needed for the
  BytesIO writes.
And by line (code_sites, stacks; 3.7+): the `write(PIECE)` line has no
voluntary release, the `os.write` line one per call, every streamer's
releases pass through its `resp.read(CHUNK)` line (at least one per read),
and its `buf.write(data)` line has no voluntary release.
"""
import collections

import samplecheck as sc

WRITES = 100000
MARK_NS = 50_000_000
WRITE_LINE = sc.line_of("bytesio.py", "write(PIECE)")
OS_WRITE_LINE = sc.line_of("bytesio.py", "os.write(fd, PIECE)")
READ_LINE = sc.line_of("bytesio.py", "data = resp.read(CHUNK)")
BUF_WRITE_LINE = sc.line_of("bytesio.py", "buf.write(data)")


def releases_in(r, tid, lo, hi):
    """Releases of tid strictly inside (lo, hi): 'voluntary' and 'forced'."""
    return collections.Counter(h.ended for h in r.holds(tid) if lo < h.end < hi)


def main() -> None:
    a = sc.args()
    r = sc.run_sample(a.exe, "bytesio.py", ["all"])

    bio = r.thread("bytesio-writer")
    lo, hi = r.bracketed_window(bio.tid, MARK_NS, "bytesio.py")
    c = releases_in(r, bio.tid, lo, hi)
    sc.check(c["voluntary"] == 0,
             f"bytesio-writer: no voluntary GIL release during its {WRITES} BytesIO.write calls "
             f"({sc.ms(hi - lo)}; {c['forced']} forced by the other thread's drop requests)")
    forced_ok = r.one("SELECT count(*) FROM drop_requests WHERE run_id = ? AND holder = ? AND ts_ns BETWEEN ? AND ?",
                      r.run_id, bio.tid, lo, hi)
    sc.check(forced_ok >= c["forced"],
             f"bytesio-writer: each forced release answered a drop request ({forced_ok} >= {c['forced']})")

    osw = r.thread("os-writer")
    lo, hi = r.bracketed_window(osw.tid, MARK_NS, "bytesio.py")
    c = releases_in(r, osw.tid, lo, hi)
    total = c["voluntary"] + c["forced"]
    sc.check(WRITES <= total <= WRITES + WRITES // 100,
             f"os-writer: {total} GIL releases for {WRITES} os.write calls (one each; "
             f"{c['forced']} with a drop request pending)")
    sc.check(c["forced"] <= 100, f"os-writer: nearly all of them voluntary ({c['voluntary']})")

    for k in (1, 2, 3):
        st = r.thread(f"streamer-{k}")
        reads = int(sc.number(r.stdout, rf"streamer-{k} [0-9.]+ MiB in ([0-9]+) reads"))
        lo, hi = r.bracketed_window(st.tid, MARK_NS, "bytesio.py")
        c = releases_in(r, st.tid, lo, hi)
        sc.check(c["voluntary"] >= reads,
                 f"streamer-{k}: {c['voluntary']} voluntary releases for {reads} chunked reads "
                 f"into BytesIO (at least one per read: the socket reads)")
        if a.version >= (3, 7):
            through = r.releases_through(st.tid, "bytesio.py", READ_LINE, lo, hi)
            sc.check(through >= reads,
                     f"streamer-{k}: {through} of them made by the resp.read line "
                     f"(bytesio.py:{READ_LINE}), at least one per read ({reads})")

    if a.version < (3, 7):
        print("Python 3.6: no code locations, the by-line answers are not checked")
        return
    # The answers by line, as code_sites (the summary's "Where the GIL goes") gives them.
    v, f = r.site_counts("bytesio.py", WRITE_LINE)
    sc.check(v == 0, f"bytesio.py:{WRITE_LINE} `write(PIECE)` (BytesIO.write): 0 voluntary "
             f"releases ({f} forced by drop requests)")
    v, f = r.site_counts("bytesio.py", OS_WRITE_LINE)
    sc.check(WRITES - 100 <= v + f <= WRITES + WRITES // 100,
             f"bytesio.py:{OS_WRITE_LINE} `os.write(fd, PIECE)`: {v + f} releases for {WRITES} "
             f"calls, one each ({v} voluntary)")
    v, f = r.site_counts("bytesio.py", BUF_WRITE_LINE)
    sc.check(v == 0, f"bytesio.py:{BUF_WRITE_LINE} `buf.write(data)`: 0 voluntary releases")


if __name__ == "__main__":
    sc.main(main)
