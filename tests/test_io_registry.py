"""The format registry: dispatch by suffix and magic, round trips, errors, processes."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import cv2
import h5py
import mrcfile
import numpy as np
import pytest
import segyio
import tifffile

from pixelwise.errors import InputError
from pixelwise.io.formats import READERS, WRITERS
from pixelwise.io.hdf5 import HdfSource
from pixelwise.io.mrc import MrcSource
from pixelwise.io.npy import NpySource
from pixelwise.io.raster import RasterSource
from pixelwise.io.registry import (
    open_source,
    read_array,
    reader_formats,
    register_reader,
    register_writer,
    write_array,
    writer_formats,
)
from pixelwise.io.segy import SegySource
from pixelwise.io.sources import FileSource, InMemorySource, full_window
from pixelwise.io.tiff import TiffSource

RNG = np.random.default_rng(11)


def sample(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return RNG.integers(max(info.min, -1000), min(info.max, 1000), shape, endpoint=True).astype(
            dtype
        )
    return RNG.standard_normal(shape).astype(dtype)


# suffix, dtype, shape, reader class, options for write_array
LOSSLESS = [
    (".npy", np.float64, (5, 6, 7), NpySource, {}),
    (".npy", np.int32, (9,), NpySource, {}),
    (".npy", np.uint8, (2, 3, 4, 5), NpySource, {}),
    (".sgy", np.float32, (50, 7), SegySource, {}),
    (".segy", np.float32, (50, 7), SegySource, {"sample_interval_us": 2000}),
    (".mrcs", np.int16, (3, 8, 9), MrcSource, {"stack": True}),
    (".map.gz", np.float32, (4, 5, 6), MrcSource, {"voxel_size": 1.5}),
    (".h5", np.float16, (3, 4), HdfSource, {"dataset": "x"}),
    (".hdf5", np.int8, (3, 4, 5), HdfSource, {}),
    (".tif", np.uint16, (4, 10, 12), TiffSource, {}),
    (".tiff", np.float32, (10, 12), TiffSource, {"compression": "zlib"}),
    (".tif", np.uint8, (2, 10, 12, 3), TiffSource, {}),
    (".tif", np.int16, (10, 12), TiffSource, {}),
    (".png", np.uint8, (10, 12), RasterSource, {}),
    (".png", np.uint16, (10, 12, 3), RasterSource, {}),
    (".png", np.uint8, (10, 12, 4), RasterSource, {}),
    (".bmp", np.uint8, (10, 12, 3), RasterSource, {}),
]


@pytest.mark.parametrize(("suffix", "dtype", "shape", "kind", "options"), LOSSLESS)
def test_write_then_read_round_trips_exactly_in_the_stored_dtype(
    tmp_path: Path, suffix: str, dtype: type, shape: tuple[int, ...], kind: type, options: dict
) -> None:
    data = sample(shape, dtype)
    path = tmp_path / f"data{suffix}"
    write_array(path, data, **options)
    source = open_source(path)
    assert isinstance(source, kind)
    assert (source.shape, source.dtype) == (shape, np.dtype(dtype))
    back = read_array(path)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, data)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file


def test_jpeg_round_trip_is_close(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 255, 48), (32, 1)).astype(np.uint8)
    write_array(tmp_path / "a.JPEG", ramp)
    back = read_array(tmp_path / "a.JPEG")
    assert back.dtype == np.uint8
    assert np.abs(back.astype(int) - ramp).mean() < 2


def test_every_built_in_format_is_registered() -> None:
    readers = reader_formats()
    assert list(readers) == ["BMP", "HDF5", "JPEG", "MRC", "NPY", "PNG", "SEG-Y", "TIFF"]
    assert readers["MRC"] == (
        ".mrc",
        ".mrcs",
        ".map",
        ".rec",
        ".st",
        ".mrc.gz",
        ".mrc.bz2",
        ".mrcs.gz",
        ".mrcs.bz2",
        ".map.gz",
        ".map.bz2",
    )
    assert writer_formats() == readers


def write_each(folder: Path) -> dict[str, Path]:
    """One small file per format, named without a meaningful suffix."""
    files = {
        "NPY": "a.npy",
        "HDF5": "a.h5",
        "MRC": "a.mrc",
        "TIFF": "a.tif",
        "PNG": "a.png",
        "JPEG": "a.jpg",
        "BMP": "a.bmp",
    }
    renamed = {}
    for name, file in files.items():
        write_array(
            folder / file, sample((8, 8), np.uint8 if name in ("PNG", "JPEG", "BMP") else np.int16)
        )
        renamed[name] = (folder / file).rename(folder / f"{name.lower()}.data")
    return renamed


def test_unknown_suffixes_fall_back_to_magic_bytes(tmp_path: Path) -> None:
    kinds = {"NPY": NpySource, "HDF5": HdfSource, "MRC": MrcSource, "TIFF": TiffSource}
    for name, path in write_each(tmp_path).items():
        assert isinstance(open_source(path), kinds.get(name, RasterSource)), name


@pytest.mark.parametrize(
    "name", ["A.NPY", "a.Npy", "b.MRC.GZ", "c.Map.Bz2", "d.H5", "e.TIF", "f.Png"]
)
def test_suffixes_are_case_insensitive_and_double_suffixes_win(tmp_path: Path, name: str) -> None:
    data = sample((6, 7), np.uint8)
    write_array(tmp_path / name, data)
    np.testing.assert_array_equal(read_array(tmp_path / name), data)


def test_a_gz_suffix_alone_is_not_guessed_as_mrc(tmp_path: Path) -> None:
    path = tmp_path / "volume.gz"
    path.write_bytes(b"\x1f\x8b" + bytes(100))
    with pytest.raises(
        InputError, match=r"volume\.gz: unknown file format '\.gz'; supported: \.bmp, \.h5, "
    ):
        open_source(path)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        (
            "notes.txt",
            b"just text",
            r"unknown file format '\.txt'; supported: \.bmp, .*\.mrc\.gz.*\.npy.*\.sgy.*\.tiff",
        ),
        ("README", b"just text", r"unknown file format \(no suffix\); supported:"),
        ("missing.npy", None, "file not found"),
    ],
)
def test_unknown_or_missing_files_raise_one_line(tmp_path: Path, name, content, problem) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=rf"^{path}: {problem}[^\n]*$"):
        open_source(path)
    with pytest.raises(InputError, match=rf"^{path}: {problem}"):
        read_array(path)


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "dir.npy").mkdir()
    with pytest.raises(InputError, match=r"dir\.npy: not a regular file"):
        open_source(tmp_path / "dir.npy")


def test_an_unreadable_file_is_one_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "locked.npy"
    np.save(path, np.zeros(3))

    def denied(path: Path) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("pixelwise.io.npy.map_npy", denied)  # as chmod 0 would, but also for root
    with pytest.raises(InputError, match=r"locked\.npy: cannot read: Permission denied$"):
        open_source(path)


def test_options_a_reader_or_writer_does_not_take_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(
        InputError, match=r"a\.npy: the NPY reader does not take these options .*dataset"
    ):
        open_source(tmp_path / "a.npy", dataset="x")
    with pytest.raises(
        InputError, match=r"b\.tif: the TIFF writer does not take these options .*stack"
    ):
        write_array(tmp_path / "b.tif", np.zeros((2, 2)), stack=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


def test_unknown_output_suffix_lists_the_writable_ones(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"out\.gif: unknown output format '\.gif'; supported: \.bmp, \.h5"
    ):
        write_array(tmp_path / "out.gif", np.zeros((2, 2)))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "array", "problem"),
    [
        ("a.npy", np.array([1.0, np.nan]), "NaN or Inf"),
        ("a.mrc", np.zeros((2, 2), bool), "expected real numbers, got dtype bool"),
        ("a.h5", np.zeros((0, 2)), "empty"),
        ("a.tif", np.array([np.inf]), "NaN or Inf"),
        ("a.png", np.zeros((2, 2), np.float32), "PNG stores uint8 or uint16 pixels, not float32"),
        ("a.jpg", np.zeros((2, 2), np.uint16), "JPG stores uint8 pixels, not uint16"),
        ("a.bmp", np.zeros((2, 2, 2), np.uint8), "BMP cannot store 2-channel images"),
        ("a.sgy", np.zeros((2, 2, 2), np.float32), "2-D"),
    ],
)
def test_bad_arrays_are_refused_before_writing(tmp_path: Path, name, array, problem) -> None:
    with pytest.raises(InputError, match=rf"{name}: [^\n]*{problem}"):
        write_array(tmp_path / name, array)
    assert list(tmp_path.iterdir()) == []


def _crash(*args: object, **kwargs: object) -> None:
    raise RuntimeError("library crashed midway")


@pytest.mark.parametrize(
    ("name", "target", "attribute"),
    [
        ("a.npy", np, "save"),
        ("a.sgy", segyio.segy.SegyFile, "close"),
        ("a.mrc.gz", mrcfile.mrcobject.MrcObject, "set_image_stack"),
        ("a.h5", h5py.Group, "create_dataset"),
        ("a.tif", tifffile, "imwrite"),
        ("a.png", cv2, "imencode"),
    ],
)
def test_a_write_that_fails_midway_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, target: object, attribute: str
) -> None:
    monkeypatch.setattr(target, attribute, _crash)
    options = {"stack": True} if name.startswith("a.mrc") else {}
    with pytest.raises(RuntimeError, match="crashed midway"):
        write_array(
            tmp_path / name, np.zeros((3, 4, 5) if options else (4, 5), np.uint8), **options
        )
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def restored_tables() -> Iterator[None]:
    """Undo registrations made by a test."""
    saved = dict(READERS), dict(WRITERS)
    yield
    for table, entries in zip((READERS, WRITERS), saved, strict=True):
        table.clear()
        table.update(entries)


@pytest.mark.usefixtures("restored_tables")
def test_plug_in_formats_register_and_override(tmp_path: Path) -> None:
    @register_reader("Text grid", [".grid.txt"], magic=[b"GRID"])
    def open_grid(path: Path, scale: float = 1.0) -> InMemorySource:
        rows = path.read_text().splitlines()[1:]
        return InMemorySource(np.array([row.split() for row in rows], float) * scale, str(path))

    @register_writer("Text grid", [".grid.txt"])
    def write_grid(path: Path, array: np.ndarray) -> None:
        path.write_text("GRID\n" + "\n".join(" ".join(map(str, row)) for row in array))

    write_array(tmp_path / "a.grid.txt", np.eye(2))
    np.testing.assert_array_equal(read_array(tmp_path / "a.grid.txt", scale=2.0), 2 * np.eye(2))
    (tmp_path / "a.grid.txt").rename(tmp_path / "b.txt")
    assert open_source(tmp_path / "b.txt").shape == (2, 2)
    assert reader_formats()["Text grid"] == (".grid.txt",)

    @register_reader("My NPY", [".npy"])
    def open_npy_differently(path: Path) -> InMemorySource:
        return InMemorySource(np.zeros(1), str(path))

    np.save(tmp_path / "c.npy", np.ones(3))
    assert open_source(tmp_path / "c.npy").shape == (1,)  # the later registration wins


# --- memory maps and processes ----------------------------------------------------------


@pytest.mark.parametrize("name", ["big.npy", "big.mrc", "big.tif"])
def test_memory_mapped_formats_never_load_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    path = tmp_path / name
    write_array(path, np.ones((1024, 2048), np.float32))
    monkeypatch.setattr("pixelwise.io.sources.CHUNK_ELEMENTS", 1 << 14)
    tracemalloc.start()
    source = open_source(path)  # scans every value for NaN/Inf
    window = source.read((slice(500, 564), slice(1000, 1064)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < path.stat().st_size / 32
    assert window.sum() == 64 * 64


def open_one_of_each(folder: Path) -> list[FileSource]:
    files = {
        "a.npy": np.arange(60.0).reshape(6, 10),
        "a.sgy": np.arange(60, dtype=np.float32).reshape(6, 10),
        "a.mrc": np.arange(60, dtype=np.int16).reshape(6, 10),
        "a.mrcs.gz": np.arange(120, dtype=np.uint16).reshape(2, 6, 10),
        "a.h5": np.arange(60, dtype=np.int8).reshape(6, 10),
        "a.tif": np.arange(120, dtype=np.uint16).reshape(2, 6, 10),
        "z.tif": np.arange(60, dtype=np.float32).reshape(6, 10),
        "a.png": np.arange(60, dtype=np.uint8).reshape(6, 10),
    }
    sources = []
    for name, data in files.items():
        options = {"compression": "zlib"} if name == "z.tif" else {}
        write_array(folder / name, data, **options)
        sources.append(open_source(folder / name))
    return sources


def read_in_child(sources: list[FileSource], results: multiprocessing.Queue) -> None:
    try:
        inherited = [source._handle for source in sources]
        values = [source.read(full_window(source.shape)) for source in sources]
        fresh = [
            source._handle is not old and source._pid == os.getpid()
            for source, old in zip(sources, inherited, strict=True)
        ]
        results.put((values, fresh, all(old is None for old in inherited)))
    except BaseException as error:
        results.put(repr(error))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_sources_reopen_their_file_in_every_process(tmp_path: Path, method: str) -> None:
    sources = open_one_of_each(tmp_path)
    expected = [source.read(full_window(source.shape)) for source in sources]
    assert all(source._handle is not None for source in sources)  # the parent's handles
    context = multiprocessing.get_context(method)
    results = context.Queue()
    child = context.Process(target=read_in_child, args=(sources, results))
    child.start()
    outcome = results.get(timeout=30)
    child.join(timeout=30)
    assert not isinstance(outcome, str), outcome
    values, fresh, none_inherited = outcome
    assert child.exitcode == 0
    assert all(fresh)  # each child opened its own handle ...
    assert none_inherited == (method == "spawn")  # ... a forked one after inheriting ours
    for value, want in zip(values, expected, strict=True):
        assert value.dtype == want.dtype
        np.testing.assert_array_equal(value, want)
    for source, want in zip(sources, expected, strict=True):  # the parent's still work
        np.testing.assert_array_equal(source.read(full_window(source.shape)), want)


def test_pickled_sources_carry_no_data(tmp_path: Path) -> None:
    for source in open_one_of_each(tmp_path):
        payload = pickle.dumps(source)
        assert len(payload) < 2000, type(source).__name__
        clone = pickle.loads(payload)
        np.testing.assert_array_equal(
            clone.read(full_window(clone.shape)), source.read(full_window(source.shape))
        )


def test_a_sweep_over_a_large_npy_leaves_no_file_pages_resident(tmp_path, resident_file_mb):
    # 196 MB written through a map, so in the page cache: opening scans every value for
    # NaN/Inf, which would leave the whole file resident in this process if the reader kept
    # the pages it touched (the same release serves MRC and TIFF maps). 32 MB allows for the
    # interpreter's own libraries paging in.
    size = 7168
    path = tmp_path / "large.npy"
    data = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(size, size))
    for start in range(0, size, 1024):
        data[start : start + 1024] = np.arange(start, start + 1024)[:, None] % 251
    data.flush()
    del data
    before = resident_file_mb()
    source = open_source(path)
    grown = resident_file_mb() - before
    corner = source.read((slice(size - 2, size), slice(0, 2)))
    source.close()
    np.testing.assert_array_equal(corner, [[(size - 2) % 251] * 2, [(size - 1) % 251] * 2])
    assert grown < 32, f"{grown:.0f} MB of the mapped file stayed resident"
