"""The session daemon of a flight recorder: `record --flight` where no
daemon runs starts one, which must outlive the command (the session
lives in it), outlive a plain `record` that ends meanwhile, and be
stopped by `flight stop`; a daemon gilscope did not start is left
running by `flight stop`. In a mount namespace of its own
(gstest.private_lttng): no other test's daemon can be reached, and a
daemon left behind there is this test's alone.

gilscope's flight recorder used to forget that it had started the daemon
(so that no recorder stopped it under the session), and `flight stop`
then left it running for good: one lttng-sessiond per CI run."""
import subprocess
import time

import svc  # noqa: E402
from svc import gstest  # noqa: E402

SPIN = """
import threading, time
def spin():
    while True:
        sum(i * i for i in range(20000))
        time.sleep(0.002)
threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
time.sleep(300)
"""


def daemons() -> list[str]:
    return gstest.sessiond_pids(reachable=True)


def wait_gone(pid: str) -> bool:
    end = time.time() + 15
    while pid in daemons() and time.time() < end:
        time.sleep(0.1)
    return pid not in daemons()


def flight(py, what: str) -> str:
    """Starts a traced service and a flight recorder of it, stops the
    flight recorder; returns the daemon's pid seen while it ran."""
    service = subprocess.Popen([str(gstest.gilscope()), "exec", "--", str(py), "-c", SPIN],
                               stdout=subprocess.PIPE, text=True)
    try:
        gstest.check(service.stdout.readline().strip() == "ready", f"{what}: the service runs")
        res = svc.gs("record", "--flight", "-b", "1M", "--pid", str(service.pid))
        session = res.stdout.strip()
        gstest.check(res.returncode == 0 and session.startswith("gilscope-flight-"),
                     f"{what}: record --flight exits 0 and names its session: {res.stderr.strip()}")
        running = daemons()
        gstest.check(len(running) == 1, f"{what}: one session daemon runs after record --flight ({running})")
        daemon = running[0]
        time.sleep(0.3)
        gstest.check(session in svc.sessions() and daemon in daemons(),
                     f"{what}: the session and its daemon (pid {daemon}) outlive the command")
        # A plain recording that ends while the flight recorder runs is
        # the last recorder out: it must not stop the daemon under it.
        out = gstest.tmpdir() / "plain"
        res = gstest.record([str(py), "-c", "pass"], out, check=False)
        gstest.check(res.returncode == 0, f"{what}: a plain record meanwhile exits 0: {res.stderr.strip()}")
        gstest.check(daemon in daemons() and session in svc.sessions(),
                     f"{what}: the daemon and the flight session outlive a plain record ending meanwhile")
        res = svc.gs("flight", "stop")
        gstest.check(res.returncode == 0 and session not in svc.sessions(),
                     f"{what}: flight stop ends the session: {res.stderr.strip()}")
        gstest.check(service.poll() is None, f"{what}: the service runs on")
        return daemon
    finally:
        service.kill()
        service.wait()


def main() -> None:
    if not gstest.private_lttng():
        gstest.skip("needs root and unshare(1): a mount namespace of its own, where no other "
                    "test's session daemon can be reached and none of its own can be left")
    py = gstest.find_python("debian")
    if py is None:
        gstest.skip("/usr/bin/python3 is missing")
    gstest.check(not daemons(), f"no session daemon runs in the namespace ({daemons()})")

    daemon = flight(py, "gilscope's daemon")
    gstest.check(wait_gone(daemon), f"flight stop stops the daemon record --flight started (pid {daemon}); "
                 f"still running: {daemons()}")
    gstest.check(not gstest.sessiond_state("marker").exists(),
                 "no marker of a daemon gilscope started is left")

    with gstest.own_sessiond() as own:
        seen = flight(py, "a daemon of the test's own")
        gstest.check(seen == str(own), f"the flight recorder used the running daemon ({seen}, {own})")
        time.sleep(1)
        gstest.check(str(own) in daemons(), "flight stop leaves a daemon gilscope did not start running")
    print("PASSED: the flight recorder's session daemon")


if __name__ == "__main__":
    main()
