"""Array sources: N-D data that serves windows on demand, from a file or from memory.

A source is what every reader hands to the data layer. It knows its ``shape`` and stored
``dtype`` and reads one rectangular window at a time, so files larger than RAM can feed a
training loop. File-backed sources hold an open handle that is not shared between
processes: :class:`FileSource` re-opens it lazily in each process (DataLoader workers fork or
spawn copies of the dataset, and a handle inherited across ``fork`` shares its file offset).
"""

from __future__ import annotations

import math
import mmap
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pixelwise.errors import InputError

#: A window: one ``slice(start, stop)`` per axis (step 1).
Window = tuple[slice, ...]

#: Elements read per block when a whole source is scanned, so memory stays bounded.
CHUNK_ELEMENTS = 1 << 20


@runtime_checkable
class ArraySource(Protocol):
    """N-D data read window by window.

    Attributes
    ----------
    source : str
        Where the data comes from (a file name), used in every error message.
    shape : tuple of int
        Shape of the whole array, in the axis order documented by the reader.
    dtype : numpy.dtype
        The stored element type; :meth:`read` returns it unchanged.
    """

    source: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    def read(self, window: Window) -> np.ndarray:
        """Return the window as a new array (never a view of a memory map), stored dtype."""
        ...

    def close(self) -> None:
        """Release the handle; a later :meth:`read` re-opens it."""
        ...


def check_window(source: ArraySource, window: Sequence[slice]) -> Window:
    """Validate ``window`` against ``source.shape`` and return it as a tuple.

    Raises ``IndexError`` naming the source unless there is one non-empty, in-bounds,
    unit-step slice per axis.
    """
    window = tuple(window)
    if len(window) != len(source.shape):
        raise IndexError(
            f"{source.source}: window has {len(window)} axes, the data has {len(source.shape)}"
        )
    for axis, (part, size) in enumerate(zip(window, source.shape, strict=True)):
        start, stop, step = part.start or 0, part.stop, part.step or 1
        if stop is None or step != 1 or not 0 <= start < stop <= size:
            raise IndexError(
                f"{source.source}: window {part} on axis {axis} is empty or outside [0, {size})"
            )
    return window


class InMemorySource:
    """An array already in memory, served through the :class:`ArraySource` interface.

    Examples
    --------
    >>> import numpy as np
    >>> source = InMemorySource(np.arange(12.0).reshape(3, 4), source="demo")
    >>> source.read((slice(1, 3), slice(0, 2))).tolist()
    [[4.0, 5.0], [8.0, 9.0]]
    """

    def __init__(self, array: np.ndarray, source: str = "<array>") -> None:
        array = np.asarray(array)
        if array.size == 0:
            raise InputError(source, f"array is empty (shape {array.shape})")
        self.array = array
        self.source = source
        self.shape: tuple[int, ...] = tuple(array.shape)
        self.dtype: np.dtype[Any] = array.dtype

    def read(self, window: Window) -> np.ndarray:
        return np.array(self.array[check_window(self, window)])

    def close(self) -> None:
        """Nothing to release."""


class FileSource(ABC):
    """Base of file-backed sources: one lazily opened handle per process.

    Subclasses implement :meth:`_open` (return a handle) and :meth:`_read` (read a window
    from that handle), and set ``shape`` and ``dtype`` in ``__init__``, typically by opening
    the file once to validate it. Pickling keeps only the path and metadata, so a dataset
    holding sources can be sent to DataLoader workers; each worker re-opens the file on its
    first read.
    """

    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.source = str(path)
        self._handle: Any = None
        self._pid: int | None = None

    @abstractmethod
    def _open(self) -> Any:
        """Open the file and return the handle :meth:`_read` uses."""

    @abstractmethod
    def _read(self, handle: Any, window: Window) -> np.ndarray:
        """Read ``window`` (already validated) from ``handle`` into a new array."""

    def _close_handle(self, handle: Any) -> None:
        """Close ``handle``; the default calls its ``close`` method when it has one."""
        close = getattr(handle, "close", None)
        if close is not None:
            close()

    @property
    def handle(self) -> Any:
        """The handle of this process, opened on first use (and again after a fork)."""
        if self._handle is None or self._pid != os.getpid():
            self._handle = self._open()
            self._pid = os.getpid()
        return self._handle

    def read(self, window: Window) -> np.ndarray:
        return self._read(self.handle, check_window(self, window))

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            self._close_handle(self._handle)
        self._handle = None
        self._pid = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_handle": None, "_pid": None}

    def __enter__(self) -> FileSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def copy_window(array: np.ndarray, window: Window, dtype: np.dtype[Any]) -> np.ndarray:
    """Copy ``array[window]`` as ``dtype``, releasing the mapped pages it touched.

    For a memory-mapped ``array`` (``np.memmap``) the pages under the window are dropped from
    this process after the copy (``madvise(MADV_DONTNEED)``). They stay in the kernel's page
    cache, so a later read maps them again without disk I/O, but they no longer count in the
    resident set: sweeps over whole files (validation, statistics) and long random sampling
    keep memory flat however large the data. In-memory arrays are simply copied.

    >>> copy_window(np.arange(6).reshape(2, 3), (slice(0, 2), slice(1, 3)), np.dtype("f4"))
    array([[1., 2.],
           [4., 5.]], dtype=float32)
    """
    view = array[window]
    copy = np.array(view, dtype=dtype)
    mapping = array.base
    if (
        isinstance(array, np.memmap)
        and isinstance(mapping, mmap.mmap)
        and view.size
        and hasattr(mmap, "MADV_DONTNEED")
    ):
        # numpy maps from the data offset rounded down to the allocation granularity;
        # windows are unit-step slices, so every stride is positive.
        mapped_from = _address(array) - array.offset % mmap.ALLOCATIONGRANULARITY
        low = _address(view) - mapped_from
        span = sum((size - 1) * step for size, step in zip(view.shape, view.strides, strict=True))
        start = low - low % mmap.PAGESIZE
        mapping.madvise(mmap.MADV_DONTNEED, start, low + span + view.itemsize - start)
    return copy


