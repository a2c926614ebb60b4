"""SEG-Y sections: whole-file and windowed reads, header reads, byte-exact streaming writes.

Every file is opened with ``ignore_geometry=True``, so any SEG-Y (2-D line, 3-D cube,
pre-stack gathers) reads as one float32 section of shape ``(n_samples, n_traces)`` with the
traces in file order; :func:`header_values` reads any trace-header field of every trace, from
which callers build inlines, crosslines or gathers. Before segyio sees a file its layout is
cross-checked (:func:`inspect_segy`): the byte order is detected from the binary header, the
sample format must be one segyio decodes, the sample count of the binary header must equal
the first trace header's, and the file size must be the headers plus a whole number of
traces. Errors are one-line :class:`InputError` messages naming the file; what is worth
knowing but not an error is a :class:`SegyNote` warning.

Writes never go through segyio's header dictionaries (which drop bytes 233-240): a
:func:`segy_writer` copies the template's textual and binary headers and every 240-byte trace
header byte for byte and encodes only the samples, trace block by trace block, so files far
larger than memory can be written.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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
#: 0-based offset of the sample format code (bytes 3225-3226) in the file.
FORMAT_OFFSET = 3224
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
#: What each format code stores.
FORMAT_NAMES = {
    1: "4-byte IBM float",
    2: "4-byte signed integer",
    3: "2-byte signed integer",
    4: "4-byte fixed point with gain",
    5: "4-byte IEEE float",
    6: "8-byte IEEE float",
    7: "3-byte signed integer",
    8: "1-byte signed integer",
    9: "8-byte signed integer",
    10: "4-byte unsigned integer",
    11: "2-byte unsigned integer",
    12: "8-byte unsigned integer",
    15: "3-byte unsigned integer",
    16: "1-byte unsigned integer",
}
#: Formats segyio 1.9 cannot decode.
UNSUPPORTED_FORMATS = (4, 7, 15)
#: Formats stored as unsigned integers: denoised (signed, fractional) data rarely fits them.
UNSIGNED_FORMATS = (10, 11, 12, 15, 16)
#: numpy sample type (without byte order) of every format that numpy stores directly.
NUMPY_TYPES = {
    2: "i4",
    3: "i2",
    5: "f4",
    6: "f8",
    8: "i1",
    9: "i8",
    10: "u4",
    11: "u2",
    12: "u8",
    16: "u1",
}
Endian = Literal["big", "little"]


class SegyNote(UserWarning):
    """Something a user should know about a SEG-Y file or its output, but not an error."""


@dataclass(frozen=True)
class SegyLayout:
    """Where the traces of a SEG-Y file are and how they are encoded.

    ``first_trace`` is the byte offset of the first trace header; ``trace_bytes`` the size of
    one trace (header plus samples); ``ext_headers`` the count of extended textual headers;
    ``interval_us`` the binary header's sample interval (0 when unset).
    """

    endian: Endian
    sample_format: int
    n_samples: int
    n_traces: int
    ext_headers: int
    first_trace: int
    interval_us: int = 0

    @property
    def trace_bytes(self) -> int:
        return TRACE_HEADER_BYTES + self.n_samples * SAMPLE_BYTES[self.sample_format]


def _field(header: bytes, position: int, endian: Endian, signed: bool = False) -> int:
    """The 2-byte integer at segyio's 1-based byte ``position`` in ``header``."""
    return int.from_bytes(header[position - 1 : position + 1], endian, signed=signed)


def _detect_endian(path: Path, binary: bytes) -> Endian:
    """The byte order whose sample format code is a SEG-Y one (big-endian preferred)."""
    endians: tuple[Endian, ...] = ("big", "little")
    codes = {e: _field(binary, segyio.BinField.Format, e) for e in endians}
    for endian in endians:
        if codes[endian] in SAMPLE_BYTES:
            return endian
    raise InputError(
        path,
        f"not a SEG-Y file: the binary header gives sample format code {codes['big']} "
        f"(big-endian) or {codes['little']} (little-endian)",
    )


