"""Thin-lens CoC and the layered renderer: optics, properties, and a scatter reference; the
bounds of the depth BokehNet feeds it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pixelwise.apps.bokeh.lens import Camera, coc_px, signed_coc_px
from pixelwise.apps.bokeh.network import BokehNetConfig, convex_upsample
from pixelwise.apps.bokeh.render import (
    RenderSettings,
    blur_discs,
    compress_highlights,
    disc_kernels,
    expand_highlights,
    linear_to_srgb,
    render_bokeh,
    srgb_to_linear,
)
from pixelwise.errors import ConfigError, InputError
from pixelwise.models import build_model

#: A 3.6 mm wide sensor: the small test images blur as much as ten times wider full-frame ones.
CAMERA = {"focal_length_mm": 50.0, "focus_m": 2.0, "sensor_width_mm": 3.6}


def _texture(height: int, width: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, height, width, generator=generator, dtype=torch.float64)


def test_coc_matches_the_thin_lens_formula_and_is_zero_at_focus() -> None:
    depth = torch.tensor([2.0, 4.0, 1.0, 1e6], dtype=torch.float64).reshape(1, 1, 1, 4)
    coc = signed_coc_px(depth, f_number=2.0, focal_length_mm=50.0, focus_m=2.0, max_depth_m=100.0)
    f, s, n = 50.0, 2000.0, 2.0
    clamped = torch.tensor([2000.0, 4000.0, 1000.0, 100_000.0], dtype=torch.float64)
    expected_mm = f**2 * (clamped - s) / (n * clamped * (s - f))
    assert torch.allclose(coc.flatten(), expected_mm * 4 / 36.0)
    assert coc.flatten()[0] == 0
    assert coc.flatten()[2] < 0 < coc.flatten()[1]


def test_coc_gradients_are_finite_and_exact_for_learnable_focal_length() -> None:
    depth = torch.tensor([0.01, 0.5, 2.0, 3.0, 5e4], dtype=torch.float64).reshape(1, 1, 1, 5)
    depth.requires_grad_(True)
    focal = torch.tensor([50.0], dtype=torch.float64, requires_grad=True)
    focus = torch.tensor([2.5], dtype=torch.float64, requires_grad=True)
    number = torch.tensor([1.8], dtype=torch.float64, requires_grad=True)

    def function(
        d: torch.Tensor, f: torch.Tensor, s: torch.Tensor, n: torch.Tensor
    ) -> torch.Tensor:
        return signed_coc_px(d, f_number=n, focal_length_mm=f, focus_m=s, max_depth_m=1e3)

    assert torch.autograd.gradcheck(function, (depth, focal, focus, number))
    coc_px(depth, f_number=number, focal_length_mm=focal, focus_m=focus).sum().backward()
    for tensor in (depth, focal, focus, number):
        assert tensor.grad is not None and bool(torch.isfinite(tensor.grad).all())


def test_bad_camera_settings_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="greater than the focal length"):
        Camera(f_number=2.0, focal_length_mm=50, focus_m=0.05)
    depth = torch.ones(1, 1, 4, 4)
    with pytest.raises(ConfigError, match="f-number must be > 0"):
        render_bokeh(torch.rand(1, 3, 4, 4), depth, f_number=0.0, **CAMERA)
    with pytest.raises(InputError, match="does not match"):
        render_bokeh(torch.rand(1, 3, 4, 5), depth, f_number=2.0, **CAMERA)
    with pytest.raises(InputError, match="RGB"):
        render_bokeh(torch.rand(1, 1, 4, 4), depth, f_number=2.0, **CAMERA)
    with pytest.raises(InputError, match="finite and > 0"):
        render_bokeh(torch.rand(1, 3, 4, 4), -depth, f_number=2.0, **CAMERA)


def test_srgb_and_highlight_curves_invert_exactly() -> None:
    values = torch.linspace(0, 1, 1001, dtype=torch.float64)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(values)), values, atol=1e-12)
    settings = RenderSettings(highlight_gain=8.0, highlight_threshold=0.7)
    expanded = expand_highlights(values, settings)
    assert float(expanded[-1]) == pytest.approx(8.0)
    assert torch.allclose(compress_highlights(expanded, settings), values, atol=1e-12)


@pytest.mark.parametrize("f_number", [1.2, 4.0, 22.0])
@pytest.mark.parametrize("gain", [1.0, 6.0])
def test_a_constant_image_stays_constant(f_number: float, gain: float) -> None:
    depth = 0.5 + 9 * _texture(40, 56, seed=1)[:, :1]
    image = torch.full((1, 3, 40, 56), 0.37, dtype=torch.float64)
    settings = RenderSettings(highlight_gain=gain, max_layers=24)
    out = render_bokeh(image, depth, f_number=f_number, settings=settings, **CAMERA)
    assert float((out - image).abs().max()) < 1e-5


def test_all_depth_at_focus_returns_the_input() -> None:
    image = _texture(32, 40)
    out = render_bokeh(
        image, torch.full((1, 1, 32, 40), 2.0, dtype=torch.float64), f_number=1.4, **CAMERA
    )
    assert float((out - image).abs().max()) < 1e-5


def test_blur_grows_monotonically_with_aperture() -> None:
    image = _texture(48, 48)
    depth = torch.full((1, 1, 48, 48), 6.0, dtype=torch.float64)
    variation = []
    for f_number in (22.0, 11.0, 5.6, 2.8, 1.4):
        out = render_bokeh(image, depth, f_number=f_number, **CAMERA)
        variation.append(float((out[..., 1:] - out[..., :-1]).abs().mean()))
    assert all(a > b for a, b in itertools.pairwise(variation)), variation


def _occlusion_scene(size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A red square (in focus at 2 m) in front of a textured red-free background at 20 m."""
    image = _texture(size, size, seed=3)
    image[:, 0] = 0.0
    depth = torch.full((1, 1, size, size), 20.0, dtype=torch.float64)
    square = torch.zeros(size, size, dtype=torch.bool)
    square[24:40, 24:40] = True
    image[:, :, square] = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)[:, None]
    depth[:, :, square] = 2.0
    return image, depth, square


