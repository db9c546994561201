"""A small service for the attach tests, run under `gilscope exec`: the
samples' local HTTP server (in a child process, as samples/_localhttp.py
runs it) whose handler threads do CPU-bound work, and three CPU-bound
threads beside it (two that never sleep) so that the GIL is always busy
and contended. Prints
"PORT <port> SERVER <pid>" once it serves, then serves until killed.

GET /N answers the decimal digits of sum(i*i for i in range(N)) (a fixed
function of N: the tests check that answers never change)."""
import threading
import time

import _localhttp  # samples/, on PYTHONPATH (svc.py)


def answer(n: int) -> bytes:
    return str(sum(i * i for i in range(n))).encode()


class Handler(_localhttp.Handler):
    def do_GET(self) -> None:
        body = answer(int(self.path.lstrip("/") or "0"))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def spin(k: int) -> None:
    threading.current_thread().name = "cpu-worker-%d" % k
    while True:
        sum(i * i for i in range(300000))  # ~20 ms holding the GIL: drop requests
        # Workers 0 and 2 never sleep: at any moment one of them holds the
        # GIL or waits for it, so a recording that starts finds a hold or a
        # wait open (test_attach checks that they are clipped, not lost).
        # With only sleepers, the GIL was free and nobody waiting at about
        # one start in ten under load, and there was nothing to clip.
        if k == 1:
            time.sleep(0.005)


def main() -> None:
    proc, port = _localhttp.start_server(Handler)
    for k in range(3):
        threading.Thread(target=spin, args=(k,), daemon=True).start()
    print("PORT %d SERVER %d" % (port, proc.pid), flush=True)
    proc.join()


if __name__ == "__main__":
    main()