def _address(array: np.ndarray) -> int:
    """Memory address of the first element of ``array``."""
    return int(array.__array_interface__["data"][0])


def full_window(shape: Sequence[int]) -> Window:
    """The window covering a whole array of ``shape``.

    >>> full_window((2, 3))
    (slice(0, 2, None), slice(0, 3, None))
    """
    return tuple(slice(0, size) for size in shape)


def _blocks(shape: tuple[int, ...], axis: int) -> Iterator[Window]:
    """Windows that tile ``shape`` in slabs along ``axis``, about CHUNK_ELEMENTS each."""
    if not shape:  # a scalar: one window without axes
        yield ()
        return
    if 0 in shape:
        return
    per_index = math.prod(shape) // shape[axis]
    step = max(1, CHUNK_ELEMENTS // per_index)
    whole = list(full_window(shape))
    for start in range(0, shape[axis], step):
        whole[axis] = slice(start, min(start + step, shape[axis]))
        yield tuple(whole)


def require_real(source: str | Path, dtype: np.dtype[Any]) -> None:
    """Raise :class:`InputError` unless ``dtype`` holds real numbers (integers or floats)."""
    if dtype.kind not in "iuf":
        raise InputError(source, f"expected real numbers, got dtype {dtype}")


def require_finite(source: ArraySource, axis: int = 0) -> None:
    """Raise :class:`InputError` if a float ``source`` holds NaN or Inf.

    The source is read in bounded slabs along ``axis`` (pick the axis the file stores
    contiguously), so a memory map or a file larger than RAM is never loaded whole.

    >>> require_finite(InMemorySource(np.ones((3, 4))))
    """
    if source.dtype.kind != "f":
        return
    for window in _blocks(source.shape, axis):
        if not np.isfinite(source.read(window)).all():
            raise InputError(source.source, "data contains NaN or Inf values")


def validate_source(source: ArraySource, axis: int = 0, *, finite: bool = True) -> None:
    """Check a freshly opened source: real dtype, at least one axis, non-empty, finite.

    ``finite=False`` skips the NaN/Inf scan, for callers that treat NaN as missing data.

    Readers call this at open, so bad data fails with the file's name before training
    starts. Finiteness is scanned in bounded slabs along ``axis`` (see :func:`require_finite`).
    A source that fails is closed before the :class:`InputError` is raised.
    """
    try:
        require_real(source.source, source.dtype)
        if not source.shape or 0 in source.shape:
            raise InputError(source.source, f"data is empty or scalar (shape {source.shape})")
        if finite:
            require_finite(source, axis)
    except InputError:
        source.close()
        raise


def validate_array(target: str | Path, array: np.ndarray) -> None:
    """Check an array about to be written to ``target`` as :func:`validate_source` does.

    Works on memory maps without loading them. Raises :class:`InputError` naming ``target``.

    >>> validate_array("out.npy", np.zeros((2, 2), np.float32))
    """
    validate_source(InMemorySource(array, str(target)))


def cast_for_storage(target: str | Path, array: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """Convert ``array`` to the stored ``dtype`` of ``target``, refusing values that do not fit.

    Floats written as integers are rounded to the nearest integer; values outside the
    integer range, or beyond the largest finite value of a narrower float, raise
    :class:`InputError` instead of wrapping around or becoming Inf.

    >>> cast_for_storage("out.mrc", np.array([1.4, -2.6]), np.dtype(np.int16)).tolist()
    [1, -3]
    """
    if array.dtype == dtype:
        return array
    low, high = float(array.min()), float(array.max())
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if round(low) < info.min or round(high) > info.max:
            raise InputError(
                target,
                f"values span [{low:g}, {high:g}] but the file stores {dtype} "
                f"({info.min}..{info.max})",
            )
        return (np.rint(array) if array.dtype.kind == "f" else array).astype(dtype)
    limit = float(np.finfo(dtype).max)
    if max(-low, high) > limit:
        raise InputError(
            target, f"values span [{low:g}, {high:g}], beyond the {dtype} range of ±{limit:g}"
        )
    return array.astype(dtype)
