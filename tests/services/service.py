"""A small service for the attach tests, run under `gilscope exec`: the
samples' local HTTP server (in a child process, as samples/_localhttp.py
runs it) whose handler threads do CPU-bound work, and two CPU-bound
threads beside it so that the GIL is always busy and contended. Prints
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
        time.sleep(0.005)


def main() -> None:
    proc, port = _localhttp.start_server(Handler)
    for k in range(2):
        threading.Thread(target=spin, args=(k,), daemon=True).start()
    print("PORT %d SERVER %d" % (port, proc.pid), flush=True)
    proc.join()


if __name__ == "__main__":
    main()
