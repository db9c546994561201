"""The program of test_pool.py: 8 pool workers with long names that block
next to a CPU-bound thread, so each comes back to a busy GIL. Each worker
blocks at two places in turn (time.sleep, an Event's wait), so which of
its waits is its longest, the site its finding names, is left to the
scheduler: the workers are one kind whatever it picks. Two threads of
another kind (uploader-1, uploader-2) block the same way: a group of
their own."""
import threading, time
from concurrent.futures import ThreadPoolExecutor

stop = False
never = threading.Event()

def hog():
    n = 0
    while not stop:
        n += 1

def worker(i):
    # block (the GIL is released), then want it back next to the hog
    for k in range(16):
        if (i + k) % 2:
            time.sleep(0.002)
        else:
            never.wait(0.002)
        sum(range(2000))

h = threading.Thread(target=hog, name="hog")
h.start()
up = [threading.Thread(target=worker, args=(i,), name=f"uploader-{i + 1}") for i in range(2)]
for t in up:
    t.start()
with ThreadPoolExecutor(8, thread_name_prefix="ThreadPoolExecutor-for-image-resizing") as ex:
    list(ex.map(worker, range(8)))
for t in up:
    t.join()
stop = True
h.join()
