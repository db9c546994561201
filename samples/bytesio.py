"""Does writing to io.BytesIO release the GIL? No: only real I/O does.

Two experiments:

  local  Two threads start together. "bytesio-writer" makes WRITES calls to
         io.BytesIO.write; "os-writer" makes WRITES calls to os.write on
         /dev/null. os.write is a system call, and CPython releases the GIL
         around it: one release per call. BytesIO.write is a memory copy
         done while holding the GIL: the BytesIO thread never lets go on its
         own; it hands the GIL over only when the os.write thread has waited
         a whole switch interval (5 ms) and set a drop request. In the
         report: the BytesIO thread's holds end at drop-request markers,
         the os.write thread's lane is a dense run of tiny holds.

  http   STREAMS threads each download SIZE bytes from a local HTTP server
         (127.0.0.1, ephemeral port, in a child process) and copy the body
         into a BytesIO in CHUNK pieces. The GIL is released in the socket
         reads (recv), not in BytesIO.write: in the report the streaming
         threads hold the GIL briefly between reads and overlap while they
         wait on their sockets.

Each thread sleeps MARK seconds just before and just after its loop: in the
report (and the database) these are the gaps that bracket the loop, so the
releases inside it can be counted.

Usage: python3 bytesio.py [local|http|all]   (default: all)
Under gilscope: gilscope run -- python3 samples/bytesio.py local

Works on Python 3.6 and newer (stdlib only).
"""
import http.client
import io
import os
import sys
import threading
import time

import _localhttp  # samples/: the local server both fetching samples use

WRITES = 100000      # calls per thread in "local"
PIECE = b"x" * 256   # bytes per call in "local"
MARK = 0.05          # the sleep that brackets each loop
STREAMS = 3          # threads in "http"
SIZE = 4 << 20       # bytes each stream downloads
CHUNK = 16384        # bytes per read / BytesIO.write in "http"


def run_local():
    start = threading.Barrier(2)
    result = {}

    def bytesio_writer():
        buf = io.BytesIO()
        write = buf.write
        start.wait()
        time.sleep(MARK)
        t0 = time.perf_counter()
        for _ in range(WRITES):
            write(PIECE)
        result["bytesio"] = time.perf_counter() - t0
        time.sleep(MARK)
        assert buf.tell() == WRITES * len(PIECE)

    def os_writer():
        fd = os.open(os.devnull, os.O_WRONLY)
        try:
            start.wait()
            time.sleep(MARK)
            t0 = time.perf_counter()
            for _ in range(WRITES):
                os.write(fd, PIECE)
            result["os.write"] = time.perf_counter() - t0
            time.sleep(MARK)
        finally:
            os.close(fd)

    threads = [threading.Thread(target=bytesio_writer, name="bytesio-writer"),
               threading.Thread(target=os_writer, name="os-writer")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("local: %d x BytesIO.write %.3f s, %d x os.write(/dev/null) %.3f s"
          % (WRITES, result["bytesio"], WRITES, result["os.write"]))
    print("local: gilscope shows one GIL release per os.write call, and none made by "
          "the BytesIO thread on its own", flush=True)


class _Handler(_localhttp.Handler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(SIZE))
        self.end_headers()
        piece = b"y" * 65536
        left = SIZE
        while left > 0:
            n = min(left, len(piece))
            self.wfile.write(piece[:n])
            left -= n


def run_http():
    server, port = _localhttp.start_server(_Handler)
    result = {}

    def streamer(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        buf = io.BytesIO()
        reads = 0
        try:
            conn.request("GET", "/stream/%d" % k)
            resp = conn.getresponse()
            time.sleep(MARK)
            t0 = time.perf_counter()
            while True:
                data = resp.read(CHUNK)   # socket reads: the GIL is released here
                if not data:
                    break
                reads += 1
                buf.write(data)           # a memory copy: the GIL is kept
            dt = time.perf_counter() - t0
            time.sleep(MARK)
        finally:
            conn.close()
        result[k] = (buf.tell(), reads, dt)

    threads = [threading.Thread(target=streamer, args=(k,), name="streamer-%d" % k)
               for k in range(1, STREAMS + 1)]
    t0 = time.perf_counter()
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.join()
    total = time.perf_counter() - t0
    for k in sorted(result):
        size, reads, dt = result[k]
        if size != SIZE:
            raise SystemExit("streamer-%d got %d bytes, not %d" % (k, size, SIZE))
        print("http: streamer-%d %.1f MiB in %d reads of <= %d bytes, %.3f s"
              % (k, size / 1048576.0, reads, CHUNK, dt))
    print("http: %d streams into BytesIO in %.3f s" % (STREAMS, total), flush=True)


MODES = [("local", run_local), ("http", run_http)]


def main(argv):
    mode = argv[1] if len(argv) > 1 else "all"
    if mode != "all" and mode not in [m[0] for m in MODES]:
        sys.exit("usage: bytesio.py [local|http|all]")
    for key, fn in MODES:
        if mode in ("all", key):
            fn()


if __name__ == "__main__":
    main(sys.argv)