def inspect_segy(path: str | Path) -> SegyLayout:
    """Read and cross-check the layout of a SEG-Y file without segyio.

    Raises :class:`InputError` naming the file when it is missing, shorter than its headers,
    holds no traces, has an unknown or undecodable sample format (4, 7 and 15), or whose
    headers disagree with each other or with the file size.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "line.sgy"
    >>> write_segy(path, np.ones((50, 3), np.float32))
    >>> layout = inspect_segy(path)
    >>> layout.endian, layout.sample_format, layout.n_samples, layout.n_traces
    ('big', 5, 50, 3)
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    size = path.stat().st_size
    if size < FILE_HEADER_BYTES:
        raise InputError(
            path, f"not a SEG-Y file: {size} bytes is less than the 3600-byte file header"
        )
    if size == FILE_HEADER_BYTES:
        raise InputError(path, "SEG-Y file holds no traces")
    with path.open("rb") as stream:
        binary = stream.read(FILE_HEADER_BYTES)
        endian = _detect_endian(path, binary)
        sample_format = _field(binary, segyio.BinField.Format, endian)
        if sample_format in UNSUPPORTED_FORMATS:
            raise InputError(
                path,
                f"unsupported sample format {sample_format} ({FORMAT_NAMES[sample_format]}): "
                "segyio cannot decode it; convert the file to IEEE float (format 5) first",
            )
        extended = _field(binary, segyio.BinField.ExtendedHeaders, endian, signed=True)
        if extended < 0:
            raise InputError(
                path, "a variable number of extended textual headers (-1) is not supported"
            )
        first_trace = FILE_HEADER_BYTES + TEXT_HEADER_BYTES * extended
        stream.seek(first_trace)
        trace_header = stream.read(TRACE_HEADER_BYTES)
    if len(trace_header) < TRACE_HEADER_BYTES:
        raise InputError(path, f"truncated: {size} bytes end inside the first trace header")
    samples = _field(binary, segyio.BinField.Samples, endian)
    in_trace = _field(trace_header, segyio.TraceField.TRACE_SAMPLE_COUNT, endian)
    layout = SegyLayout(endian, sample_format, samples, 0, extended, first_trace)
    if samples == 0 or (in_trace > 0 and samples != in_trace):
        as_traces = SegyLayout(endian, sample_format, in_trace, 0, extended, first_trace)
        if samples == 0 or not (
            (size - first_trace) % layout.trace_bytes == 0
            and (size - first_trace) % as_traces.trace_bytes
        ):
            raise InputError(
                path,
                f"binary header says {samples} samples per trace but the first trace header "
                f"says {in_trace}; refusing to guess the trace length",
            )
        warnings.warn(
            f"{path}: the first trace header says {in_trace} samples per trace, the binary "
            f"header {samples}; only {samples} fits the file size, so it is used",
            SegyNote,
            stacklevel=2,
        )
    n_traces, rest = divmod(size - first_trace, layout.trace_bytes)
    if rest:
        raise InputError(
            path,
            f"truncated or inconsistent: {size - first_trace} bytes of traces is not a whole "
            f"number of {layout.trace_bytes}-byte traces ({samples} samples each)",
        )
    interval = _field(binary, segyio.BinField.Interval, endian)
    return SegyLayout(endian, sample_format, samples, n_traces, extended, first_trace, interval)


def _open_segy(path: Path) -> segyio.SegyFile:
    """Open ``path`` read-only, unstructured, in its own byte order.

    segyio's own warnings become one :class:`SegyNote` naming the file.
    """
    layout = inspect_segy(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            segy = segyio.open(path, "r", ignore_geometry=True, endian=layout.endian)
        except (RuntimeError, ValueError, OSError, IndexError) as err:
            raise InputError(path, f"not a SEG-Y file, or truncated: {err}") from err
    if caught:
        messages = "; ".join(dict.fromkeys(str(w.message) for w in caught))
        warnings.warn(f"{path}: segyio says: {messages}", SegyNote, stacklevel=3)
    return segy  # not memory-mapped: mapped pages would grow resident memory with the file


def header_values(path: str | Path, byte: int) -> np.ndarray:
    """The 4-byte (or 2-byte, as SEG-Y defines it) trace-header field at ``byte`` of every trace.

    ``byte`` is 1-based, as in the SEG-Y standard and ``segyio.TraceField`` (189 inline,
    193 crossline, 37 offset, 21 CDP, 9 field record, ...). Returns int64 ``(n_traces,)``.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "line.sgy"
    >>> write_segy(path, np.ones((50, 3), np.float32))
    >>> header_values(path, segyio.TraceField.CDP).tolist()
    [1, 2, 3]
    """
    path = Path(path)
    if byte not in segyio.TraceField.enums():
        raise ConfigError(
            f"trace-header byte {byte} does not start a SEG-Y header field (e.g. 189 inline, "
            "193 crossline, 37 offset, 21 CDP, 9 field record)"
        )
    with _open_segy(path) as segy:
        return np.asarray(segy.attributes(byte)[:], dtype=np.int64)


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

    Big- and little-endian files and every format segyio decodes are read. Raises
    :class:`InputError` for a missing, truncated, inconsistent or non-SEG-Y file, an
    unsupported sample format, a file without traces, and NaN/Inf samples.

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
    trace block) and kept open; samples of any format are converted to
    float32 by segyio. ``handle`` is the ``segyio.SegyFile``; ``layout`` the
    :class:`SegyLayout`.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "line.sgy"
    >>> write_segy(path, np.arange(12, dtype=np.float32).reshape(4, 3))
    >>> SegySource(path).read((slice(0, 2), slice(1, 2))).tolist()
    [[1.0], [4.0]]
    """

    def __init__(self, path: str | Path, finite: bool = True) -> None:
        super().__init__(path)
        self.layout = inspect_segy(self.path)
        segy = self.handle
        self.shape = (len(segy.samples), segy.tracecount)
        self.dtype = np.dtype(np.float32)
        # Traces are contiguous in the file; finite=False allows NaN (missing data).
        validate_source(self, axis=1, finite=finite)

    def _open(self) -> segyio.SegyFile:
        return _open_segy(self.path)

    def _read(self, handle: segyio.SegyFile, window: Window) -> np.ndarray:
        return _read_window(handle, *window)


