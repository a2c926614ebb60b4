"""Tests of the denoising nodes: PSNR gains at sigma 25/255, validation, inputs.

Parity of the torch BM3D with the reference ``bm3d`` package is in test_bm3d_torch.py.

Noisy images are clean 96x96 crops (cameraman's face, astronaut's face: edges, hair texture and
flat skin) plus unclipped Gaussian noise of standard deviation 25/255 from a seeded generator.
"""

from __future__ import annotations

from functools import cache
from typing import get_args

import numpy as np
import pytest
from image_measures import psnr
from skimage import data, restoration

from pixelwise.errors import ConfigError, InputError
from pixelwise.nodes import create_node, node_classes
from pixelwise.nodes.compare import DenoiserName
from pixelwise.nodes.denoise import perona_malik

NOISE_SIGMA = 25 / 255

#: Every denoise node; the comparison node offers exactly these (checked below).
DENOISERS = list(get_args(DenoiserName))

# Least PSNR gain (dB) of each node with default parameters over its noisy input, on the gray
# camera crop and on the RGB astronaut crop (None: not tested). Each is the gain measured with
# this seed less 0.5 dB, a margin above the spread over noise seeds (at most 0.3 dB), yet
# below what weaker defaults or a wrong library call give. Measured (gray, RGB) gains follow.
MIN_GAIN_DB: dict[str, tuple[float | None, float | None]] = {
    # Linear smoothing: removes noise but blurs edges as much (+5.8, +6.4).
    "gaussian": (5.3, 5.9),
    # Rank filter, made for impulse noise, weakest on Gaussian noise (+5.3, +5.0).
    "median": (4.8, 4.5),
    # Edge-preserving weights; RGB filtered jointly by colour distance (+6.6, +7.0).
    "bilateral": (6.0, 6.5),
    # Patch similarity averages many more samples than local filters (+7.3, +7.2).
    "nl_means": (6.8, 6.7),
    # Total variation: piecewise-constant regions with sharp edges (+7.2, +6.3).
    "tv_chambolle": (6.7, 5.8),
    # The same model solved by split Bregman, a slightly weaker default (+6.8, +6.2).
    "tv_bregman": (6.3, 5.7),
    # BayesShrink with cycle spinning; YCbCr decorrelation helps colour (+6.9, +8.0).
    "wavelet": (6.4, 7.5),
    # Perona–Malik, quadratic conduction, 8 steps (+7.4, +6.5).
    "anisotropic_diffusion": (6.9, 6.0),
    # Collaborative filtering, the strongest classical denoiser (+8.4). On RGB it runs channel
    # by channel (+7.4): three slow bm3d calls, left out since bm3d_color covers colour.
    "bm3d": (7.9, None),
    # Decorrelates colour before BM3D, well above per-channel BM3D (gray is refused; +9.5).
    "bm3d_color": (None, 9.0),
    # TV weight chosen by J-invariant self-supervision, no clean reference (+7.2, +6.4).
    "noise2self": (6.7, 5.9),
}


def _add_noise(clean: np.ndarray, seed: int = 0) -> np.ndarray:
    """``clean`` plus unclipped N(0, NOISE_SIGMA²) noise, float32."""
    noise = np.random.default_rng(seed).normal(0.0, NOISE_SIGMA, clean.shape)
    return (clean + noise).astype(np.float32)


@cache
def _clean(colour: bool) -> np.ndarray:
    """96x96 float32 crop of the cameraman (HxW) or the astronaut (HxWx3) in [0, 1]."""
    if colour:
        return data.astronaut()[30:126, 180:276].astype(np.float32) / 255
    return data.camera()[100:196, 200:296].astype(np.float32) / 255


@cache
def _noisy(colour: bool) -> np.ndarray:
    return _add_noise(_clean(colour))


@cache
def _denoised(name: str, colour: bool) -> np.ndarray:
    """Output of node ``name`` with default parameters on the noisy crop (computed once)."""
    return create_node(name)(_noisy(colour))


def _gain(name: str, colour: bool) -> float:
    clean = _clean(colour)
    return psnr(clean, _denoised(name, colour)) - psnr(clean, _noisy(colour))


def test_all_denoisers_are_registered() -> None:
    registered = {name for name, cls in node_classes().items() if cls.category == "denoise"}
    assert registered == set(DENOISERS) == set(MIN_GAIN_DB)


@pytest.mark.parametrize("name", [name for name in DENOISERS if MIN_GAIN_DB[name][0] is not None])
def test_psnr_gain_on_gray_image(name: str) -> None:
    denoised = _denoised(name, colour=False)
    assert denoised.shape == _clean(False).shape
    assert denoised.dtype == np.float32
    assert _gain(name, colour=False) > MIN_GAIN_DB[name][0]


@pytest.mark.parametrize("name", [name for name in DENOISERS if MIN_GAIN_DB[name][1] is not None])
def test_psnr_gain_on_rgb_image(name: str) -> None:
    denoised = _denoised(name, colour=True)
    assert denoised.shape == _clean(True).shape
    assert _gain(name, colour=True) > MIN_GAIN_DB[name][1]


def test_noise2self_is_close_to_the_oracle_tv_weight() -> None:
    """Self-supervised calibration lands within 0.5 dB of the best TV weight chosen with the
    clean image (measured: 0.03 dB below it)."""
    clean, noisy = _clean(False), _noisy(False)
    oracle = max(
        psnr(clean, restoration.denoise_tv_chambolle(noisy, weight=weight))
        for weight in np.geomspace(0.01, 0.5, 15)
    )
    assert psnr(clean, _denoised("noise2self", False)) > oracle - 0.5


