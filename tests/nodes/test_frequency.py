"""Tests of the frequency-domain enhancement nodes: measured effects, colour, edge cases.

Images are skimage photographs reduced 4x by local means (camera 128x128, astronaut
128x128x3), the chelsea cat at 100x149x3 (an odd width) and the coffee cup at 100x150x3.
Thresholds sit below the measured value (given beside each) by a margin that a wrong
transfer function, a lost DC term or a broken border extension would all exceed.
"""

from __future__ import annotations

from functools import cache
from typing import Any, get_args

import numpy as np
import pytest
from image_measures import psnr
from scipy import fft, ndimage
from skimage import data, transform
from skimage.filters import laplace

from pixelwise.errors import ConfigError
from pixelwise.nodes import create_node, node_classes
from pixelwise.nodes.frequency import FREQUENCY_PRESETS, FrequencyPresetName
from pixelwise.nodes.psf import gaussian_psf

FREQUENCY_NODES = [
    "homomorphic_filter",
    "phase_preserving_enhance",
    "multiscale_fft_enhance",
    "band_filter",
    "periodic_notch",
    "frequency_preset",
]
CROP = (slice(110, 206), slice(200, 296))  # the cameraman's face, camera and coat


def _reduce(image: np.ndarray, factor: int) -> np.ndarray:
    image = image.astype(np.float32) / 255
    factors = (factor, factor, 1) if image.ndim == 3 else (factor, factor)
    return transform.downscale_local_mean(image, factors).astype(np.float32)


@cache
def camera() -> np.ndarray:
    return _reduce(data.camera(), 4)


@cache
def astronaut() -> np.ndarray:
    return _reduce(data.astronaut(), 4)


@cache
def photographs() -> dict[str, np.ndarray]:
    return {
        "camera": camera(),
        "astronaut": astronaut(),
        "chelsea": _reduce(data.chelsea()[:, :447], 3),
        "coffee": _reduce(data.coffee(), 4),
    }


@cache
def blurred_crop() -> tuple[np.ndarray, np.ndarray]:
    """The full-size camera crop, sharp and blurred (Gaussian sigma 1.5 within the frame)."""
    full = data.camera().astype(np.float32) / 255
    return full[CROP], create_node("convolve")(full, gaussian_psf(1.5))[CROP]


def vignette(shape: tuple[int, ...]) -> np.ndarray:
    """Radial fall-off 1 - 0.3 (x² + y²), x and y in [-1, 1]: corners get 40 % of the light."""
    rows, cols = np.indices(shape[:2], dtype=np.float64)
    rho2 = ((rows - (shape[0] - 1) / 2) / (shape[0] / 2)) ** 2
    rho2 += ((cols - (shape[1] - 1) / 2) / (shape[1] / 2)) ** 2
    fall_off = (1.0 - 0.3 * rho2).astype(np.float32)
    return fall_off if len(shape) == 2 else fall_off[..., np.newaxis]


