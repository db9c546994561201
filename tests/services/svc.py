"""Helpers shared by the service tests: start tests/services/service.py
under `gilscope exec`, hammer it from bounded client threads on
127.0.0.1, and check every answer."""
from __future__ import annotations

import http.client
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Optional

import gstest

HERE = Path(__file__).resolve().parent


def expected(n: int) -> bytes:
    return str(sum(i * i for i in range(n))).encode()


class Service:
    """The service, started with `gilscope exec -- PYTHON service.py`."""

    def __init__(self, python: Path) -> None:
        # The samples' modules (_localhttp) come from PYTHONPATH, which
        # `gilscope exec` extends with its own hook.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(gstest.source_dir() / "samples")] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        self.proc = subprocess.Popen([str(gstest.gilscope()), "exec", "--", str(python),
                                      str(HERE / "service.py")],
                                     stdout=subprocess.PIPE, text=True, env=env,
                                     start_new_session=True)
        line = self.proc.stdout.readline().split() if self.proc.stdout else []
        if len(line) != 4 or line[0] != "PORT":
            self.stop()
            gstest.fail(f"the service did not start: {line}")
        self.port = int(line[1])
        self.server_pid = int(line[3])
        self.pid = self.proc.pid

    def get(self, n: int) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", "/%d" % n)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"status {resp.status}")
            return body
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


class Client:
    """Client threads asking GET /N in a loop until stopped or `limit`
    requests each; every answer is checked against expected(N)."""

    def __init__(self, svc: Service, threads: int = 3, limit: int = 100000, n: int = 30000) -> None:
        self.svc, self.limit, self.n = svc, limit, n
        self.ok = 0
        self.bad: list[str] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def loop(self) -> None:
        want = expected(self.n)
        for _ in range(self.limit):
            if self.stopping.is_set():
                return
            try:
                body = self.svc.get(self.n)
                good = body == want
                err = None if good else f"answer changed: {body[:40]!r}"
            except Exception as e:  # noqa: BLE001 - any failure is a finding
                good, err = False, f"{type(e).__name__}: {e}"
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.bad.append(err or "?")

    def count(self) -> int:
        with self.lock:
            return self.ok

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=60)


def gs(*args: str, timeout: float = 120, user: Optional[str] = None,
       env: Optional[dict] = None) -> subprocess.CompletedProcess:
    argv = [str(gstest.gilscope()), *args]
    if user:
        argv = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def sessions() -> str:
    return subprocess.run(["lttng", "list"], capture_output=True, text=True).stdout


def wait_until(cond, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    gstest.fail(f"timed out: {what}")
