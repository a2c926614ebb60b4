"""SEG-Y sections through segyio: whole-file reads, windowed reads and header-preserving writes.

Every file is opened with ``ignore_geometry=True``, so any SEG-Y (2-D line, 3-D cube,
pre-stack gathers) reads as one section of shape ``(n_samples, n_traces)`` with the traces in
file order. Errors from segyio are translated into one-line :class:`InputError` messages
naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import segyio

from pixelwise.errors import ConfigError, InputError
from pixelwise.io.atomic import atomic_path
from pixelwise.io.section import (
    CHUNK_ELEMENTS,
    Section,
    check_window,
    require_finite,
    validate_section_array,
)

#: Textual (3200 bytes) plus binary (400 bytes) file header.
FILE_HEADER_BYTES = 3600


def _open_segy(path: Path) -> segyio.SegyFile:
    """Open ``path`` read-only, memory-mapped, as an unstructured SEG-Y file."""
    if not path.is_file():
        raise InputError(path, "file not found")
    size = path.stat().st_size
    if size < FILE_HEADER_BYTES:
        raise InputError(
            path, f"not a SEG-Y file: {size} bytes is less than the 3600-byte file header"
        )
    if size == FILE_HEADER_BYTES:
        raise InputError(path, "SEG-Y file holds no traces")
    try:
        segy = segyio.open(path, "r", ignore_geometry=True)
    except (RuntimeError, ValueError, OSError, IndexError) as err:
        # segyio derives the trace count from the file size and the binary header's sample
        # count and format; a truncated or foreign file fails that check or the header parse.
        raise InputError(path, f"not a SEG-Y file, or truncated: {err}") from err
    segy.mmap()
    return segy


def _trace_chunks(segy: segyio.SegyFile, col0: int, col1: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(offset, traces)`` for traces ``[col0, col1)`` in blocks of bounded size.

    ``traces`` has shape ``(n_traces_in_block, n_samples)`` in the file's sample dtype and
    ``offset`` is the block's first trace relative to ``col0``.
    """
    step = max(1, CHUNK_ELEMENTS // len(segy.samples))
    for start in range(col0, col1, step):
        yield start - col0, segy.trace.raw[start : min(start + step, col1)]


def _read_window(segy: segyio.SegyFile, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
    """Read a float32 ``(row1 - row0, col1 - col0)`` window, touching only its traces."""
    window = np.empty((row1 - row0, col1 - col0), dtype=np.float32)
    for offset, traces in _trace_chunks(segy, col0, col1):
        window[:, offset : offset + len(traces)] = traces[:, row0:row1].T
    return window


def read_segy(path: str | Path) -> np.ndarray:
    """Read every trace of a SEG-Y file as a float32 section of shape (n_samples, n_traces).

    Raises :class:`InputError` for a missing, truncated or non-SEG-Y file, a file without
    traces, and NaN/Inf samples.
    """
    path = Path(path)
    with _open_segy(path) as segy:
        data = _read_window(segy, 0, len(segy.samples), 0, segy.tracecount)
    validate_section_array(path, data)
    return data


class SegySection(Section):
    """Random-window access to a SEG-Y file without loading it.

    The file is validated (readable, finite samples, checked trace block by trace block) and
    kept open memory-mapped. Pickling keeps only the path, and every process opens its own
    handle on first use, so the section can be handed to DataLoader workers.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.source = str(path)
        segy = _open_segy(self.path)
        try:
            self.shape = (len(segy.samples), segy.tracecount)
            chunks = _trace_chunks(segy, 0, segy.tracecount)
            require_finite(self.path, (traces for _, traces in chunks))
        except BaseException:
            segy.close()
            raise
        self._segy: segyio.SegyFile | None = segy
        self._pid = os.getpid()

    def _handle(self) -> segyio.SegyFile:
        # A handle inherited through fork shares its file offset with the parent: reopen.
        if self._segy is None or self._pid != os.getpid():
            self._segy = _open_segy(self.path)
            self._pid = os.getpid()
        return self._segy

    def read_window(self, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
        """Return rows ``[row0, row1)`` of traces ``[col0, col1)`` as a new float32 array."""
        check_window(self, row0, row1, col0, col1)
        return _read_window(self._handle(), row0, row1, col0, col1)

    def close(self) -> None:
        """Close the file handle of this process; a later read reopens it."""
        if self._segy is not None and self._pid == os.getpid():
            self._segy.close()
        self._segy = None

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_segy": None}


def _check_data(target: Path, data: np.ndarray, shape: tuple[int, int] | None = None) -> None:
    """Validate ``data`` before anything is written to ``target``."""
    validate_section_array(target, data)
    if shape is not None and data.shape != shape:
        raise InputError(
            target,
            f"data of shape {data.shape} does not match the template's "
            f"(n_samples, n_traces) = {shape}",
        )


def _write_traces(target: Path, segy: segyio.SegyFile, data: np.ndarray) -> None:
    """Write the columns of ``data`` as traces, converted to the file's sample format.

    Integer formats get rounded samples; values outside the format's range raise
    :class:`InputError` instead of wrapping around.
    """
    dtype = np.dtype(segy.dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        low, high = float(data.min()), float(data.max())
        if round(low) < info.min or round(high) > info.max:
            raise InputError(
                target,
                f"values span [{low:g}, {high:g}] but the template stores {dtype} samples "
                f"({info.min}..{info.max})",
            )
        for index in range(data.shape[1]):
            segy.trace[index] = np.rint(data[:, index]).astype(dtype)
    else:
        for index in range(data.shape[1]):
            segy.trace[index] = data[:, index].astype(dtype)


def write_segy_like(template_path: str | Path, data: np.ndarray, out_path: str | Path) -> None:
    """Write ``data`` (n_samples, n_traces) into a SEG-Y shaped exactly like a template.

    The textual header(s), the binary header, every trace header and the sample format are
    copied from ``template_path``; only the samples change. ``out_path`` is written
    atomically and not at all if ``data``'s shape differs from the template's.
    """
    template_path, out_path = Path(template_path), Path(out_path)
    data = np.asarray(data)
    with _open_segy(template_path) as template:
        _check_data(out_path, data, (len(template.samples), template.tracecount))
        spec = segyio.tools.metadata(template)
        with atomic_path(out_path) as tmp, segyio.create(tmp, spec) as out:
            for index in range(1 + template.ext_headers):
                out.text[index] = template.text[index]
            out.bin = template.bin
            out.header = template.header
            _write_traces(out_path, out, data)


def write_segy(path: str | Path, data: np.ndarray, sample_interval_us: int = 4000) -> None:
    """Write ``data`` (n_samples, n_traces) as a new IEEE-float SEG-Y file, atomically.

    For sections with no template: the headers are minimal but valid (sample count and
    interval in the binary and every trace header, traces numbered from 1).
    """
    path = Path(path)
    if not 1 <= sample_interval_us <= 65535:
        raise ConfigError(
            f"sample_interval_us must be in 1..65535 (an unsigned 16-bit field in SEG-Y), "
            f"got {sample_interval_us}"
        )
    data = np.asarray(data)
    _check_data(path, data)
    n_samples, n_traces = data.shape
    spec = segyio.spec()
    spec.samples = np.arange(n_samples) * (sample_interval_us / 1000.0)  # milliseconds
    spec.format = 5  # 4-byte IEEE float
    spec.tracecount = n_traces
    text = segyio.tools.create_text_header(
        {
            1: "WRITTEN BY PIXELWISE",
            2: f"SAMPLES PER TRACE {n_samples}  SAMPLE INTERVAL {sample_interval_us} US",
            3: f"TRACES {n_traces}",
        }
    )
    with atomic_path(path) as tmp, segyio.create(tmp, spec) as out:
        out.text[0] = text
        out.bin.update(
            {
                segyio.BinField.Interval: sample_interval_us,
                segyio.BinField.IntervalOriginal: sample_interval_us,
            }
        )
        for index in range(n_traces):
            out.header[index] = {
                segyio.TraceField.TRACE_SEQUENCE_LINE: index + 1,
                segyio.TraceField.TRACE_SEQUENCE_FILE: index + 1,
                segyio.TraceField.TraceNumber: index + 1,
                segyio.TraceField.CDP: index + 1,
                segyio.TraceField.TRACE_SAMPLE_COUNT: n_samples,
                segyio.TraceField.TRACE_SAMPLE_INTERVAL: sample_interval_us,
            }
        _write_traces(path, out, data)