def centre_to_corner_log(ratio: np.ndarray) -> float:
    """How much brighter (in log units) the centre of a smooth ``ratio`` image is than the
    mean of its four 8x8 corners."""
    smooth = ndimage.gaussian_filter(np.log(ratio), 4, mode="mirror")
    height, width = smooth.shape
    centre = smooth[height // 2 - 8 : height // 2 + 8, width // 2 - 8 : width // 2 + 8].mean()
    corners = np.mean([smooth[:8, :8], smooth[:8, -8:], smooth[-8:, :8], smooth[-8:, -8:]])
    return float(centre - corners)


def illumination_spread(image: np.ndarray) -> float:
    """Std over mean of a heavy (sigma 16 px) blur: how uneven the coarse brightness is."""
    coarse = ndimage.gaussian_filter(image, 16, mode="mirror")
    return float(coarse.std() / coarse.mean())


def spectral_peak_db(image: np.ndarray, frequency: tuple[float, float]) -> float:
    """Amplitude (dB) of the strongest bin of ``fft2(image)`` within 1 bin of ``frequency``."""
    spectrum = np.abs(fft.fft2(image - image.mean()))
    row, col = (round(f * n) for f, n in zip(frequency, image.shape, strict=False))
    rows, cols = np.ix_(np.arange(row - 1, row + 2), np.arange(col - 1, col + 2))
    return float(20 * np.log10(spectrum[rows, cols].max()))  # negative indices wrap


def stripes(shape: tuple[int, ...], frequency: tuple[float, float], amplitude: float = 0.08):
    """A diagonal sinusoid of ``frequency`` (cycles/pixel, rows and columns), float32."""
    rows, cols = np.indices(shape[:2])
    wave = amplitude * np.sin(2 * np.pi * (frequency[0] * rows + frequency[1] * cols))
    wave = wave.astype(np.float32)
    return wave if len(shape) == 2 else wave[..., np.newaxis]


def symmetric_spectrum(plane: np.ndarray) -> np.ndarray:
    """rfft2 of the image's symmetric extension (what the nodes filter)."""
    height, width = plane.shape
    return fft.rfft2(np.pad(plane.astype(np.float64), ((0, height), (0, width)), "symmetric"))


def test_all_frequency_nodes_are_registered() -> None:
    registered = {name for name, cls in node_classes().items() if cls.category == "frequency"}
    assert registered == set(FREQUENCY_NODES)


# --- Homomorphic filtering --------------------------------------------------------------------


def test_homomorphic_filter_evens_illumination() -> None:
    """The vignette (centre 0.67 log units above the corners after smoothing) is compressed
    by the low gain 0.5 of log-intensity below the cutoff: what is left of it in the output,
    against the output of the clean image, is 0.40 log units (ratio 0.59, not quite 0.5 as
    the vignette reaches past the cutoff; bound 0.75). The coarse brightness spread of the
    vignetted image falls from 0.37 to 0.22 (x0.59; bound 0.7)."""
    clean = camera()
    vignetted = clean * vignette(clean.shape)
    node = create_node("homomorphic_filter")
    out_clean, out_vignetted = node(clean), node(vignetted)
    offset = node.params.offset
    before = centre_to_corner_log((vignetted + offset) / (clean + offset))
    after = centre_to_corner_log((out_vignetted + offset) / (out_clean + offset))
    assert before > 0.6
    assert after < 0.75 * before
    assert illumination_spread(out_vignetted) < 0.7 * illumination_spread(vignetted)
    # The mean log-intensity (the geometric mean brightness) is kept.
    mean_log = np.log(vignetted + offset).mean()
    assert np.log(out_vignetted + offset).mean() == pytest.approx(mean_log, abs=1e-4)


def test_homomorphic_filter_scales_colour_channels_alike() -> None:
    """Colour is scaled by the luminance gain, so channel ratios (with the offset) stay."""
    rgb = astronaut() * vignette(astronaut().shape)
    node = create_node("homomorphic_filter")
    offset = node.params.offset
    out = node(rgb)
    before = (rgb[..., 0] + offset) / (rgb[..., 1] + offset)
    np.testing.assert_allclose((out[..., 0] + offset) / (out[..., 1] + offset), before, rtol=1e-4)
    assert illumination_spread(out.mean(axis=2)) < illumination_spread(rgb.mean(axis=2))


# --- Phase-preserving enhancement -------------------------------------------------------------


@cache
def alpha_rooted() -> np.ndarray:
    return create_node("phase_preserving_enhance")(blurred_crop()[1])


def test_phase_preserving_enhance_keeps_the_phase_mean_and_variance() -> None:
    blurred = blurred_crop()[1]
    out = alpha_rooted()
    before, after = symmetric_spectrum(blurred), symmetric_spectrum(out)
    significant = np.abs(before) > 1e-6 * np.abs(before).max()
    phase_change = np.angle(after[significant] * np.conj(before[significant]))
    assert np.abs(phase_change).max() < 1e-3  # radians
    assert out.mean() == pytest.approx(blurred.mean(), abs=1e-5)
    assert out.std() == pytest.approx(blurred.std(), rel=1e-4)


def test_phase_preserving_enhance_sharpens_a_blurred_photo() -> None:
    """Alpha rooting (alpha 0.9) lifts the weak high frequencies of the blurred crop: the
    Laplacian variance doubles (measured x2.00, bound 1.7) and the PSNR to the sharp crop
    rises 0.86 dB (bound 0.5), as detail energy moves from coarse to fine frequencies."""
    sharp, blurred = blurred_crop()
    out = alpha_rooted()
    assert laplace(out).var() > 1.7 * laplace(blurred).var()
    assert psnr(sharp, out) > psnr(sharp, blurred) + 0.5
    identity = create_node("phase_preserving_enhance", alpha=1.0)(blurred)
    np.testing.assert_allclose(identity, blurred, atol=1e-5)


# --- Multiscale FFT enhancement and band control ----------------------------------------------


def test_multiscale_fft_enhance_sharpens_and_unit_gains_are_the_identity() -> None:
    """Default gains (1.6, 1.3, 1.1) over the three finest octaves: Laplacian variance x1.49
    (bound 1.3), PSNR to the sharp crop +0.96 dB (bound 0.5)."""
    sharp, blurred = blurred_crop()
    out = create_node("multiscale_fft_enhance")(blurred)
    assert laplace(out).var() > 1.3 * laplace(blurred).var()
    assert psnr(sharp, out) > psnr(sharp, blurred) + 0.5
    identity = create_node("multiscale_fft_enhance", gains=(1.0,) * 5)(blurred)
    np.testing.assert_allclose(identity, blurred, atol=1e-5)


def test_band_filter_band_stop_removes_a_stripe_band() -> None:
    """A band-stop gain 0 over 0.26-0.34 cycles/pixel removes horizontal stripes at 0.3
    cycles/pixel: PSNR to the clean camera goes from 25.0 dB to 31.5 dB (bound +5 dB; what
    the photo itself loses in that ring limits it) and the stripe's peak falls 31 dB."""
    clean = camera()
    striped = clean + stripes(clean.shape, (0.0, 0.3))
    band = {"low": 0.26, "high": 0.34, "gain": 0.0}
    out = create_node("band_filter", bands=[band], edge_width=0.005)(striped)
    assert psnr(clean, out) > psnr(clean, striped) + 5.0
    assert spectral_peak_db(out, (0.0, 0.3)) < spectral_peak_db(striped, (0.0, 0.3)) - 20


def test_band_filter_default_halves_the_finest_detail() -> None:
    """White noise keeps its coarse part; the default band (0.3-0.75 cycles/pixel, gain 0.5)
    holds 72 % of its power, so the std falls to sqrt(0.28 + 0.72 / 4) = 0.68 of the input
    (measured 0.69; bounds 0.6-0.78)."""
    noise = np.random.default_rng(0).normal(0.5, 0.05, (96, 96)).astype(np.float32)
    ratio = create_node("band_filter")(noise).std() / noise.std()
    assert 0.6 < ratio < 0.78


# --- Adaptive notch ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "min_drop_db", "min_gain_db"),
    [
        # Off-grid diagonal stripes: peak -16.4 dB, PSNR +9.5 dB.
        ((0.11, 0.07), 14.0, 8.0),
        # Vertical stripes: peak -17.2 dB, PSNR +10.2 dB.
        ((0.0, 0.2), 14.0, 8.5),
    ],
)
def test_periodic_notch_removes_stripes(
    frequency: tuple[float, float], min_drop_db: float, min_gain_db: float
) -> None:
    clean = camera()
    striped = clean + stripes(clean.shape, frequency)
    out = create_node("periodic_notch")(striped)
    assert spectral_peak_db(out, frequency) < spectral_peak_db(striped, frequency) - min_drop_db
    assert psnr(clean, out) > psnr(clean, striped) + min_gain_db


