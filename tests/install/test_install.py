"""`make install` puts a working gilscope under a prefix: the installed
command finds its preload library, Python hook and report module relative
to itself, records, analyzes and reports, and its man page is there."""
import shutil
import subprocess

import gstest


def main() -> None:
    prefix = gstest.tmpdir("gilscope-prefix-")
    res = subprocess.run(["cmake", "--install", str(gstest.build_dir()), "--prefix", str(prefix)],
                         capture_output=True, text=True)
    gstest.check(res.returncode == 0, f"cmake --install exits 0: {res.stderr.strip()[-300:]}")
    exe = prefix / "bin" / "gilscope"
    for part in ["bin/gilscope", "lib/gilscope/libgilscope-preload.so", "lib/gilscope/libgilscope-probes.so",
                 "share/gilscope/python/sitecustomize.py", "share/man/man1/gilscope.1"]:
        gstest.check((prefix / part).exists(), f"installed {part}")
    gstest.check(any((prefix / "share/gilscope/report").rglob("*.py")), "installed the report module")
    # Away from the build tree: copy nothing back, run from elsewhere.
    work = gstest.tmpdir()
    prog = work / "two.py"
    prog.write_text("import threading\ndef f():\n    n = 500000\n    while n: n -= 1\n"
                    "ts = [threading.Thread(target=f, name='w%d' % i) for i in range(2)]\n"
                    "[t.start() for t in ts]; [t.join() for t in ts]\n")
    res = subprocess.run([str(exe), "run", "-o", str(work / "out"), "--", str(gstest.find_python("debian")),
                          str(prog)], capture_output=True, text=True, cwd=work, timeout=240)
    gstest.check(res.returncode == 0, f"installed gilscope run exits 0: {res.stderr.strip()[-400:]}")
    gstest.check((work / "out" / "report.html").stat().st_size > 1000, "report written")
    gstest.check("w0" in res.stdout and "w1" in res.stdout, "summary names the threads (hook found)")
    ver = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout
    gstest.check(ver.startswith("gilscope "), f"--version: {ver.strip()}")
    shutil.rmtree(prefix)
    print("PASSED: install")


if __name__ == "__main__":
    main()
