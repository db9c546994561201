"""With no session daemon running, `gilscope record` starts a private one
and stops it when done; without lttng-sessiond installed it says what to
install. As root it runs in a mount namespace of its own with an empty
/run/lttng (gstest.private_lttng), where the machine's daemons cannot be
reached; elsewhere it needs none running (RUN_SERIAL) and skips if one is."""
import os
import subprocess
import tempfile
from pathlib import Path

import gstest


def main() -> None:
    private = gstest.private_lttng()
    if gstest.sessiond_pids(reachable=private):
        gstest.skip(f"a session daemon not started by gilscope is running ({gstest.sessiond_pids()}); "
                    "this test needs none (as root it makes its own mount namespace instead)")
    if private:
        print("ok: in a mount namespace of its own: no other session daemon can be reached")
    out = gstest.tmpdir()
    py = gstest.find_python("debian")
    res = gstest.record([str(py), "-c", "print('hi')"], out / "a")
    gstest.check(res.stdout == "hi\n", "recorded with a private daemon")
    gstest.check(len(gstest.read_trace(out / "a").named("gil_found")) >= 1, "and its events arrived")
    gstest.check(not gstest.sessiond_pids(reachable=private), "the private daemon was stopped afterwards")

    # A PATH that has everything but lttng-sessiond.
    bindir = Path(tempfile.mkdtemp(prefix="gilscope-path-"))
    for tool in ("sh", "true", "env"):
        src = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        os.symlink(src, bindir / tool)
    env = dict(os.environ, PATH=str(bindir))
    res = subprocess.run([str(gstest.gilscope()), "record", "-o", str(out / "b"), "--", "true"],
                         capture_output=True, text=True, env=env, timeout=60)
    gstest.check(res.returncode == 1, f"no lttng-sessiond: exit 1 ({res.returncode})")
    gstest.check("apt-get install lttng-tools" in res.stderr.splitlines()[0],
                 f"and says what to install: {res.stderr.strip()}")
    print("PASSED: no session daemon")


if __name__ == "__main__":
    main()
