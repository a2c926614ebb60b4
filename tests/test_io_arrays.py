"""Memory-mapped .npy files, their header checks, and the 2-D section functions."""

from __future__ import annotations

import pickle
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from pixelwise.errors import InputError
from pixelwise.io.arrays import open_section, read_section, write_npy
from pixelwise.io.npy import NpySource, map_npy, save_npy
from pixelwise.io.registry import open_source, read_array
from pixelwise.io.segy import SegySource, write_segy


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((40, 30))


@pytest.fixture
def npy_file(tmp_path: Path, data: np.ndarray) -> Path:
    path = tmp_path / "section.npy"
    np.save(path, data)
    return path


def window(row0: int, row1: int, col0: int, col1: int) -> tuple[slice, slice]:
    return slice(row0, row1), slice(col0, col1)


def test_map_npy_returns_a_read_only_memmap_in_the_stored_dtype(
    npy_file: Path, data: np.ndarray
) -> None:
    array = map_npy(npy_file)
    assert isinstance(array, np.memmap)
    assert not array.flags.writeable
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array, data)


def test_read_array_loads_into_memory(npy_file: Path, data: np.ndarray) -> None:
    array = read_array(npy_file)
    assert not isinstance(array, np.memmap)
    np.testing.assert_array_equal(array, data)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
        np.arange(6, dtype=">i4").reshape(2, 3),  # big-endian: read in native byte order
        np.asfortranarray(np.arange(12.0, dtype=np.float16).reshape(3, 4)),
    ],
)
def test_npy_keeps_shape_values_and_dtype_of_any_array(tmp_path: Path, array: np.ndarray) -> None:
    path = tmp_path / "a.npy"
    np.save(path, array)
    source = NpySource(path)
    assert source.shape == array.shape
    assert source.dtype == array.dtype.newbyteorder("=")
    assert source.read(tuple(slice(0, n) for n in array.shape)).dtype.isnative
    np.testing.assert_array_equal(read_array(path), array)


def test_write_npy_round_trips(tmp_path: Path, data: np.ndarray) -> None:
    path = tmp_path / "out.npy"
    write_npy(path, data.astype(np.float32))
    np.testing.assert_array_equal(map_npy(path), data.astype(np.float32))


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (np.zeros((4, 3, 2)), "2-D"),
        (np.zeros((0, 3)), "empty"),
        (np.ones((4, 3), dtype=bool), "dtype bool"),
        (np.ones((4, 3), dtype=complex), "dtype complex"),
        (np.array([[1.0, np.inf]]), "NaN or Inf"),
    ],
)
def test_write_npy_rejects_bad_arrays_and_writes_nothing(
    tmp_path: Path, bad: np.ndarray, problem: str
) -> None:
    with pytest.raises(InputError, match=rf"out\.npy: .*{problem}"):
        write_npy(tmp_path / "out.npy", bad)
    assert list(tmp_path.iterdir()) == []


def test_save_npy_writes_any_dimension(tmp_path: Path) -> None:
    save_npy(tmp_path / "cube.npy", np.ones((2, 3, 4), np.int16))
    assert map_npy(tmp_path / "cube.npy").shape == (2, 3, 4)


def test_write_npy_leaves_no_temporary_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", fail)
    with pytest.raises(InputError, match="disk full"):
        write_npy(tmp_path / "out.npy", np.zeros((2, 2)))
    assert list(tmp_path.iterdir()) == []


def saved(array: np.ndarray):
    def make(path: Path) -> Path:
        np.save(path, array)
        return path

    return make


def truncated(path: Path) -> Path:
    np.save(path, np.zeros((50, 50)))
    path.write_bytes(path.read_bytes()[:5000])
    return path


def huge_header(path: Path) -> Path:
    """A valid header claiming 10**10 float64 elements, followed by 100 bytes."""
    with path.open("wb") as stream:
        header = {"shape": (10**10,), "fortran_order": False, "descr": "<f8"}
        np.lib.format.write_array_header_1_0(stream, header)
        stream.write(bytes(100))
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8).tobytes())
    return path


def npz_archive(path: Path) -> Path:
    with path.open("wb") as stream:
        np.savez(stream, a=np.zeros(3))
    return path


def pickled(path: Path) -> Path:
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return path


def nan_in_last_row(path: Path) -> Path:
    array = np.zeros((50, 7), np.float32)
    array[-1, -1] = np.nan
    np.save(path, array)
    return path


