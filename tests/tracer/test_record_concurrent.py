"""Two `gilscope record`s started at the same moment both work, and each
trace tells its own processes apart from the other recording's (tags)."""
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import gstest  # noqa: E402

PROG = "import threading\ndef f():\n    n = 400000\n    while n: n -= 1\n" \
       "ts = [threading.Thread(target=f) for _ in range(2)]\n" \
       "[t.start() for t in ts]; [t.join() for t in ts]\nimport os; print(os.getpid())\n"


def main() -> None:
    py = gstest.find_python("debian")
    out = gstest.tmpdir()
    procs = [subprocess.Popen([str(gstest.gilscope()), "record", "-o", str(out / f"t{i}"), "--",
                               str(py), "-c", PROG], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    for i, (stdout, stderr, rc) in enumerate(results):
        gstest.check(rc == 0, f"recorder {i} exited 0 ({rc}); stderr: {stderr.strip()[-300:]}")
    pids = [int(r[0].strip()) for r in results]
    tags = [int(gstest.info(out / f"t{i}")["tag"]) for i in range(2)]
    gstest.check(tags[0] != tags[1], f"distinct tags {tags}")
    for i in range(2):
        own = gstest.own_events(gstest.read_trace(out / f"t{i}"), tags[i])
        got = {e.pid for e in own.events}
        gstest.check(got == {pids[i]}, f"trace {i} keeps only its own process {pids[i]}: {got}")
        gstest.check(len(own.named("gil_found")) == 1, f"trace {i}: its GIL found")
        c = gstest.check_sequences(own)
        n = sum(x["acquire"] for x in c.values())
        gstest.check(n > 100 and len(c) >= 3, f"trace {i}: {n} acquires by {len(c)} threads")
        gstest.check_sequences(own)
    print("PASSED: concurrent records")


if __name__ == "__main__":
    main()