def test_bilateral_joint_colour_matches_gray_on_equal_channels() -> None:
    """sigma_color is per channel: three equal channels filter exactly like one gray image."""
    noisy = _noisy(False)
    node = create_node("bilateral")
    rgb = node(np.dstack([noisy] * 3))
    for channel in range(3):
        np.testing.assert_allclose(rgb[..., channel], node(noisy), atol=1e-5)


def test_perona_malik_keeps_strong_edges_and_mean() -> None:
    step = np.full((32, 32), 0.2, np.float32)
    step[:, 16:] = 0.8
    diffused = perona_malik(step, iterations=50, kappa=0.1, step=0.25, conduction="exponential")
    assert np.abs(diffused - step).max() < 1e-3  # the 0.6 jump is far above kappa: no flux
    blurred = create_node("gaussian", sigma=1.0)(step)
    assert np.abs(blurred - step).max() > 0.1

    noisy = _noisy(False)
    for conduction in ("exponential", "quadratic"):
        smoothed = perona_malik(noisy, iterations=20, kappa=0.2, step=0.2, conduction=conduction)
        assert smoothed.std() < noisy.std()
        assert smoothed.mean() == pytest.approx(noisy.mean(), abs=1e-5)  # no flux at the border


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("gaussian", {"sigma": 0.0}, "sigma"),
        ("gaussian", {"radius": 2}, "radius"),  # unknown parameter
        ("median", {"radius": 0}, "radius"),
        ("bilateral", {"sigma_color": -0.1}, "sigma_color"),
        ("nl_means", {"patch_size": 2}, "patch_size"),
        ("nl_means", {"h": 0.0}, "h"),
        ("tv_chambolle", {"weight": 0.0}, "weight"),
        ("tv_bregman", {"max_num_iter": 0}, "max_num_iter"),
        ("wavelet", {"wavelet": "db99"}, "wavelet"),
        ("wavelet", {"method": "SureShrink"}, "method"),
        ("wavelet", {"max_shifts": 9}, "max_shifts"),
        ("anisotropic_diffusion", {"step": 0.3}, "step"),
        ("anisotropic_diffusion", {"conduction": "linear"}, "conduction"),
        ("bm3d", {"sigma": -0.1}, "sigma"),
        ("bm3d", {"device": "tpu"}, "device"),
        ("bm3d", {"stage": "wiener"}, "stage"),
        ("bm3d_color", {"colorspace": "lab"}, "colorspace"),
        ("noise2self", {"grid_size": 1}, "grid_size"),
        ("noise2self", {"base": "bm3d"}, "base"),
    ],
)
def test_invalid_parameters_raise_config_error(name: str, params: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"node '{name}': {field}"):
        create_node(name, **params)


def test_bm3d_color_refuses_gray_image() -> None:
    with pytest.raises(InputError, match=r"bm3d_color\.image: this node takes an RGB"):
        create_node("bm3d_color")(_noisy(False))


def test_bm3d_color_keeps_noise_free_gray_stored_as_rgb() -> None:
    """Constant chroma channels are no problem (the reference package divided by their range):
    a clean grey image stored as RGB stays grey. Told of noise it lacks, BM3D smooths fine
    texture (measured: mean change 0.014, the bound 0.02)."""
    grey = np.dstack([_clean(False)] * 3)
    denoised = create_node("bm3d_color", sigma=NOISE_SIGMA)(grey)
    assert np.abs(denoised - grey).mean() < 0.02
    assert np.abs(denoised[..., 0] - denoised[..., 2]).max() < 1e-4


@pytest.mark.parametrize("name", ["bm3d", "bm3d_color"])
def test_bm3d_refuses_images_smaller_than_its_blocks(name: str) -> None:
    tiny = _noisy(True)[:7, :7]
    with pytest.raises(InputError, match="needs both sides at least 8 pixels"):
        create_node(name)(tiny)


def test_wavelet_leaves_noise_free_flat_image_unchanged() -> None:
    flat = np.full((32, 32), 0.5, np.float32)
    np.testing.assert_array_equal(create_node("wavelet")(flat), flat)


def _layouts(image: np.ndarray) -> dict[str, np.ndarray]:
    """A uint8 HxW ``image`` in the dtypes and memory layouts the node edge must canonicalise;
    "all_at_once" is a Fortran-ordered, negatively strided channel slice."""
    channel_slice = np.stack([image, np.zeros_like(image)], axis=-1)[..., 0]
    return {
        "uint8": image,
        "float64": image.astype(np.float64) / 255,
        "fortran": np.asfortranarray(image),
        "negative_strides": image[::-1, ::-1].copy()[::-1, ::-1],
        "channel_slice": channel_slice,
        "all_at_once": np.asfortranarray(channel_slice[::-1, ::-1])[::-1, ::-1],
    }


# bm3d sees one combined layout only (it is the slowest); bm3d_color converts its input exactly
# like bm3d and every other node, and is left out.
LAYOUT_NODES = {
    name: ["all_at_once"] if name == "bm3d" else list(_layouts(np.zeros((2, 2), np.uint8)))
    for name in DENOISERS
    if name != "bm3d_color"
}


@pytest.mark.parametrize("name", LAYOUT_NODES)
def test_input_layouts_give_the_canonical_output(name: str) -> None:
    """uint8, float64, Fortran, negatively strided and channel-sliced inputs give the output of
    the canonical C-contiguous float32 image."""
    quantised = np.clip(np.round(_noisy(False)[:48, :48] * 255), 0, 255).astype(np.uint8)
    node = create_node(name)
    expected = node(quantised.astype(np.float32) / 255)
    layouts = _layouts(quantised)
    for layout in LAYOUT_NODES[name]:
        image = layouts[layout]
        if layout not in ("uint8", "float64"):
            assert not image.flags.c_contiguous, layout
        np.testing.assert_allclose(node(image), expected, atol=1e-6, err_msg=layout)
