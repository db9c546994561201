"""Does asyncio fight over the GIL? No: it runs everything in one thread.

An asyncio TCP server on 127.0.0.1 (ephemeral port) answers each line after
DELAY (an asyncio.sleep, like a slow backend), and CLIENTS client coroutines
send ROUNDS requests each, all at once, all in the main thread's event loop.
The waits overlap as they would with threads (the whole run takes about
ROUNDS x DELAY, not CLIENTS x ROUNDS x DELAY), but there is one thread: no
one ever waits for the GIL, no drop requests, no switches. The GIL is
released only while the event loop sleeps in epoll/select.

In the report: a single lane (MainThread), short green holds separated by
blank stretches where the loop waits in select(); the summary shows 0 drop
requests and 0 switches.

Named asyncio_demo.py, not asyncio.py: a file called asyncio.py next to
your script would shadow the standard library's asyncio module.

Usage: python3 asyncio_demo.py
Under gilscope: gilscope run -- python3 samples/asyncio_demo.py

Works on Python 3.6 and newer (stdlib only); asyncio.run is used on 3.7+,
an explicit event loop on 3.6.
"""
import asyncio
import sys
import time

CLIENTS = 100
ROUNDS = 10
DELAY = 0.01


async def handle(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            break
        await asyncio.sleep(DELAY)
        writer.write(line)
        await writer.drain()
    writer.close()


async def client(port, k):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(ROUNDS):
        msg = ("client %d request %d\n" % (k, i)).encode()
        writer.write(msg)
        await writer.drain()
        answer = await reader.readline()
        if answer != msg:
            raise RuntimeError("bad echo: %r" % answer)
    writer.close()
    if hasattr(writer, "wait_closed"):   # 3.7+
        await writer.wait_closed()


async def main():
    # A numeric host: asyncio resolves it without its thread-pool executor,
    # so the process keeps exactly one thread.
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    t0 = time.perf_counter()
    await asyncio.gather(*[client(port, k) for k in range(CLIENTS)])
    dt = time.perf_counter() - t0
    server.close()
    await server.wait_closed()
    print("%d clients x %d requests (server delay %d ms) in %.2f s, in one thread "
          "(one request after the other would take %.1f s)"
          % (CLIENTS, ROUNDS, DELAY * 1000, dt, CLIENTS * ROUNDS * DELAY))


def run():
    if sys.version_info >= (3, 7):
        asyncio.run(main())
    else:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()


if __name__ == "__main__":
    run()
