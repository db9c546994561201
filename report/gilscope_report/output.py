"""Writing an output file so that a reader never sees half of it: through a
temporary file in the same directory, renamed over the target at the end
(removed on failure). '-' is standard output; an existing path that is not
a regular file (a pipe, /dev/stdout, a device) is written in place; a
symbolic link is followed, so the file it points to is replaced, not the
link. Errors become ReportError."""
from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
import tempfile
from typing import IO, Callable, Iterator

from .data import ReportError


@contextlib.contextmanager
def open_output(path: str, binary: bool = False, prefix: str = ".gilscope-") -> Iterator[IO]:
    mode = "wb" if binary else "w"
    enc = None if binary else "utf-8"
    if path == "-":
        stream = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    if os.path.isdir(path):
        raise ReportError(f"cannot write {path}: is a directory")
    try:
        if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
            f = open(path, mode, encoding=enc)
        else:
            f = None
            target = os.path.realpath(path)
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=os.path.dirname(target))
    except OSError as e:
        raise ReportError(f"cannot write {path}: {e.strerror or e}") from None
    if f is not None:
        try:
            with f:
                yield f
        except OSError as e:
            raise ReportError(f"cannot write {path}: {e.strerror or e}") from None
        return
    try:
        with os.fdopen(fd, mode, encoding=enc, buffering=1 << 20) as out:
            yield out
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise ReportError(f"cannot write {path}: {e.strerror or e}") from None
        raise


def command_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """The parser of a command (report, export, diff): its examples kept
    as written, below the options."""
    return argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def run_command(prog: str, body: Callable[[], int]) -> int:
    """Runs a command's body: a ReportError is one line on stderr and exit
    status 1, an interrupt 130."""
    try:
        return body()
    except ReportError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
