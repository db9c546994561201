"""Do threads make CPU-bound Python faster? (David Beazley's countdown.)

The same work -- counting two numbers down to zero in a pure-Python loop --
done three ways:

  seq        one thread counts both numbers, one after the other;
  threads    two threads count one number each, at the same time;
  processes  two processes count one number each, at the same time.

Only one thread can hold the GIL, so the two threads take turns: every
switch interval (5 ms) the waiting thread asks for the GIL (a drop request)
and the holder hands it over, about 200 switches a second, and the GIL is
held nearly all of the time. Two threads take as long as one thread, or
longer. Two processes have a GIL each and really run in parallel (given two
free cores).

Usage: python3 countdown.py [seq|threads|processes|all] [COUNT] [WORKERS]
       (default: all, COUNT = 15000000 per worker, WORKERS = 2: numbers
       counted, by one thread in turn, by as many threads, or processes)
Under gilscope: gilscope run -- python3 samples/countdown.py threads

Works on Python 3.6 and newer (stdlib only).
"""
import multiprocessing
import sys
import threading
import time

DEFAULT_COUNT = 15000000


def count_down(n):
    while n > 0:
        n -= 1


def run_seq(n, workers=2):
    for _ in range(workers):
        count_down(n)


def run_threads(n, count=2):
    workers = [threading.Thread(target=count_down, args=(n,), name="counter-%d" % i)
               for i in range(1, count + 1)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()


def _process_main(n, i, conn):
    # Named so that the report labels the child's lane.
    threading.current_thread().name = "counter-proc-%d" % i
    t0 = time.perf_counter()
    count_down(n)
    # Sending the result back is a write to a pipe, which releases the GIL.
    # (It also closes the child's long hold where gilscope can see it: a
    # multiprocessing child leaves through os._exit(), which the tracer
    # does not see, so a hold running up to the exit would be cut short.)
    conn.send(time.perf_counter() - t0)
    conn.close()


def run_processes(n, count=2):
    # The default start method: fork on Linux (until 3.14), so no re-import.
    workers = []
    for i in range(1, count + 1):
        parent_end, child_end = multiprocessing.Pipe(duplex=False)
        p = multiprocessing.Process(target=_process_main, args=(n, i, child_end),
                                    name="counter-proc-%d" % i)
        workers.append((p, parent_end))
    for p, _ in workers:
        p.start()
    times = [conn.recv() for _, conn in workers]
    for p, _ in workers:
        p.join()
        if p.exitcode != 0:
            raise SystemExit("%s exited with %s" % (p.name, p.exitcode))
    print("  (each process counted for %s s)" % " and ".join("%.2f" % t for t in times))


MODES = [("seq", "sequential", run_seq),
         ("threads", "%d threads", run_threads),
         ("processes", "%d processes", run_processes)]


def main(argv):
    mode = argv[1] if len(argv) > 1 else "all"
    n = int(argv[2]) if len(argv) > 2 else DEFAULT_COUNT
    workers = int(argv[3]) if len(argv) > 3 else 2
    names = [m[0] for m in MODES]
    if mode != "all" and mode not in names or workers < 1:
        sys.exit("usage: countdown.py [%s|all] [COUNT] [WORKERS]" % "|".join(names))
    results = []
    for key, label, fn in MODES:
        if mode not in ("all", key):
            continue
        t0 = time.perf_counter()
        fn(n, workers)
        dt = time.perf_counter() - t0
        label = label % workers if "%d" in label else label
        results.append((label, dt))
        print("%-12s %6.2f s" % (label, dt), flush=True)
    if len(results) > 1:
        print("counting %d x %d: %s" % (workers, n, ", ".join("%s %.2f s" % r for r in results)))


if __name__ == "__main__":
    main(sys.argv)
