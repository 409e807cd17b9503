"""Write files and folders so a reader never sees half of one: temp name in the same folder, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vinr_zoo.errors import OutputExistsError, VinrError


def check_output(path: Path, overwrite: bool) -> None:
    """Refuse an existing output unless overwrite, and an output whose folder cannot be written."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists (pass --overwrite to replace it)")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise VinrError(f"cannot write {path}: {parent} is not a folder")
    if parent.exists() and not os.access(parent, os.W_OK):
        raise VinrError(f"cannot write {path}: folder {parent} is not writable")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def default_mode(path: Path) -> None:
    """mkstemp/mkdtemp create private (0600/0700) entries; give the final one the usual umask mode."""
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~_umask())


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if ancestor.exists() and not ancestor.is_dir():
            raise VinrError(f"cannot write {path}: {ancestor} is not a folder") from None
        raise VinrError(f"cannot create folder {path.parent}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block is done (POSIX main thread; elsewhere a no-op)."""
    import signal
    import threading

    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def put_in_place(tmp: Path, path: Path) -> None:
    """Rename the finished ``tmp`` (a file or a folder) onto ``path``.

    A folder cannot be renamed over a file, nor anything over a non-empty folder: an existing output is
    moved aside first, with Ctrl-C held so that one of the two is always at ``path``, then deleted.
    """
    default_mode(tmp)
    if path.exists() and (path.is_dir() or tmp.is_dir()):
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        with signals_deferred():
            os.replace(path, old)
            os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    else:
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    _make_parent(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise VinrError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        default_mode(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    _make_parent(path)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise VinrError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        yield tmp
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path} already exists (pass --overwrite to replace it)")
        put_in_place(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
