"""Safe file output: atomic writes, one-line errors for OS failures, and locked output folders.

:func:`atomic_path` writes to a temporary file beside the target and renames it over the
target only when the write succeeded, so a crash, an exception, Ctrl-C or SIGTERM leaves the
previous file (or no file) in place, never a half-written one, and no temporary file. Every
``OSError`` while writing (full disk, read-only folder, a folder in the way) becomes one
:class:`~pixelwise.errors.OutputError` naming the file and the reason, so every writer built
on it reports these problems the same way. :func:`locked_folder` guards a whole output folder
for the duration of a run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pixelwise.errors import InputError, OutputError
from pixelwise.signals import terminate_as_interrupt

LOCK_NAME = ".pixelwise.lock"
"""The lock file :func:`locked_folder` holds inside a folder while a run writes there."""


def describe_os_error(error: OSError) -> str:
    """The reason for ``error`` in words: ``os.strerror`` of its errno, else its message."""
    return os.strerror(error.errno) if error.errno else str(error)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _discard(path: Path) -> None:
    """Remove ``path`` if it exists; never raise (this runs while handling another error)."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = describe_os_error(error)
        raise OutputError(folder, f"cannot create this folder: {reason}") from None


def _write_error(error: OSError, target: Path, tmp: Path) -> OutputError:
    """``error`` as one line naming ``target``, or the other file it is about."""
    filename = error.filename
    if filename is None or os.fspath(filename) in (str(target), str(tmp)):
        return OutputError(target, f"cannot write: {describe_os_error(error)}")
    return OutputError(filename, f"{describe_os_error(error)} (while writing {target})")


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; on success rename it onto ``target``.

    The temporary name keeps ``target``'s suffix so that libraries choosing a format by
    extension (PNG, TIFF, ...) still work. On any exception, including Ctrl-C and SIGTERM
    (turned into :class:`~pixelwise.signals.Interrupted` for the duration), the temporary file
    is removed and ``target`` is untouched.

    Raises
    ------
    OutputError
        For any ``OSError`` while creating, writing or renaming the file; an error that names
        the temporary file (here or raised by a nested writer) is reported against ``target``.
    """
    target = Path(target)
    with terminate_as_interrupt():
        _make_folder(target.parent)
        try:
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent
            )
        except OSError as error:
            raise OutputError(target, f"cannot write: {describe_os_error(error)}") from None
        tmp = Path(tmp_name)
        try:
            os.close(fd)
            os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; use normal modes
            yield tmp
            os.replace(tmp, target)
        except OSError as error:
            _discard(tmp)
            raise _write_error(error, target, tmp) from None
        except InputError as error:
            _discard(tmp)
            if error.source != str(tmp):
                raise
            raise type(error)(target, error.problem) from None
        except BaseException:
            _discard(tmp)
            raise


def write_bytes_atomic(target: str | Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    write_bytes_atomic(target, text.encode("utf-8"))


def _probe(folder: Path) -> None:
    """Create and remove a file in ``folder``; OutputError if that is not possible."""
    try:
        fd, name = tempfile.mkstemp(prefix=".pixelwise-probe.", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as error:
        reason = describe_os_error(error)
        raise OutputError(folder, f"cannot write in this folder: {reason}") from None


def _acquire(path: Path, folder: Path) -> int:
    """A descriptor of the lock file ``path`` holding its exclusive ``flock``.

    A holder removes the file when it finishes; if that happened between our ``open`` and
    ``flock``, the lock we got is on a removed file, so try again on the current one.
    """
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            reason = describe_os_error(error)
            raise OutputError(path, f"cannot create the lock file: {reason}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            by = f" (pid {holder})" if holder else ""
            raise OutputError(
                folder,
                f"another pixelwise run{by} is writing to this folder; wait for it to finish "
                "or choose another output folder",
            ) from None
        except OSError as error:
            os.close(fd)
            raise OutputError(path, f"cannot lock: {describe_os_error(error)}") from None
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            return fd
        os.close(fd)


@contextlib.contextmanager
def locked_folder(folder: str | Path) -> Iterator[Path]:
    """Create ``folder`` if needed, check that it is writable, and lock it for the block.

    A file in its place is refused, and the check creates and removes a probe file, so a
    read-only or full folder is reported before any long work starts. The lock is an
    ``fcntl.flock`` on ``folder/.pixelwise.lock`` (which holds the owner's pid): a second
    process asking for it gets an :class:`~pixelwise.errors.OutputError` at once rather than
    waiting. The lock is released
    if the process dies. On exit the lock file is removed, and so is ``folder`` if this call
    created it and it is still empty.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(folder, "exists and is not a folder; give a folder for the outputs")
    created = not folder.exists()
    _make_folder(folder)
    try:
        _probe(folder)
        lock = folder / LOCK_NAME
        fd = _acquire(lock, folder)
        try:
            with contextlib.suppress(OSError):  # the pid only makes the message clearer
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            yield folder
        finally:
            _discard(lock)
            os.close(fd)
    finally:
        if created:
            with contextlib.suppress(OSError):  # fails unless empty, as intended
                folder.rmdir()
