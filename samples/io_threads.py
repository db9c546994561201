"""Do threads help I/O-bound Python? Yes: the GIL is released while waiting.

The sample starts a small HTTP server on 127.0.0.1 (an ephemeral port, in a
child process) that waits DELAY before each answer, like a slow remote
service, then fetches the same REQUESTS URLs two ways:

  seq      one thread, one request after the other;
  threads  THREADS threads sharing the requests.

A thread waiting on a socket has released the GIL, so the threads overlap
their waits: they finish several times faster than the sequential loop,
while the GIL is held only a small fraction of the time and hardly anyone
waits for it. In the report the client threads' lanes are mostly blank
(running without the GIL) with short green holds between the requests.

Usage: python3 io_threads.py [seq|threads|all]   (default: all)
Under gilscope: gilscope run -- python3 samples/io_threads.py threads

Works on Python 3.6 and newer (stdlib only).
"""
import http.client
import sys
import threading
import time

import _localhttp  # samples/: the local server both fetching samples use

DELAY = 0.02        # seconds the server waits before each answer
REQUESTS = 40       # requests per mode
THREADS = 8         # client threads in "threads" mode
BODY = b"x" * 16384  # each answer's body


class _Handler(_localhttp.Handler):
    protocol_version = "HTTP/1.1"  # keep-alive: one server thread per client connection
    disable_nagle_algorithm = True  # or keep-alive meets delayed ACKs: +40 ms a request

    def do_GET(self):
        time.sleep(DELAY)
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


def start_server():
    """Starts the server in a child process; returns (process, port)."""
    return _localhttp.start_server(_Handler)


def connect(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def fetch(conn, path):
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200 or len(body) != len(BODY):
        raise RuntimeError("bad answer for %s: %s, %d bytes" % (path, resp.status, len(body)))


def run_seq(port):
    conn = connect(port)
    try:
        for i in range(REQUESTS):
            fetch(conn, "/seq/%d" % i)
    finally:
        conn.close()


def run_threads(port):
    errors = []

    def worker(k):
        conn = connect(port)
        try:
            for i in range(k, REQUESTS, THREADS):
                fetch(conn, "/threads/%d" % i)
        except Exception as e:  # reported by the main thread
            errors.append(e)
        finally:
            conn.close()

    workers = [threading.Thread(target=worker, args=(k,), name="fetcher-%d" % (k + 1))
               for k in range(THREADS)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if errors:
        raise errors[0]


MODES = [("seq", "sequential", run_seq),
         ("threads", "%d threads" % THREADS, run_threads)]


def main(argv):
    mode = argv[1] if len(argv) > 1 else "all"
    if mode != "all" and mode not in [m[0] for m in MODES]:
        sys.exit("usage: io_threads.py [seq|threads|all]")
    server, port = start_server()
    results = []
    try:
        for key, label, fn in MODES:
            if mode not in ("all", key):
                continue
            t0 = time.perf_counter()
            fn(port)
            dt = time.perf_counter() - t0
            results.append((label, dt))
            print("%-12s %6.2f s  (%d requests, server delay %d ms)"
                  % (label, dt, REQUESTS, DELAY * 1000), flush=True)
    finally:
        server.terminate()
        server.join()
    if len(results) > 1:
        print("%d requests: %s" % (REQUESTS, ", ".join("%s %.2f s" % r for r in results)))


if __name__ == "__main__":
    main(sys.argv)
