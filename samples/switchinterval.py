"""What does sys.setswitchinterval change? How often a waiting thread gets in.

Two threads count down in a pure-Python loop (CPU-bound), once with the
switch interval at 5 ms (CPython's default) and once at 1 ms. A thread that
waits for the GIL sets a drop request after one interval, so the rate of drop
requests and forced switches follows the interval: ~200 a second at 5 ms,
~1000 a second at 1 ms on an idle machine (on a busy one each hand-off also
waits for the OS scheduler, up to a few ms, which lowers both). The total work does not get done any faster -- the
GIL still lets one thread run at a time -- and each switch costs a little,
so the shorter interval usually takes a bit longer; what it buys is latency:
a thread that wakes up waits at most ~1 ms for the GIL instead of ~5 ms.

In the report the hold bars of the 1 ms phase are five times as thin, with
five times as many drop-request markers; the database's drop_requests rows
carry the interval in force.

Usage: python3 switchinterval.py [MS ...]   (default: 5 1)
Under gilscope: gilscope run -- python3 samples/switchinterval.py 5 1

Works on Python 3.6 and newer (stdlib only; sys.setswitchinterval is 3.2+).
"""
import sys
import threading
import time

COUNT = 8000000   # per thread and phase: ~0.5 s of counting each on 3.11 here


def count_down(n):
    while n > 0:
        n -= 1


def phase(ms):
    sys.setswitchinterval(ms / 1000.0)
    workers = [threading.Thread(target=count_down, args=(COUNT,), name="count-%gms-%d" % (ms, i))
               for i in (1, 2)]
    t0 = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return time.perf_counter() - t0


def main(argv):
    try:
        intervals = [float(a) for a in argv[1:]] or [5.0, 1.0]
    except ValueError:
        sys.exit("usage: switchinterval.py [MS ...]")
    default = sys.getswitchinterval()
    results = []
    for ms in intervals:
        dt = phase(ms)
        results.append((ms, dt))
        print("switch interval %4g ms: 2 threads x %d countdown in %.2f s"
              % (ms, COUNT, dt), flush=True)
    sys.setswitchinterval(default)
    if len(results) > 1:
        print("; ".join("%g ms: %.2f s" % r for r in results))


if __name__ == "__main__":
    main(sys.argv)