BAD_NPY = [
    (lambda path: path, "not found"),
    (saved(np.array([["a", "b"]])), "dtype"),
    (saved(np.zeros((0, 5))), "empty"),
    (truncated, "truncated: header says 20000 bytes of data, file has 4872"),
    (huge_header, "truncated: header says 80000000000 bytes of data, file has 100"),
    (random_bytes, "not a .npy file"),
    (npz_archive, "npz archive, not a .npy file"),
    (pickled, "Python objects"),
    (nan_in_last_row, "NaN or Inf"),
]


@pytest.mark.parametrize(("make", "problem"), BAD_NPY)
@pytest.mark.parametrize("reader", [NpySource, open_source, read_array, read_section, open_section])
def test_bad_files_raise_input_error_naming_the_file(
    tmp_path: Path, make, problem: str, reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pixelwise.io.sources.CHUNK_ELEMENTS", 14)  # scan two rows at a time
    path = make(tmp_path / "bad.npy")
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: [^\n]*{problem}[^\n]*$"):
        reader(path)


@pytest.mark.parametrize("reader", [open_section, read_section])
def test_sections_must_be_2d(tmp_path: Path, reader) -> None:
    np.save(tmp_path / "cube.npy", np.zeros((3, 4, 5), np.float32))
    with pytest.raises(InputError, match=r"cube\.npy: expected a 2-D section .*3-D"):
        reader(tmp_path / "cube.npy")


@pytest.mark.parametrize("reader", [open_section, read_section])
def test_unsupported_suffix_lists_the_supported_ones(tmp_path: Path, reader) -> None:
    path = tmp_path / "section.xyz"
    path.write_bytes(b"no known magic bytes here")
    with pytest.raises(InputError, match=r"section\.xyz: .*'\.xyz'.*\.npy, .*\.sgy, \.segy"):
        reader(path)


def test_npy_windows_equal_slices(npy_file: Path, data: np.ndarray) -> None:
    section = open_section(npy_file)
    assert isinstance(section, NpySource)
    assert section.shape == (40, 30)
    assert isinstance(section.handle, np.memmap)
    for row0, row1, col0, col1 in [(0, 40, 0, 30), (3, 9, 28, 30), (39, 40, 0, 1)]:
        part = section.read(window(row0, row1, col0, col1))
        assert part.dtype == np.float64
        assert not isinstance(part, np.memmap)
        np.testing.assert_array_equal(part, data[row0:row1, col0:col1])
    part[:] = 0  # a copy, not a view of the file
    np.testing.assert_array_equal(section.read(window(39, 40, 0, 1)), data[39:, :1])
    with pytest.raises(IndexError, match=r"section\.npy"):
        section.read(window(5, 5, 0, 1))


def test_npy_source_pickles_as_a_path_and_reopens(npy_file: Path, data: np.ndarray) -> None:
    section = NpySource(npy_file)
    payload = pickle.dumps(section)
    assert len(payload) < data.nbytes / 4
    clone = pickle.loads(payload)
    assert isinstance(clone.handle, np.memmap)
    np.testing.assert_array_equal(clone.read(window(0, 40, 0, 30)), data)


def test_npy_source_never_loads_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(1024, 2048))
    big[:] = 1.0
    big.flush()
    del big
    monkeypatch.setattr("pixelwise.io.sources.CHUNK_ELEMENTS", 1 << 14)
    tracemalloc.start()
    source = open_source(path)  # scans every value for NaN/Inf
    part = source.read(window(100, 164, 0, 64))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < path.stat().st_size / 32
    assert part.sum() == 64 * 64


@pytest.mark.parametrize("name", ["a.sgy", "b.SEGY"])
def test_open_section_picks_the_reader_by_suffix(
    tmp_path: Path, data: np.ndarray, npy_file: Path, name: str
) -> None:
    path = tmp_path / name
    write_segy(path, data.astype(np.float32))
    with open_section(path) as section:
        assert isinstance(section, SegySource)
        np.testing.assert_array_equal(section.read(window(0, 40, 0, 30)), data.astype("f4"))
    assert isinstance(open_section(npy_file), NpySource)


def test_read_section_loads_float32_for_both_formats(
    tmp_path: Path, npy_file: Path, data: np.ndarray
) -> None:
    write_segy(tmp_path / "a.segy", data.astype(np.float32))
    for path in (npy_file, tmp_path / "a.segy"):
        section = read_section(path)
        assert section.dtype == np.float32
        assert not isinstance(section, np.memmap)
        np.testing.assert_array_equal(section, data.astype(np.float32))