def test_a_sharp_foreground_does_not_bleed_into_the_blurred_background() -> None:
    image, depth, square = _occlusion_scene()
    out = render_bokeh(image, depth, f_number=1.4, **CAMERA)
    assert float((out - image)[:, :, square].abs().max()) < 1e-5  # the square stays sharp
    background = ~square
    # Stated tolerance: 1e-3 of red anywhere in the background, right up to the square's edge.
    assert float(out[0, 0][background].max()) < 1e-3
    assert float((out - image)[:, 1:, background].abs().mean()) > 0.05  # and it is blurred


def test_a_blurred_foreground_spreads_over_the_sharp_background() -> None:
    image, depth, square = _occlusion_scene()
    depth = torch.where(
        square, torch.tensor(0.8, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64)
    )
    depth = depth.reshape(1, 1, 64, 64)
    out = render_bokeh(image, depth, f_number=1.4, **CAMERA)
    ring = torch.zeros(64, 64, dtype=torch.bool)
    ring[21:43, 21:43] = True
    ring &= ~square
    assert float(out[0, 0][ring].mean()) > 0.2  # red spills over the in-focus background
    far = torch.ones(64, 64, dtype=torch.bool)
    far[12:52, 12:52] = False
    assert float((out - image)[:, :, far].abs().max()) < 1e-5  # far from it, still sharp


def test_energy_is_conserved_in_linear_light() -> None:
    image = _texture(48, 64)
    for depth_m in (0.9, 8.0):
        depth = torch.full((1, 1, 48, 64), depth_m, dtype=torch.float64)
        out = render_bokeh(image, depth, f_number=1.8, **CAMERA)
        before, after = srgb_to_linear(image).sum(), srgb_to_linear(out).sum()
        assert float(abs(after / before - 1)) < 1e-6


def test_direct_and_fft_convolution_agree() -> None:
    values = _texture(37, 45).repeat(2, 1, 1, 1)
    radius = torch.tensor([2.6, 7.3], dtype=torch.float64)
    direct = blur_discs(values, radius, direct_max_radius=64)
    fft = blur_discs(values, radius, direct_max_radius=0)
    assert float((direct - fft).abs().max()) < 1e-12


def test_a_batch_with_one_camera_renders_every_sample_alike() -> None:
    # Scalar camera settings apply to every sample (small discs take the direct path, which
    # once built kernels for one sample only).
    image = torch.cat([_texture(24, 32, seed) for seed in (0, 1)])
    depth = torch.linspace(1.0, 4.0, 32, dtype=torch.float64).expand(2, 1, 24, 32)
    settings = RenderSettings(direct_max_radius=64)
    batch = render_bokeh(image, depth, f_number=2.8, settings=settings, **CAMERA)
    for index in range(2):
        single = render_bokeh(
            image[index : index + 1],
            depth[index : index + 1],
            f_number=2.8,
            settings=settings,
            **CAMERA,
        )
        assert float((batch[index] - single[0]).abs().max()) < 1e-12


def test_highlights_turn_into_bright_bokeh_balls() -> None:
    image = torch.full((1, 3, 48, 48), 0.05, dtype=torch.float64)
    image[..., 24, 24] = 1.0
    depth = torch.full((1, 1, 48, 48), 10.0, dtype=torch.float64)
    plain = render_bokeh(image, depth, f_number=1.4, **CAMERA)
    expanded = render_bokeh(
        image, depth, f_number=1.4, settings=RenderSettings(highlight_gain=30.0), **CAMERA
    )
    assert float(expanded[0, 0, 24, 24]) > float(plain[0, 0, 24, 24]) + 0.1


