"""Cutting a seismic file into sections: by file order, inline, crossline or gather.

A section is a list of trace indices (positions in the file) in the order they sit side by
side: an inline's traces sorted by crossline, a crossline's by inline, a gather's by the
``order_byte`` header (offset by default). Denoising writes each section's traces back to
those same indices, so the output has the input's trace order and headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pixelwise.apps.seismic.config import SectionConfig
from pixelwise.errors import InputError
from pixelwise.io.arrays import open_section
from pixelwise.io.segy import SEGY_SUFFIXES, header_values
from pixelwise.io.sources import ArraySource

#: Formats whose readers may serve NaN samples (NaN traces are dead traces here).
NAN_TOLERANT_SUFFIXES = (*SEGY_SUFFIXES, ".npy")


def open_traces(path: str | Path) -> ArraySource:
    """Open a section whose NaN traces are dead traces, not an error (SEG-Y and ``.npy``).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "line.npy"
    >>> np.save(path, np.array([[1.0, np.nan], [2.0, np.nan]], np.float32))
    >>> open_traces(path).shape
    (2, 2)
    """
    path = Path(path)
    if path.suffix.lower() in NAN_TOLERANT_SUFFIXES:
        return open_section(path, finite=False)
    return open_section(path)


def _grouped(keys: np.ndarray, order: np.ndarray) -> list[np.ndarray]:
    """Trace indices grouped by ``keys`` (ascending), each group sorted by ``order``."""
    ranked = np.lexsort((np.arange(len(keys)), order, keys))
    boundaries = np.flatnonzero(np.diff(keys[ranked])) + 1
    return np.split(ranked, boundaries)


def trace_groups(path: str | Path, n_traces: int, config: SectionConfig) -> list[np.ndarray]:
    """The sections of a file as arrays of trace indices (int64), covering every trace once.

    ``file`` geometry gives one section of all traces in file order (denoising then goes in
    blocks of ``config.block_traces``). The other geometries read trace headers and need a
    SEG-Y file; ``volume`` gives the inlines (2-D methods denoise a volume per inline).

    >>> import tempfile
    >>> from pixelwise.io.segy import write_segy
    >>> path = Path(tempfile.mkdtemp()) / "line.sgy"
    >>> write_segy(path, np.zeros((8, 4), np.float32))
    >>> [group.tolist() for group in trace_groups(path, 4, SectionConfig())]
    [[0, 1, 2, 3]]
    """
    path = Path(path)
    if config.geometry == "file":
        return [np.arange(n_traces)]
    if path.suffix.lower() not in SEGY_SUFFIXES:
        raise InputError(path, f"geometry '{config.geometry}' needs trace headers (a SEG-Y file)")
    if config.geometry == "gather":
        keys, order = (
            header_values(path, config.gather_byte),
            header_values(path, config.order_byte),
        )
    else:
        inline = header_values(path, config.inline_byte)
        crossline = header_values(path, config.crossline_byte)
        by_inline = config.geometry in ("inline", "volume")  # a volume's sections are inlines
        keys, order = (inline, crossline) if by_inline else (crossline, inline)
    groups = _grouped(keys, order)
    if len(groups) == n_traces:
        raise InputError(
            path,
            f"every trace has its own {config.geometry} key (bytes "
            f"{config.inline_byte if config.geometry == 'inline' else config.crossline_byte}"
            f" / {config.gather_byte}): check the header bytes",
        )
    return groups


def read_traces(source: ArraySource, indices: np.ndarray) -> np.ndarray:
    """Float32 ``(n_samples, len(indices))``: the traces at ``indices``, in that order.

    Runs of consecutive indices are read as one window each.
    """
    n_samples = source.shape[0]
    result = np.empty((n_samples, len(indices)), dtype=np.float32)
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    position = 0
    for run in np.split(indices, breaks):
        start = int(run[0])
        result[:, position : position + len(run)] = source.read(
            (slice(0, n_samples), slice(start, start + len(run)))
        )
        position += len(run)
    return result


def blocks(n_traces: int, block: int, overlap: int) -> Iterator[tuple[slice, slice]]:
    """``(read, keep)`` trace slices tiling ``[0, n_traces)``: ``keep`` is ``read``'s centre.

    ``keep`` is relative to ``read``'s start; neighbouring reads overlap by ``overlap``
    traces on each side so that every kept trace has lateral context.

    >>> [(r.start, r.stop, k.start, k.stop) for r, k in blocks(10, 4, 1)]
    [(0, 5, 0, 4), (3, 9, 1, 5), (7, 10, 1, 3)]
    """
    for start in range(0, n_traces, block):
        stop = min(start + block, n_traces)
        read0, read1 = max(0, start - overlap), min(n_traces, stop + overlap)
        yield slice(read0, read1), slice(start - read0, stop - read0)
