"""One entry point for every array file: pick the reader or writer from the file name.

:func:`open_source` chooses a reader by suffix (case-insensitive; the longest registered
ending wins, so ``.mrc.gz`` beats ``.gz``) and, for an unknown suffix, by the magic bytes at
the start of the file. Importing this module registers the built-in formats: NPY, SEG-Y,
MRC, HDF5, TIFF, PNG, JPEG and BMP. Other formats plug in with :func:`register_reader` and
:func:`register_writer`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from pixelwise.errors import InputError
from pixelwise.io import hdf5, mrc, npy, raster, segy, tiff  # noqa: F401 - they register on import
from pixelwise.io.formats import (
    READERS,
    WRITERS,
    ReaderFormat,
    match_suffix,
    register_reader,
    register_writer,
)
from pixelwise.io.sources import ArraySource, full_window

__all__ = [
    "open_source",
    "read_array",
    "reader_formats",
    "register_reader",
    "register_writer",
    "write_array",
    "writer_formats",
]


def _formats(table: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Format name to its suffixes, sorted by name (registration order depends on imports)."""
    names: dict[str, tuple[str, ...]] = {}
    for suffix, entry in table.items():
        names[entry.name] = (*names.get(entry.name, ()), suffix)
    return dict(sorted(names.items()))


def reader_formats() -> dict[str, tuple[str, ...]]:
    """Readable formats (sorted by name) and their suffixes, for help texts.

    >>> reader_formats()["MRC"][:2]
    ('.mrc', '.mrcs')
    """
    return _formats(READERS)


def writer_formats() -> dict[str, tuple[str, ...]]:
    """Writable formats (sorted by name) and their suffixes, for help texts.

    >>> writer_formats()["HDF5"]
    ('.h5', '.hdf5', '.hdf')
    """
    return _formats(WRITERS)


def _unknown(path: Path, table: dict[str, Any], what: str) -> InputError:
    suffix = repr(path.suffix) if path.suffix else "(no suffix)"
    supported = ", ".join(", ".join(suffixes) for suffixes in _formats(table).values())
    return InputError(path, f"unknown {what} format {suffix}; supported: {supported}")


def _by_magic(path: Path) -> ReaderFormat | None:
    """The first registered reader whose magic bytes match the start of ``path``."""
    formats = list(dict.fromkeys(READERS.values()))
    length = max((offset + len(sig) for entry in formats for offset, sig in entry.magic), default=0)
    with path.open("rb") as stream:
        head = stream.read(length)
    for entry in formats:
        if any(head[offset : offset + len(sig)] == sig for offset, sig in entry.magic):
            return entry
    return None


def _check_options(path: Path, what: str, function: Any, *args: Any, **options: Any) -> None:
    """Raise :class:`InputError` naming ``path`` if ``function`` does not take ``options``."""
    try:
        inspect.signature(function).bind(*args, **options)
    except TypeError as error:
        raise InputError(path, f"the {what} does not take these options ({error})") from None


def open_source(path: str | Path, **options: Any) -> ArraySource:
    """Open an array file for window-by-window reading, choosing the reader by its name.

    Parameters
    ----------
    path : str or Path
        The file. Suffixes are matched case-insensitively, double ones included
        (``scan.MRC.GZ``); a file with an unknown suffix is recognised by its magic bytes.
    **options
        Passed to the reader, e.g. ``dataset="bscans"`` for HDF5 or ``series=1`` for TIFF.

    Returns
    -------
    ArraySource
        Shape and dtype as the format stores them (see each reader); already checked to be
        real, non-empty and free of NaN/Inf.

    Raises
    ------
    InputError
        One line naming the file: missing, unknown format (listing the supported suffixes),
        an option the reader does not take, or unreadable.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "volume.MRC"
    >>> write_array(path, np.zeros((3, 4, 5), np.int16))
    >>> source = open_source(path)
    >>> type(source).__name__, source.shape, source.dtype
    ('MrcSource', (3, 4, 5), dtype('int16'))
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    if not path.is_file():
        raise InputError(path, "not a regular file")
    suffix = match_suffix(path, READERS)
    try:
        entry = READERS[suffix] if suffix else _by_magic(path)
        if entry is None:
            raise _unknown(path, READERS, "file")
        _check_options(path, f"{entry.name} reader", entry.opener, path, **options)
        return entry.opener(path, **options)
    except OSError as error:  # permissions, I/O errors: the readers translate the rest
        reason = error.strerror or str(error)
        raise InputError(path, f"cannot read: {reason}") from None


def read_array(path: str | Path, **options: Any) -> np.ndarray:
    """Read a whole array file into memory, in its stored dtype (see :func:`open_source`).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.npy"
    >>> write_array(path, np.arange(4, dtype=np.uint16))
    >>> read_array(path).tolist()
    [0, 1, 2, 3]
    """
    source = open_source(path, **options)
    try:
        return source.read(full_window(source.shape))
    finally:
        source.close()


def write_array(path: str | Path, array: np.ndarray, **options: Any) -> None:
    """Write ``array`` atomically in the format given by the suffix of ``path``.

    Parameters
    ----------
    path : str or Path
        Target; the suffix picks the writer (``.npy``, ``.mrcs``, ``.h5``, ``.tif``, ...).
    array : numpy.ndarray
        Real, finite, non-empty; stored in its dtype where the format allows (see each
        writer, e.g. :func:`~pixelwise.io.mrc.write_mrc`).
    **options
        Passed to the writer, e.g. ``voxel_size=1.06`` for MRC or ``dataset="frames"`` for
        HDF5.

    Raises
    ------
    InputError
        Unknown suffix (listing the writable ones), an option the writer does not take, or
        data the format cannot store; nothing is written then.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "frames.h5"
    >>> write_array(path, np.ones((2, 3)), dataset="frames")
    >>> open_source(path).dataset
    '/frames'
    """
    path = Path(path)
    suffix = match_suffix(path, WRITERS)
    if suffix is None:
        raise _unknown(path, WRITERS, "output")
    entry = WRITERS[suffix]
    array = np.asarray(array)
    _check_options(path, f"{entry.name} writer", entry.writer, path, array, **options)
    entry.writer(path, array, **options)
