"""Inputs from other formats: the Duke .mat schemas (written by scipy.io.savemat), image folders,
and the conversion command."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from pixelwise.apps.oct.convert import read_any, read_duke_mat
from pixelwise.apps.oct.layout import read_oct
from pixelwise.cli.main import main
from pixelwise.errors import InputError
from pixelwise.io.images import write_image

H, W, N = 40, 24, 3


def _rows(rng):
    ilm = rng.uniform(5, 12, size=(N, W))
    return ilm, ilm + rng.uniform(10, 20, size=(N, W))


def test_duke_dme_schema_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(H, W, N), dtype=np.uint8)  # (496, 768, 61) in the set
    ilm, bm = _rows(rng)
    layers = np.full((8, W, N), np.nan)  # (8, 768, 61): 1-based MATLAB rows, NaN unannotated
    layers[0], layers[7] = (ilm + 1).T, (bm + 1).T
    layers[3] = layers[0] + 4  # an inner layer, ignored
    layers[:, :5, 2] = np.nan  # scan 2: first 5 columns not annotated
    path = tmp_path / "Subject_01.mat"
    scipy.io.savemat(path, {"images": images, "manualLayers1": layers, "manualLayers2": layers})
    data = read_duke_mat(path)
    assert data.shape == (N, H, W) and data.bscans.dtype == np.uint8
    np.testing.assert_array_equal(data.bscans[1], images[:, :, 1])
    ilm[2, :5] = bm[2, :5] = np.nan
    np.testing.assert_allclose(data.boundaries[:, 0], ilm, rtol=1e-6)
    np.testing.assert_allclose(data.boundaries[:, 1], bm, rtol=1e-6)
    assert (
        np.isnan(data.boundaries[2, :, :5]).all() and np.isfinite(data.boundaries[2, :, 5:]).all()
    )
    out = tmp_path / "dme.h5"
    with pytest.raises(SystemExit) as code:
        main(["oct", "convert", str(path), "-o", str(out), "--scale-axial", "3.87"])
    assert code.value.code == 0
    again = read_oct(out)
    np.testing.assert_array_equal(again.boundaries, data.boundaries)
    assert again.scale_axial_um == pytest.approx(3.87)


def test_duke_amd_schema_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, size=(H, W, N))  # (512, 1000, 100) doubles in the set
    ilm, bm = _rows(rng)
    maps = np.stack([ilm + 1, (ilm + bm) / 2 + 1, bm + 1], axis=-1)  # (100, 1000, 3)
    path = tmp_path / "AMD_1.mat"
    scipy.io.savemat(path, {"images": images, "layerMaps": maps, "Age": np.array([[71]])})
    data = read_any(path)
    np.testing.assert_array_equal(data.bscans[0], np.rint(images[:, :, 0]).astype(np.uint8))
    np.testing.assert_allclose(data.boundaries[:, 1], bm, rtol=1e-6)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"img": np.zeros((4, 4, 1))}, "no 'images' array (keys: img)"),
        ({"images": np.zeros((4, 4, 2))}, "no layer array"),
        ({"images": np.zeros((4, 6, 2)), "layerMaps": np.zeros((2, 5, 3))}, "has shape (2, 5, 3)"),
    ],
)
def test_bad_mat_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, content)
    with pytest.raises(InputError, match=r"bad\.mat") as caught:
        read_duke_mat(path)
    assert message in str(caught.value)


def test_unreadable_mat(tmp_path):
    path = tmp_path / "broken.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file, garbage" * 3)
    with pytest.raises(InputError, match=r"broken\.mat: not a readable MATLAB"):
        read_duke_mat(path)


def test_image_folder_keeps_names_and_refuses_mixed_sizes(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    for index in range(3):
        write_image(folder / f"b{index}.png", np.full((20, 30), index / 4, np.float32))
    data = read_any(folder)
    assert data.shape == (3, 20, 30) and data.names == ["b0.png", "b1.png", "b2.png"]
    assert data.boundaries is None and data.bscans.dtype == np.uint8
    write_image(folder / "b3.png", np.zeros((21, 30), np.float32))
    with pytest.raises(InputError, match=r"b3\.png"):
        read_any(folder)
