"""Tests for pixelwise.io.images: round trips per format and bit depth, and bad files."""

from __future__ import annotations

import zlib

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from pixelwise.errors import ConfigError, InputError
from pixelwise.io.images import (
    collect_image_files,
    read_image,
    read_raw_image,
    write_image,
)
from pixelwise.io.imagesize import PNG_MAGIC, raster_size
from pixelwise.io.registry import open_source

RNG = np.random.default_rng(7)


def _random_image(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.random(shape, dtype=np.float32)


@pytest.mark.parametrize(
    ("suffix", "bit_depth", "stored_dtype"),
    [
        (".png", 8, np.uint8),
        (".png", 16, np.uint16),
        (".bmp", 8, np.uint8),
        (".tif", 8, np.uint8),
        (".tif", 16, np.uint16),
        (".tif", 32, np.float32),
        (".tiff", 32, np.float32),
        (".npy", 32, np.float32),
    ],
)
@pytest.mark.parametrize("shape", [(6, 9), (6, 9, 3), (6, 9, 4)])
def test_lossless_round_trip(tmp_path, suffix, bit_depth, stored_dtype, shape):
    image = _random_image(shape)
    path = write_image(tmp_path / f"image{suffix}", image, bit_depth=bit_depth)
    assert read_raw_image(path).dtype == stored_dtype
    back = read_image(path)
    assert back.dtype == np.float32
    assert back.shape == shape
    quantum = 0.0 if bit_depth == 32 else 0.5 / (2**bit_depth - 1)
    np.testing.assert_allclose(back, image, atol=quantum + 1e-7, rtol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"image{suffix}"]  # no temp files


@pytest.mark.parametrize("shape", [(32, 48), (32, 48, 3)])
def test_jpeg_round_trip_is_close(tmp_path, shape):
    ramp = np.linspace(0, 1, 48, dtype=np.float32)[None, :].repeat(32, axis=0)
    image = ramp if len(shape) == 2 else np.stack([ramp, ramp[::-1], 0.5 + 0 * ramp], axis=-1)
    back = read_image(write_image(tmp_path / "image.jpg", image))
    assert back.shape == shape
    assert np.abs(back - image).mean() < 0.02


def test_default_bit_depths(tmp_path):
    image = _random_image((5, 5))
    assert read_raw_image(write_image(tmp_path / "a.png", image)).dtype == np.uint8
    assert read_raw_image(write_image(tmp_path / "a.tif", image)).dtype == np.float32


def test_integer_files_are_scaled_by_dtype_max(tmp_path):
    data = np.array([[0, 32768, 65535]], dtype=np.uint16)
    tifffile.imwrite(tmp_path / "sixteen.tif", data)
    np.testing.assert_allclose(read_image(tmp_path / "sixteen.tif"), data / 65535.0, rtol=1e-6)
    cv2.imwrite(str(tmp_path / "eight.png"), np.array([[0, 51, 255]], dtype=np.uint8))
    np.testing.assert_allclose(read_image(tmp_path / "eight.png"), [[0.0, 0.2, 1.0]], rtol=1e-6)


def test_colour_channels_are_rgb_order(tmp_path):
    red = np.zeros((4, 4, 3), np.float32)
    red[..., 0] = 1.0
    path = write_image(tmp_path / "red.png", red)
    assert iio.imread(path)[0, 0].tolist() == [255, 0, 0]  # an independent reader agrees
    np.testing.assert_array_equal(read_image(path)[0, 0], [1.0, 0.0, 0.0])


def test_float_formats_keep_values_integer_formats_clip(tmp_path):
    image = np.array([[-0.5, 0.25, 1.5]], dtype=np.float32)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "a.tif", image)), image)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "a.npy", image)), image)
    clipped = read_image(write_image(tmp_path / "a.png", image, bit_depth=16))
    np.testing.assert_allclose(clipped, [[0.0, 0.25, 1.0]], atol=1e-4)


