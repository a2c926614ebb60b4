"""NumPy ``.npy`` files: read-only memory maps whose header is checked against the file size.

``np.load`` trusts the header: a damaged file claiming 10**10 elements makes it try to allocate
tens of GiB, and random bytes are reported as "pickled data". :func:`map_npy` parses the
header with :mod:`numpy.lib.format`, compares the declared data size with the file size, and
only then maps the data, so every damaged file fails with one clear line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pixelwise.errors import InputError
from pixelwise.io.atomic import atomic_path
from pixelwise.io.formats import register_reader, register_writer
from pixelwise.io.sources import (
    FileSource,
    Window,
    copy_window,
    validate_array,
    validate_source,
)

NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _read_header(path: Path) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """Return ``(shape, fortran_order, dtype, data_offset)`` from the header of ``path``."""
    with path.open("rb") as stream:
        if stream.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC:
            raise InputError(path, "is a .npz archive, not a .npy file")
        stream.seek(0)
        try:
            version = np.lib.format.read_magic(stream)
        except ValueError:
            raise InputError(path, "not a .npy file (no NumPy header)") from None
        if version not in _HEADER_READERS:
            raise InputError(path, f"unsupported .npy format version {version[0]}.{version[1]}")
        try:
            shape, fortran_order, dtype = _HEADER_READERS[version](stream)
        except ValueError as error:
            raise InputError(path, f"not a .npy file: damaged header ({error})") from None
        return shape, fortran_order, dtype, stream.tell()


def map_npy(path: str | Path) -> np.ndarray:
    """Map a ``.npy`` file read-only, after checking its header against the file size.

    Parameters
    ----------
    path : str or Path
        The ``.npy`` file.

    Returns
    -------
    numpy.ndarray
        A read-only ``np.memmap`` with the stored shape and dtype (a plain empty array when
        the file holds no elements, which cannot be mapped). Values are not checked.

    Raises
    ------
    InputError
        If the file is missing, not a ``.npy`` file (an ``.npz`` archive included), holds
        Python objects, or is shorter than its header says.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.npy"
    >>> np.save(path, np.arange(6, dtype=np.int16).reshape(2, 3))
    >>> map_npy(path)[1].tolist()
    [3, 4, 5]
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    shape, fortran_order, dtype, offset = _read_header(path)
    if dtype.hasobject:
        raise InputError(path, "holds Python objects (pickled data), which are never loaded")
    declared = math.prod(shape) * dtype.itemsize
    available = path.stat().st_size - offset
    if available < declared:
        raise InputError(
            path, f"truncated: header says {declared} bytes of data, file has {available}"
        )
    order: Literal["C", "F"] = "F" if fortran_order else "C"
    if declared == 0:
        return np.empty(shape, dtype, order=order)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)


@register_reader("NPY", [".npy"], magic=[NPY_MAGIC])
class NpySource(FileSource):
    """A ``.npy`` file served window by window from a read-only memory map.

    Any shape and any real dtype, kept as stored (in native byte order). The file is checked
    at open: header against file size (:func:`map_npy`), real dtype, non-empty, and no NaN
    or Inf (scanned block by block, so the map is never loaded whole). ``handle`` is the
    memory map.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.npy"
    >>> np.save(path, np.arange(12.0).reshape(3, 4))
    >>> with NpySource(path) as source:
    ...     source.shape, source.read((slice(0, 1), slice(1, 3))).tolist()
    ((3, 4), [[1.0, 2.0]])
    """

    def __init__(self, path: str | Path, finite: bool = True) -> None:
        super().__init__(path)
        array = self.handle
        self.shape = tuple(array.shape)
        self.dtype = array.dtype.newbyteorder("=")
        validate_source(self, finite=finite)  # finite=False: NaN allowed (missing data)

    def _open(self) -> np.ndarray:
        return map_npy(self.path)

    def _read(self, handle: np.ndarray, window: Window) -> np.ndarray:
        return copy_window(handle, window, self.dtype)


@register_writer("NPY", [".npy"])
def save_npy(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` (any shape, real dtype, finite) to ``path`` as ``.npy``, atomically.

    Invalid arrays raise :class:`InputError` naming ``path`` before anything is written.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.npy"
    >>> save_npy(path, np.ones((2, 3), np.float32))
    >>> map_npy(path).shape
    (2, 3)
    """
    path = Path(path)
    array = np.asarray(array)
    validate_array(path, array)
    with atomic_path(path) as tmp, tmp.open("wb") as stream:
        np.save(stream, array, allow_pickle=False)
