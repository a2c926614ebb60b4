"""A differentiable layered depth-of-field renderer (gather by depth layers, in linear light).

The scene is sliced by inverse depth ``u = 1/S − 1/D`` (the CoC is linear in ``u``, see
:mod:`~pixelwise.apps.bokeh.lens`) into layers on a grid that always holds the focus plane
``u = 0`` and whose spacing keeps neighbouring layers' CoC diameters at most
``layer_step_px`` apart. Every pixel is split between its two nearest layers with linear
("hat") weights, a partition of unity, so there are no segmentation seams and the output is
differentiable with respect to depth, focus distance, focal length and f-number (the disc
radius of every layer is ``|A u_k| / 2`` and the disc has a one-pixel anti-aliased edge).

Each layer's premultiplied colour ``w·L`` and coverage ``w`` are blurred with the layer's disc
(directly for small discs, by FFT for large ones; both exact; only over the bounding box of
the layer's pixels grown by the disc) with symmetric ("half-sample") padding, so every
layer's coverage still sums to one over the layers and energy is conserved. Layers are
composited front to back: layer ``k`` contributes ``T_k · blur(w_k L)`` and
``T_k · blur(w_k)`` where the transmittance ``T_k = Π_{j<k} (1 − blur(w_j))`` is the
visibility through every nearer layer (applied once), and the result is normalised,
``colour = Σ T_k P_k / (Σ T_k A_k + eps)``. A sharp in-focus foreground therefore occludes
the blurred background without bleeding into it, while a blurred foreground spreads over
what lies behind it.

Rendering happens in linear light (sRGB decoded), optionally with clipped highlights
expanded by a smooth invertible curve (``highlight_gain``), so bright points turn into
bokeh balls instead of grey smudges.

:func:`render_layers` is the physical reference for scenes known layer by layer (synthetic
ones): every layer, also where it is hidden, is blurred by its own CoC and laid over the
layers behind it, so blurred foreground edges reveal the background (partial occlusion),
which no render of the flattened picture can show.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from scipy.fft import next_fast_len
from torch import Tensor

from pixelwise.apps.bokeh.lens import (
    FULL_FRAME_WIDTH_MM,
    MAX_DEPTH_M,
    Scalar,
    coc_scale,
    coc_terms,
    inverse_depth_offset,
)
from pixelwise.engine.progress import ProgressReporter
from pixelwise.errors import InputError


class RenderSettings(BaseModel):
    """Quality and look of the classical renderer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layer_step_px: float = Field(
        1.0, gt=0, le=64, description="largest CoC-diameter difference of neighbouring layers"
    )
    max_layers: int = Field(96, ge=2, le=2048, description="the step grows to stay within this")
    highlight_gain: float = Field(
        1.0, ge=1, le=1000, description="linear value a clipped highlight (1.0) is expanded to"
    )
    highlight_threshold: float = Field(
        0.8, gt=0, lt=1, description="linear value above which highlights are expanded"
    )
    direct_max_radius: int = Field(
        4, ge=0, le=64, description="discs up to this radius are convolved directly, else FFT"
    )
    eps: float = Field(1e-6, gt=0, le=1e-2, description="added to the accumulated coverage")


