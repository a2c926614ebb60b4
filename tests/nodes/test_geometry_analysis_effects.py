"""Geometry, analysis (table-producing) and effect nodes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage import feature, metrics, transform

from pixelwise.errors import ConfigError, InputError
from pixelwise.nodes import create_node


def random_image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def checkerboard(size: int = 16) -> np.ndarray:
    rows, cols = np.indices((size, size))
    return ((rows + cols) % 2).astype(np.float32)


def lag_one_correlation(field: np.ndarray) -> float:
    """Correlation between horizontally neighbouring values of an HxW field."""
    return float(np.corrcoef(field[:, :-1].ravel(), field[:, 1:].ravel())[0, 1])


# --- geometry ----------------------------------------------------------------------------


def test_resize_by_scale_keeps_channels_and_matches_skimage() -> None:
    image = random_image((20, 30, 3))
    result = create_node("resize", scale=0.5)(image)
    assert result.shape == (10, 15, 3)
    expected = transform.resize(image, (10, 15, 3), order=1, anti_aliasing=True)
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_resize_to_one_side_keeps_the_aspect_ratio() -> None:
    image = random_image((20, 30))
    assert create_node("resize", height=10)(image).shape == (10, 15)
    assert create_node("resize", width=45)(image).shape == (30, 45)
    assert create_node("resize", height=7, width=9)(image).shape == (7, 9)


def test_resize_stays_within_the_input_range() -> None:
    image = 0.2 + 0.6 * checkerboard(8)
    result = create_node("resize", scale=3.3, order=3)(image)
    assert result.shape == (26, 26)
    assert result.min() >= 0.2 - 1e-6
    assert result.max() <= 0.8 + 1e-6


def test_resize_rejects_scale_together_with_size() -> None:
    with pytest.raises(ConfigError, match="either scale or height/width"):
        create_node("resize", scale=2.0, height=10)


def test_crop_cuts_the_given_rectangle() -> None:
    image = random_image((10, 12, 3))
    result = create_node("crop", top=2, left=3, height=4, width=5)(image)
    np.testing.assert_array_equal(result, image[2:6, 3:8])
    np.testing.assert_array_equal(create_node("crop", top=7)(image), image[7:])


@pytest.mark.parametrize(
    "params", [{"top": 10}, {"top": 8, "height": 3}, {"left": 2, "width": 11}, {"left": 12}]
)
def test_crop_outside_the_image_is_an_input_error(params: dict[str, int]) -> None:
    with pytest.raises(InputError, match=r"^crop\.image: .*outside the 10x12 image"):
        create_node("crop", **params)(random_image((10, 12)))


def test_crop_returns_a_copy() -> None:
    image = random_image((6, 6))
    result = create_node("crop", height=3)(image)
    assert not np.shares_memory(result, image)


def test_flip_mirrors_the_chosen_axis() -> None:
    image = random_image((5, 7, 3))
    np.testing.assert_array_equal(create_node("flip")(image), image[:, ::-1])
    np.testing.assert_array_equal(create_node("flip", direction="vertical")(image), image[::-1])


def test_rotate90_turns_counter_clockwise_by_quarter_turns() -> None:
    image = random_image((4, 6, 3))
    rotated = create_node("rotate90")(image)
    assert rotated.shape == (6, 4, 3)
    np.testing.assert_array_equal(rotated[0, 0], image[0, -1])
    np.testing.assert_array_equal(create_node("rotate90", k=-1)(image), np.rot90(image, 3))
    np.testing.assert_array_equal(create_node("rotate90", k=4)(image), image)


# --- analysis ----------------------------------------------------------------------------


def test_noise_level_recovers_a_known_sigma() -> None:
    rng = np.random.default_rng(4)
    noisy = 0.5 + rng.normal(0, 0.05, (128, 128))
    assert create_node("noise_level")(noisy)["sigma"] == pytest.approx(0.05, rel=0.15)


def test_noise_level_averages_the_channel_sigmas() -> None:
    rng = np.random.default_rng(5)
    sigmas = np.array([0.02, 0.04, 0.06])
    noisy = 0.5 + rng.normal(0, 1, (128, 128, 3)) * sigmas
    assert create_node("noise_level")(noisy)["sigma"] == pytest.approx(0.04, rel=0.15)


def test_noise_level_of_noiseless_images_is_zero() -> None:
    # A flat image has no non-zero wavelet detail at all (skimage would return NaN).
    assert create_node("noise_level")(np.full((32, 32, 3), 0.3)) == {"sigma": 0.0}
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))
    assert create_node("noise_level")(ramp)["sigma"] < 1e-6


def test_sharpness_of_an_impulse_and_of_blurred_detail() -> None:
    impulse = np.zeros((9, 9), np.float32)
    impulse[4, 4] = 1
    # Laplacian: -4 at the impulse, 1 at its four neighbours, mean 0 -> variance 20/81.
    table = create_node("sharpness")(impulse)
    assert table["laplacian_variance"] == pytest.approx(20 / 81, rel=1e-6)

    sharp = random_image((32, 32, 3))
    blurred = ndimage.gaussian_filter(sharp, sigma=(1.5, 1.5, 0))
    sharp_table = create_node("sharpness")(sharp)
    blurred_table = create_node("sharpness")(blurred)
    assert sharp_table["laplacian_variance"] > 5 * blurred_table["laplacian_variance"]
    assert sharp_table["gradient_magnitude"] > 2 * blurred_table["gradient_magnitude"]


def test_glcm_of_a_checkerboard_has_known_values() -> None:
    table = create_node("glcm_features", levels=2, angles=(0.0, 90.0))(checkerboard())
    # Every horizontal and vertical neighbour pair is (0, 1) or (1, 0).
    expected = {
        "contrast": 1.0,
        "dissimilarity": 1.0,
        "homogeneity": 0.5,
        "energy": np.sqrt(0.5),
        "correlation": -1.0,
        "asm": 0.5,
    }
    assert table == pytest.approx(expected, abs=1e-9)


def test_glcm_contrast_is_higher_on_a_checkerboard_than_flat() -> None:
    node = create_node("glcm_features")
    flat = node(np.full((16, 16), 0.4, np.float32))
    assert flat["contrast"] == 0
    assert flat["energy"] == pytest.approx(1.0)
    assert node(checkerboard())["contrast"] > 100


def test_glcm_matches_graycoprops_averaged_over_offsets() -> None:
    image = random_image((24, 24))
    distances, angles = (1, 3), (0.0, 45.0, 90.0)
    table = create_node("glcm_features", distances=distances, angles=angles, levels=8)(image)
    quantised = np.minimum(image * 8, 7).astype(np.uint8)
    matrix = feature.graycomatrix(
        quantised, distances, np.deg2rad(angles), levels=8, symmetric=True, normed=True
    )
    for prop in ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM"):
        expected = feature.graycoprops(matrix, prop).mean()
        assert table[prop.lower()] == pytest.approx(expected, rel=1e-9)


def test_glcm_rejects_repeated_offsets() -> None:
    with pytest.raises(ConfigError, match="distances"):
        create_node("glcm_features", distances=(1, 1))


@pytest.mark.parametrize("shape", [(24, 24), (24, 24, 3)])
def test_psnr_and_ssim_match_skimage(shape: tuple[int, ...]) -> None:
    reference = random_image(shape, seed=6)
    image = np.clip(reference + np.random.default_rng(7).normal(0, 0.05, shape), 0, 1)
    image = image.astype(np.float32)
    psnr = create_node("psnr")(image, reference)["psnr"]
    ssim = create_node("ssim")(image=image, reference=reference)["ssim"]
    channel_axis = -1 if len(shape) == 3 else None
    assert psnr == pytest.approx(
        metrics.peak_signal_noise_ratio(reference, image, data_range=1), rel=1e-6
    )
    assert ssim == pytest.approx(
        metrics.structural_similarity(reference, image, data_range=1, channel_axis=channel_axis),
        rel=1e-6,
    )
    assert 20 < psnr < 32
    assert 0 < ssim < 1


def test_identical_images_give_infinite_psnr_and_unit_ssim() -> None:
    image = random_image((16, 16))
    assert create_node("psnr")(image, image) == {"psnr": float("inf")}
    assert create_node("ssim")(image, image)["ssim"] == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["psnr", "ssim"])
def test_metrics_reject_mismatched_shapes(name: str) -> None:
    with pytest.raises(InputError, match=rf"^{name}\.reference: shape \(16, 17\) does not match"):
        create_node(name)(random_image((16, 16)), random_image((16, 17)))


def test_ssim_rejects_an_image_smaller_than_its_window() -> None:
    with pytest.raises(InputError, match="smaller than the 7x7 SSIM window"):
        create_node("ssim")(random_image((5, 30)), random_image((5, 30)))


# --- effects -----------------------------------------------------------------------------


def test_film_grain_is_reproducible_per_seed() -> None:
    image = np.full((32, 32), 0.5, np.float32)
    first = create_node("film_grain", seed=3)(image)
    np.testing.assert_array_equal(first, create_node("film_grain", seed=3)(image))
    assert not np.allclose(first, create_node("film_grain", seed=4)(image))


def test_film_grain_has_the_requested_strength_in_mid_gray() -> None:
    image = np.full((64, 64), 0.5, np.float32)
    grain = create_node("film_grain", intensity=0.05)(image) - image
    assert grain.std() == pytest.approx(0.05, rel=1e-3)
    assert abs(grain.mean()) < 1e-6


def test_film_grain_is_strongest_in_mid_tones() -> None:
    image = np.empty((64, 96), np.float32)
    image[:, :32], image[:, 32:64], image[:, 64:] = 0.03, 0.5, 0.97
    grain = create_node("film_grain", intensity=0.05)(image) - image
    dark, mid, light = (grain[:, cols].std() for cols in np.split(np.arange(96), 3))
    assert mid > 4 * dark
    assert mid > 4 * light


def test_film_grain_size_sets_spatial_correlation() -> None:
    image = np.full((64, 64), 0.5, np.float32)
    fine, coarse = (
        lag_one_correlation(create_node("film_grain", grain_size=size)(image) - image)
        for size in (0.0, 2.0)
    )
    assert abs(fine) < 0.1
    assert coarse > 0.8


def test_film_grain_is_monochrome_on_colour_and_clipped() -> None:
    image = np.stack([np.full((32, 32), level, np.float32) for level in (0.4, 0.5, 0.6)], -1)
    grain = create_node("film_grain", intensity=0.05)(image) - image
    np.testing.assert_allclose(grain[..., 0], grain[..., 1], atol=1e-6)
    np.testing.assert_allclose(grain[..., 0], grain[..., 2], atol=1e-6)
    strong = create_node("film_grain", intensity=1.0)(image)
    assert strong.min() == 0
    assert strong.max() == 1


def test_vignette_darkens_corners_not_centre() -> None:
    ones = np.ones((33, 41, 3), np.float32)
    result = create_node("vignette", strength=0.6, radius=0.4)(ones)
    np.testing.assert_allclose(result[16, 20], 1.0)
    np.testing.assert_allclose(result[[0, 0, -1, -1], [0, -1, 0, -1]], 0.4, atol=1e-6)
    diagonal = result[np.arange(16, 33), np.linspace(20, 40, 17).astype(int), 0]
    assert np.all(np.diff(diagonal) <= 1e-7)
    assert diagonal[-1] < diagonal[0]


def test_vignette_keeps_the_inside_of_its_radius() -> None:
    image = random_image((31, 31))
    result = create_node("vignette", strength=1.0, radius=0.5)(image)
    np.testing.assert_array_equal(result[12:19, 12:19], image[12:19, 12:19])


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("normal", [[0.8, 0.5, 0.0]]),
        ("multiply", [[0.16, 0.35, 0.0]]),
        ("screen", [[0.84, 0.85, 0.9]]),
        # base < 0.5: 2 * base * other; else 1 - 2 * (1 - base) * (1 - other).
        ("overlay", [[0.32, 0.7, 0.8]]),
    ],
)
def test_blend_modes_follow_their_formulas(mode: str, expected: list[list[float]]) -> None:
    base = np.array([[0.2, 0.7, 0.9]], np.float32)
    other = np.array([[0.8, 0.5, 0.0]], np.float32)
    np.testing.assert_allclose(create_node("blend", mode=mode)(base, other), expected, atol=1e-6)
    half = create_node("blend", mode=mode, opacity=0.25)(base, other)
    np.testing.assert_allclose(half, 0.75 * base + 0.25 * np.array(expected), atol=1e-6)


def test_blend_rejects_mismatched_shapes() -> None:
    with pytest.raises(InputError, match=r"^blend\.other: shape \(4, 4, 3\) does not match"):
        create_node("blend")(np.zeros((4, 4)), np.zeros((4, 4, 3)))


def test_add_gaussian_noise_is_seeded_and_unclipped() -> None:
    image = np.full((64, 64), 0.95, np.float32)
    node = create_node("add_gaussian_noise", sigma=0.1, seed=1)
    noisy = node(image)
    np.testing.assert_array_equal(noisy, node(image))
    assert not np.allclose(noisy, create_node("add_gaussian_noise", sigma=0.1, seed=2)(image))
    assert (noisy - image).std() == pytest.approx(0.1, rel=0.05)
    assert noisy.max() > 1.1
