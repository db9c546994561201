"""Why does one CPU-bound thread make an I/O thread slow? The convoy effect.

An echo client thread ("echo-quiet", then "echo-with-hog") sends small messages to an echo server (a child
process at the other end of a socket pair, answering after LATENCY, like a
server across a network) and times each round trip:

  quiet  the echo client alone: a round trip takes about LATENCY (1 ms);
  hog    the same, next to a "cpu-hog" thread spinning in a Python loop.

Every socket call releases the GIL. While the echo client waits for its
answer the hog takes the GIL, and when the answer arrives the client must
ask for it back: it waits a whole switch interval (5 ms), sets a drop
request, and only then gets it. A round trip costs LATENCY plus one switch
interval: the I/O thread gets the GIL back at most ~200 times a second, and
an I/O-bound loop runs several times slower (bpo-7946, "the convoy
effect"). (With an answer faster than a thread wake-up -- tens of
microseconds -- the client re-takes the free GIL before the hog wakes and
the effect hides; the latency is what lets the hog in.)

In the report the "echo-with-hog" lane shows a red wait of one interval after
each of its I/O calls, each ended by a drop request to the hog; the summary
counts these waits in the CONVOY column and names the thread in a finding.

Usage: python3 convoy.py [quiet|hog|all]   (default: all)
Under gilscope: gilscope run -- python3 samples/convoy.py hog

Works on Python 3.6 and newer (stdlib only).
"""
import multiprocessing
import socket
import sys
import threading
import time

ROUNDS_QUIET = 200   # round trips without the hog (~1 ms each)
ROUNDS_HOG = 100     # round trips next to the hog (~6 ms each)
LATENCY = 0.001      # the echo server's delay before answering
MESSAGE = b"ping" * 16


def _echo_server(sock):
    threading.current_thread().name = "echo-server"
    while True:
        data = sock.recv(65536)
        if not data:
            break
        time.sleep(LATENCY)
        sock.sendall(data)
    sock.close()


def echo_rounds(sock, rounds, name):
    """Runs `rounds` round trips in a thread called `name`; returns latencies (s)."""
    latencies = []

    def client():
        for _ in range(rounds):
            t0 = time.perf_counter()
            sock.sendall(MESSAGE)
            got = 0
            while got < len(MESSAGE):
                got += len(sock.recv(65536))
            latencies.append(time.perf_counter() - t0)

    t = threading.Thread(target=client, name=name)
    t.start()
    t.join()
    return latencies


def cpu_hog(stop):
    n = 0
    while not stop:
        n += 1


def describe(label, lat):
    lat = sorted(lat)
    med = lat[len(lat) // 2]
    p90 = lat[int(len(lat) * 0.9)]
    total = sum(lat)
    print("%-22s %4d round trips: median %8.1f us, p90 %8.1f us, max %8.1f us, %6.0f round trips/s"
          % (label, len(lat), med * 1e6, p90 * 1e6, lat[-1] * 1e6, len(lat) / total), flush=True)
    return med


def main(argv):
    mode = argv[1] if len(argv) > 1 else "all"
    if mode not in ("quiet", "hog", "all"):
        sys.exit("usage: convoy.py [quiet|hog|all]")
    ours, theirs = socket.socketpair()
    server = multiprocessing.Process(target=_echo_server, args=(theirs,), name="echo-server")
    server.start()
    theirs.close()
    medians = {}
    try:
        if mode in ("quiet", "all"):
            medians["alone"] = describe("echo alone", echo_rounds(ours, ROUNDS_QUIET, "echo-quiet"))
        if mode in ("hog", "all"):
            stop = []
            hog = threading.Thread(target=cpu_hog, args=(stop,), name="cpu-hog")
            hog.start()
            time.sleep(0.02)   # let the hog settle on the GIL
            try:
                medians["hog"] = describe("echo next to cpu-hog", echo_rounds(ours, ROUNDS_HOG, "echo-with-hog"))
            finally:
                stop.append(True)
                hog.join()
    finally:
        ours.shutdown(socket.SHUT_WR)
        server.join()
        ours.close()
    if len(medians) == 2:
        print("median echo latency: alone %.1f us, next to a CPU-bound thread %.1f us (x%.0f)"
              % (medians["alone"] * 1e6, medians["hog"] * 1e6, medians["hog"] / medians["alone"]))


if __name__ == "__main__":
    main(sys.argv)