def test_gradients_reach_depth_focus_focal_length_and_aperture() -> None:
    image = _texture(16, 16)
    depth = (1.0 + 4 * _texture(16, 16, seed=2)[:, :1]).requires_grad_(True)
    focal = torch.tensor([50.0], dtype=torch.float64, requires_grad=True)
    focus = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    number = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    out = render_bokeh(image, depth, f_number=number, focal_length_mm=focal, focus_m=focus)
    (out * _texture(16, 16, seed=9)).sum().backward()
    for tensor in (depth, focal, focus, number):
        assert tensor.grad is not None and bool(torch.isfinite(tensor.grad).all())
        assert float(tensor.grad.abs().sum()) > 0

    def by_aperture(n: torch.Tensor) -> torch.Tensor:
        return render_bokeh(image[..., :8, :8], depth.detach()[..., :8, :8], f_number=n, **CAMERA)

    assert torch.autograd.gradcheck(
        by_aperture, (number.detach().clone().requires_grad_(True),), atol=1e-5
    )


def scatter_reference(image: np.ndarray, coc: np.ndarray) -> np.ndarray:
    """Slow, obviously correct splatting (BokehMe's classical style): every pixel spreads
    its colour over its own disc; the result is normalised by the accumulated weight.

    image (C, H, W) linear, coc (H, W) diameters in pixels.
    """
    channels, height, width = image.shape
    extent = int(np.ceil(coc.max() / 2 + 0.5))
    colour = np.zeros((channels, height + 2 * extent, width + 2 * extent))
    weight = np.zeros((height + 2 * extent, width + 2 * extent))
    for y in range(height):
        for x in range(width):
            kernel = disc_kernels(torch.tensor([coc[y, x] / 2], dtype=torch.float64), extent)
            kernel = kernel[0, 0].numpy()
            colour[:, y : y + 2 * extent + 1, x : x + 2 * extent + 1] += (
                image[:, y, x, None, None] * kernel
            )
            weight[y : y + 2 * extent + 1, x : x + 2 * extent + 1] += kernel
    inner = (slice(extent, extent + height), slice(extent, extent + width))
    return colour[:, inner[0], inner[1]] / weight[inner]


@pytest.mark.parametrize("scene", ["plane", "tilted"])
def test_layered_gather_matches_a_scatter_reference(scene: str) -> None:
    size = 40
    image = _texture(size, size, seed=5)
    if scene == "plane":
        depth = torch.full((1, 1, size, size), 6.0, dtype=torch.float64)
    else:  # a smoothly tilted plane: no occlusion, so splatting is valid too
        depth = (
            torch.linspace(3.0, 9.0, size, dtype=torch.float64)
            .reshape(1, 1, 1, size)
            .expand(1, 1, size, size)
        )
    camera = {**CAMERA, "f_number": 2.0, "sensor_width_mm": 36.0 * size / 400}
    coc = coc_px(depth, **camera)[0, 0].numpy()
    out = render_bokeh(
        image, depth.contiguous(), settings=RenderSettings(layer_step_px=0.25), **camera
    )
    reference = scatter_reference(srgb_to_linear(image)[0].numpy(), coc)
    margin = int(np.ceil(coc.max()))
    inner = (slice(None), slice(margin, size - margin), slice(margin, size - margin))
    error = srgb_to_linear(out)[0].numpy()[inner] - reference[inner]
    psnr = -10 * np.log10(np.mean(error**2))
    assert psnr > (60.0 if scene == "plane" else 35.0), psnr


def test_convex_upsampling_stays_within_the_coarse_neighbours() -> None:
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(2, 1, 5, 6, generator=generator, dtype=torch.float64)
    weights = torch.randn(2, 9, 20, 24, generator=generator, dtype=torch.float64).softmax(dim=1)
    fine = convex_upsample(coarse, weights, 4)
    low = -F.max_pool2d(-F.pad(coarse, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    high = F.max_pool2d(F.pad(coarse, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    assert bool((fine >= low.repeat_interleave(4, -2).repeat_interleave(4, -1) - 1e-12).all())
    assert bool((fine <= high.repeat_interleave(4, -2).repeat_interleave(4, -1) + 1e-12).all())


def test_predicted_depth_is_bounded_by_construction_even_with_extreme_weights() -> None:
    config = BokehNetConfig(dim=16, blocks=1, heads=2, head_dim=8, min_depth_m=0.5)
    torch.manual_seed(0)
    model = build_model(config)
    depth_path = ("skip", "depth_head", "guide_key", "upsample_mask", "depth_refine")
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.split(".")[0] in depth_path:  # saturate the head's sigmoid and softmax
                parameter.mul_(50.0).add_(torch.randn_like(parameter))
        depth, _ = model.predict_depth(torch.rand(1, 3, 32, 32))
    assert bool(torch.isfinite(depth).all())
    assert config.min_depth_m <= float(depth.min()) <= float(depth.max()) <= config.max_depth_m
