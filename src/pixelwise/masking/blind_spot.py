"""Blind-spot corruption for self-supervised denoising (Noise2Void and its trace-wise variant).

A network trained to predict a pixel from its surroundings, with the pixel itself hidden,
learns the signal but cannot learn noise that is independent from pixel to pixel. The
functions here hide pixels on a batch ``x`` of shape ``(N, C, H, W)`` on ``x``'s device and
return ``(corrupted, mask)``: the network sees ``corrupted`` and the loss is computed against
``x`` only where ``mask`` is True (:func:`pixelwise.losses.masked_mse`).

All randomness comes from the optional ``torch.Generator`` (which must live on ``x``'s
device) and never depends on the values of ``x``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from pixelwise.errors import ConfigError


def _check_batch(x: torch.Tensor) -> None:
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(
            f"expected a floating-point (N, C, H, W) batch, got {x.dtype} of shape {tuple(x.shape)}"
        )


def _stratified_pixels(
    shape: tuple[int, int, int],
    fraction: float,
    generator: torch.Generator | None,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pick about ``fraction`` of the pixels of each of ``N`` images of size ``H x W``.

    The image is tiled by square cells of side ``1 / sqrt(fraction)`` and each cell gets one
    pixel at a uniform random offset inside it (candidates falling past the image border are
    dropped), which spreads active pixels evenly, as Noise2Void does. Returns ``(batch, row,
    col)`` index tensors of equal length.
    """
    n_images, height, width = shape
    spacing = fraction**-0.5
    cells_y, cells_x = math.ceil(height / spacing), math.ceil(width / spacing)
    # float64 so that cell + offset never rounds up into the next cell on large images.
    offsets = torch.rand(
        (n_images, cells_y, cells_x, 2), generator=generator, device=device, dtype=torch.float64
    )
    cell_y = torch.arange(cells_y, device=device).view(1, -1, 1)
    cell_x = torch.arange(cells_x, device=device).view(1, 1, -1)
    rows = ((cell_y + offsets[..., 0]) * spacing).long()
    cols = ((cell_x + offsets[..., 1]) * spacing).long()
    batch = torch.arange(n_images, device=device).view(-1, 1, 1).expand_as(rows)
    inside = (rows < height) & (cols < width)
    return batch[inside], rows[inside], cols[inside]


