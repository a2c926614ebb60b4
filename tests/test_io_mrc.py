"""MRC images, stacks and volumes: dtypes per mode, compression, headers, damaged files."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from pixelwise.errors import InputError
from pixelwise.io.mrc import MrcSource, write_mrc
from pixelwise.io.registry import open_source, read_array, write_array

MODES = {0: np.int8, 1: np.int16, 2: np.float32, 6: np.uint16, 12: np.float16}


def ramp(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return (np.arange(np.prod(shape)) % 100).astype(dtype).reshape(shape)


@pytest.mark.parametrize(("mode", "dtype"), MODES.items())
@pytest.mark.parametrize(
    "name", ["a.mrc", "a.mrcs", "a.map", "a.rec", "a.st", "a.mrc.gz", "a.MRC.BZ2"]
)
def test_every_mode_round_trips_with_its_dtype(
    tmp_path: Path, mode: int, dtype: type, name: str
) -> None:
    data = ramp((3, 5, 7), dtype)
    path = tmp_path / name
    write_array(path, data)
    with mrcfile.open(path, permissive=True) as mrc:
        assert int(mrc.header.mode) == mode  # an independent reader agrees
    source = open_source(path)
    assert isinstance(source, MrcSource)
    assert source.shape == (3, 5, 7)
    assert source.dtype == dtype
    assert isinstance(source.handle.data, np.memmap) == (source.compression is None)
    np.testing.assert_array_equal(
        source.read((slice(1, 3), slice(0, 5), slice(2, 4))), data[1:3, :, 2:4]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary file


def test_an_image_is_2d_and_a_stack_is_marked(tmp_path: Path) -> None:
    write_mrc(tmp_path / "image.mrc", ramp((6, 8), np.float32), voxel_size=0.8)
    image = MrcSource(tmp_path / "image.mrc")
    assert (image.shape, image.is_stack) == ((6, 8), False)
    assert image.voxel_size == pytest.approx((0.8, 0.8, 0.8))

    write_mrc(tmp_path / "p.mrcs", ramp((4, 6, 8), np.float32), voxel_size=(1, 2, 3), stack=True)
    stack = MrcSource(tmp_path / "p.mrcs")
    assert (stack.shape, stack.is_stack, stack.voxel_size) == ((4, 6, 8), True, (1.0, 2.0, 3.0))
    write_mrc(tmp_path / "v.mrc", ramp((4, 6, 8), np.float32))
    assert not MrcSource(tmp_path / "v.mrc").is_stack


def test_header_like_copies_voxel_size_origin_labels_and_stack_flag(tmp_path: Path) -> None:
    template = tmp_path / "template.mrcs"
    with mrcfile.new(template) as mrc:
        mrc.set_data(np.zeros((2, 4, 4), np.float32))
        mrc.set_image_stack()
        mrc.voxel_size = (1.1, 1.2, 1.3)
        mrc.header.origin = (5.0, 6.0, 7.0)
        mrc.add_label("MOTION CORRECTED")
    out = tmp_path / "out.mrcs.gz"
    write_mrc(out, np.ones((2, 4, 4)), header_like=template)
    source = MrcSource(out)
    assert source.is_stack
    assert source.voxel_size == pytest.approx((1.1, 1.2, 1.3))
    assert source.dtype == np.float32  # float64 is narrowed
    with mrcfile.open(out) as mrc:
        assert tuple(mrc.header.origin.item()) == (5.0, 6.0, 7.0)
        assert mrc.get_labels()[-1].startswith("MOTION CORRECTED")
    write_mrc(tmp_path / "vol.mrc", np.ones((2, 4, 4)), header_like=template, voxel_size=2.0)
    assert MrcSource(tmp_path / "vol.mrc").voxel_size == (2.0, 2.0, 2.0)


def test_write_converts_to_a_requested_dtype_and_refuses_values_that_do_not_fit(
    tmp_path: Path,
) -> None:
    write_mrc(tmp_path / "a.mrc", np.array([[1.4, -2.6]]), dtype=np.int16)
    np.testing.assert_array_equal(read_array(tmp_path / "a.mrc"), [[1, -3]])
    write_mrc(tmp_path / "h.mrc", np.array([[0.5, 2.0]]), dtype=np.float16)
    assert read_array(tmp_path / "h.mrc").dtype == np.float16
    with pytest.raises(
        InputError, match=r"b\.mrc: values span \[0, 300\] but the file stores int8"
    ):
        write_mrc(tmp_path / "b.mrc", np.array([[0, 300]]), dtype=np.int8)
    with pytest.raises(InputError, match=r"c\.mrc: .*beyond the float16 range"):
        write_mrc(tmp_path / "c.mrc", np.array([[1e6]]), dtype=np.float16)
    with pytest.raises(InputError, match=r"d\.mrc: MRC stores .* not int32; pass dtype="):
        write_mrc(tmp_path / "d.mrc", np.zeros((2, 2), np.int32))
    with pytest.raises(InputError, match=r"e\.mrc: MRC stores \(Y, X\) images"):
        write_mrc(tmp_path / "e.mrc", np.zeros((2, 2, 2, 2), np.float32))
    with pytest.raises(InputError, match=r"f\.mrcs: an image stack needs"):
        write_mrc(tmp_path / "f.mrcs", np.zeros((2, 2), np.float32), stack=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mrc", "h.mrc"]


def test_a_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: object, data: np.ndarray) -> None:
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(mrcfile.mrcobject.MrcObject, "set_data", fail)
    with pytest.raises(RuntimeError, match="encoder crashed"):
        write_mrc(tmp_path / "a.mrc.gz", np.zeros((2, 2), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_map_id_opens_permissively_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "damaged.mrc"
    write_mrc(path, ramp((4, 5), np.float32))
    raw = bytearray(path.read_bytes())
    raw[208:212] = b"XXXX"
    path.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match=r"damaged\.mrc: damaged MRC header.*Map ID"):
        source = open_source(path)
    np.testing.assert_array_equal(source.read((slice(0, 4), slice(0, 5))), ramp((4, 5), np.float32))


def test_a_clean_file_opens_without_warnings(tmp_path: Path) -> None:
    write_mrc(tmp_path / "a.mrc", np.zeros((2, 3), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MrcSource(tmp_path / "a.mrc")


def truncate_mrc(path: Path) -> Path:
    write_mrc(path, np.zeros((4, 5, 6), np.float32))
    path.write_bytes(path.read_bytes()[: 1024 + 100])
    return path


def truncate_data_in_gzip(path: Path) -> Path:
    write_mrc(path, np.zeros((4, 5, 6), np.float32))
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[: 1024 + 100]))
    return path


def cut_gzip_stream(path: Path) -> Path:
    write_mrc(path, np.random.default_rng(0).random((4, 5, 6), np.float32))
    path.write_bytes(path.read_bytes()[:-40])
    return path


def huge_extended_header(path: Path) -> Path:
    """A header claiming a 2 GiB extended header, which mrcfile would allocate."""
    write_mrc(path, np.zeros((4, 5, 6), np.float32))
    raw = bytearray(path.read_bytes())
    raw[92:96] = (2**31 - 1).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(2).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    return path


def with_nan(path: Path) -> Path:
    data = np.zeros((4, 5, 6), np.float32)
    data[-1, -1, -1] = np.nan
    with (
        warnings.catch_warnings(),  # mrcfile warns about the NaN it writes
        mrcfile.new(path, compression="gzip" if path.name.endswith(".gz") else None) as mrc,
    ):
        warnings.simplefilter("ignore")
        mrc.set_data(data)
    return path


@pytest.mark.parametrize(
    ("name", "make", "problem"),
    [
        ("bad.mrc", truncate_mrc, "truncated: header declares 480 bytes of data, file has 100"),
        (
            "bad.mrc.gz",
            truncate_data_in_gzip,
            "truncated: header declares 480 bytes of data, file has 100",
        ),
        ("bad.mrc.gz", cut_gzip_stream, "truncated gzip stream"),
        ("bad.mrc", huge_extended_header, "truncated: header declares a 2147483647-byte"),
        ("bad.mrc", random_bytes, "not an MRC file"),
        ("bad.mrc.gz", random_bytes, r"not a readable gzip file \(Not a gzipped file"),
        (
            "bad.mrc.gz",
            lambda path: path.write_bytes(gzip.compress(bytes(2000))[:30]) and path,
            "truncated gzip stream",
        ),
        ("bad.mrc", lambda path: path.write_bytes(b"MAP ") and path, "not an MRC file"),
        ("bad.mrcs", with_nan, "NaN or Inf"),
        ("bad.mrc.gz", with_nan, "NaN or Inf"),
        ("bad.mrc", lambda path: path, "file not found"),
    ],
)
def test_bad_files_raise_one_input_error_naming_the_file(
    tmp_path: Path, name: str, make, problem: str
) -> None:
    path = make(tmp_path / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match=rf"{name}: [^\n]*{problem}[^\n]*$"):
            open_source(path)


def test_a_damaged_template_is_refused_naming_it(tmp_path: Path) -> None:
    template = huge_extended_header(tmp_path / "template.mrc")
    with pytest.raises(InputError, match=r"template\.mrc: truncated"):
        write_mrc(tmp_path / "out.mrc", np.zeros((2, 2), np.float32), header_like=template)
    assert not (tmp_path / "out.mrc").exists()


def test_mrc_is_recognised_by_its_map_id_without_a_suffix(tmp_path: Path) -> None:
    write_mrc(tmp_path / "a.mrc", ramp((3, 4), np.int16))
    (tmp_path / "a.mrc").rename(tmp_path / "volume.dat")
    assert isinstance(open_source(tmp_path / "volume.dat"), MrcSource)
