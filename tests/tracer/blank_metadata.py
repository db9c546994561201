"""Makes a trace whose metadata does not describe its streams, for real:
once LTTng has written the descriptions into a recording's metadata, every
`stream` and `event` block there is blanked (in place, inside the
metadata packets, which stay valid), as if it had never been written
(record.undeclared_stream). As a script: blank_metadata.py DIR blanks
the first metadata file under DIR (a recording's, or a snapshot's)."""
import struct
import sys
import time
from pathlib import Path


def payload(data: bytes) -> list[int]:
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


def blank(root: Path, timeout: float = 60) -> str:
    """Waits until a metadata file under root declares a stream class and
    events (`record` has the stream class declared before the command,
    tracer/preregister.c; the events come when a traced process's session
    ends), blanks its stream and event blocks; says what it did."""
    deadline = time.monotonic() + timeout
    while True:
        metas = sorted(root.glob("**/ust/uid/*/*-bit/metadata"))
        data = bytearray(metas[0].read_bytes()) if metas else bytearray()
        offs = payload(data)
        text = bytes(data[o] for o in offs).decode()
        if "\nstream {" in text and "\nevent {" in text:
            break
        if time.monotonic() > deadline:
            sys.exit(f"LTTng wrote no stream class and events into a metadata under {root} "
                     f"within {timeout} s")
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
    return f"blanked {blanked} blocks of {metas[0]}"


if __name__ == "__main__":
    print(blank(Path(sys.argv[1])), flush=True)
