"""A user's own sitecustomize runs under `gilscope record` exactly as without
it. gilscope's hook is the sitecustomize site imports (its directory first
on PYTHONPATH); it then runs the one the user had, wherever on sys.path the
import system would have found it: a module in a later entry (after an
empty directory and one holding a namespace directory of that name), a
package, a sourceless .pyc, an extension module, a module inside a zip
file on sys.path or in a directory of one, a relative entry (site makes
it absolute before any sitecustomize runs), a namespace
directory alone, one that raises (site's one-line message, the same),
none (Debian's python3 has its own, which must run), and entries site
adds itself after the standard library, which no finder has looked at
when the hook runs (the user's site-packages with a module or an
extension, a .pth file naming a zip file). Each form's program
prints what ran, how often, and what is in sys.modules, run once without
gilscope and once inside one recording; the outputs must be equal, and
each traced program names a thread, which must be in the trace (the hook
ran there). With Python 2.7 in pyenv, the Debian variant runs the forms
under 2.7 too (no extension form; 2.7 records nothing, but the hook runs)."""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import gstest

# The user's sitecustomize: counts its runs on sys (seen by 2.7 and 3).
USER = """import sys
sys.__dict__.setdefault("_user_sitecustomize_runs", []).append(%r)
"""

# The traced (or not) program: what ran at start-up.
PROGRAM = r"""
import os, sys, threading
hook = sys.argv[1]
mod = sys.modules.get("sitecustomize")
where = getattr(mod, "__file__", None) if mod is not None else None
if where is not None and os.path.dirname(os.path.abspath(where)) == hook:
    where = None  # gilscope's own: none of the user's
print("sitecustomize %s" % where)
print("runs %s" % getattr(sys, "_user_sitecustomize_runs", []))
t = threading.Thread(target=lambda: None, name=sys.argv[2])
t.start()
t.join()
"""

# An extension module named sitecustomize, built without Python's headers
# (the fetched 3.14 and 3.15 have none): multi-phase initialisation of an
# empty module, PyModuleDef as the stable ABI lays it out.
EXTENSION = r"""
typedef struct {
    long ob_refcnt; void *ob_type; void *m_init; long m_index; void *m_copy;
    const char *m_name; const char *m_doc; long m_size; void *m_methods;
    void *m_slots; void *m_traverse; void *m_clear; void *m_free;
} module_def;
extern void *PyModuleDef_Init(void *def);
static module_def def = {1, 0, 0, 0, 0, "sitecustomize", 0, 0, 0, 0, 0, 0, 0};
__attribute__((visibility("default"))) void *PyInit_sitecustomize(void)
{
    return PyModuleDef_Init(&def);
}
"""

# Runs each form both ways inside the recording and prints the results as
# JSON: the untraced child gets gilscope's variables removed.
DRIVER = r"""
import json, os, subprocess, sys
exe, prog, hook, forms = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
traced_env = dict(os.environ)
bare_env = {k: v for k, v in os.environ.items()
            if k not in ("LD_PRELOAD", "PYTHONPATH") and not k.startswith("GILSCOPE_")}
out = {}
for name, form in forms.items():
    res = {}
    for how, env in (("bare", bare_env), ("traced", traced_env)):
        env = dict(env, **form["env"])
        path = [traced_env["PYTHONPATH"]] if how == "traced" else []
        path += form["path"]
        if path:
            env["PYTHONPATH"] = os.pathsep.join(path)
        else:
            env.pop("PYTHONPATH", None)
        p = subprocess.run([exe, prog, hook, "t-" + name], env=env, cwd=form["cwd"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                           timeout=120)
        res[how] = [p.returncode, p.stdout, p.stderr, env.get("PYTHONPATH", "")]
    out[name] = res
print(json.dumps(out))
"""


# The forms whose entries site adds after the standard library.
SITE_ADDED = ("user-site", "user-site-extension", "pth-zip")


