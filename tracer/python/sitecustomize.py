# gilscope's Python-side hook, put on PYTHONPATH by `gilscope record`.
#
# It tells the tracer the Python name of each thread (gilscope:thread_name)
# so that reports say "Thread-1 (count_down)" and not only a tid, then runs
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

    try:
        import threading
    except Exception:
        return
    # A subinterpreter (3.12+) runs this again, on a thread the main
    # interpreter already named: its threading sees a "Dummy-N" there.
    import _thread
    is_main = getattr(_thread, "_is_main_interpreter", None)
    if is_main is None or is_main():
        tell(threading.current_thread().name)
        # A fork child's main thread is a new kernel thread: name it too.
        register = getattr(os, "register_at_fork", None)  # 3.7+
        if register is not None:
            register(after_in_child=lambda: tell(threading.current_thread().name))

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


def _gilscope_chain():
    # type: () -> None
    """Imports the sitecustomize this one hides, if the user has one."""
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    this = sys.modules.get("sitecustomize")
    try:
        if sys.version_info[0] >= 3:
            import importlib.machinery
            import importlib.util
            spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
            if spec is None or spec.loader is None:
                return
            mod = importlib.util.module_from_spec(spec)
            sys.modules["sitecustomize"] = mod
            spec.loader.exec_module(mod)
        else:
            import imp
            try:
                f, path, desc = imp.find_module("sitecustomize", rest)
            except ImportError:
                return
            try:
                sys.modules.pop("sitecustomize", None)
                imp.load_module("sitecustomize", f, path, desc)
            finally:
                if f:
                    f.close()
    except Exception:
        # The user's sitecustomize failed: say so as Python would.
        import traceback
        sys.stderr.write("Error in sitecustomize; set PYTHONVERBOSE for traceback:\n")
        traceback.print_exc()
        if this is not None:
            sys.modules["sitecustomize"] = this


if sys.version_info[0] >= 3:
    _gilscope_install()
_gilscope_chain()
