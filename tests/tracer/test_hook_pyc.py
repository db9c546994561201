"""The Python hook is loaded byte-compiled: the build compiles it for every
CPython it finds (tools/compile-hook), and each interpreter accepts its
pyc from the hook's __pycache__ instead of compiling the source at every
traced start-up (about 4 ms), even with PYTHONDONTWRITEBYTECODE set. A pyc
that Python rejects (stale, wrong invalidation mode) or that the build did
not write for Debian's python3 fails; an interpreter installed after the
build is skipped, saying how to compile the hook for it."""
import os
import subprocess

import gstest


def main() -> None:
    label, exe = gstest.python_arg()
    hook = gstest.build_dir() / "share" / "gilscope" / "python"
    tag = subprocess.run([str(exe), "-I", "-c", "import sys; print(sys.implementation.cache_tag)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    pyc = hook / "__pycache__" / f"sitecustomize.{tag}.pyc"
    if not pyc.exists():
        if label == "debian":
            gstest.fail(f"the build wrote no {pyc} for {exe}")
        gstest.skip(f"no {pyc.name}: {exe} came after the build; "
                    "`cmake --build BUILD --target gilscope_hook_pyc` compiles the hook for it")
    env = dict(os.environ, PYTHONPATH=str(hook), PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([str(exe), "-v", "-c", "pass"], capture_output=True, text=True, env=env,
                         timeout=60)
    if out.returncode != 0:
        gstest.fail(f"{exe} -v -c pass exited {out.returncode}: {out.stderr[-2000:]}")
    lines = [ln for ln in out.stderr.splitlines() if str(hook) in ln]
    if not any(f"code object from '{pyc}'" in ln for ln in lines):
        gstest.fail(f"{exe} did not load the hook from {pyc}; what it said of the hook:\n" + "\n".join(lines))
    print(f"ok: {exe} loads the hook from {pyc}")


if __name__ == "__main__":
    main()
