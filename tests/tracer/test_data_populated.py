"""The preload populates the interpreter's own writable data and .bss for
writing (MADV_POPULATE_WRITE) before liblttng-ust starts its threads
(tracer/preload_process.c, python_data_prefault; docs/tracer.md, "Cost"):
every page of the executable's and libpython's data and .bss (up to 8 MiB
each) is present when Python's own code first runs. Fails when a
page of them is not, or when no such mapping is found; an interpreter
without MADV_POPULATE_WRITE (Linux before 5.14) is skipped."""
import os
import platform
import subprocess

import gstest

# Run by the interpreter under test: for the executable and each libpython,
# the writable PT_LOAD segment's pages (data, then .bss; past PT_GNU_RELRO,
# up to 8 MiB) from its ELF program headers, and how many of them
# /proc/self/pagemap says are not present. Not /proc/self/smaps' mappings:
# an anonymous mapping made later right after the .bss merges with it.
CHECK = r"""
import os, struct
exe = os.path.realpath("/proc/self/exe")
bases = {}
for line in open("/proc/self/maps"):
    f = line.split()
    if len(f) > 5 and int(f[2], 16) == 0 and f[5] not in bases:
        bases[f[5]] = int(f[0].split("-")[0], 16)
pagemap = open("/proc/self/pagemap", "rb")
for path, base in bases.items():
    if path != exe and not os.path.basename(path).startswith("libpython"):
        continue
    with open(path, "rb") as fh:
        elf = fh.read(1 << 16)
    phoff, = struct.unpack_from("<Q", elf, 32)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    phs = [struct.unpack_from("<IIQQQQQQ", elf, phoff + i * phentsize) for i in range(phnum)]
    first = min(ph[3] for ph in phs if ph[0] == 1) & ~4095
    relro = [(ph[3], ph[3] + ph[6]) for ph in phs if ph[0] == 0x6474e552]
    for ph in phs:
        if ph[0] != 1 or not ph[1] & 2 or ph[6] > 8 << 20:
            continue
        a, b = ph[3], ph[3] + ph[6]
        for r0, r1 in relro:
            if a <= r0 < b:
                a = max(a, r1)
        a, b = base - first + ((a + 4095) & ~4095), base - first + b
        missing = 0
        for page in range(a >> 12, (b + 4095) >> 12):
            pagemap.seek(page * 8)
            missing += not struct.unpack("<Q", pagemap.read(8))[0] >> 63
        print(path, "%x-%x" % (a, b), (b - a + 4095) >> 12, missing)
"""


def main() -> None:
    _, exe = gstest.python_arg()
    release = tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])
    if release < (5, 14):
        gstest.skip(f"Linux {platform.release()} has no MADV_POPULATE_WRITE (5.14+)")
    env = dict(os.environ, LD_PRELOAD=str(gstest.preload_lib()))
    out = subprocess.run([str(exe), "-I", "-c", CHECK], capture_output=True, text=True,
                         env=env, timeout=60)
    if out.returncode != 0:
        gstest.fail(f"{exe} exited {out.returncode}: {out.stderr[-2000:]}")
    rows = [ln.split() for ln in out.stdout.splitlines() if ln.strip()]
    if not rows:
        gstest.fail(f"{exe}: no writable segment of the interpreter found")
    short = [r for r in rows if int(r[3])]
    if short:
        gstest.fail(f"{exe}: pages of the interpreter's data not populated (file, range, "
                    "pages, pages not present):\n" + "\n".join(" ".join(r) for r in short))
    print(f"ok: {exe}: the data and .bss of {len(rows)} segments wholly present at start-up: "
          + ", ".join(f"{r[0]} {r[2]} pages" for r in rows))


if __name__ == "__main__":
    main()
