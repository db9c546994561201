"""Strings the traced program chooses (thread names, its command line) are
escaped wherever gilscope prints them (issue 13): the terminal summary
shows control characters as \\x1b (no escape sequence reaches the
terminal), the HTML report embeds no markup of theirs, the JSON export
keeps them exactly and stays valid JSON."""
import json
import re
import subprocess

import gstest

check = gstest.check

# Clears the screen and turns the text red, rings the bell; closes the
# page's script and opens one; a C1 CSI (U+009B); a line break.
NAMES = ["\x1b[2J\x1b[31mred\x07", "</script><script>alert(1)</script>", "\u009b31mcsi",
         "two\nlines"]
PROG = ("# \x1b]0;t\x07\n"
        "import threading\n"
        f"names = {NAMES!r}\n"
        "def f():\n    n = 100000\n    while n: n -= 1\n"
        "ts = [threading.Thread(target=f, name=n) for n in names]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n")
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f]")


def gs(*argv, timeout=240) -> subprocess.CompletedProcess:
    return subprocess.run([str(gstest.gilscope()), *map(str, argv)], capture_output=True,
                          timeout=timeout)


def main() -> None:
    py = gstest.find_python("debian")
    if py is None:
        gstest.skip("/usr/bin/python3 is missing")
    out = gstest.tmpdir()
    res = gs("run", "-o", out, "--", py, "-c", PROG)
    check(res.returncode == 0, f"gilscope run works: {res.stderr.decode(errors='replace')[-400:]}")
    db = out / "run.db"
    con = __import__("sqlite3").connect(db)
    stored = {r[0] for r in con.execute("SELECT name FROM threads WHERE name IS NOT NULL")}
    con.close()
    check(set(NAMES) <= stored, f"the names are stored as the program chose them: {stored}")

    for what, text in (("gilscope run's summary", res.stdout), ("gilscope summary", gs("summary", db).stdout)):
        shown = text.decode("utf-8")
        bad = sorted({f"U+{ord(c):04X}" for c in CONTROL.findall(shown)})
        check(not bad, f"{what}: no control character reaches the terminal ({bad})")
        check("\\x1b[2J\\x1b[31" in shown, f"{what}: ESC shown as \\x1b")
        check("\\xc2\\x9b31mcsi" in shown, f"{what}: the C1 CSI shown as bytes")
        check("two\\x0alines" in shown, f"{what}: a line break shown as \\x0a")
        check("# \\x1b]0;t\\x07" in shown, f"{what}: the command line's ESC and BEL too")

    page = (out / "report.html").read_text(encoding="utf-8")
    check("<script>alert(1)" not in page, "report: the name's markup is not in the page")
    check("\x1b" not in page and "\x07" not in page, "report: no raw control character in the page")

    res = gs("export", db, "-o", out / "run.json", "--format", "json")
    check(res.returncode == 0, f"export works: {res.stderr.decode(errors='replace')}")
    raw = (out / "run.json").read_text(encoding="utf-8")
    check(not CONTROL.search(raw.replace("\n", "")), "export: no raw control character in the JSON")
    names = set()

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "name" and isinstance(v, str):
                    names.add(v)
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(json.loads(raw))
    check(all(any(n in v for v in names) for n in NAMES),
          f"export: the names round-trip exactly ({sorted(names)[:8]})")
    print("PASSED: hostile names escaped in summary, report and export")


if __name__ == "__main__":
    main()