def test_periodic_notch_on_colour_removes_luminance_stripes() -> None:
    """Stripes equal in R, G and B are luminance stripes: +8.4 dB on the astronaut."""
    clean = astronaut()
    striped = clean + stripes(clean.shape, (0.11, 0.07))
    out = create_node("periodic_notch")(striped)
    assert psnr(clean, out) > psnr(clean, striped) + 7.0


@pytest.mark.parametrize("name", ["camera", "astronaut", "chelsea", "coffee"])
def test_periodic_notch_finds_no_peaks_in_clean_photos(name: str) -> None:
    """Straight edges draw lines through the spectrum, not peaks: nothing is notched."""
    photo = photographs()[name]
    np.testing.assert_allclose(create_node("periodic_notch")(photo), photo, atol=1e-5)


# --- Presets ----------------------------------------------------------------------------------


def test_presets_name_parameter_sets_of_the_frequency_nodes() -> None:
    assert set(get_args(FrequencyPresetName)) == set(FREQUENCY_PRESETS)
    image = camera()[32:96, 32:96]
    outputs = {}
    for preset, (node_class, params) in FREQUENCY_PRESETS.items():
        outputs[preset] = create_node("frequency_preset", preset=preset)(image)
        np.testing.assert_array_equal(outputs[preset], node_class(**params)(image))
    # Every preset does something different (the notch leaves a clean photo as it is).
    changes = [np.abs(out - image).mean() for key, out in outputs.items() if key != "descreen"]
    assert min(changes) > 1e-3
    assert len({out.tobytes() for out in outputs.values()}) == len(outputs)


