"""SEG-Y sections through segyio: whole-file reads, windowed reads and header-preserving writes.

Every file is opened with ``ignore_geometry=True``, so any SEG-Y (2-D line, 3-D cube,
pre-stack gathers) reads as one float32 section of shape ``(n_samples, n_traces)`` with the
traces in file order. Before segyio sees a file, its layout is cross-checked: the sample
count of the binary header must equal the first trace header's, and the file size must be
the headers plus a whole number of traces; otherwise the samples would be read at the wrong
offsets and come out as garbage. Errors are one-line :class:`InputError` messages naming
the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import segyio

from pixelwise.errors import ConfigError, InputError
from pixelwise.io import sources
from pixelwise.io.atomic import atomic_path
from pixelwise.io.formats import register_reader, register_writer
from pixelwise.io.section import validate_section_array
from pixelwise.io.sources import FileSource, Window, cast_for_storage, validate_source

SEGY_SUFFIXES = (".sgy", ".segy")
#: Textual (3200 bytes) plus binary (400 bytes) file header.
FILE_HEADER_BYTES = 3600
TRACE_HEADER_BYTES = 240
TEXT_HEADER_BYTES = 3200
#: Bytes per sample of each SEG-Y sample format code (binary header bytes 3225-3226).
SAMPLE_BYTES = {
    1: 4,
    2: 4,
    3: 2,
    4: 4,
    5: 4,
    6: 8,
    7: 3,
    8: 1,
    9: 8,
    10: 4,
    11: 2,
    12: 8,
    15: 3,
    16: 1,
}


def _field(header: bytes, position: int, signed: bool = False) -> int:
    """The big-endian 2-byte integer at segyio's 1-based byte ``position`` in ``header``."""
    return int.from_bytes(header[position - 1 : position + 1], "big", signed=signed)


def _check_layout(path: Path, size: int) -> None:
    """Cross-check the sample format and counts of the headers against the file size."""
    with path.open("rb") as stream:
        binary = stream.read(FILE_HEADER_BYTES)
        sample_format = _field(binary, segyio.BinField.Format)
        if sample_format not in SAMPLE_BYTES:
            raise InputError(
                path,
                f"not a SEG-Y file (big-endian): the binary header gives sample format code "
                f"{sample_format}",
            )
        extended = _field(binary, segyio.BinField.ExtendedHeaders, signed=True)
        if extended < 0:  # a variable number of extended headers: only segyio can walk them
            return
        first_trace = FILE_HEADER_BYTES + TEXT_HEADER_BYTES * extended
        stream.seek(first_trace)
        trace_header = stream.read(TRACE_HEADER_BYTES)
    if len(trace_header) < TRACE_HEADER_BYTES:
        raise InputError(path, f"truncated: {size} bytes end inside the first trace header")
    samples = _field(binary, segyio.BinField.Samples)
    in_trace = _field(trace_header, segyio.TraceField.TRACE_SAMPLE_COUNT)
    if samples == 0 or (in_trace > 0 and samples != in_trace):
        raise InputError(
            path,
            f"binary header says {samples} samples per trace but the first trace header "
            f"says {in_trace}; refusing to guess the trace length",
        )
    trace_bytes = TRACE_HEADER_BYTES + samples * SAMPLE_BYTES[sample_format]
    if (size - first_trace) % trace_bytes:
        raise InputError(
            path,
            f"truncated or inconsistent: {size - first_trace} bytes of traces is not a whole "
            f"number of {trace_bytes}-byte traces ({samples} samples each)",
        )


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
    _check_layout(path, size)
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
    step = max(1, sources.CHUNK_ELEMENTS // len(segy.samples))
    for start in range(col0, col1, step):
        yield start - col0, segy.trace.raw[start : min(start + step, col1)]


def _read_window(segy: segyio.SegyFile, rows: slice, traces: slice) -> np.ndarray:
    """Read the float32 window ``[rows, traces]``, touching only its traces."""
    row0, col0 = rows.start or 0, traces.start or 0
    window = np.empty((rows.stop - row0, traces.stop - col0), dtype=np.float32)
    for offset, block in _trace_chunks(segy, col0, traces.stop):
        window[:, offset : offset + len(block)] = block[:, rows].T
    return window


def read_segy(path: str | Path) -> np.ndarray:
    """Read every trace of a SEG-Y file as a float32 section of shape (n_samples, n_traces).

    Raises :class:`InputError` for a missing, truncated, inconsistent or non-SEG-Y file, a
    file without traces, and NaN/Inf samples.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "line.sgy"
    >>> write_segy(path, np.ones((50, 3), np.float32))
    >>> read_segy(path).shape
    (50, 3)
    """
    path = Path(path)
    with _open_segy(path) as segy:
        data = _read_window(segy, slice(0, len(segy.samples)), slice(0, segy.tracecount))
    validate_section_array(path, data)
    return data


@register_reader("SEG-Y", SEGY_SUFFIXES)
class SegySource(FileSource):
    """Random-window access to a SEG-Y file without loading it: float32 ``(n_samples, n_traces)``.

    The file is validated at open (layout cross-check, finite samples scanned trace block by
    trace block) and kept open memory-mapped; samples of any format are converted to
    float32 by segyio. ``handle`` is the ``segyio.SegyFile``.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "line.sgy"
    >>> write_segy(path, np.arange(12, dtype=np.float32).reshape(4, 3))
    >>> SegySource(path).read((slice(0, 2), slice(1, 2))).tolist()
    [[1.0], [4.0]]
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        segy = self.handle
        self.shape = (len(segy.samples), segy.tracecount)
        self.dtype = np.dtype(np.float32)
        validate_source(self, axis=1)  # traces are contiguous in the file

    def _open(self) -> segyio.SegyFile:
        return _open_segy(self.path)

    def _read(self, handle: segyio.SegyFile, window: Window) -> np.ndarray:
        return _read_window(handle, *window)


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
    samples = cast_for_storage(target, data, np.dtype(segy.dtype))
    for index in range(samples.shape[1]):
        segy.trace[index] = np.ascontiguousarray(samples[:, index])


def write_segy_like(template_path: str | Path, data: np.ndarray, out_path: str | Path) -> None:
    """Write ``data`` (n_samples, n_traces) into a SEG-Y shaped exactly like a template.

    The textual header(s), the binary header, every trace header and the sample format are
    copied from ``template_path``; only the samples change. ``out_path`` is written
    atomically and not at all if ``data``'s shape differs from the template's.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_segy(folder / "raw.sgy", np.zeros((8, 2), np.float32))
    >>> write_segy_like(folder / "raw.sgy", np.ones((8, 2)), folder / "out.sgy")
    >>> read_segy(folder / "out.sgy").min()
    np.float32(1.0)
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


@register_writer("SEG-Y", SEGY_SUFFIXES)
def write_segy(path: str | Path, data: np.ndarray, sample_interval_us: int = 4000) -> None:
    """Write ``data`` (n_samples, n_traces) as a new IEEE-float SEG-Y file, atomically.

    For sections with no template: the headers are minimal but valid (sample count and
    interval in the binary and every trace header, traces numbered from 1).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "line.segy"
    >>> write_segy(path, np.zeros((8, 2), np.float32), sample_interval_us=2000)
    >>> path.stat().st_size == 3600 + 2 * (240 + 8 * 4)
    True
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