def test_integer_arrays_are_written_losslessly(tmp_path):
    data = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(read_raw_image(write_image(tmp_path / "a.png", data)), data)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.png", b"", "file is empty"),
        ("garbage.png", b"not a png at all", "cannot read as PNG"),
        ("garbage.jpg", b"\xff\xd8 broken", "cannot read as JPG"),
        ("garbage.tif", b"garbage garbage", "cannot read as TIF"),
        ("garbage.npy", b"garbage garbage", "cannot read as NPY"),
        ("image.gif", b"GIF89a", "unsupported image format '.gif'"),
    ],
)
def test_bad_files_raise_input_error_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        read_image(path)
    assert caught.value.source == str(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(InputError, match="not a regular file"):
        read_image(tmp_path / "folder.png")


def test_truncated_npy_and_tiff(tmp_path):
    np.save(tmp_path / "full.npy", np.zeros((64, 64), np.float32))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "full.npy").read_bytes()[:300])
    with pytest.raises(InputError, match="cannot read as NPY"):
        read_image(tmp_path / "cut.npy")
    tifffile.imwrite(tmp_path / "full.tif", np.zeros((64, 64), np.float32))
    (tmp_path / "cut.tif").write_bytes((tmp_path / "full.tif").read_bytes()[:2000])
    with pytest.raises(InputError, match=r"cut\.tif"):
        read_image(tmp_path / "cut.tif")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((0, 5), np.float32), "image is empty"),
        (np.zeros((2, 3, 4, 5), np.float32), "expected an HxW or HxWxC image"),
        (np.zeros((4, 4, 7), np.float32), "expected an HxW or HxWxC image"),
        (np.array([[np.nan, 0.0]], np.float32), "NaN or infinite"),
        (np.array([["a", "b"]]), "unsupported pixel type"),
    ],
)
def test_invalid_npy_contents(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(InputError, match=message):
        read_image(tmp_path / "bad.npy")


def test_pickled_npy_is_refused(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="cannot read as NPY"):
        read_image(tmp_path / "objects.npy")


@pytest.mark.parametrize(
    ("name", "image", "bit_depth", "message"),
    [
        ("a.jpg", np.zeros((4, 4)), 16, r"stores bit depths \(8,\), not 16"),
        ("a.npy", np.zeros((4, 4)), 8, "stores bit depths"),
        ("a.png", np.zeros((4, 4, 2)), None, "cannot store 2-channel images"),
        ("a.jpg", np.zeros((4, 4, 4)), None, "cannot store 4-channel images"),
        ("a.gif", np.zeros((4, 4)), None, "unsupported image format"),
        ("a.png", np.zeros((4, 4, 4, 4)), None, "expected an HxW or HxWxC image"),
    ],
)
def test_write_refuses_what_the_format_cannot_store(tmp_path, name, image, bit_depth, message):
    with pytest.raises(InputError, match=message):
        write_image(tmp_path / name, image, bit_depth=bit_depth)
    assert list(tmp_path.iterdir()) == []


def test_write_replaces_existing_file(tmp_path):
    target = tmp_path / "a.png"
    write_image(target, np.zeros((4, 4)))
    write_image(target, np.ones((4, 4)))
    assert read_image(target).min() == 1.0


def test_collect_image_files(tmp_path):
    for name in ["b.png", "a.TIF", "notes.txt", "c.npy"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.png").write_bytes(b"x")
    found = collect_image_files([tmp_path, tmp_path / "sub" / "d.png", tmp_path / "b.png"])
    assert [p.name for p in found] == ["a.TIF", "b.png", "c.npy", "d.png"]
    with pytest.raises(InputError, match="file not found"):
        collect_image_files([tmp_path / "nope.png"])
    with pytest.raises(InputError, match="unsupported image format"):
        collect_image_files([tmp_path / "notes.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="folder holds no image files"):
        collect_image_files([tmp_path / "empty"])


# --- decompression-bomb guard ---------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data).to_bytes(4, "big")
    return len(data).to_bytes(4, "big") + kind + data + crc


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` 1-bit grey pixels."""
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    idat = zlib.compress(bytes(64))
    return (
        PNG_MAGIC
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("reader", [read_image, read_raw_image, open_source])
def test_a_png_claiming_huge_dimensions_is_refused_before_decoding(tmp_path, reader):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming(100_000, 100_000))
    message = (
        r"bomb\.png: [^\n]*image is 100000 x 100000 = 10,000,000,000 pixels, above the limit "
        r"of 268,435,456 [^\n]*set PIXELWISE_MAX_IMAGE_PIXELS to a larger number"
    )
    with pytest.raises(InputError, match=message):
        reader(path)


def test_a_real_20000_square_png_is_refused_from_its_header(tmp_path):
    # 400 megapixels of 1-bit PNG compress to about 50 KB; decoding would need 400 MB.
    row = b"\x00" + bytes(2500)  # the filter byte, then 20000 bits
    idat = zlib.compress(row * 20_000, 9)
    header = (20_000).to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    path = tmp_path / "big.png"
    path.write_bytes(
        PNG_MAGIC
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
    assert path.stat().st_size < 1_000_000
    with pytest.raises(InputError, match=r"big\.png: .*400,000,000 pixels"):
        read_raw_image(path)


def _image_file(path, shape):
    image = RNG.random(shape, dtype=np.float32)
    if path.suffix == ".tif":
        tifffile.imwrite(path, (image * 255).astype(np.uint8), compression="zlib")
        return path
    return write_image(path, image)


@pytest.mark.parametrize("name", ["a.png", "a.jpg", "a.bmp", "a.tif", "rgb.png", "rgb.jpg"])
@pytest.mark.parametrize("reader", [read_raw_image, open_source])
def test_the_pixel_limit_applies_to_every_image_format(tmp_path, monkeypatch, name, reader):
    shape = (30, 40, 3) if name.startswith("rgb") else (30, 40)
    path = _image_file(tmp_path / name, shape)
    monkeypatch.setenv("PIXELWISE_MAX_IMAGE_PIXELS", "1199")
    with pytest.raises(
        InputError, match=r"image is 30 x 40 = 1,200 pixels, above the limit of 1,199"
    ):
        reader(path)
    monkeypatch.setenv("PIXELWISE_MAX_IMAGE_PIXELS", "1200")
    assert reader(path).shape == shape


def test_the_pixel_limit_counts_every_page_of_a_compressed_stack(tmp_path, monkeypatch):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((5, 10, 10), np.uint8), compression="zlib")
    monkeypatch.setenv("PIXELWISE_MAX_IMAGE_PIXELS", "499")
    with pytest.raises(InputError, match=r"stack\.tif: image is 5 pages of 10 x 10 = 500 pixels"):
        open_source(path)


def test_jpeg_sizes_come_from_the_frame_header_after_other_segments(tmp_path):
    image = RNG.integers(0, 255, (37, 53, 3), dtype=np.uint8)
    progressive = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert b"\xff\xc2" in progressive  # SOF2
    comment = b"\xff\xfe" + (9).to_bytes(2, "big") + b"comment"  # a COM segment after SOI
    path = tmp_path / "p.jpg"
    path.write_bytes(progressive[:2] + comment + progressive[2:])
    assert raster_size(path) == (37, 53)
    assert read_raw_image(path).shape == (37, 53, 3)


def test_a_bad_pixel_limit_setting_is_a_config_error(tmp_path, monkeypatch):
    path = write_image(tmp_path / "a.png", np.zeros((4, 4)))
    monkeypatch.setenv("PIXELWISE_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(
        ConfigError, match="PIXELWISE_MAX_IMAGE_PIXELS must be a positive whole number"
    ):
        read_image(path)
