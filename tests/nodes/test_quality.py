"""NIQE no-reference quality: it ranks blur and noise, and refuses what it cannot score.

The photographs (camera, astronaut, coffee) are not among the images the shipped pristine
model was fitted on (bench/niqe_pristine.py), so the rankings are on held-out images.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from skimage import data, filters

from pixelwise.errors import InputError
from pixelwise.nodes import create_node
from pixelwise.nodes.color import luminance
from pixelwise.nodes.quality import (
    FEATURES_PER_SCALE,
    _aggd_features,
    _ggd_features,
    niqe,
    shipped_model,
)

PHOTOS = ("camera", "astronaut", "coffee")
BLUR_SIGMAS = (0.0, 1.0, 2.0, 4.0)  # pixels
NOISE_SIGMAS = (0, 5, 15, 30, 50)  # /255
# Measured on the full images (bench/niqe_pristine.py prints the scores), each step raises
# NIQE by 37-148% for blur and 13-83% for noise (the smallest: coffee from 30 to 50/255, where
# NIQE starts to saturate). Requiring 5% per step keeps the order strict with room for
# numerical drift, and fails as soon as two levels swap. (Very light blur, sigma 0.5, is not
# ranked: it scores within 4% of the sharp image, lower on camera.)
MIN_STEP = 1.05


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {name: getattr(data, name)() / 255.0 for name in PHOTOS}


def _channel_axis(image: np.ndarray) -> int | None:
    return -1 if image.ndim == 3 else None


def assert_rising(scores: list[float], what: str) -> None:
    ratios = np.array(scores[1:]) / np.array(scores[:-1])
    assert (ratios >= MIN_STEP).all(), f"{what}: {np.round(scores, 2)}"


@pytest.mark.parametrize("shape", [0.6, 1.0, 2.0, 4.0])
def test_moment_fits_recover_generalised_gaussian_parameters(shape: float) -> None:
    # 200 000 samples: over 20 seeds the estimates spread by at most 1.1% (standard deviation;
    # the left variance at the heavy-tailed shape 0.6) and erred by at most 3%; 5% holds them
    # with room and still fails for a wrong constant in the fits.
    samples = stats.gennorm.rvs(shape, size=200_000, random_state=1)
    variance = stats.gennorm.var(shape)
    fitted_shape, fitted_variance = _ggd_features(samples[None])[0]
    assert fitted_shape == pytest.approx(shape, rel=0.05)
    assert fitted_variance == pytest.approx(variance, rel=0.05)
    # An asymmetric GGD with its right scale twice the left: a side is drawn with probability
    # proportional to its scale, then a magnitude from the symmetric GGD times that scale.
    rng = np.random.default_rng(2)
    right_side = rng.random(samples.size) < 2 / 3
    skewed = np.where(right_side, 2.0, -1.0) * np.abs(samples)
    fitted_shape, mean, left, right = _aggd_features(skewed[None])[0]
    assert fitted_shape == pytest.approx(shape, rel=0.05)
    assert (left, right) == pytest.approx((variance, 4 * variance), rel=0.05)
    assert mean == pytest.approx(stats.gennorm.expect(np.abs, (shape,)), rel=0.05)


@pytest.mark.parametrize("name", PHOTOS)
def test_niqe_rises_with_gaussian_blur(photos: dict[str, np.ndarray], name: str) -> None:
    image = photos[name]
    scores = [
        niqe(filters.gaussian(image, sigma, channel_axis=_channel_axis(image)) if sigma else image)
        for sigma in BLUR_SIGMAS
    ]
    assert_rising(scores, f"{name} blur")


@pytest.mark.parametrize("name", PHOTOS)
def test_niqe_rises_with_gaussian_noise(photos: dict[str, np.ndarray], name: str) -> None:
    image = photos[name]
    rng = np.random.default_rng(0)
    scores = [
        niqe(np.clip(image + rng.normal(0, level / 255, image.shape), 0, 1))
        for level in NOISE_SIGMAS
    ]
    assert_rising(scores, f"{name} noise")


def test_node_scores_colour_on_luminance_and_ignores_alpha(photos: dict[str, np.ndarray]) -> None:
    colour = photos["astronaut"][:192, :192].astype(np.float32)
    table = create_node("niqe")(colour)
    assert set(table) == {"niqe"}
    assert table["niqe"] == pytest.approx(niqe(luminance(colour)), rel=1e-6)
    rgba = np.concatenate([colour, np.full((192, 192, 1), 0.3, np.float32)], axis=-1)
    assert create_node("niqe")(rgba)["niqe"] == pytest.approx(table["niqe"], rel=1e-6)


def test_constant_and_tiny_images_give_clear_errors() -> None:
    with pytest.raises(InputError, match=r"niqe\.image: image has no contrast"):
        create_node("niqe")(np.full((128, 128), 0.5, np.float32))
    with pytest.raises(InputError, match=r"niqe\.image: .*50x80, smaller than one 96x96"):
        create_node("niqe")(np.zeros((50, 80), np.float32))


def test_a_single_patch_and_partly_flat_images_have_finite_scores(
    photos: dict[str, np.ndarray],
) -> None:
    camera = photos["camera"]
    # One patch: its covariance is taken as zero, the distance stays defined.
    assert np.isfinite(niqe(camera[200:296, 200:296]))
    # Flat (clipped) patches carry no statistics and are skipped, not turned into NaN: the
    # score is that of the textured half, up to the seam the local windows cross (3%).
    half_flat = camera[:192, :192].copy()
    half_flat[:, :96] = 1.0
    assert niqe(half_flat) == pytest.approx(niqe(camera[:192, 96:192]), rel=0.1)


def test_shipped_model_records_its_provenance_and_is_a_valid_gaussian() -> None:
    model = shipped_model()
    assert model.patch_size == 96
    assert model.mean.shape == (2 * FEATURES_PER_SCALE,)
    assert np.all(np.linalg.eigvalsh(model.covariance) > 0)  # positive definite
    for image in ("chelsea", "rocket", "coins", "grass", "gravel", "brick"):
        assert image in model.provenance
    assert not any(photo in model.provenance for photo in PHOTOS)  # held out
