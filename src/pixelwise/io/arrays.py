"""2-D seismic sections through the format registry, and the 2-D-checked ``.npy`` writer.

Thin functions kept for the seismic code: any format :func:`~pixelwise.io.registry.open_source`
reads works, as long as the array is 2-D ``(n_samples, n_traces)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pixelwise.errors import InputError
from pixelwise.io.npy import save_npy
from pixelwise.io.registry import open_source
from pixelwise.io.section import require_2d
from pixelwise.io.sources import ArraySource, full_window


def open_section(path: str | Path, **options: Any) -> ArraySource:
    """Open a 2-D section ``(n_samples, n_traces)`` of any registered format.

    Checked like every source (real, non-empty, finite) and to be 2-D; raises
    :class:`~pixelwise.errors.InputError` naming the file otherwise. ``options`` go to the
    reader (``finite=False``: SEG-Y and ``.npy`` sections may hold NaN traces).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "line.npy"
    >>> write_npy(path, np.zeros((50, 8), np.float32))
    >>> open_section(path).shape
    (50, 8)
    """
    source = open_source(path, **options)
    try:
        require_2d(path, source.shape)
    except InputError:
        source.close()
        raise
    return source


def read_section(path: str | Path) -> np.ndarray:
    """Load a whole 2-D section into memory as float32 ``(n_samples, n_traces)``.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "line.npy"
    >>> write_npy(path, np.zeros((50, 8), np.int16))
    >>> read_section(path).dtype
    dtype('float32')
    """
    source = open_section(path)
    try:
        return source.read(full_window(source.shape)).astype(np.float32, copy=False)
    finally:
        source.close()


def write_npy(path: str | Path, array: np.ndarray) -> None:
    """Write a 2-D, finite, real-valued section to ``path`` as ``.npy``, atomically.

    Invalid arrays raise :class:`~pixelwise.errors.InputError` naming ``path`` before
    anything is written. For arrays of any dimension use
    :func:`~pixelwise.io.registry.write_array`.

    >>> import tempfile
    >>> write_npy(Path(tempfile.mkdtemp()) / "line.npy", np.ones((4, 3)))
    """
    array = np.asarray(array)
    require_2d(path, array.shape)
    save_npy(path, array)
