"""Memory-mapped .npy sections and format dispatch by suffix."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from pixelwise.errors import InputError
from pixelwise.io.arrays import (
    NpySection,
    open_section,
    read_npy,
    read_section,
    write_npy,
)
from pixelwise.io.segy import SegySection, write_segy


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((40, 30))


@pytest.fixture
def npy_file(tmp_path: Path, data: np.ndarray) -> Path:
    path = tmp_path / "section.npy"
    np.save(path, data)
    return path


def test_read_npy_returns_a_read_only_memmap_in_the_stored_dtype(
    npy_file: Path, data: np.ndarray
) -> None:
    array = read_npy(npy_file)
    assert isinstance(array, np.memmap)
    assert not array.flags.writeable
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array, data)


def test_read_npy_without_mmap_loads_into_memory(npy_file: Path, data: np.ndarray) -> None:
    array = read_npy(npy_file, mmap=False)
    assert not isinstance(array, np.memmap)
    np.testing.assert_array_equal(array, data)


def test_write_npy_round_trips(tmp_path: Path, data: np.ndarray) -> None:
    path = tmp_path / "out.npy"
    write_npy(path, data.astype(np.float32))
    np.testing.assert_array_equal(read_npy(path), data.astype(np.float32))


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


def test_write_npy_leaves_no_temporary_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", fail)
    with pytest.raises(OSError, match="disk full"):
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


def random_bytes(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8).tobytes())
    return path


def nan_in_last_row(path: Path) -> Path:
    array = np.zeros((50, 7), np.float32)
    array[-1, -1] = np.nan
    np.save(path, array)
    return path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda path: path, "not found"),
        (saved(np.zeros((3, 4, 5), np.float32)), "2-D"),
        (saved(np.array([["a", "b"]])), "dtype"),
        (saved(np.zeros((0, 5))), "empty"),
        (truncated, "not a readable .npy"),
        (random_bytes, "not a readable .npy"),
        (nan_in_last_row, "NaN or Inf"),
    ],
)
@pytest.mark.parametrize("reader", [read_npy, NpySection, read_section, open_section])
def test_bad_files_raise_input_error_naming_the_file(
    tmp_path: Path, make, problem: str, reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pixelwise.io.section.CHUNK_ELEMENTS", 14)  # scan two rows at a time
    path = make(tmp_path / "bad.npy")
    with pytest.raises(InputError, match=rf"bad\.npy: .*{problem}"):
        reader(path)


@pytest.mark.parametrize("reader", [open_section, read_section])
def test_unsupported_suffix_lists_the_supported_ones(tmp_path: Path, reader) -> None:
    path = tmp_path / "section.tif"
    path.write_bytes(b"II*\x00")
    with pytest.raises(InputError, match=r"section\.tif: .*'\.tif'.*\.sgy, \.segy, \.npy"):
        reader(path)


def test_npy_section_windows_equal_slices(npy_file: Path, data: np.ndarray) -> None:
    section = NpySection(npy_file)
    assert section.shape == (40, 30)
    assert isinstance(section.array, np.memmap)
    for row0, row1, col0, col1 in [(0, 40, 0, 30), (3, 9, 28, 30), (39, 40, 0, 1)]:
        window = section.read_window(row0, row1, col0, col1)
        assert window.dtype == np.float32
        np.testing.assert_array_equal(window, data[row0:row1, col0:col1].astype(np.float32))
    window[:] = 0  # a copy, not a view of the file
    np.testing.assert_array_equal(section.read_window(39, 40, 0, 1), data[39:, :1].astype("f4"))
    with pytest.raises(IndexError, match=r"section\.npy"):
        section.read_window(5, 5, 0, 1)


def test_npy_section_pickles_as_a_path_and_reopens(npy_file: Path, data: np.ndarray) -> None:
    section = NpySection(npy_file)
    payload = pickle.dumps(section)
    assert len(payload) < data.nbytes / 4
    clone = pickle.loads(payload)
    assert isinstance(clone.array, np.memmap)
    np.testing.assert_array_equal(clone.read_window(0, 40, 0, 30), data.astype(np.float32))


@pytest.mark.parametrize("name", ["a.sgy", "b.SEGY"])
def test_open_section_picks_the_reader_by_suffix(
    tmp_path: Path, data: np.ndarray, npy_file: Path, name: str
) -> None:
    path = tmp_path / name
    write_segy(path, data.astype(np.float32))
    with open_section(path) as section:
        assert isinstance(section, SegySection)
        np.testing.assert_array_equal(section.read_window(0, 40, 0, 30), data.astype("f4"))
    assert isinstance(open_section(npy_file), NpySection)


def test_read_section_loads_float32_for_both_formats(
    tmp_path: Path, npy_file: Path, data: np.ndarray
) -> None:
    write_segy(tmp_path / "a.segy", data.astype(np.float32))
    for path in (npy_file, tmp_path / "a.segy"):
        section = read_section(path)
        assert section.dtype == np.float32
        assert not isinstance(section, np.memmap)
        np.testing.assert_array_equal(section, data.astype(np.float32))
