"""Tests of the torch BM3D, BM3D deblurring and Richardson–Lucy (pixelwise.restoration).

Crops are 64x64 (BM3D costs ~0.3 s a call there): the cameraman's face and the astronaut's
face, plus unclipped Gaussian noise from a seeded generator. Parity with the non-commercial
reference ``bm3d`` package is tested only where it is installed (extra ``bm3d-reference``);
full-size side-by-side numbers are in bench/bm3d_vs_reference.py.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from scipy import ndimage
from skimage import data
from skimage.metrics import peak_signal_noise_ratio
from skimage.restoration import richardson_lucy as skimage_richardson_lucy

from pixelwise.errors import InputError
from pixelwise.nodes import create_node
from pixelwise.nodes.deblur import extend_consistently
from pixelwise.nodes.psf import gaussian_psf
from pixelwise.restoration import bm3d, bm3d_rgb, richardson_lucy, white_psd

SIGMA = 25 / 255


def _psnr(clean: np.ndarray, image: np.ndarray) -> float:
    return float(peak_signal_noise_ratio(clean, image, data_range=1))


@cache
def _clean(colour: bool) -> np.ndarray:
    if colour:
        return data.astronaut()[40:104, 190:254].astype(np.float32) / 255
    return data.camera()[110:174, 210:274].astype(np.float32) / 255


@cache
def _noisy(colour: bool, sigma: float = SIGMA) -> np.ndarray:
    clean = _clean(colour)
    return (clean + np.random.default_rng(0).normal(0, sigma, clean.shape)).astype(np.float32)


@pytest.mark.parametrize("colour", [False, True], ids=["gray", "rgb"])
def test_bm3d_is_within_0_2_db_of_the_reference_package(colour: bool) -> None:
    """The issue's target: within 0.2 dB of the ``bm3d`` package at sigma 25/255 (measured on
    these crops: -0.10 dB grey, -0.12 dB colour; bench/bm3d_vs_reference.py has the full
    table)."""
    reference = pytest.importorskip("bm3d")
    clean, noisy = _clean(colour), _noisy(colour)
    ours = bm3d_rgb(noisy, SIGMA) if colour else bm3d(noisy, SIGMA)
    theirs = (reference.bm3d_rgb if colour else reference.bm3d)(noisy, sigma_psd=SIGMA)
    assert _psnr(clean, ours) > _psnr(clean, theirs) - 0.2


def test_second_stage_improves_on_the_first() -> None:
    """The Wiener stage adds ~0.5 dB over hard thresholding here (measured +0.6 dB)."""
    clean, noisy = _clean(False), _noisy(False)
    hard = bm3d(noisy, SIGMA, stage="hard")
    full = bm3d(noisy, SIGMA)
    assert _psnr(clean, full) > _psnr(clean, hard) + 0.3 > _psnr(clean, noisy) + 7.0


def test_white_psd_equals_scalar_sigma() -> None:
    noisy = _noisy(False)
    np.testing.assert_allclose(
        bm3d(noisy, white_psd(SIGMA, noisy.shape)), bm3d(noisy, SIGMA), atol=1e-5
    )


def _coloured_noise(shape: tuple[int, int], sigma: float, seed: int = 1) -> np.ndarray:
    """White noise low-passed by a Gaussian of 1 px, rescaled to standard deviation ``sigma``."""
    white = np.random.default_rng(seed).normal(0, 1, shape)
    correlated = ndimage.gaussian_filter(white, 1.0, mode="wrap")
    return sigma * correlated / correlated.std()


def test_psd_beats_scalar_sigma_on_coloured_noise() -> None:
    """Correlated noise looks like texture to a white-noise model: given its PSD, BM3D gains
    over 1 dB more than with the matching scalar sigma (measured: +2.9 dB)."""
    clean = _clean(False)
    noise = _coloured_noise(clean.shape, 0.06)
    noisy = (clean + noise).astype(np.float32)
    psd = np.abs(np.fft.fft2(noise)) ** 2  # the periodogram of this noise: its PSD on average
    psd = ndimage.uniform_filter(psd, 5, mode="wrap")
    with_psd = _psnr(clean, bm3d(noisy, psd))
    with_sigma = _psnr(clean, bm3d(noisy, 0.06))
    assert with_psd > with_sigma + 1.0


def test_zero_and_absurd_sigma_and_constant_images() -> None:
    noisy = _noisy(False)
    np.testing.assert_array_equal(bm3d(noisy, 0.0), noisy)
    flattened = bm3d(noisy, 10.0)  # 100x the noise: everything but group means goes
    assert np.isfinite(flattened).all() and flattened.std() < noisy.std()
    # A constant image stays constant; the Wiener gain of the group mean, B²/(B² + var) just
    # under 1, shrinks it by ~2e-5 here (no divide-by-zero anywhere).
    flat = np.full((20, 24), 0.3, np.float32)
    np.testing.assert_allclose(bm3d(flat, SIGMA), flat, atol=1e-4)
    rgb = np.dstack([flat] * 3)
    np.testing.assert_allclose(bm3d_rgb(rgb, SIGMA), rgb, atol=1e-4)


def test_wrong_psd_shape_and_tiny_images_are_refused() -> None:
    noisy = _noisy(False)
    with pytest.raises(ValueError, match="PSD must have the image's shape"):
        bm3d(noisy, np.ones((8, 8)))
    with pytest.raises(ValueError, match="at least 8 pixels"):
        bm3d(noisy[:7], SIGMA)
    with pytest.raises(InputError, match=r"bm3d_color\.image: BM3D needs both sides at least 8"):
        create_node("bm3d_color")(_noisy(True)[:6])


def test_cuda_refused_clearly_where_absent() -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(InputError, match=r"node 'bm3d': device 'cuda'.*not available"):
        create_node("bm3d", sigma=SIGMA, device="cuda")(_noisy(False))


def test_richardson_lucy_equals_scikit_image() -> None:
    """Same algorithm, FFT convolution in torch: equal to float64 rounding (measured 6e-15)."""
    blurred = ndimage.convolve(_clean(False).astype(np.float64), gaussian_psf(1.5), mode="reflect")
    psf = gaussian_psf(1.5).astype(np.float64)
    expected = skimage_richardson_lucy(blurred, psf, num_iter=20, clip=False)
    np.testing.assert_allclose(richardson_lucy(blurred, psf, 20), expected, atol=1e-10)


def test_richardson_lucy_node_equals_scikit_image_on_extended_image() -> None:
    """The node keeps its boundary handling: skimage on the same extension gives the same."""
    psf = gaussian_psf(1.5)
    blurred = ndimage.convolve(_clean(False), psf, mode="reflect")
    extended, inside = extend_consistently(blurred, psf)
    expected = skimage_richardson_lucy(np.clip(extended, 0, None), psf, num_iter=30, clip=False)
    node = create_node("richardson_lucy", device="cpu")
    np.testing.assert_allclose(node(blurred, psf), expected[inside], atol=1e-6)


def test_bm3d_deblur_torch_engine_is_within_0_2_db_of_the_reference_on_the_node_path() -> None:
    """On the node's path (a crop blurred within the full frame, boundary-extended) the torch
    engine is within 0.2 dB of the package (measured -0.08 dB Gaussian, -0.13 dB motion on
    96x96). On bare wrap-blurred crops it falls 0.3-1.8 dB behind (128² to 64²), which is why
    the package stays bm3d_deblur's default engine."""
    pytest.importorskip("bm3d")
    psf = gaussian_psf(1.5)
    camera = data.camera().astype(np.float32) / 255
    blurred = ndimage.convolve(camera, psf, mode="reflect")[110:206, 200:296]
    blurred = blurred + np.random.default_rng(0).normal(0, 0.01, blurred.shape).astype(np.float32)
    sharp = camera[110:206, 200:296]
    ours = _psnr(sharp, create_node("bm3d_deblur", sigma=0.01, engine="torch")(blurred, psf))
    theirs = _psnr(sharp, create_node("bm3d_deblur", sigma=0.01)(blurred, psf))
    assert ours > theirs - 0.2 > _psnr(sharp, blurred) + 2.0
