"""The program of test_pool.py: 8 pool workers with long names that block
(time.sleep) next to a CPU-bound thread, so each comes back to a busy GIL."""
import threading, time
from concurrent.futures import ThreadPoolExecutor

stop = False

def hog():
    n = 0
    while not stop:
        n += 1

def worker(i):
    # block (the GIL is released), then want it back next to the hog
    for _ in range(15):
        time.sleep(0.002)
        sum(range(2000))

h = threading.Thread(target=hog, name="hog")
h.start()
with ThreadPoolExecutor(8, thread_name_prefix="ThreadPoolExecutor-for-image-resizing") as ex:
    list(ex.map(worker, range(8)))
stop = True
h.join()
