"""Can one C call freeze every other thread? Yes, if it never releases the GIL.

CPython asks the GIL holder to let go by setting a drop request, but only
the bytecode loop checks for it, between bytecodes. A single call into C
code that runs for a second without releasing the GIL answers the request
only when it returns: every other Python thread stops for that second.

A "ticker" thread wakes up every millisecond and notes how late it is. Next
to it, one long call runs in its own thread:

  sum     hog-sum: sum(range(N)), a C loop over a C iterator -- no bytecode
          runs inside, so the drop request waits for the whole call;
  regex   hog-regex: re.match with catastrophic backtracking ("(a+)+$"
          against "aaa...ab"), the same inside the regex engine;
  hashlib hashlib-sha256: sha256 of a big buffer, for contrast: hashlib's
          OpenSSL implementation releases the GIL while it hashes more than
          2 KiB, so the ticker keeps ticking. (A Python built without
          OpenSSL -- e.g. a pyenv 3.6 on Debian 12 -- falls back to the
          built-in _sha256 module, which keeps the GIL: the sample says so.)

In the report: a hold of the whole call, the ticker (and the main thread,
which wants the GIL back after starting the hog thread) waiting red all
along, and a drop-request marker to the hog honoured only at the end; the
summary's "drop response" max is about the length of the call and a
finding reports the drop requests slower than 1 ms.

Usage: python3 gil_hog.py [sum|regex|hashlib|all]   (default: all)
Under gilscope: gilscope run -- python3 samples/gil_hog.py sum

Works on Python 3.6 and newer (stdlib only).
"""
import hashlib
import re
import sys
import threading
import time

SUM_N = 60000000             # sum(range(SUM_N)): ~0.6 s on Python 3.11 here
REGEX_A = 23                 # "a" * REGEX_A + "b" against (a+)+$: ~0.7 s
HASH_BYTES = 400 * 1000000   # sha256 of this many zero bytes: ~0.3 s
TICK = 0.001


def call_sum():
    return sum(range(SUM_N))


def call_regex():
    return re.match(r"(a+)+$", "a" * REGEX_A + "b")


_buffer = []


def call_hashlib():
    return hashlib.sha256(_buffer[0]).hexdigest()


MODES = [("sum", "hog-sum", "sum(range(%d))" % SUM_N, call_sum),
         ("regex", "hog-regex", "re.match('(a+)+$', 'a' * %d + 'b')" % REGEX_A, call_regex),
         ("hashlib", "hashlib-sha256", "hashlib.sha256(%d MB)" % (HASH_BYTES // 1000000),
          call_hashlib)]


class Ticker(threading.Thread):
    """Sleeps TICK at a time and keeps the worst lateness seen."""

    def __init__(self):
        threading.Thread.__init__(self, name="ticker")
        self.daemon = True
        self.worst = 0.0
        self.ticks = 0
        self.stopped = False

    def run(self):
        while not self.stopped:
            t0 = time.perf_counter()
            time.sleep(TICK)
            late = time.perf_counter() - t0 - TICK
            self.ticks += 1
            if late > self.worst:
                self.worst = late

    def reset(self):
        self.worst, self.ticks = 0.0, 0


def main(argv):
    mode = argv[1] if len(argv) > 1 else "all"
    if mode != "all" and mode not in [m[0] for m in MODES]:
        sys.exit("usage: gil_hog.py [sum|regex|hashlib|all]")
    if mode in ("hashlib", "all"):
        _buffer.append(bytes(HASH_BYTES))
    ticker = Ticker()
    ticker.start()
    time.sleep(0.05)
    for key, name, what, fn in MODES:
        if mode not in ("all", key):
            continue
        ticker.reset()
        took = []

        def hog():
            t0 = time.perf_counter()
            fn()
            took.append(time.perf_counter() - t0)

        t = threading.Thread(target=hog, name=name)
        t.start()
        t.join()
        time.sleep(0.02)   # let the ticker note its last lateness
        print("%-45s took %6.3f s; meanwhile the ticker ticked %4d times, worst delay %7.1f ms"
              % (what, took[0], ticker.ticks, ticker.worst * 1000), flush=True)
        if key == "hashlib":
            impl = type(hashlib.sha256()).__module__
            if impl == "_hashlib":
                print("  (OpenSSL's sha256: it released the GIL while hashing)")
            else:
                print("  (sha256 from the built-in module %s, not OpenSSL: it may keep the GIL)"
                      % impl)
    ticker.stopped = True
    ticker.join()


if __name__ == "__main__":
    main(sys.argv)
