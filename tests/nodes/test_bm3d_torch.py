"""Tests of the torch BM3D, BM3D deblurring and Richardson–Lucy (pixelwise.restoration).

Crops are 64x64 (BM3D costs ~0.3 s a call there): the cameraman's face and the astronaut's
face, plus unclipped Gaussian noise from a seeded generator. Parity with the non-commercial
reference ``bm3d`` package is tested only where it is installed (extra ``reference``);
full-size side-by-side numbers are in bench/bm3d_vs_reference.py.
"""

from __future__ import annotations

import sys
from functools import cache

import numpy as np
import pytest
import torch
from image_measures import psnr
from scipy import ndimage
from skimage import data
from skimage.restoration import richardson_lucy as skimage_richardson_lucy

from pixelwise.errors import InputError
from pixelwise.nodes import create_node
from pixelwise.nodes.deblur import extend_consistently
from pixelwise.nodes.psf import gaussian_psf, motion_psf
from pixelwise.restoration import bm3d, bm3d_deblur, bm3d_rgb, richardson_lucy, white_psd
from pixelwise.restoration.bm3d_torch import _dct_matrix, _group_variances, pair_covariances

SIGMA = 25 / 255


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
    these crops: -0.02 dB grey, +0.02 dB colour; bench/bm3d_vs_reference.py has the full
    table)."""
    reference = pytest.importorskip("bm3d")
    clean, noisy = _clean(colour), _noisy(colour)
    ours = bm3d_rgb(noisy, SIGMA) if colour else bm3d(noisy, SIGMA)
    theirs = (reference.bm3d_rgb if colour else reference.bm3d)(noisy, sigma_psd=SIGMA)
    assert psnr(clean, ours) > psnr(clean, theirs) - 0.2


def test_second_stage_improves_on_the_first() -> None:
    """The Wiener stage adds ~0.5 dB over hard thresholding here (measured +0.48 dB)."""
    clean, noisy = _clean(False), _noisy(False)
    hard = bm3d(noisy, SIGMA, stage="hard")
    full = bm3d(noisy, SIGMA)
    assert psnr(clean, full) > psnr(clean, hard) + 0.3 > psnr(clean, noisy) + 7.0


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
    with_psd = psnr(clean, bm3d(noisy, psd))
    with_sigma = psnr(clean, bm3d(noisy, 0.06))
    assert with_psd > with_sigma + 1.0


def test_overlapping_blocks_share_their_white_noise() -> None:
    """A block and its one-pixel shift share 56 of 64 pixels: the DC (DCT) coefficient of the
    pair's Haar mean has variance sigma² (1 + 56/64), of the difference sigma² (1 - 56/64)."""
    dct = np.kron(_dct_matrix(), _dct_matrix())
    pairs = torch.as_tensor(pair_covariances(dct, white_psd(0.1, (32, 32))[None]))
    haar = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64) / np.sqrt(2)
    members = torch.tensor([[5 * 32 + 5, 5 * 32 + 6]])
    variances = _group_variances(members, 32, 19, haar, pairs, 2)  # (C, G, 2, 64)
    np.testing.assert_allclose(variances[0, 0, :, 0], [0.01 * (1 + 56 / 64), 0.01 / 8], rtol=1e-6)


def test_zero_and_absurd_sigma_and_constant_images() -> None:
    noisy = _noisy(False)
    np.testing.assert_array_equal(bm3d(noisy, 0.0), noisy)
    flattened = bm3d(noisy, 1000.0)  # 10⁴ x the noise: everything but group means goes
    assert np.isfinite(flattened).all() and flattened.std() < noisy.std()
    for sigma in (-0.1, float("nan"), 1e4):  # negative, undefined, beyond float32 variances
        with pytest.raises(ValueError, match=r"noise sigma must be in \[0, 1000\]"):
            bm3d(noisy, sigma)
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
    with pytest.raises(ValueError, match="PSD must have the image's shape"):
        bm3d_rgb(_noisy(True), np.ones((2, 64, 64)))
    with pytest.raises(ValueError, match="finite and non-negative"):
        bm3d(noisy, -white_psd(SIGMA, noisy.shape))
    with pytest.raises(ValueError, match="at least 8 pixels"):
        bm3d(noisy[:7], SIGMA)
    with pytest.raises(InputError, match=r"bm3d_color\.image: BM3D needs both sides at least 8"):
        create_node("bm3d_color")(_noisy(True)[:6])


def test_cuda_refused_clearly_where_absent() -> None:
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


@pytest.mark.parametrize("psf_name", ["gaussian", "motion"])
def test_bm3d_deblur_is_within_0_3_db_of_the_reference_on_wrap_blurred_crops(
    psf_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package's method on the torch BM3D: within 0.3 dB of ``bm3d.bm3d_deblurring`` on a
    64x64 crop blurred circularly, the smallest the bench measures (+0.53 dB Gaussian, +0.24
    dB motion here; -1.8 dB before the overlap-exact variances and deblurring shrinkage)."""
    reference = pytest.importorskip("bm3d")
    # bm4d 4.2.5, bm3d's coloured-noise backend, calls np.trapz (np.trapezoid since NumPy 2).
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    psf = (gaussian_psf(1.5) if psf_name == "gaussian" else motion_psf(9, 30)).astype(np.float64)
    sharp = data.camera()[224:288, 224:288].astype(np.float64) / 255
    noise = np.random.default_rng(0).normal(0, 0.01, sharp.shape)
    blurred = ndimage.convolve(sharp, psf, mode="wrap") + noise
    ours = psnr(sharp, bm3d_deblur(blurred, 0.01, psf))
    theirs = psnr(sharp, reference.bm3d_deblurring(blurred[..., None], 0.01, psf))
    assert ours > theirs - 0.3 > psnr(sharp, blurred) + 3.0


def test_bm3d_deblur_node_runs_torch_by_default_and_names_the_missing_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The default engine needs no bm3d package; asking for the reference without it installed
    says which extra to install."""
    monkeypatch.setitem(sys.modules, "bm3d", None)  # "import bm3d" now raises ImportError
    psf = gaussian_psf(1.5)
    blurred = ndimage.convolve(_clean(False), psf, mode="reflect")
    restored = create_node("bm3d_deblur", sigma=0.01, device="cpu")(blurred, psf)
    assert psnr(_clean(False), restored) > psnr(_clean(False), blurred) + 2.0
    with pytest.raises(InputError, match=r"bm3d_deblur.*pixelwise\[reference\]"):
        create_node("bm3d_deblur", sigma=0.01, engine="reference")(blurred, psf)
    with pytest.raises(ValueError, match="sigma > 0"):
        bm3d_deblur(blurred, 0.0, psf)
