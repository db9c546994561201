"""A trace whose metadata does not describe its streams is never called
written. Seen once in CI (bench.quick, a shared session daemon, other
tests beside it): `record` exited 0 and `analyze` failed with babeltrace2's
"No stream class with ID of stream class ID to use in trace class": the
stream files held packets of stream class 0, the metadata declared no
stream class and no event (LTTng's layout: a channel and its events are
described once a traced process registers them with the session daemon).

The traced command here makes that trace for real: once LTTng has written
the descriptions into its recording's metadata, it blanks every `stream`
and `event` block there (in place, inside the metadata packets, which stay
valid), as if they had never been written. babeltrace2 must then fail as
in CI; `record` must say in one line that the trace cannot be read and
exit non-zero, without "trace written"; `analyze` must say which stream
and why in one line (not abort). The same command without the blanking
records a trace both read."""
import subprocess
import sys
from pathlib import Path

import gstest

# argv: TRACE_DIR blank|keep. A child's two threads churn the GIL; its exit
# has the session daemon send its descriptions to the metadata at once (a
# fresh daemon writes none before). Then (blank) wait for the stream
# class's description in the metadata and blank it.
COMMAND = r'''
import os, struct, subprocess, sys, time
from pathlib import Path

CHURN = """
import os, threading
def churn():
    for _ in range(2000):
        os.sched_yield()
ts = [threading.Thread(target=churn) for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
"""
subprocess.run([sys.executable, "-c", CHURN], check=True)
if sys.argv[2] != "blank":
    sys.exit(0)

def payload(data):
    """File offsets of the metadata's text, packet after packet (CTF 1.8
    metadata_packet_header: 37 bytes, content and packet sizes in bits)."""
    offs, off = [], 0
    while off + 37 <= len(data):
        magic, = struct.unpack_from("<I", data, off)
        if magic != 0x75D11D57:
            sys.exit(f"metadata packet at {off}: magic {magic:#x}")
        content, size = struct.unpack_from("<II", data, off + 24)
        offs.extend(range(off + 37, off + content // 8))
        off += size // 8
    return offs

deadline = time.monotonic() + 60
while True:
    metas = list(Path(sys.argv[1]).glob("ust/uid/*/*-bit/metadata"))
    data = bytearray(metas[0].read_bytes()) if metas else b""
    offs = payload(data)
    text = bytes(data[o] for o in offs).decode()
    if "\nstream {" in text:
        break
    if time.monotonic() > deadline:
        sys.exit("LTTng wrote no stream class into the metadata within 60 s")
    time.sleep(0.05)
blanked = 0
for kw in ("stream", "event"):
    at = 0
    while (i := text.find("\n" + kw + " {", at)) >= 0:
        at = text.index("\n};", i) + 3
        for k in range(i + 1, at):
            data[offs[k]] = 0x20
        blanked += 1
with open(metas[0], "r+b") as f:
    f.write(data)
print(f"blanked {blanked} blocks of {metas[0]}")
'''


def gs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(gstest.gilscope()), *args], capture_output=True, text=True, timeout=300)


def main() -> None:
    gstest.private_lttng()
    exe = gstest.find_python("debian")
    if exe is None:
        gstest.skip("needs Debian's python3")
    out = gstest.tmpdir()

    kept = out / "kept"
    res = gstest.record([str(exe), "-c", COMMAND, str(kept), "keep"], kept)
    gstest.check("trace written" in res.stderr, f"a whole trace is called written: {res.stderr}")
    bt = subprocess.run(["babeltrace2", str(kept)], capture_output=True, text=True, timeout=120)
    gstest.check(bt.returncode == 0, f"babeltrace2 reads the whole trace: {bt.stderr[-500:]}")
    res = gs("analyze", str(kept), "-o", str(out / "kept.db"), "--no-progress")
    gstest.check(res.returncode == 0, f"analyze reads the whole trace: {res.stderr}")

    blanked = out / "blanked"
    res = gstest.record([str(exe), "-c", COMMAND, str(blanked), "blank"], blanked, check=False)
    gstest.check("blanked" in res.stdout, f"the command blanked the descriptions: {res.stdout} {res.stderr}")
    lines = [l for l in res.stderr.splitlines() if l.startswith("gilscope")]
    gstest.check(res.returncode == 1, f"record exits 1 (the command's 0 is no success here): "
                 f"{res.returncode}, {res.stderr}")
    gstest.check(len(lines) == 1 and lines[0].startswith("gilscope record: the trace in ")
                 and "cannot be read" in lines[0] and "stream class 0" in lines[0]
                 and "does not declare" in lines[0],
                 f"one line says the trace cannot be read, and why: {lines}")
    gstest.check("trace written" not in res.stderr and "no events lost" not in res.stderr,
                 f"never called written: {res.stderr}")
    # The CI failure itself: what babeltrace2 says of such a trace.
    bt = subprocess.run(["babeltrace2", str(blanked)], capture_output=True, text=True, timeout=120)
    gstest.check(bt.returncode != 0 and "No stream class with ID" in bt.stderr,
                 f"babeltrace2 fails as in CI: {bt.returncode} {bt.stderr[-400:]}")
    res = gs("analyze", str(blanked), "-o", str(out / "blanked.db"), "--no-progress")
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    gstest.check(res.returncode == 1 and len(lines) == 1 and "stream class 0" in lines[0]
                 and "does not declare" in lines[0] and "/gilscope_" in lines[0],
                 f"analyze names the stream in one line: {res.returncode} {lines}")
    gstest.check(not (out / "blanked.db").exists(), "analyze leaves no database behind")
    print("ok: an undescribed stream is found by record and analyze")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
