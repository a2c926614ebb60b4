"""The ``Section`` interface shared by every 2-D section reader, and the checks they share.

A section is a 2-D array of shape ``(n_samples, n_traces)`` = ``(H, W)``: time or depth runs
down the rows and every column is one trace. Readers implementing :class:`Section` serve
rectangular windows without loading the whole file, so sections larger than RAM can feed a
training loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Protocol

import numpy as np

from pixelwise.errors import InputError

#: Elements checked per block when scanning for NaN/Inf, so memory stays constant.
CHUNK_ELEMENTS = 1 << 20


class Section(Protocol):
    """A 2-D section that serves float32 windows on demand.

    Attributes:
        source: the file the section comes from, used in error messages.
        shape: ``(n_samples, n_traces)``.
    """

    source: str
    shape: tuple[int, int]

    def read_window(self, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
        """Return rows ``[row0, row1)`` of traces ``[col0, col1)`` as a new float32 array."""
        ...

    def close(self) -> None:
        """Release the file; a later ``read_window`` reopens it."""
        ...

    def __enter__(self) -> Section:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def check_window(section: Section, row0: int, row1: int, col0: int, col1: int) -> None:
    """Raise ``IndexError`` unless the window is non-empty and lies inside ``section``."""
    height, width = section.shape
    if not (0 <= row0 < row1 <= height and 0 <= col0 < col1 <= width):
        raise IndexError(
            f"{section.source}: window rows [{row0}, {row1}) x traces [{col0}, {col1}) "
            f"is empty or outside the section of shape {section.shape}"
        )


def require_finite(source: str | Path, blocks: Iterable[np.ndarray]) -> None:
    """Raise :class:`InputError` if any block holds NaN or Inf; blocks are checked one by one."""
    for block in blocks:
        if not np.isfinite(block).all():
            raise InputError(source, "data contains NaN or Inf values")


def row_blocks(array: np.ndarray) -> Iterator[np.ndarray]:
    """Yield consecutive row blocks of a 2-D array, about :data:`CHUNK_ELEMENTS` each."""
    rows = max(1, CHUNK_ELEMENTS // array.shape[1])
    for start in range(0, array.shape[0], rows):
        yield array[start : start + rows]


def validate_section_array(source: str | Path, array: np.ndarray) -> None:
    """Check that ``array`` is a non-empty, finite, real-valued 2-D section.

    Works on memory maps without loading them: finiteness is checked block by block.
    Raises :class:`InputError` naming ``source`` on the first problem found.
    """
    if array.ndim != 2:
        raise InputError(
            source,
            f"expected a 2-D section (n_samples, n_traces), got {array.ndim}-D shape {array.shape}",
        )
    is_real = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    if not is_real:
        raise InputError(source, f"expected real numbers, got dtype {array.dtype}")
    if array.size == 0:
        raise InputError(source, f"section is empty (shape {array.shape})")
    if np.issubdtype(array.dtype, np.floating):
        require_finite(source, row_blocks(array))


class ArraySection:
    """An in-memory 2-D array served through the :class:`Section` interface.

    For data that is already loaded (a single image handed to a node, a benchmark's test
    image): the patch datasets then treat it like any file-backed section.
    """

    def __init__(self, array: np.ndarray, source: str = "<array>") -> None:
        validate_section_array(source, array)
        self.source = source
        self.array = np.ascontiguousarray(array, dtype=np.float32)
        self.shape: tuple[int, int] = self.array.shape

    def read_window(self, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
        """Return rows ``[row0, row1)`` of columns ``[col0, col1)`` as a new float32 array."""
        check_window(self, row0, row1, col0, col1)
        return self.array[row0:row1, col0:col1].copy()

    def close(self) -> None:
        """Nothing to release."""