def build_forms(exe: Path, base: Path, extension: bool) -> dict:
    """Writes each form's files under base; returns {name: {path, cwd}}."""
    forms = {}

    def user_module(d: Path, name: str, text: str = "") -> Path:
        d.mkdir(parents=True, exist_ok=True)
        f = d / "sitecustomize.py"
        f.write_text(text or USER % name)
        return f

    user_module(base / "module", "module")
    # A user's sitecustomize that imports threading itself: the hook's
    # finder must patch it there too (the program's thread is named).
    (base / "module" / "sitecustomize.py").write_text(USER % "module" + "import threading\n")
    forms["module"] = [str(base / "module")]

    (base / "empty").mkdir()
    (base / "ns" / "sitecustomize").mkdir(parents=True)
    (base / "ns" / "sitecustomize" / "unrelated.txt").write_text("a namespace portion\n")
    user_module(base / "later", "later")
    forms["later"] = [str(base / "empty"), str(base / "ns"), str(base / "later")]
    forms["namespace"] = [str(base / "ns")]

    pkg = base / "package" / "sitecustomize"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(USER % "package")
    forms["package"] = [str(base / "package")]

    src = user_module(base / "pyc", "pyc")
    subprocess.run([str(exe), "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], "
                    "doraise=True)", str(src), str(src.with_suffix(".pyc"))], check=True, timeout=60)
    src.unlink()
    shutil.rmtree(base / "pyc" / "__pycache__", ignore_errors=True)
    forms["pyc"] = [str(base / "pyc")]

    if extension:
        (base / "ext").mkdir()
        c = base / "ext" / "sitecustomize.c"
        c.write_text(EXTENSION)
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(base / "ext" / "sitecustomize.so"), str(c)],
                       check=True, timeout=60)
        c.unlink()
        forms["extension"] = [str(base / "ext")]

    with zipfile.ZipFile(base / "user.zip", "w") as z:
        z.writestr("sitecustomize.py", USER % "zip")
    forms["zip"] = [str(base / "user.zip")]
    with zipfile.ZipFile(base / "lib.zip", "w") as z:
        z.writestr("lib/sitecustomize.py", USER % "zip-directory")
    forms["zip-directory"] = [str(base / "lib.zip" / "lib")]

    user_module(base / "rel", "relative")
    forms["relative"] = ["rel"]

    user_module(base / "failing", "failing", USER % "failing" + "raise ValueError('the user failed')\n")
    forms["failing"] = [str(base / "failing")]

    forms["none"] = []
    made = {name: {"path": path, "cwd": str(base), "env": {}} for name, path in forms.items()}

    # Entries that site adds itself (the user's site-packages, a .pth
    # file's lines) have no finder cached yet when the hook runs: the
    # user's site-packages holding a module or an extension, a .pth
    # naming a zip file (site adds no path that does not exist, so not a
    # directory inside one).
    def user_site(name: str) -> Path:
        env = dict(os.environ, PYTHONUSERBASE=str(base / ("userbase-" + name)))
        where = subprocess.run([str(exe), "-c", "import site; print(site.getusersitepackages())"],
                               env=env, stdout=subprocess.PIPE, universal_newlines=True, check=True,
                               timeout=60).stdout.strip()
        made[name] = {"path": [], "cwd": str(base), "env": {"PYTHONUSERBASE": env["PYTHONUSERBASE"]}}
        Path(where).mkdir(parents=True)
        return Path(where)

    user_module(user_site("user-site"), "user-site")
    if extension:
        shutil.copy(base / "ext" / "sitecustomize.so", user_site("user-site-extension") / "sitecustomize.so")
    with zipfile.ZipFile(base / "pth.zip", "w") as z:
        z.writestr("sitecustomize.py", USER % "pth-zip")
    (user_site("pth-zip") / "user.pth").write_text(str(base / "pth.zip") + "\n")
    return made


def run_forms(label: str, exe: Path, out: Path, traced: bool) -> None:
    base = out / "forms"
    extension = label != "2.7" and shutil.which("cc") is not None
    if not extension:
        print(f"{label}: no extension form ({'no cc' if label != '2.7' else 'Python 2.7'})")
    forms = build_forms(exe, base, extension)
    prog = out / "program.py"
    prog.write_text(PROGRAM)
    driver = out / "driver.py"
    driver.write_text(DRIVER)
    hook = str(gstest.build_dir() / "share" / "gilscope" / "python")
    res = gstest.record([sys.executable, str(driver), str(exe), str(prog), hook, json.dumps(forms)],
                        out / "trace")
    results = json.loads(res.stdout)
    for name, r in results.items():
        (brc, bout, berr, _), (trc, tout, terr, tpath) = r["bare"], r["traced"]
        gstest.check(tpath.split(os.pathsep)[0] == hook, f"{label} {name}: the hook is first on PYTHONPATH")
        # The extension cannot count its runs: it is the module found.
        expect = {"none": None, "namespace": None, "extension": "sitecustomize.so\nruns []",
                  "user-site-extension": "sitecustomize.so\nruns []"}.get(name, f"runs ['{name}']")
        if name in SITE_ADDED and str(out) not in bout:
            # Debian's python3 has its own sitecustomize in the standard
            # library, which comes first: the user's is not reached.
            print(f"{label} {name}: not reached without gilscope either ({bout.splitlines()[0]})")
        elif expect is not None:
            gstest.check(expect in bout, f"{label} {name}: without gilscope, the user's "
                         f"sitecustomize runs once: {bout!r} {berr!r}")
        said = [line for line in terr.splitlines() if not line.startswith("gilscope: ")]
        gstest.check((trc, tout, said) == (brc, bout, berr.splitlines()),
                     f"{label} {name}: with gilscope the same status, output and messages:\n"
                     f"  without: {brc} {bout!r} {berr!r}\n  with:    {trc} {tout!r} {terr!r}")
    said = results["failing"]["bare"][2]
    gstest.check("sitecustomize" in said and ("ValueError: the user failed" in said or "-v for traceback" in said),
                 f"{label} failing: without gilscope, site says the user's sitecustomize failed: {said!r}")
    if traced:
        info = gstest.info(out / "trace")
        trace = gstest.own_events(gstest.read_trace(out / "trace"), int(info["tag"]))
        names = {e.fields["name"] for e in trace.named("thread_name")}
        for name in results:
            gstest.check(f"t-{name}" in names, f"{label} {name}: the traced program's thread is named "
                         f"in the trace (the hook ran): {sorted(names)}")


def main() -> None:
    label, exe = gstest.python_arg()
    out = gstest.tmpdir()
    run_forms(label, exe, out / label, traced=True)
    if label == "debian":
        root = gstest.pyenv_root()
        two = sorted(root.glob("versions/2.7*/bin/python2")) if root else []
        if two:
            run_forms("2.7", two[-1], out / "2.7", traced=False)
        else:
            print("skipped part: no Python 2.7 in pyenv")
    print(f"PASSED: hook_chain ({label})")


if __name__ == "__main__":
    main()
