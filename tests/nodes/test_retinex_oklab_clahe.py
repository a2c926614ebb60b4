"""Retinex (MSRCR), Oklab conversions and adjustments, and CLAHE in several colour spaces.

Images are small crops of scikit-image's photographs (coffee, astronaut, camera), made dark
or low-contrast where a node should visibly undo that.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from scipy import ndimage
from skimage import color, data

from pixelwise.errors import InputError
from pixelwise.nodes import create_node
from pixelwise.nodes.color import rgb_to_oklab
from pixelwise.nodes.tone import gaussian_surround


@cache
def coffee_crop() -> np.ndarray:
    """A 96x96 RGB crop of the coffee cup (saucer, cup rim, table), float32 in [0, 1]."""
    return data.coffee()[150:246, 250:346].astype(np.float32) / 255


def dark(image: np.ndarray) -> np.ndarray:
    """``image`` underexposed: 0.35 × image^2.2 (the coffee crop's mean falls to 0.11)."""
    return (0.35 * image.astype(np.float64) ** 2.2).astype(np.float32)


def low_contrast(image: np.ndarray) -> np.ndarray:
    """``image`` squeezed into [0.3, 0.65]: washed out, every colour well inside the gamut."""
    return (0.3 + 0.35 * image).astype(np.float32)


def local_contrast(plane: np.ndarray, tile: int = 8) -> float:
    """Mean standard deviation over non-overlapping ``tile``-sided tiles of an HxW image."""
    rows, cols = (size // tile * tile for size in plane.shape)
    tiles = plane[:rows, :cols].reshape(rows // tile, tile, cols // tile, tile)
    return float(tiles.std(axis=(1, 3)).mean())


def hue_degrees(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hue angle (degrees) of opponent coordinates a, b (Lab or Oklab)."""
    return np.degrees(np.arctan2(b, a))


def angle_difference(first: np.ndarray, second: np.ndarray, turn: float = 360.0) -> np.ndarray:
    """Absolute circular difference of two angles in units where a full turn is ``turn``."""
    difference = np.abs(first - second) % turn
    return np.minimum(difference, turn - difference)


# --- Retinex ---------------------------------------------------------------------------------

# Retinex stretches each channel between its 1% and 99% quantiles (the default clip shares),
# so about 2% of each channel's pixels saturate; quantile ties may add a few more, and 0.5%
# covers them while failing a stretch that clips more than asked.
RETINEX_CLIP_SHARE = 0.02 + 0.005


def test_retinex_brightens_a_dark_colour_image_and_clips_only_the_stated_share() -> None:
    image = dark(coffee_crop())
    result = create_node("retinex")(image)
    assert result.shape == image.shape and result.dtype == np.float32
    # Dividing out the surround lifts the underexposed mean (0.11) to mid-grey (measured 0.51).
    assert image.mean() < 0.12
    assert result.mean() > 0.4
    for channel in range(3):
        saturated = np.mean((result[..., channel] <= 0) | (result[..., channel] >= 1))
        assert saturated <= RETINEX_CLIP_SHARE


def test_retinex_evens_illumination() -> None:
    """Light falling from 15% on the left to 100% on the right is largely divided out."""
    scene = data.camera()[100:196, 200:296].astype(np.float32) / 255
    light = np.linspace(0.15, 1.0, scene.shape[1], dtype=np.float32)[np.newaxis]
    result = create_node("retinex", sigmas=(8.0, 24.0, 64.0))(scene * light)
    left, right = (slice(None), slice(0, 24)), (slice(None), slice(-24, None))
    ratio_before = (scene * light)[left].mean() / (scene * light)[right].mean()
    ratio_after = result[left].mean() / result[right].mean()
    ratio_scene = scene[left].mean() / scene[right].mean()
    # The scene's own left/right ratio is 1.16; lit, it falls to 0.26. Retinex restores most
    # of it (measured 0.86): the light's share of the ratio is at least halved.
    assert ratio_before < 0.3
    assert abs(np.log(ratio_after / ratio_scene)) < 0.5 * abs(np.log(ratio_before / ratio_scene))


def test_retinex_colour_restoration_keeps_a_gray_image_gray() -> None:
    gray = dark(data.camera()[100:164, 200:264].astype(np.float32) / 255)
    as_rgb = create_node("retinex")(np.repeat(gray[..., np.newaxis], 3, axis=-1))
    # R = G = B gives the same colour restoration factor in every channel, so the colour
    # result is the gray result (multi-scale Retinex without colour restoration) three times.
    np.testing.assert_allclose(as_rgb, np.repeat(create_node("retinex")(gray)[..., None], 3, -1))
    assert create_node("retinex")(gray).mean() > 2 * gray.mean()


def test_retinex_handles_constant_tiny_and_alpha_images() -> None:
    flat = np.full((16, 16, 3), 0.3, np.float32)
    np.testing.assert_allclose(create_node("retinex")(flat), flat)
    np.testing.assert_array_equal(create_node("retinex")(np.zeros((2, 2), np.float32)), 0)
    tiny = np.random.default_rng(0).random((3, 3, 3)).astype(np.float32)
    assert np.isfinite(create_node("retinex")(tiny)).all()
    rgba = np.concatenate(
        [dark(coffee_crop())[:32, :32], np.full((32, 32, 1), 0.7, np.float32)], -1
    )
    np.testing.assert_array_equal(create_node("retinex")(rgba)[..., 3], rgba[..., 3])


def test_gaussian_surround_matches_a_direct_gaussian_filter() -> None:
    plane = np.random.default_rng(1).random((64, 64))
    expected = ndimage.gaussian_filter(plane, 3.0, mode="reflect", truncate=6.0)
    np.testing.assert_allclose(gaussian_surround(plane, 3.0), expected, atol=1e-4)


# --- Oklab -----------------------------------------------------------------------------------


def test_rgb_to_oklab_known_values_and_round_trip() -> None:
    # White is L = 1 with no chroma; sRGB red is (0.627955, 0.224863, 0.125846) in the CSS
    # Color 4 reference conversion.
    primaries = np.array([[[1, 1, 1], [1, 0, 0], [0, 0, 0]]], np.float32)
    expected = [[[1, 0, 0], [0.627955, 0.224863, 0.125846], [0, 0, 0]]]
    np.testing.assert_allclose(create_node("rgb_to_oklab")(primaries), expected, atol=2e-6)
    image = coffee_crop()
    back = create_node("oklab_to_rgb")(create_node("rgb_to_oklab")(image))
    np.testing.assert_allclose(back, image, atol=1e-5)


def test_oklab_chroma_zero_gives_gray_with_unchanged_lightness() -> None:
    image = low_contrast(coffee_crop())
    result = create_node("oklab_adjust", chroma=0.0)(image)
    assert np.ptp(result, axis=-1).max() < 1e-4  # R = G = B
    np.testing.assert_allclose(rgb_to_oklab(result)[..., 0], rgb_to_oklab(image)[..., 0], atol=1e-5)
    assert np.ptp(image, axis=-1).mean() > 0.05  # the input was coloured


def test_oklab_hue_rotation_by_a_full_turn_is_identity_and_half_turn_opposes() -> None:
    image = low_contrast(coffee_crop())
    np.testing.assert_allclose(create_node("oklab_adjust", hue=360.0)(image), image, atol=1e-5)
    np.testing.assert_allclose(create_node("oklab_adjust", hue=-360.0)(image), image, atol=1e-5)
    before = rgb_to_oklab(image)
    after = rgb_to_oklab(create_node("oklab_adjust", hue=180.0)(image))
    # The washed-out crop stays inside the sRGB gamut when its (a, b) are negated.
    np.testing.assert_allclose(after[..., 1:], -before[..., 1:], atol=1e-4)
    np.testing.assert_allclose(after[..., 0], before[..., 0], atol=1e-4)


def test_oklab_lightness_shift_and_chroma_scale_are_exact_inside_the_gamut() -> None:
    image = low_contrast(coffee_crop())
    before = rgb_to_oklab(image)
    lighter = create_node("oklab_adjust", lightness=0.1)(image)
    inside = (lighter > 0).all(-1) & (lighter < 1).all(-1)
    assert inside.mean() > 0.95
    after = rgb_to_oklab(lighter)
    np.testing.assert_allclose(after[..., 0][inside], before[..., 0][inside] + 0.1, atol=1e-4)
    np.testing.assert_allclose(after[..., 1:][inside], before[..., 1:][inside], atol=1e-4)
    richer = rgb_to_oklab(create_node("oklab_adjust", chroma=1.5)(image))
    np.testing.assert_allclose(richer[..., 1:], 1.5 * before[..., 1:], atol=1e-4)
    hue_change = angle_difference(
        hue_degrees(richer[..., 1], richer[..., 2]), hue_degrees(before[..., 1], before[..., 2])
    )
    chromatic = np.hypot(before[..., 1], before[..., 2]) > 0.01
    assert hue_change[chromatic].max() < 0.5


@pytest.mark.parametrize("name", ["oklab_adjust", "rgb_to_oklab", "oklab_to_rgb"])
def test_oklab_nodes_refuse_gray_input(name: str) -> None:
    with pytest.raises(InputError, match=rf"^{name}\.image: this node takes an RGB"):
        create_node(name)(np.zeros((8, 8), np.float32))


# --- CLAHE in other colour spaces ------------------------------------------------------------


def _space_hue(space: str, rgb: np.ndarray) -> np.ndarray:
    """The hue (degrees) that CLAHE in ``space`` keeps.

    Lab and Oklab keep their own (a, b) hue angle; HSV keeps its hue, and YCrCb keeps the
    colour differences R - Y and B - Y, so R, G and B move together and HSV hue is kept too.
    """
    if space == "lab":
        lab = color.rgb2lab(rgb)
        return hue_degrees(lab[..., 1], lab[..., 2])
    if space == "oklab":
        oklab = rgb_to_oklab(rgb)
        return hue_degrees(oklab[..., 1], oklab[..., 2])
    return color.rgb2hsv(rgb)[..., 0] * 360.0


@pytest.mark.parametrize("space", ["lab", "oklab", "hsv", "ycrcb"])
def test_clahe_in_each_space_raises_local_contrast_and_keeps_its_hue(space: str) -> None:
    image = low_contrast(coffee_crop())
    result = create_node("clahe", space=space)(image)
    # Equalising tiles of a washed-out image at least doubles local contrast in every space
    # (measured 2.6x for HSV value, 3.4-3.6x for the others).
    assert local_contrast(color.rgb2gray(result)) > 2.0 * local_contrast(color.rgb2gray(image))
    # Hue is only defined for coloured pixels, and is lost where the result clips to the gamut.
    coloured = color.rgb2hsv(image)[..., 1] > 0.1
    unclipped = (result > 1e-3).all(-1) & (result < 1 - 1e-3).all(-1)
    keep = coloured & unclipped
    assert keep.mean() > 0.3
    before, after = _space_hue(space, image), _space_hue(space, result)
    # Exact up to float32 rounding (measured at most 0.01 degree); a space mix-up moves hue by
    # several degrees.
    assert angle_difference(after, before)[keep].max() < 0.5


def test_clahe_space_does_not_change_gray_images() -> None:
    gray = low_contrast(data.camera()[100:164, 200:264].astype(np.float32) / 255)
    expected = create_node("clahe")(gray)
    for space in ("oklab", "hsv", "ycrcb"):
        np.testing.assert_array_equal(create_node("clahe", space=space)(gray), expected)
    flat = np.full((16, 16, 3), 0.4, np.float32)
    np.testing.assert_allclose(create_node("clahe", space="oklab")(flat), flat, atol=1e-6)