# --- Colour and edge cases --------------------------------------------------------------------


@pytest.mark.parametrize("name", FREQUENCY_NODES)
def test_grey_stored_as_rgb_gives_the_grey_result_and_alpha_passes(name: str) -> None:
    grey = camera()[40:80, 30:80]
    expected = create_node(name)(grey)
    alpha = np.linspace(0, 1, grey.size, dtype=np.float32).reshape(grey.shape)
    rgba = create_node(name)(np.dstack([grey, grey, grey, alpha]))
    for channel in range(3):
        np.testing.assert_allclose(rgba[..., channel], expected, atol=1e-5)
    np.testing.assert_array_equal(rgba[..., 3], alpha)


@pytest.mark.parametrize("name", FREQUENCY_NODES)
@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 1), (3, 4, 3), (4, 5, 2), (31, 17)])
@pytest.mark.parametrize("value", [0.0, 0.3])
def test_constant_and_tiny_images_come_back_unchanged(
    name: str, shape: tuple[int, ...], value: float
) -> None:
    image = np.full(shape, value, np.float32)
    with np.errstate(divide="raise", invalid="raise", over="raise"):  # no 0/0, no x/0
        out = create_node(name)(image)
    assert out.shape == image.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, image, atol=1e-5)


@pytest.mark.parametrize("name", FREQUENCY_NODES)
def test_odd_sized_colour_photo_keeps_its_shape(name: str) -> None:
    photo = photographs()["chelsea"]
    out = create_node(name)(photo)
    assert out.shape == photo.shape == (100, 149, 3)
    assert np.isfinite(out).all()


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("homomorphic_filter", {"low_gain": 1.5}),
        ("homomorphic_filter", {"cutoff": 0}),
        ("phase_preserving_enhance", {"alpha": 0}),
        ("multiscale_fft_enhance", {"gains": ()}),
        ("multiscale_fft_enhance", {"gains": (1.0, -1.0)}),
        ("band_filter", {"bands": [{"low": 0.3, "high": 0.2, "gain": 0.0}]}),
        ("band_filter", {"bands": [{"low": 0.1, "high": 0.2}]}),
        ("periodic_notch", {"threshold_db": 1}),
        ("frequency_preset", {"preset": "sharpen"}),
    ],
)
def test_invalid_parameters_raise_config_error(name: str, params: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=rf"node '{name}'"):
        create_node(name, **params)
