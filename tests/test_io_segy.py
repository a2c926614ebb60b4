"""SEG-Y reading, windowed reading and header-preserving writing."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import segyio

from pixelwise.errors import ConfigError, InputError
from pixelwise.io.registry import open_source
from pixelwise.io.segy import (
    SegyNote,
    SegySource,
    header_values,
    read_segy,
    segy_writer,
    write_segy,
    write_segy_like,
)

N_SAMPLES, N_TRACES = 64, 23
TRACE_BYTES = 240 + 4 * N_SAMPLES


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((N_SAMPLES, N_TRACES)).astype(np.float32)


@pytest.fixture
def segy_file(tmp_path: Path, data: np.ndarray) -> Path:
    path = tmp_path / "line.sgy"
    write_segy(path, data)
    return path


def make_template(path: Path, data: np.ndarray, sample_format: int = 5) -> None:
    """A SEG-Y with one extended textual header and non-trivial binary and trace headers."""
    rng = np.random.default_rng(1)
    spec = segyio.spec()
    spec.samples = np.arange(data.shape[0]) * 2.0
    spec.format = sample_format
    spec.tracecount = data.shape[1]
    spec.ext_headers = 1
    with segyio.create(path, spec) as f:
        f.text[0] = segyio.tools.create_text_header({1: "SURVEY NORTH", 7: "LINE 42 FINAL STACK"})
        f.text[1] = segyio.tools.create_text_header({1: "EXTENDED HEADER"})
        f.bin.update({segyio.BinField.JobID: 77, segyio.BinField.LineNumber: 42})
        for index in range(data.shape[1]):
            f.header[index] = {
                segyio.TraceField.TRACE_SEQUENCE_FILE: index + 1,
                segyio.TraceField.CDP: 1000 + index,
                segyio.TraceField.CDP_X: int(rng.integers(0, 10**6)),
                segyio.TraceField.CDP_Y: int(rng.integers(0, 10**6)),
                segyio.TraceField.offset: int(rng.integers(-3000, 3000)),
                segyio.TraceField.INLINE_3D: 42,
                segyio.TraceField.CROSSLINE_3D: 500 + index,
            }
        f.trace = np.ascontiguousarray(data.T, dtype=f.dtype)


def headers(path: Path, n_traces: int, n_ext: int = 1) -> tuple[bytes, list[bytes]]:
    """The raw file-header bytes and the raw 240-byte header of every trace."""
    raw = path.read_bytes()
    start = 3600 + 3200 * n_ext
    trace_bytes = (len(raw) - start) // n_traces
    trace_headers = [
        raw[start + i * trace_bytes : start + i * trace_bytes + 240] for i in range(n_traces)
    ]
    return raw[:start], trace_headers


def test_write_segy_then_read_segy_round_trips_exactly(segy_file: Path, data: np.ndarray) -> None:
    result = read_segy(segy_file)
    assert result.dtype == np.float32
    assert result.shape == (N_SAMPLES, N_TRACES)
    np.testing.assert_array_equal(result, data)


def test_write_segy_writes_valid_minimal_headers(tmp_path: Path, data: np.ndarray) -> None:
    path = tmp_path / "out.segy"
    write_segy(path, data, sample_interval_us=2500)
    assert path.stat().st_size == 3600 + N_TRACES * TRACE_BYTES
    with segyio.open(path, ignore_geometry=True) as f:
        assert f.bin[segyio.BinField.Interval] == 2500
        assert f.bin[segyio.BinField.Samples] == N_SAMPLES
        assert f.bin[segyio.BinField.Format] == 5
        assert f.samples[1] == pytest.approx(2.5)
        assert [h[segyio.TraceField.TRACE_SEQUENCE_FILE] for h in f.header] == list(
            range(1, N_TRACES + 1)
        )
        assert {h[segyio.TraceField.TRACE_SAMPLE_COUNT] for h in f.header} == {N_SAMPLES}


def test_write_segy_like_keeps_every_header_byte(tmp_path: Path, data: np.ndarray) -> None:
    template, out = tmp_path / "template.sgy", tmp_path / "out.sgy"
    make_template(template, data)
    new_data = (2 * data + 1).astype(np.float32)
    write_segy_like(template, new_data, out)

    np.testing.assert_array_equal(read_segy(out), new_data)
    assert out.stat().st_size == template.stat().st_size
    assert headers(out, N_TRACES) == headers(template, N_TRACES)
    with segyio.open(out, ignore_geometry=True) as f:
        assert "LINE 42 FINAL STACK" in f.text[0].decode()
        assert f.header[5][segyio.TraceField.CDP] == 1005


def test_write_segy_like_rounds_into_integer_templates(tmp_path: Path) -> None:
    template, out = tmp_path / "int16.sgy", tmp_path / "out.sgy"
    make_template(template, np.zeros((8, 3), np.float32), sample_format=3)  # 2-byte integers
    values = np.array([[1.4, -2.6, 300.5]] * 8, dtype=np.float32)
    write_segy_like(template, values, out)
    np.testing.assert_array_equal(read_segy(out)[0], [1, -3, 300])

    with pytest.raises(InputError, match=r"out2\.sgy.*int16"):
        write_segy_like(template, values * 1000, tmp_path / "out2.sgy")
    assert not (tmp_path / "out2.sgy").exists()


def test_write_segy_like_rejects_a_shape_mismatch(tmp_path: Path, segy_file: Path) -> None:
    out = tmp_path / "out.sgy"
    with pytest.raises(InputError, match=r"out\.sgy.*does not match"):
        write_segy_like(segy_file, np.zeros((N_SAMPLES, N_TRACES + 1), np.float32), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.sgy"]


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (np.full((4, 3), np.nan, np.float32), "NaN"),
        (np.zeros((4, 3, 2), np.float32), "2-D"),
        (np.array([["a", "b"]]), "dtype"),
    ],
)
def test_write_segy_rejects_bad_data_and_writes_nothing(
    tmp_path: Path, bad: np.ndarray, problem: str
) -> None:
    with pytest.raises(InputError, match=rf"out\.sgy.*{problem}"):
        write_segy(tmp_path / "out.sgy", bad)
    assert list(tmp_path.iterdir()) == []


def test_write_segy_rejects_an_interval_that_does_not_fit_the_header(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="65535"):
        write_segy(tmp_path / "out.sgy", np.zeros((4, 3), np.float32), sample_interval_us=70000)


def truncated(path: Path) -> Path:
    raw = path.read_bytes()
    cut = len(raw) // 2
    assert (cut - 3600) % TRACE_BYTES != 0  # not on a trace boundary
    path.write_bytes(raw[:cut])
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 9000, dtype=np.uint8).tobytes())
    return path


def headers_only(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[:3600])
    return path


def with_nan(path: Path) -> Path:
    with segyio.open(path, "r+", ignore_geometry=True) as f:
        trace = f.trace[N_TRACES - 1].copy()
        trace[-1] = np.nan
        f.trace[N_TRACES - 1] = trace
    return path


def missing(path: Path) -> Path:
    path.unlink()
    return path


@pytest.mark.parametrize(
    ("corrupt", "problem"),
    [
        (missing, "not found"),
        (truncated, "truncated"),
        (random_bytes, "not a SEG-Y file"),
        (headers_only, "no traces"),
        (with_nan, "NaN"),
    ],
)
@pytest.mark.parametrize("reader", [read_segy, SegySource, open_source])
def test_bad_files_raise_input_error_naming_the_file(
    segy_file: Path, corrupt, problem: str, reader
) -> None:
    path = corrupt(segy_file)
    with pytest.raises(InputError, match=rf"line\.sgy: .*{problem}"):
        reader(path)


def window(row0: int, row1: int, col0: int, col1: int) -> tuple[slice, slice]:
    return slice(row0, row1), slice(col0, col1)


def test_source_windows_equal_slices_of_the_full_array(segy_file: Path, data: np.ndarray) -> None:
    section = SegySource(segy_file)
    assert section.shape == (N_SAMPLES, N_TRACES)
    assert section.dtype == np.float32
    for row0, row1, col0, col1 in [(0, N_SAMPLES, 0, N_TRACES), (5, 17, 3, 4), (60, 64, 20, 23)]:
        part = section.read(window(row0, row1, col0, col1))
        assert part.dtype == np.float32
        np.testing.assert_array_equal(part, data[row0:row1, col0:col1])
    with pytest.raises(IndexError, match=r"line\.sgy"):
        section.read(window(0, 4, 20, 24))
    section.close()


def test_source_reads_traces_in_bounded_chunks(
    segy_file: Path, data: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pixelwise.io.sources.CHUNK_ELEMENTS", 2 * N_SAMPLES)  # two traces a read
    reads: list[int] = []
    original = segyio.trace.RawTrace.__getitem__

    def counting(self, index):
        block = original(self, index)
        reads.append(len(block))
        return block

    monkeypatch.setattr(segyio.trace.RawTrace, "__getitem__", counting)
    with SegySource(segy_file) as section:
        assert max(reads) == 2  # the NaN scan at open, two traces at a time
        np.testing.assert_array_equal(section.read(window(1, 9, 2, 21)), data[1:9, 2:21])
    assert max(reads) == 2


def test_source_pickles_as_a_path_and_reopens(segy_file: Path, data: np.ndarray) -> None:
    section = SegySource(segy_file)
    payload = pickle.dumps(section)
    assert len(payload) < data.nbytes / 4
    clone = pickle.loads(payload)
    assert clone.shape == section.shape
    np.testing.assert_array_equal(clone.read(window(0, N_SAMPLES, 0, N_TRACES)), data)


def with_sample_counts(path: Path, in_binary: int, in_traces: int) -> Path:
    """Rewrite the sample count of the binary header and of every trace header."""
    raw = bytearray(path.read_bytes())
    raw[3220:3222] = in_binary.to_bytes(2, "big")
    for index in range(N_TRACES):
        start = 3600 + index * TRACE_BYTES + 114
        raw[start : start + 2] = in_traces.to_bytes(2, "big")
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("reader", [read_segy, SegySource, open_source])
def test_sample_count_mismatch_names_both_numbers(segy_file: Path, reader) -> None:
    with_sample_counts(segy_file, 68, N_SAMPLES)
    with pytest.raises(
        InputError, match=rf"line\.sgy: binary header says 68 samples .* says {N_SAMPLES}"
    ):
        reader(segy_file)


def test_a_wrong_binary_count_is_refused_even_when_the_size_fits(tmp_path: Path) -> None:
    # 128-sample traces are 752 bytes; with 68 samples a trace would be 512: 32 traces of the
    # first are 47 of the second, so the file size alone cannot reveal the damage.
    path = tmp_path / "line.sgy"
    write_segy(path, np.ones((128, 32), np.float32))
    raw = bytearray(path.read_bytes())
    raw[3220:3222] = (68).to_bytes(2, "big")
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"binary header says 68 samples .* says 128"):
        SegySource(path)


@pytest.mark.parametrize(("in_binary", "in_traces"), [(0, N_SAMPLES), (N_SAMPLES, 0)])
def test_a_missing_count_in_the_binary_header_is_refused(
    segy_file: Path, data: np.ndarray, in_binary: int, in_traces: int
) -> None:
    with_sample_counts(segy_file, in_binary, in_traces)
    if in_binary == 0:  # segyio takes the trace length from the binary header only
        with pytest.raises(InputError, match=rf"binary header says 0 samples .* {N_SAMPLES}"):
            read_segy(segy_file)
    else:  # trace headers without a count are common and harmless
        np.testing.assert_array_equal(read_segy(segy_file), data)


SEGYIO_FORMATS = [1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 16]


def make_segyio_file(path: Path, data: np.ndarray, sample_format: int, endian: str) -> None:
    """A file written by segyio itself, with bytes 233-240 of every trace header set."""
    spec = segyio.spec()
    spec.samples = np.arange(data.shape[0]) * 4.0
    spec.format = sample_format
    spec.tracecount = data.shape[1]
    spec.endian = endian
    with segyio.create(path, spec) as f:
        f.text[0] = segyio.tools.create_text_header({1: "FORMAT TEST"})
        for index in range(data.shape[1]):
            f.header[index] = {
                segyio.TraceField.INLINE_3D: 7,
                segyio.TraceField.CROSSLINE_3D: 100 + index,
                segyio.TraceField.UnassignedInt1: 1000 + index,
                segyio.TraceField.UnassignedInt2: -5 - index,
            }
        f.trace = np.ascontiguousarray(data.T, dtype=f.dtype)


@pytest.mark.parametrize("endian", ["big", "little"])
@pytest.mark.parametrize("sample_format", SEGYIO_FORMATS)
def test_every_segyio_format_and_byte_order_round_trips(
    tmp_path: Path, sample_format: int, endian: str
) -> None:
    values = np.arange(5 * 4, dtype=np.float32).reshape(5, 4) * 3 + 1  # fits every format
    source, out = tmp_path / "in.sgy", tmp_path / "out.sgy"
    make_segyio_file(source, values, sample_format, endian)
    np.testing.assert_array_equal(read_segy(source), values)
    write_segy_like(source, values[::-1].copy(), out)
    with segyio.open(out, ignore_geometry=True, endian=endian) as f:
        assert f.bin[segyio.BinField.Format] == sample_format
        np.testing.assert_array_equal(f.trace.raw[:].T, values[::-1])
    raw_in, raw_out = source.read_bytes(), out.read_bytes()
    assert len(raw_in) == len(raw_out)
    assert headers(out, 4, n_ext=0) == headers(source, 4, n_ext=0)  # bytes 233-240 included


def test_ibm_encoding_matches_segyio_decoding(tmp_path: Path) -> None:
    values = np.random.default_rng(0).standard_normal((30, 6)).astype(np.float32) * 1e3
    values[0, 0] = 0.0
    source, out = tmp_path / "ibm.sgy", tmp_path / "out.sgy"
    make_segyio_file(source, np.zeros_like(values), 1, "big")
    write_segy_like(source, values, out)
    np.testing.assert_allclose(read_segy(out), values, rtol=1e-6)


@pytest.mark.parametrize("sample_format", [7, 15, 4])
def test_24_bit_and_fixed_point_formats_are_named_as_unsupported(
    segy_file: Path, sample_format: int
) -> None:
    raw = bytearray(segy_file.read_bytes())
    raw[3224:3226] = sample_format.to_bytes(2, "big")
    # keep the file size consistent with the new sample width
    width = {4: 4, 7: 3, 15: 3}[sample_format]
    trace = 240 + N_SAMPLES * width
    segy_file.write_bytes(bytes(raw[: 3600 + N_TRACES * trace]))
    with pytest.raises(InputError, match=rf"unsupported sample format {sample_format}"):
        read_segy(segy_file)


def test_unsigned_template_falls_back_to_float_with_a_note(tmp_path: Path) -> None:
    source, out = tmp_path / "u16.sgy", tmp_path / "out.sgy"
    make_segyio_file(source, np.full((8, 3), 100, np.float32), 11, "little")
    denoised = np.linspace(-3.5, 2.25, 24, dtype=np.float32).reshape(8, 3)
    with pytest.warns(SegyNote, match="format 5"):
        write_segy_like(source, denoised, out)
    with segyio.open(out, ignore_geometry=True, endian="little") as f:
        assert f.bin[segyio.BinField.Format] == 5
    np.testing.assert_array_equal(read_segy(out), denoised)
    assert headers(out, 3, n_ext=0)[1] == headers(source, 3, n_ext=0)[1]
    with pytest.raises(InputError, match="uint16"):
        write_segy_like(source, denoised, tmp_path / "kept.sgy", sample_format=11)


def test_streaming_writer_takes_traces_in_any_order_and_needs_all(
    tmp_path: Path, segy_file: Path, data: np.ndarray
) -> None:
    order = np.random.default_rng(4).permutation(N_TRACES)
    out = tmp_path / "out.sgy"
    with segy_writer(segy_file, out) as writer:
        for chunk in np.array_split(order, 5):
            writer.write(chunk, data[:, chunk] * 2)
    np.testing.assert_array_equal(read_segy(out), data * 2)
    incomplete = tmp_path / "incomplete.sgy"
    with pytest.raises(InputError, match="never written"), segy_writer(segy_file, incomplete) as w:
        w.write(order[:3], data[:, order[:3]])
    assert not incomplete.exists()


def test_header_values_read_any_field(tmp_path: Path, data: np.ndarray) -> None:
    template = tmp_path / "template.sgy"
    make_template(template, data)
    assert header_values(template, segyio.TraceField.CROSSLINE_3D).tolist() == list(
        range(500, 500 + N_TRACES)
    )
    with pytest.raises(ConfigError, match="byte 190"):
        header_values(template, 190)
