# gilscope's Python-side hook, put on PYTHONPATH by `gilscope record`.
#
# It tells the tracer the Python name of each thread (gilscope:rare, its
# thread_name kind) so that reports say "Thread-1 (count_down)" and not only
# a tid, then runs
# any sitecustomize the user already had. It must stay importable by every
# Python that may run under the recorder, 2.7 included, so it uses no syntax
# newer than 2.7 and no annotations; it never raises.
import sys


def _gilscope_install():
    # type: () -> None
    import os
    # The preload library sees this libc call and emits the name; there
    # is no such variable, so without the library it does nothing. (No
    # ctypes: its import costs milliseconds and, with libffi 3.5, an fd.)
    # Not gated on GILSCOPE_TAG: `gilscope exec` starts services with no
    # tag, and their names must be there for a later `record --pid`.
    unsetenv = getattr(os, "unsetenv", None)
    if unsetenv is None:
        return

    def tell(name):
        # type: (object) -> None
        try:
            unsetenv("__gilscope_thread_name_" +
                     str(name).encode("utf-8", "replace")[:255].hex())
        except Exception:
            pass

    # threading is not imported here: with what it imports it would cost
    # every traced process milliseconds of start-up (issue 12). Until the
    # program imports it, the only thread is the main one, "MainThread".
    import _thread
    main_ident = _thread.get_ident()

    def current_name():
        # type: () -> object
        threading = sys.modules.get("threading")
        if threading is not None:
            return threading.current_thread().name
        return "MainThread" if _thread.get_ident() == main_ident else None

    # A subinterpreter (3.12+) runs this again, on a thread the main
    # interpreter already named: its threading sees a "Dummy-N" there.
    is_main = getattr(_thread, "_is_main_interpreter", None)
    if is_main is None or is_main():
        tell(current_name())
        # A fork child's main thread is a new kernel thread: name it too.
        register = getattr(os, "register_at_fork", None)  # 3.7+
        if register is not None:
            def after_in_child():
                # type: () -> None
                name = current_name()
                if name is not None:
                    tell(name)
            register(after_in_child=after_in_child)

    if "threading" in sys.modules:
        _gilscope_patch_threading(sys.modules["threading"], tell)
    else:
        sys.meta_path.insert(0, _GilscopeThreadingFinder(tell))


def _gilscope_patch_threading(threading, tell):
    # type: (object, object) -> None
    """Makes every thread of threading tell its name when it starts and
    when it is renamed."""
    inner = getattr(threading.Thread, "_bootstrap_inner", None)
    if inner is None:
        return

    def _bootstrap_inner(self):
        # type: (threading.Thread) -> None
        tell(self.name)
        return inner(self)

    threading.Thread._bootstrap_inner = _bootstrap_inner

    # A name given after start() is told again from the setter's caller;
    # the event carries the named thread's own tid only when it names
    # itself, which is the common case (current_thread().name = ...).
    prop = getattr(threading.Thread, "name", None)
    if isinstance(prop, property) and prop.fset is not None:
        fget, fset = prop.fget, prop.fset

        def set_name(self, value):
            # type: (threading.Thread, str) -> None
            fset(self, value)
            if self is threading.current_thread():
                tell(value)

        threading.Thread.name = property(fget, set_name, prop.fdel, prop.__doc__)


class _GilscopeThreadingFinder(object):
    """First on sys.meta_path until threading is imported: finds it with
    the finders after it and patches the module once it has run. The
    module ends with its own loader, as without gilscope."""

    def __init__(self, tell):
        # type: (object) -> None
        self.tell = tell

    def find_spec(self, name, path=None, target=None):
        # type: (str, object, object) -> object
        if name != "threading":
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        real = spec.loader
        if real is None or not hasattr(real, "exec_module"):
            return spec
        spec.loader = _GilscopeLoader(real, spec, self.tell)
        return spec


class _GilscopeLoader(object):
    """Runs the real loader, then gives the module and its spec the real
    loader back and patches threading."""

    def __init__(self, real, spec, tell):
        # type: (object, object, object) -> None
        self.real = real
        self.spec = spec
        self.tell = tell

    def __getattr__(self, name):
        # type: (str) -> object
        return getattr(self.real, name)

    def create_module(self, spec):
        # type: (object) -> object
        return self.real.create_module(spec)

    def exec_module(self, module):
        # type: (object) -> None
        try:
            self.real.exec_module(module)
        finally:
            self.spec.loader = self.real
            if getattr(module, "__loader__", None) is self:
                module.__loader__ = self.real
        try:
            _gilscope_patch_threading(module, self.tell)
        except Exception:
            pass


def _gilscope_chain():
    # type: () -> None
    """Imports the sitecustomize this one hides, if the user has one, as
    site would have without gilscope (tracer.hook_chain)."""
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    this = sys.modules.get("sitecustomize")
    try:
        if sys.version_info[0] >= 3:
            # The import system's own PathFinder and module_from_spec:
            # importing importlib.util would cost every traced process
            # milliseconds (contextlib, warnings, types...).
            finder = None
            for f in sys.meta_path:
                if getattr(f, "__name__", None) == "PathFinder":
                    finder = f
            boot = sys.modules.get("_frozen_importlib")
            from_spec = getattr(boot, "module_from_spec", None)
            if finder is None or from_spec is None:
                import importlib.machinery
                import importlib.util
                finder = importlib.machinery.PathFinder
                from_spec = importlib.util.module_from_spec
            spec = finder.find_spec("sitecustomize", rest)
            if spec is None or spec.loader is None:
                return
            if hasattr(spec.loader, "exec_module"):
                mod = from_spec(spec)
                sys.modules["sitecustomize"] = mod
                spec.loader.exec_module(mod)
            else:
                # zipimporter before 3.10: load_module reuses the module
                # of that name in sys.modules, which is this one.
                sys.modules.pop("sitecustomize", None)
                spec.loader.load_module("sitecustomize")
        else:
            _gilscope_chain2(rest)
    except Exception:
        # The user's sitecustomize failed: say so as site would have.
        if this is not None:
            sys.modules["sitecustomize"] = this
        err = sys.exc_info()[1]
        if sys.version_info[0] < 3:
            if isinstance(err, ImportError):
                return
            if sys.flags.verbose:
                sys.excepthook(*sys.exc_info())
            else:
                sys.stderr.write("'import sitecustomize' failed; use -v for traceback\n")
            return
        if isinstance(err, ImportError) and err.name == "sitecustomize":
            return
        if sys.flags.verbose:
            sys.excepthook(*sys.exc_info())
        else:
            sys.stderr.write("Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
                             "%s: %s\n" % (err.__class__.__name__, err))


def _gilscope_chain2(rest):
    # type: (list) -> None
    """Python 2.7's search: each entry's importer from sys.path_hooks (a
    zip file's zipimporter), else the built-in search of a directory."""
    import imp
    for entry in rest:
        importer = sys.path_importer_cache.get(entry)
        if importer is None:
            for hook in sys.path_hooks:
                try:
                    importer = hook(entry)
                    break
                except ImportError:
                    pass
        if importer is None:
            try:
                f, path, desc = imp.find_module("sitecustomize", [entry])
            except ImportError:
                continue
            try:
                sys.modules.pop("sitecustomize", None)
                imp.load_module("sitecustomize", f, path, desc)
            finally:
                if f:
                    f.close()
            return
        loader = importer.find_module("sitecustomize")
        if loader is not None:
            sys.modules.pop("sitecustomize", None)
            loader.load_module("sitecustomize")
            return


if sys.version_info[0] >= 3:
    _gilscope_install()
_gilscope_chain()
