"""Tone (CLAHE, histogram equalisation, gamma, auto levels) and colour-conversion nodes."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import color, exposure

from pixelwise.errors import ConfigError, InputError
from pixelwise.nodes import create_node


def low_contrast_colour(shape: tuple[int, int] = (48, 48)) -> np.ndarray:
    """An in-gamut RGB image with lightness texture in a narrow band and smoothly varying chroma."""
    rng = np.random.default_rng(1)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    lab = np.empty((*shape, 3))
    lab[..., 0] = 45 + 8 * np.sin(rows / 3.0) * np.cos(cols / 4.0) + rng.normal(0, 1, shape)
    lab[..., 1] = 15 * np.cos(cols / 20.0)
    lab[..., 2] = -12 + 10 * np.sin(rows / 15.0)
    return color.lab2rgb(lab).astype(np.float32)


def tile_std(image: np.ndarray, tile: int = 8) -> float:
    """Mean standard deviation over non-overlapping tiles: a measure of local contrast."""
    rows, cols = (size // tile * tile for size in image.shape[:2])
    tiles = image[:rows, :cols].reshape(rows // tile, tile, cols // tile, tile)
    return float(tiles.std(axis=(1, 3)).mean())


@pytest.mark.parametrize("name", ["clahe", "equalize_histogram"])
def test_lightness_equalisers_keep_hue_and_chroma_on_colour(name: str) -> None:
    image = low_contrast_colour()
    before, after = color.rgb2lab(image), color.rgb2lab(create_node(name)(image))
    # Near black and white the sRGB gamut shrinks to a point, so chroma there is clipped.
    inside = (after[..., 0] > 15) & (after[..., 0] < 85)
    assert inside.mean() > 0.5
    np.testing.assert_allclose(after[..., 1:][inside], before[..., 1:][inside], atol=1.5)
    assert tile_std(after[..., 0]) > 1.5 * tile_std(before[..., 0])


def test_clahe_raises_local_contrast_and_matches_skimage_on_gray() -> None:
    image = color.rgb2lab(low_contrast_colour())[..., 0].astype(np.float32) / 100
    result = create_node("clahe", clip_limit=0.02, kernel_size=16)(image)
    expected = exposure.equalize_adapthist(image, kernel_size=16, clip_limit=0.02)
    np.testing.assert_allclose(result, expected, atol=1e-6)
    assert tile_std(result) > 2 * tile_std(image)


def test_clahe_leaves_a_flat_image_unchanged() -> None:
    flat = np.full((16, 16), 0.3, np.float32)
    np.testing.assert_array_equal(create_node("clahe")(flat), flat)


def test_equalize_histogram_flattens_the_histogram() -> None:
    skewed = (np.random.default_rng(0).random((64, 64)) ** 3).astype(np.float32)
    # Values sharing a bin move together, so the bins must be fine for this skewed data.
    result = create_node("equalize_histogram", nbins=4096)(skewed)
    counts_before = np.histogram(skewed, bins=8, range=(0, 1))[0]
    counts_after = np.histogram(result, bins=8, range=(0, 1))[0]
    uniform = skewed.size / 8
    assert np.abs(counts_before - uniform).max() > uniform
    assert np.abs(counts_after - uniform).max() < 0.1 * uniform
    np.testing.assert_allclose(result, exposure.equalize_hist(skewed, nbins=4096), atol=1e-6)


def test_gamma_is_the_exact_power_law_and_monotonic() -> None:
    ramp = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    result = create_node("gamma", gamma=2.2, gain=0.9)(ramp)
    np.testing.assert_allclose(result, 0.9 * ramp.astype(np.float64) ** 2.2, rtol=1e-5, atol=1e-7)
    assert np.all(np.diff(result.ravel()) > 0)
    assert np.all(create_node("gamma", gamma=0.5)(ramp) >= ramp)


def test_gamma_clips_negatives_and_keeps_alpha() -> None:
    rgba = np.full((4, 4, 4), 0.25, np.float32)
    rgba[0, 0, 0] = -0.1
    result = create_node("gamma", gamma=2.0)(rgba)
    assert result[0, 0, 0] == 0
    np.testing.assert_allclose(result[1:, 1:, :3], 0.0625)
    np.testing.assert_array_equal(result[..., 3], rgba[..., 3])


def test_auto_levels_maps_percentiles_to_black_and_white() -> None:
    values = np.linspace(0.2, 0.6, 1000).reshape(25, 40)
    black, white = np.percentile(values, [10, 90])
    result = create_node("auto_levels", low_percentile=10, high_percentile=90)(values)
    np.testing.assert_allclose(result, np.clip((values - black) / (white - black), 0, 1), atol=1e-6)
    assert np.mean(result == 0) == pytest.approx(0.1, abs=0.002)
    assert np.mean(result == 1) == pytest.approx(0.1, abs=0.002)


def test_auto_levels_uses_one_black_and_white_point_for_all_channels() -> None:
    red = np.linspace(0.1, 0.5, 100).reshape(10, 10)
    rgb = np.stack([red, red / 2, red / 4], axis=-1)
    result = create_node("auto_levels", low_percentile=0, high_percentile=100)(rgb)
    black, white = rgb.min(), rgb.max()
    np.testing.assert_allclose(result, (rgb - black) / (white - black), atol=1e-6)


def test_auto_levels_clips_a_flat_image_and_rejects_crossed_percentiles() -> None:
    flat = np.full((8, 8), 1.5, np.float32)
    np.testing.assert_array_equal(create_node("auto_levels")(flat), np.ones((8, 8)))
    with pytest.raises(ConfigError, match="low_percentile must be below high_percentile"):
        create_node("auto_levels", low_percentile=60, high_percentile=40)


def test_rgb_hsv_round_trip_and_known_colours() -> None:
    rgb = np.random.default_rng(2).random((12, 12, 3)).astype(np.float32)
    hsv = create_node("rgb_to_hsv")(rgb)
    np.testing.assert_allclose(create_node("hsv_to_rgb")(hsv), rgb, atol=1e-6)
    primaries = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0.5]]], np.float32)
    expected = [[[0, 1, 1], [1 / 3, 1, 1], [2 / 3, 1, 1], [0, 0, 0.5]]]
    np.testing.assert_allclose(create_node("rgb_to_hsv")(primaries), expected, atol=1e-6)


def test_hsv_to_rgb_wraps_hue() -> None:
    hsv = np.array([[[0.25, 0.8, 0.6]]], np.float32)
    turned = hsv + np.array([1.0, 0.0, 0.0], np.float32)
    node = create_node("hsv_to_rgb")
    np.testing.assert_allclose(node(turned), node(hsv), atol=1e-6)


def test_rgb_to_gray_uses_rec709_weights() -> None:
    primaries = np.eye(3, dtype=np.float32)[np.newaxis]
    np.testing.assert_allclose(
        create_node("rgb_to_gray")(primaries), [[0.2125, 0.7154, 0.0721]], atol=1e-6
    )


def test_gray_to_rgb_repeats_the_image() -> None:
    gray = np.random.default_rng(3).random((5, 6)).astype(np.float32)
    rgb = create_node("gray_to_rgb")(gray)
    assert rgb.shape == (5, 6, 3)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], gray)


@pytest.mark.parametrize(("name", "shape"), [("rgb_to_gray", (4, 4)), ("gray_to_rgb", (4, 4, 3))])
def test_colour_conversions_reject_the_wrong_channel_count(
    name: str, shape: tuple[int, ...]
) -> None:
    with pytest.raises(InputError, match=rf"^{name}\.image: "):
        create_node(name)(np.zeros(shape, np.float32))
