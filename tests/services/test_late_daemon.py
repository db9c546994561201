"""A process started by `gilscope exec` while no session daemon runs
registers with one started later: as the user nobody (whose daemon is
private to its HOME, so that no other test's daemon counts), start the
service, check that no daemon of that user runs, then `record --pid`,
which starts one: the trace holds the service's GIL events and thread
names; the daemon is stopped afterwards."""
import os
import subprocess
import tempfile
import time
from pathlib import Path

import svc  # noqa: E402
from svc import gstest  # noqa: E402

USER = "nobody"
SPIN = """
import threading, time
def spin(k):
    threading.current_thread().name = "spinner-%d" % k
    while True:
        sum(i * i for i in range(50000))
        time.sleep(0.001)
for k in range(2):
    threading.Thread(target=spin, args=(k,), daemon=True).start()
print("ready", flush=True)
time.sleep(120)
"""


def main() -> None:
    if os.geteuid() != 0:
        gstest.skip("needs root, to run as nobody (whose session daemon no other test uses)")
    py = gstest.find_python("debian")
    if py is None:
        gstest.skip("/usr/bin/python3 is missing")
    import pwd
    uid = pwd.getpwnam(USER).pw_uid
    # Another test's daemon of that user may still be on its way out.
    end = time.time() + 15
    while gstest.sessiond_pids(uid) and time.time() < end:
        time.sleep(0.2)
    if gstest.sessiond_pids(uid):
        gstest.skip(f"a session daemon of {USER} runs already")
    home = Path(tempfile.mkdtemp(prefix="gilscope-late-"))
    os.chmod(home, 0o777)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LTTNG", "XDG_RUNTIME"))}
    env["HOME"] = str(home)
    service = subprocess.Popen(["setpriv", f"--reuid={USER}", "--regid=nogroup", "--clear-groups",
                                str(gstest.gilscope()), "exec", "--", str(py), "-c", SPIN],
                               stdout=subprocess.PIPE, text=True, env=env)
    try:
        gstest.check(service.stdout.readline().strip() == "ready", "the service runs (as nobody)")
        time.sleep(0.5)
        gstest.check(not gstest.sessiond_pids(uid), "no session daemon of that user runs yet")
        out = home / "trace"
        res = svc.gs("record", "--pid", str(service.pid), "--duration", "1s", "-o", str(out),
                     user=USER, env=env, timeout=120)
        gstest.check(res.returncode == 0, f"record --pid started a daemon and recorded: {res.stderr.strip()}")
        trace = gstest.read_trace(out)
        names = {e.fields["name"] for e in trace.named("thread_name")}
        gstest.check(len(trace.named("acquire")) > 10 and {"spinner-0", "spinner-1"} <= names,
                     f"the service registered with the daemon started after it: "
                     f"{len(trace.named('acquire'))} acquires, names {sorted(names)}")
        end = time.time() + 15
        while gstest.sessiond_pids(uid) and time.time() < end:
            time.sleep(0.2)
        gstest.check(not gstest.sessiond_pids(uid), "the daemon the recording started is stopped")
        gstest.check(service.poll() is None, "the service runs on")
        print("PASSED: a daemon started after the process")
    finally:
        service.kill()
        service.wait()


if __name__ == "__main__":
    main()