def ibm_from_float(values: np.ndarray) -> np.ndarray:
    """Encode floats as IBM System/360 single precision, returned as the uint32 bit patterns.

    The mantissa is rounded to 24 bits; zero maps to 0.

    >>> [hex(bits) for bits in ibm_from_float(np.array([1.0, -118.625])).tolist()]
    ['0x41100000', '0xc276a000']
    """
    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    fraction, power = np.frexp(magnitude)  # magnitude = fraction * 2**power, 0.5 <= fraction < 1
    exponent = -(-power // 4)  # ceil(power / 4): magnitude = m * 16**exponent, 1/16 <= m < 1
    mantissa = np.rint(np.ldexp(fraction, power - 4 * exponent + 24)).astype(np.int64)
    carry = mantissa >= 1 << 24
    mantissa = np.where(carry, mantissa >> 4, mantissa)
    exponent = exponent + carry
    bits = (np.signbit(values).astype(np.int64) << 31) | ((exponent + 64) << 24) | mantissa
    return np.where(magnitude == 0, 0, bits).astype(np.uint32)


def encode_samples(
    target: str | Path, traces: np.ndarray, sample_format: int, endian: Endian
) -> np.ndarray:
    """Encode ``traces`` ``(n, n_samples)`` as SEG-Y sample bytes, ``(n, n_samples * width)`` uint8.

    Integer formats get rounded samples; values that the format cannot hold raise
    :class:`InputError` naming ``target`` instead of wrapping around.
    """
    order = ">" if endian == "big" else "<"
    if sample_format == 1:
        encoded = ibm_from_float(traces).astype(order + "u4")
    elif sample_format in NUMPY_TYPES:
        stored = cast_for_storage(target, traces, np.dtype(NUMPY_TYPES[sample_format]))
        encoded = stored.astype(order + NUMPY_TYPES[sample_format], copy=False)
    else:
        raise ConfigError(f"cannot write sample format {sample_format}")
    return np.ascontiguousarray(encoded).view(np.uint8).reshape(len(traces), -1)


def fits_format(values: np.ndarray, sample_format: int) -> bool:
    """Whether ``values`` can be stored in ``sample_format`` (after rounding, for integers)."""
    kind = NUMPY_TYPES.get(sample_format, "f4")
    if kind[0] == "f" or values.size == 0:
        return True
    info = np.iinfo(np.dtype(kind))
    return bool(round(float(values.min())) >= info.min and round(float(values.max())) <= info.max)


class SegyWriter:
    """Samples of a SEG-Y being written, trace block by trace block; see :func:`segy_writer`.

    ``path`` is the file written to (a temporary one under :func:`segy_writer`); ``target``
    the name used in error messages.
    """

    def __init__(
        self, template: Path, path: Path, target: Path, sample_format: int | None = None
    ) -> None:
        self.template, self.target = template, target
        self.layout = layout = inspect_segy(template)
        self.sample_format = sample_format or layout.sample_format
        if self.sample_format not in NUMPY_TYPES and self.sample_format != 1:
            raise ConfigError(
                f"cannot write sample format {self.sample_format}; use one of "
                f"{sorted([1, *NUMPY_TYPES])}"
            )
        self.written = np.zeros(layout.n_traces, dtype=bool)
        self._out_trace = TRACE_HEADER_BYTES + layout.n_samples * SAMPLE_BYTES[self.sample_format]
        # Plain reads and positioned writes, no memory maps: mapped pages would count in the
        # process's resident memory and grow with the file.
        self._stream = path.open("r+b")
        with template.open("rb") as source:
            header = bytearray(source.read(layout.first_trace))
            header[FORMAT_OFFSET : FORMAT_OFFSET + 2] = self.sample_format.to_bytes(
                2, layout.endian
            )
            self._stream.write(header)
            step = max(1, sources.CHUNK_ELEMENTS // layout.trace_bytes)
            for start in range(0, layout.n_traces, step):
                count = min(step, layout.n_traces - start)
                traces = np.frombuffer(source.read(count * layout.trace_bytes), np.uint8)
                rows = np.zeros((count, self._out_trace), np.uint8)
                rows[:, :TRACE_HEADER_BYTES] = traces.reshape(count, -1)[:, :TRACE_HEADER_BYTES]
                self._stream.write(rows.tobytes())
        self._stream.flush()

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_samples, n_traces)`` of the file being written."""
        return self.layout.n_samples, self.layout.n_traces

    def write(self, indices: np.ndarray | Sequence[int], data: np.ndarray) -> None:
        """Write ``data`` ``(n_samples, len(indices))`` as the traces at file ``indices``."""
        indices = np.asarray(indices, dtype=np.int64)
        data = np.asarray(data)
        if data.shape != (self.layout.n_samples, len(indices)):
            raise InputError(
                self.target,
                f"data of shape {data.shape} does not match (n_samples, n_traces) = "
                f"{(self.layout.n_samples, len(indices))}",
            )
        if len(indices) and not 0 <= indices.min() <= indices.max() < self.layout.n_traces:
            raise IndexError(f"{self.target}: trace index outside [0, {self.layout.n_traces})")
        validate_section_array(self.target, data)
        encoded = encode_samples(self.target, data.T, self.sample_format, self.layout.endian)
        descriptor = self._stream.fileno()
        for row, index in enumerate(indices.tolist()):
            offset = self.layout.first_trace + index * self._out_trace + TRACE_HEADER_BYTES
            os.pwrite(descriptor, encoded[row].tobytes(), offset)
        self.written[indices] = True

    def abort(self) -> None:
        """Close the file without checking it (it is being discarded)."""
        self._stream.close()

    def close(self) -> None:
        """Close the file; raise :class:`InputError` if some trace was never written."""
        self._stream.close()
        missing = int((~self.written).sum())
        if missing:
            raise InputError(self.target, f"{missing} traces were never written")


@contextlib.contextmanager
def segy_writer(
    template: str | Path, out_path: str | Path, sample_format: int | None = None
) -> Iterator[SegyWriter]:
    """Write a SEG-Y shaped like ``template``, trace block by trace block, atomically.

    Every byte of the template's textual, binary and trace headers is kept, and its byte
    order; only the samples (and, with ``sample_format``, the format code at bytes 3225-3226)
    change. Traces may be written in any order; the file appears at ``out_path`` on a clean
    exit only, and only if every trace was written.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_segy(folder / "raw.sgy", np.zeros((8, 3), np.float32))
    >>> with segy_writer(folder / "raw.sgy", folder / "out.sgy") as out:
    ...     out.write(np.arange(1, 3), np.ones((8, 2), np.float32))
    ...     out.write(np.array([0]), np.full((8, 1), 2, np.float32))
    >>> read_segy(folder / "out.sgy")[0].tolist()
    [2.0, 1.0, 1.0]
    """
    template, out_path = Path(template), Path(out_path)
    inspect_segy(template)
    with atomic_path(out_path) as tmp:
        writer = SegyWriter(template, tmp, out_path, sample_format)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        writer.close()


def output_format(template: str | Path, data: np.ndarray, sample_format: int | None) -> int:
    """The sample format to write ``data`` in: ``sample_format``, else the template's.

    An unsigned template format that cannot hold ``data`` falls back to IEEE float (5) with a
    :class:`SegyNote`.
    """
    if sample_format is not None:
        return sample_format
    native = inspect_segy(template).sample_format
    if native in UNSIGNED_FORMATS and not fits_format(data, native):
        warnings.warn(
            f"{template}: its samples are {FORMAT_NAMES[native]}s (format {native}), which "
            f"cannot hold the output's range [{float(data.min()):g}, {float(data.max()):g}]; "
            "writing 4-byte IEEE float (format 5) instead",
            SegyNote,
            stacklevel=2,
        )
        return 5
    return native


def write_segy_like(
    template_path: str | Path,
    data: np.ndarray,
    out_path: str | Path,
    sample_format: int | None = None,
) -> None:
    """Write ``data`` (n_samples, n_traces) into a SEG-Y shaped exactly like a template.

    The textual header(s), the binary header and every byte of every trace header are
    copied from ``template_path``, so is the byte order; the sample format is
    ``sample_format``, else the template's (see :func:`output_format` for unsigned ones).
    ``out_path`` is written atomically and not at all if ``data``'s shape differs from the
    template's or its values do not fit the format.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_segy(folder / "raw.sgy", np.zeros((8, 2), np.float32))
    >>> write_segy_like(folder / "raw.sgy", np.ones((8, 2)), folder / "out.sgy")
    >>> read_segy(folder / "out.sgy").min()
    np.float32(1.0)
    """
    template_path, out_path = Path(template_path), Path(out_path)
    data = np.asarray(data)
    layout = inspect_segy(template_path)
    validate_section_array(out_path, data)
    if data.shape != (layout.n_samples, layout.n_traces):
        raise InputError(
            out_path,
            f"data of shape {data.shape} does not match the template's "
            f"(n_samples, n_traces) = {(layout.n_samples, layout.n_traces)}",
        )
    chosen = output_format(template_path, data, sample_format)
    with segy_writer(template_path, out_path, chosen) as out:
        step = max(1, sources.CHUNK_ELEMENTS // layout.n_samples)
        for start in range(0, layout.n_traces, step):
            stop = min(start + step, layout.n_traces)
            out.write(np.arange(start, stop), data[:, start:stop])


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
    validate_section_array(path, data)
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
        samples = cast_for_storage(path, data, np.dtype(np.float32))
        for index in range(n_traces):
            out.trace[index] = np.ascontiguousarray(samples[:, index])