def _random_neighbours(
    rows: torch.Tensor,
    cols: torch.Tensor,
    size: tuple[int, int],
    radius: int,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each pixel, a uniformly drawn *other* pixel of its neighbourhood inside the image.

    The ``(2 * radius + 1)^2`` window is clipped to the image and the pixel itself is
    skipped, so the source is never the pixel and never outside the image.
    """
    height, width = size
    top, bottom = (rows - radius).clamp(min=0), (rows + radius).clamp(max=height - 1)
    left, right = (cols - radius).clamp(min=0), (cols + radius).clamp(max=width - 1)
    window_width = right - left + 1
    n_others = (bottom - top + 1) * window_width - 1
    draw = torch.rand(rows.shape, generator=generator, device=rows.device)
    pick = torch.minimum((draw * n_others).long(), n_others - 1)
    own = (rows - top) * window_width + (cols - left)
    pick = pick + (pick >= own).long()
    return top + pick // window_width, left + pick % window_width


def _neighbourhood_median(
    x: torch.Tensor, batch: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, radius: int
) -> torch.Tensor:
    """Per channel, the median of each pixel's window *without the pixel*, ``(P, C)``.

    The ``(2 * radius + 1)^2`` window is clipped to the image (pixels past the border do
    not count), as in :func:`_random_neighbours`.
    """
    height, width = x.shape[2:]
    values = []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy == 0 and dx == 0:
                continue
            y, z = rows + dy, cols + dx
            inside = ((y >= 0) & (y < height) & (z >= 0) & (z < width))[:, None]
            value = x[batch, :, y.clamp(0, height - 1), z.clamp(0, width - 1)]
            values.append(torch.where(inside, value, torch.full_like(value, float("nan"))))
    return torch.stack(values).nanmedian(dim=0).values


def random_pixel_mask(
    x: torch.Tensor,
    active_fraction: float = 0.002,
    radius: int = 2,
    generator: torch.Generator | None = None,
    *,
    replacement: Literal["neighbour", "median"] = "neighbour",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise2Void corruption: replace ~``active_fraction`` of pixels by a random neighbour.

    Active pixels are stratified: one per grid cell of side ``1 / sqrt(active_fraction)``, at a
    random offset inside it, so an image smaller than a cell may get none. Each is replaced by
    the value of a different pixel within ``radius`` (Chebyshev distance, clipped at the image
    border). All channels of an active pixel are blinded together and take the same
    neighbour, so no channel leaks the pixel's value. With ``replacement="median"`` an
    active pixel takes the median of its window without itself instead (N2V2's fix: a random
    neighbour sometimes copies a value that correlates with the pixel's own).

    Args:
        x: float batch ``(N, C, H, W)``.
        active_fraction: expected share of active pixels per image, in ``(0, 1]``.
        radius: neighbourhood radius (>= 1) the replacement values are drawn from.
        generator: source of randomness, on ``x``'s device.
        replacement: ``"neighbour"`` (Noise2Void) or ``"median"`` (N2V2).

    Returns:
        ``(corrupted, mask)``: a corrupted copy of ``x`` and a bool tensor shaped like ``x``,
        True at active pixels.
    """
    _check_batch(x)
    if replacement not in ("neighbour", "median"):
        raise ConfigError(f"replacement must be 'neighbour' or 'median', got {replacement!r}")
    if not 0 < active_fraction <= 1:
        raise ConfigError(f"active_fraction must be in (0, 1], got {active_fraction}")
    if radius < 1:
        raise ConfigError(f"radius must be >= 1, got {radius}")
    n_images, _, height, width = x.shape
    if height * width < 2:
        raise ValueError(f"cannot blind pixels of a {height}x{width} image: no other pixel")
    batch, rows, cols = _stratified_pixels(
        (n_images, height, width), active_fraction, generator, x.device
    )
    corrupted = x.clone()
    if replacement == "median":
        corrupted[batch, :, rows, cols] = _neighbourhood_median(x, batch, rows, cols, radius)
    else:
        source = _random_neighbours(rows, cols, (height, width), radius, generator)
        corrupted[batch, :, rows, cols] = x[batch, :, source[0], source[1]]
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[batch, :, rows, cols] = True
    return corrupted, mask


def hide_traces(
    x: torch.Tensor, hidden: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Replace the columns ``hidden`` (bool ``(N, W)``) of ``x`` by uninformative values.

    Hidden columns get Gaussian values with the mean and std (per image and channel) of the
    image's *other* columns, so neither their content nor their level leaks. Used for the
    blind traces of :func:`tracewise_mask` and, in training and inference, for traces known
    to be bad (dead or flagged as noisy). An image whose every column is hidden is returned
    with zeros there.
    """
    _check_batch(x)
    n_images, _, height, width = x.shape
    if hidden.shape != (n_images, width) or hidden.dtype != torch.bool:
        raise ValueError(f"hidden must be a bool ({n_images}, {width}) tensor")
    columns = hidden[:, None, None, :].expand_as(x)
    n_kept = (height * (~hidden).sum(dim=1)).clamp(min=1).view(-1, 1, 1, 1).to(x.dtype)
    kept = torch.where(columns, torch.zeros_like(x), x)
    mean = kept.sum(dim=(2, 3), keepdim=True) / n_kept
    deviation = torch.where(columns, torch.zeros_like(x), x - mean)
    std = (deviation.square().sum(dim=(2, 3), keepdim=True) / n_kept).sqrt()
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return torch.where(columns, mean + std * noise, x)


def tracewise_mask(
    x: torch.Tensor,
    trace_fraction: float = 0.05,
    generator: torch.Generator | None = None,
    *,
    bad: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Structured blind spot: hide a random ``trace_fraction`` of whole columns (traces).

    Noise that hits whole traces is correlated along the trace, so a single-pixel blind spot
    lets the network read it from the pixels above and below. Here ``round(trace_fraction *
    W)`` columns per image (at least 1, at most ``W - 1``) are replaced entirely by Gaussian
    values with the mean and std of the image's *other* columns (per channel, see
    :func:`hide_traces`). Random values carry no information about any sample of the hidden
    trace, so the network cannot learn an identity for any part of it (copying a
    neighbouring column would also hide the trace, but would feed the network a plausible
    trace to copy from); the statistics exclude the hidden columns so that even the level of
    the replacement does not depend on them.

    ``bad`` (bool ``(N, W)``, optional) marks traces known to be dead or noise: they are
    hidden too, never count in the statistics, and are never in the returned mask (there is
    nothing to learn from them).

    Returns:
        ``(corrupted, mask)``: a corrupted copy of ``x`` and a bool tensor shaped like ``x``,
        True on every sample of the hidden (and not bad) columns.
    """
    _check_batch(x)
    if not 0 < trace_fraction < 1:
        raise ConfigError(f"trace_fraction must be in (0, 1), got {trace_fraction}")
    n_images, width = x.shape[0], x.shape[3]
    if width < 2:
        raise ValueError(f"cannot hide traces of a batch with {width} trace: no trace is left")
    n_hidden = min(max(1, round(trace_fraction * width)), width - 1)
    keys = torch.rand((n_images, width), generator=generator, device=x.device)
    hidden = torch.zeros((n_images, width), dtype=torch.bool, device=x.device)
    hidden.scatter_(1, keys.argsort(dim=1)[:, :n_hidden], True)
    if bad is not None:
        hidden = hidden & ~bad
    corrupted = hide_traces(x, hidden if bad is None else hidden | bad, generator)
    return corrupted, hidden[:, None, None, :].expand_as(x).clone()