def srgb_to_linear(values: Tensor) -> Tensor:
    """The sRGB decoding curve (IEC 61966-2-1), elementwise; finite gradients everywhere."""
    curve = ((values.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4
    return torch.where(values <= 0.04045, values / 12.92, curve)


def linear_to_srgb(values: Tensor) -> Tensor:
    """The sRGB encoding curve, inverse of :func:`srgb_to_linear`."""
    curve = 1.055 * values.clamp(min=0.0031308) ** (1 / 2.4) - 0.055
    return torch.where(values <= 0.0031308, values * 12.92, curve)


def _highlight_coefficient(settings: RenderSettings) -> float:
    return (settings.highlight_gain - 1.0) / (1.0 - settings.highlight_threshold) ** 2


def expand_highlights(linear: Tensor, settings: RenderSettings) -> Tensor:
    """``x + a·max(x − t, 0)²`` with ``a`` chosen so that 1 maps to ``highlight_gain``."""
    a = _highlight_coefficient(settings)
    if a == 0:
        return linear
    return linear + a * (linear - settings.highlight_threshold).clamp(min=0) ** 2


def compress_highlights(values: Tensor, settings: RenderSettings) -> Tensor:
    """The exact inverse of :func:`expand_highlights` (a monotone quadratic's root)."""
    a = _highlight_coefficient(settings)
    if a == 0:
        return values
    excess = (values - settings.highlight_threshold).clamp(min=0)
    root = 2 * excess / (1 + torch.sqrt(1 + 4 * a * excess))  # stable form of the root
    return torch.where(
        values > settings.highlight_threshold, settings.highlight_threshold + root, values
    )


def disc_kernels(radius: Tensor, extent: int) -> Tensor:
    """Anti-aliased unit-sum discs, (N, 1, 2·extent+1, 2·extent+1) for radii (N,) in pixels.

    The weight ``clamp(r + 0.5 − ρ, 0, 1)`` at distance ``ρ`` from the centre gives a disc of
    area ≈ π r² whose edge is one pixel wide, so the kernel is differentiable in ``r``; a
    radius of 0 gives the identity.

    Examples
    --------
    >>> k = disc_kernels(torch.tensor([0.0, 3.0]), 4)
    >>> k.shape, float(k[0, 0, 4, 4]), round(float(k[1].sum()), 6)
    (torch.Size([2, 1, 9, 9]), 1.0, 1.0)
    """
    axis = torch.arange(-extent, extent + 1, dtype=radius.dtype, device=radius.device)
    rho = torch.sqrt(axis[:, None] ** 2 + axis[None, :] ** 2)
    weight = (radius.reshape(-1, 1, 1, 1) + 0.5 - rho).clamp(0.0, 1.0)
    return weight / weight.sum(dim=(-2, -1), keepdim=True)


def _mirror(start: int, stop: int, length: int, device: torch.device) -> Tensor:
    """Indices ``start .. stop − 1`` folded into ``[0, length)`` by half-sample mirroring."""
    index = torch.remainder(torch.arange(start, stop, device=device), 2 * length)
    return torch.where(index >= length, 2 * length - 1 - index, index)


def symmetric_pad(values: Tensor, pad: int) -> Tensor:
    """Pad the last two axes by ``pad`` mirroring about the edge (the edge pixel repeats).

    Unlike ``reflect`` padding this keeps sums: a symmetric kernel moves exactly as much
    mass out across an edge as its mirror image moves in.
    """
    if pad == 0:
        return values
    height, width = values.shape[-2:]
    rows = _mirror(-pad, height + pad, height, values.device)
    return values.index_select(-2, rows).index_select(
        -1, _mirror(-pad, width + pad, width, values.device)
    )


def _convolve_valid(padded: Tensor, kernel: Tensor, direct: bool) -> Tensor:
    """'Valid' convolution of (N, C, H + 2e, W + 2e) with per-sample kernels (N, 1, k, k)."""
    batch, channels = padded.shape[:2]
    extent = (kernel.shape[-1] - 1) // 2
    height, width = padded.shape[-2] - 2 * extent, padded.shape[-1] - 2 * extent
    if direct:
        weight = kernel.repeat_interleave(channels, dim=0)
        grouped = padded.reshape(1, batch * channels, *padded.shape[-2:])
        out = F.conv2d(grouped, weight, groups=batch * channels)
        return out.reshape(batch, channels, height, width)
    # Circular convolution on a fast (5-smooth) size at least as large: the wrap-around only
    # reaches the first 2·extent rows/columns, which are not part of the valid output.
    size = tuple(next_fast_len(n, real=True) for n in padded.shape[-2:])
    spectrum = torch.fft.rfft2(padded, s=size) * torch.fft.rfft2(kernel, s=size)
    out = torch.fft.irfft2(spectrum, s=size)
    return out[..., 2 * extent : 2 * extent + height, 2 * extent : 2 * extent + width]


def _extent(radius: Tensor) -> int:
    return math.ceil(float(radius.detach().max()) + 0.5)


def blur_discs(values: Tensor, radius: Tensor, *, direct_max_radius: int = 4) -> Tensor:
    """Blur (N, C, H, W) with one disc per sample (radii (N,)), symmetric padding.

    Discs whose extent is at most ``direct_max_radius`` are applied by direct (grouped)
    convolution, larger ones by FFT over the padded image; both compute the same linear
    convolution (they agree to float rounding, see the tests).
    """
    extent = _extent(radius)
    if extent == 0:
        return values
    kernel = disc_kernels(radius.to(values.dtype), extent)
    return _convolve_valid(symmetric_pad(values, extent), kernel, extent <= direct_max_radius)


def _layer_box(covered: Tensor, extent: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the covered pixels of (N, 1, H, W), grown by ``extent``
    and clipped to the image: outside it a layer's blurred stack is exactly zero."""
    height, width = covered.shape[-2:]
    rows = torch.nonzero(covered.any(dim=(0, 1, 3))).flatten()
    cols = torch.nonzero(covered.any(dim=(0, 1, 2))).flatten()
    return (
        max(0, int(rows[0]) - extent),
        min(height, int(rows[-1]) + extent + 1),
        max(0, int(cols[0]) - extent),
        min(width, int(cols[-1]) + extent + 1),
    )


def layer_grid(offset: Tensor, scale: Tensor, settings: RenderSettings) -> Tensor:
    """The layers' inverse-depth offsets ``u_k`` (K,), ascending (near to far), holding 0.

    The spacing ``Δu`` is the power of two at or below ``layer_step_px / max|A|`` (so
    neighbouring layers' CoCs differ by ``layer_step_px / 2`` to ``layer_step_px`` pixels),
    widened to a larger power of two when more than ``max_layers`` would be needed. The grid
    is a discretisation, not a parameter: it is computed from detached values and, being
    quantised, does not move under small changes of depth or camera settings.
    """
    low, high = float(offset.detach().min()), float(offset.detach().max())
    reach = float(scale.detach().abs().max())
    if reach * (high - low) <= 1e-9:
        return offset.new_tensor([low])
    step = 2.0 ** math.floor(math.log2(settings.layer_step_px / reach))
    while math.ceil(high / step) - math.floor(low / step) + 1 > settings.max_layers:
        step *= 2
    first, last = math.floor(low / step), math.ceil(high / step)
    return torch.arange(first, last + 1, dtype=offset.dtype, device=offset.device) * step


def composite_layers(
    linear: Tensor,
    offset: Tensor,
    scale: Tensor,
    settings: RenderSettings,
    progress: ProgressReporter | None = None,
) -> Tensor:
    """Render in the working space: ``linear`` (N, C, H, W), ``offset`` u (N, 1, H, W) in 1/m,
    ``scale`` A (N, 1, 1, 1) in px·m. Returns (N, C, H, W) in the same space."""
    grid = layer_grid(offset, scale, settings)
    step = float(grid[1] - grid[0]) if grid.numel() > 1 else 1.0
    height, width = offset.shape[-2:]
    radii = (scale.reshape(1, -1) * grid[:, None]).abs().expand(-1, linear.shape[0]) / 2
    # Pad once by the largest disc; every layer then reads its (mirrored) box as a view.
    pad = _extent(radii)
    padded_linear, padded_offset = symmetric_pad(linear, pad), symmetric_pad(offset, pad)
    numerator = torch.zeros_like(linear)
    coverage = torch.zeros_like(offset)
    transmittance = torch.ones_like(offset)
    if progress is not None:
        progress.start("render", grid.numel(), "rendering depth layers")
    for node, radius in zip(grid, radii, strict=True):
        covered = (offset.detach() - node).abs() < step
        if grid.numel() > 1 and not bool(covered.any()):
            if progress is not None:
                progress.advance("render")
            continue
        extent = _extent(radius)
        top, bottom, left, right = (
            _layer_box(covered, extent) if grid.numel() > 1 else (0, height, 0, width)
        )
        window = (
            slice(None),
            slice(None),
            slice(top - extent + pad, bottom + extent + pad),
            slice(left - extent + pad, right + extent + pad),
        )
        weight = (1.0 - (padded_offset[window] - node).abs() / step).clamp(min=0.0)
        stack = torch.cat([padded_linear[window] * weight, weight], dim=1)
        if extent:
            kernel = disc_kernels(radius.to(stack.dtype), extent)
            stack = _convolve_valid(stack, kernel, extent <= settings.direct_max_radius)
        blurred = F.pad(stack, (left, width - right, top, height - bottom))
        colour, alpha = blurred[:, :-1], blurred[:, -1:].clamp(0.0, 1.0)
        numerator = numerator + transmittance * colour
        coverage = coverage + transmittance * alpha
        transmittance = transmittance * (1.0 - alpha)
        if progress is not None:
            progress.advance("render")
    if progress is not None:
        progress.finish("render")
    return numerator / (coverage + settings.eps)


def check_render_inputs(image: Tensor, depth_m: Tensor) -> None:
    """One-line errors for images that are not (N, 3, H, W) RGB or depth that does not fit."""
    if image.dim() != 4 or image.shape[1] != 3:
        raise InputError("image", f"expected an RGB image (N, 3, H, W), got {tuple(image.shape)}")
    if depth_m.shape != (image.shape[0], 1, *image.shape[2:]):
        raise InputError(
            "depth",
            f"depth {tuple(depth_m.shape)} does not match the image "
            f"{tuple(image.shape)} (expected (N, 1, H, W) of the same size)",
        )
    _check_depth_values(depth_m)


def _check_depth_values(depth_m: Tensor) -> None:
    """One-line error unless every depth is finite and positive."""
    detached = depth_m.detach()
    if not bool(torch.isfinite(detached).all()) or bool((detached <= 0).any()):
        raise InputError("depth", "depth must be finite and > 0 metres everywhere")


def render_bokeh(
    image: Tensor,
    depth_m: Tensor,
    *,
    f_number: Scalar,
    focal_length_mm: Scalar,
    focus_m: Scalar,
    sensor_width_mm: Scalar = FULL_FRAME_WIDTH_MM,
    max_depth_m: float = MAX_DEPTH_M,
    settings: RenderSettings | None = None,
    progress: ProgressReporter | None = None,
) -> Tensor:
    """Render thin-lens depth of field for sRGB ``image`` (N, 3, H, W) in [0, 1].

    Parameters
    ----------
    image : Tensor
        (N, 3, H, W) float sRGB in [0, 1].
    depth_m : Tensor
        (N, 1, H, W) metric depth in metres, > 0.
    f_number, focal_length_mm, focus_m, sensor_width_mm : float or Tensor (N,)
        Camera settings, per batch or per sample; gradients flow to tensors.
    max_depth_m : float
        Depth and focus distance are clamped to this.
    settings : RenderSettings, optional
        Layer spacing, highlight expansion, FFT threshold.
    progress : ProgressReporter, optional
        Told about every depth layer (phase ``"render"``).

    Returns
    -------
    Tensor
        (N, 3, H, W) sRGB, same dtype as ``image``.

    Examples
    --------
    >>> image = torch.rand(1, 3, 32, 48)
    >>> depth = torch.full((1, 1, 32, 48), 2.0)
    >>> out = render_bokeh(image, depth, f_number=1.8, focal_length_mm=50, focus_m=2.0)
    >>> bool(torch.allclose(out, image, atol=1e-5))
    True
    """
    settings = settings or RenderSettings()
    check_render_inputs(image, depth_m)
    scale, offset = coc_terms(  # image and depth have the same width (checked above)
        depth_m,
        f_number=f_number,
        focal_length_mm=focal_length_mm,
        focus_m=focus_m,
        sensor_width_mm=sensor_width_mm,
        max_depth_m=max_depth_m,
    )
    working = expand_highlights(srgb_to_linear(image), settings)
    rendered = composite_layers(working, offset, scale, settings, progress)
    return linear_to_srgb(compress_highlights(rendered, settings))


def composite_over(
    linear: Tensor, alpha: Tensor, radius: Tensor, settings: RenderSettings
) -> Tensor:
    """Blur scene layers and stack them far to near: ``linear`` (K, C, H, W) colours in the
    working space, ``alpha`` (K, 1, H, W) coverage, ``radius`` (K,) disc radii in pixels, the
    first layer the farthest. Returns (C, H, W) in the working space.

    Each layer's premultiplied colour and coverage are blurred with its own disc
    (:func:`blur_discs`) and laid over what lies behind, ``P ← P_k + (1 − a_k) P``, so a
    blurred edge lets the layers behind it show through (partial occlusion); the result is
    normalised by the accumulated coverage as in :func:`composite_layers`.
    """
    stack = blur_discs(
        torch.cat([linear * alpha, alpha], dim=1),
        radius.to(linear.dtype),
        direct_max_radius=settings.direct_max_radius,
    )
    numerator, coverage = torch.zeros_like(linear[0]), torch.zeros_like(alpha[0])
    for layer in stack:
        colour, cover = layer[:-1], layer[-1:].clamp(0.0, 1.0)
        numerator = colour + (1.0 - cover) * numerator
        coverage = cover + (1.0 - cover) * coverage
    return numerator / (coverage + settings.eps)


def render_layers(
    colour: Tensor,
    alpha: Tensor,
    depth_m: Tensor,
    *,
    f_number: float,
    focal_length_mm: float,
    focus_m: float,
    sensor_width_mm: float = FULL_FRAME_WIDTH_MM,
    max_depth_m: float = MAX_DEPTH_M,
    settings: RenderSettings | None = None,
) -> Tensor:
    """What a thin lens records of a scene of fronto-parallel layers, with partial occlusion.

    Unlike :func:`render_bokeh`, which only sees the all-in-focus picture and its depth map,
    this knows every layer in full, also where nearer ones hide it: each layer is blurred by
    the disc of its own CoC and composited far to near in linear light (see
    :func:`composite_over`), so the rim of a blurred foreground reveals the background behind
    it. It is the reference that synthetic training targets are made with.

    Parameters
    ----------
    colour : Tensor
        (K, 3, H, W) sRGB colour of each layer in [0, 1].
    alpha : Tensor
        (K, 1, H, W) coverage of each layer in [0, 1].
    depth_m : Tensor
        (K,) depth of each layer in metres, any order.
    f_number, focal_length_mm, focus_m, sensor_width_mm, max_depth_m : float
        Camera settings, as in :func:`render_bokeh`.
    settings : RenderSettings, optional
        Highlight expansion and FFT threshold (the layer grid is not used).

    Returns
    -------
    Tensor
        (3, H, W) sRGB, same dtype as ``colour``.

    Examples
    --------
    >>> colour, alpha = torch.rand(2, 3, 16, 16), torch.ones(2, 1, 16, 16)
    >>> out = render_layers(
    ...     colour, alpha, torch.tensor([9.0, 2.0]), f_number=2, focal_length_mm=50, focus_m=2
    ... )
    >>> bool(torch.allclose(out, colour[1], atol=1e-5))  # the in-focus layer hides the other
    True
    """
    settings = settings or RenderSettings()
    if colour.dim() != 4 or colour.shape[1] != 3:
        raise InputError("layers", f"expected colours (K, 3, H, W), got {tuple(colour.shape)}")
    count = colour.shape[0]
    if alpha.shape != (count, 1, *colour.shape[2:]) or depth_m.shape != (count,):
        raise InputError(
            "layers",
            f"alpha {tuple(alpha.shape)} and depth {tuple(depth_m.shape)} do not match "
            f"colours {tuple(colour.shape)} (expected (K, 1, H, W) and (K,))",
        )
    _check_depth_values(depth_m)
    order = torch.argsort(depth_m, descending=True)  # far to near
    depth = depth_m[order].reshape(-1, 1, 1, 1).to(colour.dtype)
    camera = {"focal_length_mm": focal_length_mm, "focus_m": focus_m, "max_depth_m": max_depth_m}
    scale = coc_scale(
        colour.shape[-1], f_number=f_number, sensor_width_mm=sensor_width_mm, like=depth, **camera
    )
    radius = (scale * inverse_depth_offset(depth, **camera)).abs().flatten() / 2
    working = expand_highlights(srgb_to_linear(colour[order]), settings)
    rendered = composite_over(working, alpha[order], radius, settings)
    return linear_to_srgb(compress_highlights(rendered, settings))
