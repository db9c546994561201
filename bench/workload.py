"""bench/workload.py: the Python workloads of bench/run, each timing only
its own loop (time.perf_counter_ns) so that interpreter start-up and the
recorder's set-up and teardown are not counted. Prints "elapsed_ns=T".

    python3 workload.py countdown N     two threads, each counting down N
    python3 workload.py churn THREADS N each thread calls os.sched_yield() N
                                        times: on 3.10+ every call releases
                                        and retakes the GIL (3 GIL events)
    python3 workload.py churn THREADS N DEPTH
                                        the same, DEPTH Python frames deep
                                        (what a recorded stack walks)
    python3 workload.py churn-pinned CPUS N
                                        one churning thread per entry of
                                        CPUS (e.g. 0,0 or 0,1), each pinned
                                        to that CPU from inside the thread
                                        (os.sched_setaffinity(0, ...) pins
                                        the calling thread on Linux): the
                                        scheduler's choice, which makes the
                                        2-thread churn bimodal, made fixed;
                                        cpu_ns: the threads' summed CPU
                                        time, each BLOCKS times its least
                                        on a block; cpu_total_ns: their
                                        whole loops' CPU time
    python3 workload.py spawn N         starts N `python -c pass` children
                                        one after the other (start-up cost:
                                        under the recorder each is traced);
                                        cpu_ns: their own user+system time
    python3 workload.py spawn-pairs N   under `gilscope record`: N pairs of
                                        `python -c pass` children, one
                                        without gilscope's environment and
                                        one traced, in turns; prints the
                                        medians of each child's wall and
                                        CPU time and of the pairs' added
    python3 workload.py spawn-ab N NAME=EDITS...
                                        the same with any variants, in
                                        turns: EDITS is "bare" (gilscope's
                                        environment removed) and/or
                                        VAR=VALUE;... (VAR= removes it),
                                        e.g. base="LD_PRELOAD=/old/lib.so";
                                        "added" is against the first;
                                        "(+-X)": half the notch of that
                                        median (1.57 IQR / sqrt(N)): two
                                        "added" further apart than their
                                        notches are beyond the noise;
                                        "faults": each child's median
                                        minor page faults (wait4)
    python3 workload.py procs N THREADS forks N short children one after
                                        the other, each running THREADS
                                        threads that take and drop the
                                        GIL a few dozen times (many
                                        processes, GILs and threads)

A single churning thread also times its loop in BLOCKS blocks and prints
"best_ns": BLOCKS times its fastest block, which leaves out the time slices
other processes took on a shared machine, and "cpu_ns": BLOCKS times the
least CPU time (time.thread_time_ns, 3.7+) the thread spent on a block, which
a busy machine hardly changes: the figure for costs added to every call. With two threads the blocks of
one thread would overlap the other's at random, so there is no best_ns.

Kept free of annotations beyond 3.6 syntax: it runs under any python3.
"""
import os
import sys
import threading
import time


def countdown(n):
    while n > 0:
        n -= 1


BLOCKS = 10


