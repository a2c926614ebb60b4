"""HDF5 datasets: choosing the dataset, dtypes, windows, writing, damaged files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from pixelwise.errors import InputError
from pixelwise.io.hdf5 import HdfSource, write_hdf5
from pixelwise.io.registry import open_source, read_array, write_array

RNG = np.random.default_rng(5)
BSCANS = RNG.integers(0, 4000, (4, 16, 12)).astype(np.uint16)
TIMES = np.linspace(0, 1, 4)


@pytest.fixture
def scan(tmp_path: Path) -> Path:
    path = tmp_path / "scan.h5"
    write_hdf5(path, {"bscans": BSCANS, "meta/times": TIMES}, attrs={"device": "OCT-1"})
    return path


def test_write_hdf5_round_trips_datasets_and_attributes(scan: Path) -> None:
    with h5py.File(scan, "r") as h5:  # an independent reader agrees
        np.testing.assert_array_equal(h5["bscans"][()], BSCANS)
        assert h5["bscans"].dtype == np.uint16
        assert h5.attrs["device"] == "OCT-1"
    np.testing.assert_array_equal(read_array(scan, dataset="meta/times"), TIMES)
    assert sorted(p.name for p in scan.parent.iterdir()) == ["scan.h5"]


def test_the_dataset_option_selects_and_windows_read_only_what_they_ask(scan: Path) -> None:
    source = open_source(scan, dataset="bscans")
    assert isinstance(source, HdfSource)
    assert (source.dataset, source.shape, source.dtype) == ("/bscans", (4, 16, 12), np.uint16)
    window = (slice(1, 3), slice(4, 8), slice(0, 12))
    np.testing.assert_array_equal(source.read(window), BSCANS[1:3, 4:8])
    np.testing.assert_array_equal(
        open_source(scan, dataset="/meta/times").read((slice(0, 4),)), TIMES
    )


def test_a_file_with_one_dataset_needs_no_option(tmp_path: Path) -> None:
    path = tmp_path / "frames.HDF5"
    write_array(path, np.ones((2, 3), np.float32), dataset="group/frames")
    source = open_source(path)
    assert (source.dataset, source.shape) == ("/group/frames", (2, 3))


@pytest.mark.parametrize(
    ("dataset", "problem"),
    [
        (None, r"holds 2 datasets \(/bscans, /meta/times\); choose one with dataset="),
        ("missing", r"dataset 'missing' is missing; datasets: /bscans, /meta/times"),
        ("meta", r"dataset 'meta' is a group; datasets: /bscans, /meta/times"),
    ],
)
def test_an_ambiguous_or_wrong_dataset_lists_the_datasets(scan: Path, dataset, problem) -> None:
    with pytest.raises(InputError, match=rf"scan\.h5: {problem}"):
        open_source(scan, dataset=dataset)


def test_chunked_compressed_and_big_endian_datasets(tmp_path: Path) -> None:
    path = tmp_path / "c.hdf"
    data = np.arange(600, dtype=">f4").reshape(6, 10, 10)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("d", data=data, chunks=(1, 10, 10), compression="gzip")
    source = open_source(path)
    assert source.dtype == np.float32 and source.dtype.isnative
    np.testing.assert_array_equal(
        source.read((slice(2, 4), slice(0, 10), slice(3, 5))), data[2:4, :, 3:5]
    )


def with_dataset(data: object):
    def make(path: Path) -> Path:
        with h5py.File(path, "w") as h5:
            h5.create_dataset("d", data=data)
        return path

    return make


def empty_file(path: Path) -> Path:
    h5py.File(path, "w").close()
    return path


def truncated(path: Path) -> Path:
    with h5py.File(path, "w") as h5:
        h5.create_dataset("d", data=RNG.random((64, 64)), chunks=(8, 64))
    path.write_bytes(path.read_bytes()[:6000])
    return path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda path: path, "file not found"),
        (lambda path: path.write_bytes(b"not hdf5 at all") and path, "not a readable HDF5 file"),
        (empty_file, "holds 0 datasets"),
        (with_dataset(np.array([b"text"])), "expected real numbers"),
        (with_dataset(3.0), "empty or scalar"),
        (with_dataset(np.array([[1.0, np.nan]])), "NaN or Inf"),
        (truncated, "HDF5"),
    ],
)
def test_bad_files_raise_one_input_error_naming_the_file(tmp_path: Path, make, problem) -> None:
    path = make(tmp_path / "bad.h5")
    with pytest.raises(InputError, match=rf"bad\.h5: [^\n]*{problem}[^\n]*$"):
        open_source(path)


def test_bad_writes_name_the_dataset_and_write_nothing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"out\.h5: dataset 'b': .*NaN"):
        write_hdf5(tmp_path / "out.h5", {"a": np.zeros(3), "b": np.array([np.nan])})
    with pytest.raises(InputError, match=r"out\.h5: nothing to write"):
        write_hdf5(tmp_path / "out.h5", {})
    with pytest.raises(InputError, match=r"out\.h5: the HDF5 writer does not take these options"):
        write_array(tmp_path / "out.h5", np.zeros(3), voxel_size=1.0)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("writer crashed")

    monkeypatch.setattr(h5py.Group, "create_dataset", fail)
    with pytest.raises(RuntimeError, match="writer crashed"):
        write_hdf5(tmp_path / "out.h5", {"a": np.zeros(3)})
    assert list(tmp_path.iterdir()) == []
