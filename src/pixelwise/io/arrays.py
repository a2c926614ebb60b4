"""NumPy ``.npy`` sections (memory-mapped) and format dispatch by file suffix.

``.npy`` files are opened as read-only memory maps, so sections larger than RAM are served
window by window. :func:`open_section` and :func:`read_section` pick the reader from the
suffix: ``.sgy``/``.segy`` for SEG-Y, ``.npy`` for NumPy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pixelwise.errors import InputError
from pixelwise.io.atomic import atomic_path
from pixelwise.io.section import Section, check_window, validate_section_array
from pixelwise.io.segy import SegySection, read_segy

SEGY_SUFFIXES = (".sgy", ".segy")
NPY_SUFFIXES = (".npy",)


def read_npy(path: str | Path, mmap: bool = True) -> np.ndarray:
    """Open a 2-D ``.npy`` section, as a read-only ``np.memmap`` unless ``mmap`` is False.

    The dtype is kept as stored. Raises :class:`InputError` naming the file if it is missing,
    not a readable ``.npy`` file, not 2-D, not real-valued, empty, or holds NaN/Inf (checked
    block by block, so a memory map is never loaded whole).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InputError(path, f"not a readable .npy file: {err}") from err
    if not isinstance(array, np.ndarray):  # an .npz archive under a .npy name
        raise InputError(path, "not a .npy array file")
    validate_section_array(path, array)
    return array


def write_npy(path: str | Path, array: np.ndarray) -> None:
    """Write a 2-D, finite, real-valued section to ``path`` as ``.npy``, atomically.

    Invalid arrays raise :class:`InputError` naming ``path`` before anything is written.
    """
    path = Path(path)
    array = np.asarray(array)
    validate_section_array(path, array)
    with atomic_path(path) as tmp, tmp.open("wb") as stream:
        np.save(stream, array, allow_pickle=False)


class NpySection(Section):
    """Random-window access to a ``.npy`` section through a read-only memory map.

    The file is validated once on construction. Pickling keeps only the path (a pickled
    memmap would carry its whole content), and the memory map is reopened on first use.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.source = str(path)
        self._array: np.ndarray | None = read_npy(self.path)
        self.shape: tuple[int, int] = self._array.shape

    @property
    def array(self) -> np.ndarray:
        """The read-only ``np.memmap`` of the whole section, in the stored dtype."""
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        return self._array

    def read_window(self, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
        """Return rows ``[row0, row1)`` of traces ``[col0, col1)`` as a new float32 array."""
        check_window(self, row0, row1, col0, col1)
        return np.array(self.array[row0:row1, col0:col1], dtype=np.float32)

    def close(self) -> None:
        """Drop the memory map; a later read reopens it."""
        self._array = None

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_array": None}


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SEGY_SUFFIXES + NPY_SUFFIXES:
        supported = ", ".join(SEGY_SUFFIXES + NPY_SUFFIXES)
        raise InputError(path, f"unsupported file type {suffix or '(none)'!r}; use {supported}")
    return suffix


def open_section(path: str | Path) -> Section:
    """Open a section for windowed reading, choosing the reader from the file suffix."""
    path = Path(path)
    return SegySection(path) if _suffix(path) in SEGY_SUFFIXES else NpySection(path)


def read_section(path: str | Path) -> np.ndarray:
    """Load a whole section into memory as float32 (n_samples, n_traces)."""
    path = Path(path)
    if _suffix(path) in SEGY_SUFFIXES:
        return read_segy(path)
    return read_npy(path, mmap=False).astype(np.float32, copy=False)