def churn(n, best=None):
    y = os.sched_yield
    if best is None:
        for _ in range(n):
            y()
        return
    block = max(1, n // BLOCKS)
    cpu = getattr(time, "thread_time_ns", None)
    for _ in range(BLOCKS):
        t0 = time.perf_counter_ns()
        c0 = cpu() if cpu else 0
        for _ in range(block):
            y()
        t = time.perf_counter_ns() - t0
        best[0] = t if best[0] is None else min(best[0], t)
        if cpu:
            c = cpu() - c0
            best[1] = c if best[1] is None else min(best[1], c)


def pinned(cpu, n, cpu_ns):
    """A churn of n calls by a thread that first pins itself to cpu; its
    CPU time (time.thread_time_ns, 3.7+) is appended to cpu_ns as
    (BLOCKS times its least on a block, the whole loop's)."""
    def run():
        os.sched_setaffinity(0, {cpu})
        clock = getattr(time, "thread_time_ns", None)
        best = [None, None]
        c0 = clock() if clock else 0
        churn(n, best)
        if clock:
            cpu_ns.append((best[1] * BLOCKS, clock() - c0))
    return run


def deep(depth, fn, *args):
    if depth <= 1:
        return fn(*args)
    return deep(depth - 1, fn, *args)


def spawn(n):
    import resource
    import subprocess
    t0 = time.perf_counter_ns()
    for _ in range(n):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    elapsed = time.perf_counter_ns() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("elapsed_ns=%d" % elapsed)
    print("cpu_ns=%d" % int((ru.ru_utime + ru.ru_stime) * 1e9))
    return 0


def untraced_env():
    """The environment without what `gilscope record` added: a child
    started with it is not traced (the recording goes on meanwhile)."""
    env = dict(os.environ)
    for key in ("GILSCOPE_TAG", "GILSCOPE_ATTRIB"):
        env.pop(key, None)
    for key, mark in (("LD_PRELOAD", "libgilscope-preload"), ("PYTHONPATH", os.path.join("gilscope", "python"))):
        parts = [p for p in env.get(key, "").replace(" ", ":").split(":") if p and mark not in p]
        if parts:
            env[key] = ":".join(parts)
        else:
            env.pop(key, None)
    return env


def spawn_rounds(n, envs):
    """n rounds of one `python -c pass` child per environment (None: this
    process's), in an order that turns each round; each child's wall and
    own CPU time (wait4), per environment."""
    import subprocess
    walls = [[] for _ in envs]
    cpus = [[] for _ in envs]
    faults = [[] for _ in envs]
    for i in range(n):
        for j in range(len(envs)):
            k = (i + j) % len(envs)
            t0 = time.perf_counter_ns()
            p = subprocess.Popen([sys.executable, "-c", "pass"], env=envs[k])
            _, status, ru = os.wait4(p.pid, 0)
            walls[k].append(time.perf_counter_ns() - t0)
            cpus[k].append(int((ru.ru_utime + ru.ru_stime) * 1e9))
            faults[k].append(ru.ru_minflt)
            if status != 0:
                sys.exit("spawn: a child failed (status %d)" % status)
    return walls, cpus, faults


def median(v):
    v = sorted(v)
    return (v[len(v) // 2] + v[(len(v) - 1) // 2]) // 2


def notch(v: list) -> float:
    """Half the width of the median's notch (1.57 IQR / sqrt(n), McGill
    et al.): two variants' medians further apart than their notches differ
    by more than the noise, roughly at the 95% level."""
    v = sorted(v)
    if len(v) < 4:
        return float("nan")
    return 1.57 * (v[(3 * len(v)) // 4] - v[len(v) // 4]) / len(v) ** 0.5


def spawn_pairs(n):
    """Start-up side by side: child after child, so that both kinds share
    every moment's load (on a busy machine the difference between whole
    runs is mostly the load that changed in between)."""
    walls, cpus, _ = spawn_rounds(n, [untraced_env(), None])
    print("bare_ns=%d traced_ns=%d added_ns=%d" % (
        median(walls[0]), median(walls[1]), median([b - a for a, b in zip(*walls)])))
    print("bare_cpu_ns=%d traced_cpu_ns=%d added_cpu_ns=%d" % (
        median(cpus[0]), median(cpus[1]), median([b - a for a, b in zip(*cpus)])))
    return 0


def spawn_ab(n, specs):
    """spawn-pairs with any variants: each spec is NAME=EDITS, EDITS being
    ;-separated VAR=VALUE (VAR= removes VAR) applied to the untraced
    environment if the first is "bare", else to this (traced) one. The
    first variant is the reference of the "added" columns."""
    names, envs = [], []
    for spec in specs:
        name, _, edits = spec.partition("=")
        items = [e for e in edits.split(";") if e]
        env = untraced_env() if items[:1] == ["bare"] else dict(os.environ)
        for item in items:
            if item == "bare":
                continue
            var, _, value = item.partition("=")
            if value:
                env[var] = value
            else:
                env.pop(var, None)
        names.append(name)
        envs.append(env)
    walls, cpus, faults = spawn_rounds(n, envs)
    for k, name in enumerate(names):
        dw = [b - a for a, b in zip(walls[0], walls[k])]
        dc = [b - a for a, b in zip(cpus[0], cpus[k])]
        print("%-12s wall %7.1f ms  cpu %7.1f ms  added wall %+6.1f ms (+-%.1f)  cpu %+6.1f ms (+-%.1f)"
              "  faults %5d" % (
                  name, median(walls[k]) / 1e6, median(cpus[k]) / 1e6, median(dw) / 1e6,
                  notch(dw) / 1e6 if k else 0.0, median(dc) / 1e6, notch(dc) / 1e6 if k else 0.0,
                  median(faults[k])))
    return 0


def pipe_churn(n):
    r, w = os.pipe()
    for _ in range(n):
        os.write(w, b"x")
        os.read(r, 1)
    os.close(r)
    os.close(w)


def procs(n, threads):
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            ts = [threading.Thread(target=pipe_churn, args=(20,)) for _ in range(threads)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            os._exit(0)
        os.waitpid(pid, 0)


def main(argv):
    kind = argv[1]
    if kind == "spawn":
        return spawn(int(argv[2]))
    if kind == "spawn-pairs":
        return spawn_pairs(int(argv[2]))
    if kind == "spawn-ab":
        return spawn_ab(int(argv[2]), argv[3:])
    if kind == "procs":
        t0 = time.perf_counter_ns()
        procs(int(argv[2]), int(argv[3]))
        print("elapsed_ns=%d" % (time.perf_counter_ns() - t0))
        return 0
    cpu_ns = []   # churn-pinned: each thread's CPU time
    if kind == "countdown":
        target, threads, n = countdown, 2, int(argv[2])
    elif kind == "churn":
        target, threads, n = churn, int(argv[2]), int(argv[3])
        if len(argv) > 4:
            # Thread bootstrap adds 3 frames (4 with gilscope's thread hook).
            depth = max(1, int(argv[4]) - 3)
            target = (lambda fn: lambda *a: deep(depth, fn, *a))(churn)
    elif kind == "churn-pinned":
        cpus = [int(c) for c in argv[2].split(",")]
        n = int(argv[3])
        ts = [threading.Thread(target=pinned(c, n, cpu_ns)) for c in cpus]
    else:
        sys.exit("usage: workload.py countdown N | churn THREADS N [DEPTH] | churn-pinned CPUS N | spawn N | spawn-pairs N | "
                 "spawn-ab N NAME=EDITS... | procs N THREADS")
    best = [None, None]
    if kind != "churn-pinned":
        args = (n, best) if kind == "churn" and threads == 1 else (n,)
        ts = [threading.Thread(target=target, args=args) for _ in range(threads)]
    t0 = time.perf_counter_ns()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    t1 = time.perf_counter_ns()
    print("elapsed_ns=%d" % (t1 - t0))
    if best[0] is not None:
        print("best_ns=%d" % (best[0] * BLOCKS))
    if best[1] is not None:
        print("cpu_ns=%d" % (best[1] * BLOCKS))
    if cpu_ns:
        print("cpu_ns=%d" % sum(c[0] for c in cpu_ns))
        print("cpu_total_ns=%d" % sum(c[1] for c in cpu_ns))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
