"""BM3D collaborative filtering in vectorised torch (CPU and CUDA), BSD-licensed.

BM3D (Dabov, Foi, Katkovnik & Egiazarian 2007) denoises in two stages. Both slide an 8x8
*reference block* over the image on a grid of step 3, find the most similar blocks within a
39x39 search window (*block matching*), stack them into a 3-D *group*, transform the group
(a 2-D transform of every block, then a 1-D Haar transform across the stack), shrink the
coefficients, transform back and *aggregate*: every filtered block is added back at its place
with a weight (inverse noise variance left in the group, times a Kaiser window), and each pixel
is the weighted mean of all its estimates.

* Stage 1 (hard thresholding): matching on the noisy image, biorthogonal 1.5 block transform,
  coefficients under ``lambda_hard`` standard deviations set to zero.
* Stage 2 (Wiener): matching on the stage-1 estimate, DCT block transform, empirical Wiener
  shrinkage ``B² / (B² + mu2 var)`` with ``B`` the stage-1 estimate's coefficients.

Noise may be white (a standard deviation) or coloured: a power spectral density (PSD) with the
image's shape, in the convention of the ``bm3d`` package (white noise of standard deviation
``s`` on an HxW image has the constant PSD ``s² H W``, i.e. ``E|fft2(noise)|²``). The noise
variance of every 3-D group coefficient is computed from the PSD through the noise
autocovariance (Mäkinen, Azzari & Foi 2020), so thresholds and Wiener gains follow the noise
spectrum. Blocks of a group often overlap (a smooth area matches its own one-pixel shifts),
and overlapping blocks share noise even when it is white: the mean of such a group is noisier,
and its differences are cleaner, than independent blocks would make them. The first
``exact_levels`` Haar coefficients of every group therefore get their exact variance from the
displacements between its blocks (the reference implementation's ``k = 4`` "layers"); the other
coefficients share the rest of the group's total noise variance. Block distances are corrected
for the expected noise contribution, so matching keeps working at high noise levels.

Colour images are filtered in an opponent colour space (mean, R - B, R - 2G + B): blocks are
matched on the first (luminance) channel and all three channels are filtered with the same
groups, each with its own noise variances.

Everything is matrix algebra on batches of groups: block matching computes the distances to
all 39² candidates with box sums over shifted difference images and keeps the nearest with
``topk``; transforms are matrix multiplications; aggregation is ``index_add_``. Work is done in
chunks of reference blocks so that memory stays bounded for large images.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
import pywt
import torch
from scipy.fft import dct

Stage = Literal["all", "hard"]

BLOCK = 8
"""Side of the blocks (pixels)."""

_MATCH_BAND_ELEMENTS = 1 << 23
"""Block distances held at once while matching (bounds memory: 32 MiB of float32)."""

ColourSpace = Literal["opp", "YCbCr"]

_COLOUR_TRANSFORMS: dict[str, np.ndarray] = {
    # Opponent colours: luminance, red - blue, green - magenta.
    "opp": np.array([[1 / 3, 1 / 3, 1 / 3], [0.5, 0.0, -0.5], [0.25, -0.5, 0.25]]),
    # ITU-R BT.601 luma and chroma differences.
    "YCbCr": np.array(
        [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
    ),
}
"""RGB to decorrelated colour spaces (the first row is the luminance blocks are matched on)."""


@dataclass(frozen=True)
class BM3DSettings:
    """Parameters of both stages (defaults: the reference implementation's 'np' profile).

    Distances are sums of squared differences over a block, in image units (``tau_hard`` 2.95
    is the reference profile's 3000 on the 0-255 scale: 3000 · 64 / 255²).
    """

    step: int = 3
    """Spacing of the reference blocks."""
    search_radius: int = 19
    """Half the side of the search window (39x39)."""
    group_hard: int = 16
    """Most blocks in a stage-1 group (a power of 2)."""
    group_wiener: int = 32
    """Most blocks in a stage-2 group (a power of 2)."""
    tau_hard: float = 3000 * BLOCK**2 / 255**2
    """Largest noise-corrected block distance accepted in stage 1."""
    tau_wiener: float = 400 * BLOCK**2 / 255**2
    """Largest block distance accepted in stage 2 (on the stage-1 estimate)."""
    lambda_hard: float = 3.0
    """Hard threshold, in standard deviations of each coefficient's noise."""
    mu2: float = 0.5
    """Regularisation of the Wiener gains (the reference uses 0.4; 0.5 measured closest to it
    on camera, astronaut and coffee at sigma 10-50, see bench/bm3d_vs_reference.py)."""
    exact_levels: int = 4
    """Haar coefficients per group whose noise variance accounts for block overlap (0: none)."""
    beta: float = 2.0
    """Shape of the Kaiser aggregation window."""
    chunk: int = 4096
    """Reference blocks filtered at once (bounds memory)."""


@cache
def _bior15_matrix() -> np.ndarray:
    """The 8x8 periodic biorthogonal 1.5 wavelet transform, fully decomposed, unit-norm rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "level too high": periodic extension
        columns = [
            np.concatenate(pywt.wavedec(unit, "bior1.5", mode="periodization", level=3))
            for unit in np.eye(BLOCK)
        ]
    matrix = np.array(columns).T
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@cache
def _dct_matrix() -> np.ndarray:
    """The orthonormal 8-point DCT-II as a matrix (rows are basis functions)."""
    return dct(np.eye(BLOCK), norm="ortho", axis=0)


@cache
def _haar_matrix(size: int) -> np.ndarray:
    """The orthonormal Haar transform of ``size`` (a power of 2) points, as a matrix."""
    if size == 1:
        return np.ones((1, 1))
    half = _haar_matrix(size // 2)
    top = np.kron(half, [1.0, 1.0])
    bottom = np.kron(np.eye(size // 2), [1.0, -1.0])
    return np.vstack([top, bottom]) / math.sqrt(2.0)


def _block_transform(kind: Literal["bior", "dct"]) -> tuple[np.ndarray, np.ndarray]:
    """Forward and inverse 2-D transform of a flattened 8x8 block, as 64x64 matrices."""
    one_d = _bior15_matrix() if kind == "bior" else _dct_matrix()
    forward = np.kron(one_d, one_d)
    return forward, np.linalg.inv(forward)


def white_psd(sigma: float, shape: tuple[int, int]) -> np.ndarray:
    """The PSD of white noise of standard deviation ``sigma`` on an image of ``shape``.

    Examples
    --------
    >>> round(float(white_psd(0.1, (4, 4))[0, 0]), 6)
    0.16
    """
    return np.full(shape, sigma**2 * shape[0] * shape[1])


_OVERLAPS = (2 * BLOCK - 1) ** 2
"""Displacements at which two blocks overlap (|dy|, |dx| < 8); bin ``_OVERLAPS`` is "apart"."""
_SAME_PLACE = _OVERLAPS // 2
"""The bin of displacement (0, 0)."""
_VARIANCE_FLOOR = 0.1
"""Least group-coefficient variance, as a share of one block's: guards against the covariance
between blocks that do not overlap, left out of the table, which strongly coloured noise has."""


def pair_covariances(forward: np.ndarray, psds: np.ndarray) -> np.ndarray:
    """Noise covariance of each block-transform coefficient between two blocks, per displacement.

    Entry ``[c, d, k]`` is the covariance, in channel ``c`` with (C, H, W) PSDs ``psds``, of
    coefficient ``k`` (``forward`` is the 64x64 block transform) of a block and of the block
    displaced by ``d`` = (dy + 7) · 15 + (dx + 7); ``d = 112`` (no displacement) holds the
    coefficient variances; the last bin, blocks that do not overlap, is taken as 0 (exact for
    white noise). Returns (C, 226, 64), float64.

    Examples
    --------
    >>> table = pair_covariances(np.eye(64), white_psd(0.1, (16, 16))[None])
    >>> round(float(table[0, 112, 0]), 6), float(table[0, 113, 0])  # variance; disjoint pixels
    (0.01, 0.0)
    """
    channels, height, width = psds.shape
    autocovariance = np.real(np.fft.ifft2(psds)) / (height * width)  # (C, H, W)
    rows, cols = np.divmod(np.arange(BLOCK * BLOCK), BLOCK)
    shifts = np.arange(1 - BLOCK, BLOCK)
    lag_rows = (rows[None, :, None] - rows[None, None, :] - shifts[:, None, None]) % height
    lag_cols = (cols[None, :, None] - cols[None, None, :] - shifts[:, None, None]) % width
    # covariance[c, dy, dx, m, n]: pixel m of a block against pixel n of the displaced block.
    covariance = autocovariance[:, lag_rows[:, None], lag_cols[None, :]]
    projected = np.einsum("km,cyxmn,kn->cyxk", forward, covariance, forward, optimize=True)
    table = np.zeros((channels, _OVERLAPS + 1, BLOCK * BLOCK))
    table[:, :_OVERLAPS] = projected.reshape(channels, _OVERLAPS, -1)
    return table


@cache
def _shift_bins(radius: int) -> np.ndarray:
    """Bin part of a row (or column) displacement between blocks of one search window.

    Entry ``[d + 2 radius]`` is ``d + 7`` where the blocks overlap along that axis (|d| < 8),
    and a value that pushes the bin of :func:`pair_covariances` past ``_OVERLAPS`` otherwise:
    the bin of (dy, dx) is ``min(15 · rows[dy] + cols[dx], _OVERLAPS)``.
    """
    shifts = np.arange(-2 * radius, 2 * radius + 1)
    return np.where(np.abs(shifts) < BLOCK, shifts + BLOCK - 1, _OVERLAPS)


def _reference_positions(length: int, step: int) -> np.ndarray:
    """Top-left coordinates of the reference blocks along one axis; the last ends at the edge."""
    positions = np.arange(0, length - BLOCK + 1, step)
    if positions[-1] != length - BLOCK:
        positions = np.append(positions, length - BLOCK)
    return positions


def _box_sums(values: torch.Tensor, dim: int) -> torch.Tensor:
    """Sums of ``BLOCK`` consecutive entries along ``dim`` (the axis shrinks by ``BLOCK - 1``)."""
    length = values.shape[dim]
    for width in (1, 2, 4):  # pairs, then fours, then eights
        length -= width
        values = values.narrow(dim, 0, length) + values.narrow(dim, width, length)
    return values


def _match(
    guide: torch.Tensor,
    ref_rows: torch.Tensor,
    ref_cols: torch.Tensor,
    count: int,
    radius: int,
    bias: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``count`` blocks of ``guide`` (HxW) nearest to each reference block.

    Returns the flat top-left positions (row · W + column) and the distances (sum of squared
    differences minus ``bias``) of the nearest blocks, both (R, count) with R the number of
    references (``ref_rows`` x ``ref_cols`` on a grid, row-major), nearest first: the reference
    itself (distance -inf), then the others; candidates outside the image have distance inf.
    References are handled in bands of rows; for
    each row offset, the squared differences to the image shifted by every column offset are
    box-summed with cumulative sums, along rows at the reference rows and along columns at the
    reference columns.
    """
    height, width = guide.shape
    device = guide.device
    span = 2 * radius + 1
    padded = torch.nn.functional.pad(guide, (radius, radius))
    shifted_cols = padded.unfold(1, width, 1)  # (H, span, W): column offsets -radius..radius
    offsets = torch.arange(-radius, radius + 1, device=device)
    cand_cols = ref_cols[:, None] + offsets[None, :]  # (Rc, span)
    cols_valid = (cand_cols >= 0) & (cand_cols <= width - BLOCK)
    band = max(1, _MATCH_BAND_ELEMENTS // (ref_cols.numel() * span * span))
    positions, distances = [], []
    for start in range(0, ref_rows.numel(), band):
        rows = ref_rows[start : start + band]
        dist = torch.empty((rows.numel(), ref_cols.numel(), span, span), device=device)
        for index, row_offset in enumerate(range(-radius, radius + 1)):
            cand_rows = rows + row_offset
            rows_valid = (cand_rows >= 0) & (cand_rows <= height - BLOCK)
            if not bool(rows_valid.any()):
                dist[:, :, index] = math.inf
                continue
            # Image rows of the valid references; the others read any in-range rows.
            low = int(rows[rows_valid][0])
            high = int(rows[rows_valid][-1]) + BLOCK
            read = rows.clamp(low, high - BLOCK) - low
            diff = guide[low:high, None, :] - shifted_cols[low + row_offset : high + row_offset]
            row_sums = _box_sums(diff.square_(), 0)[read]  # (Rr, span, W - 7)
            col_sums = _box_sums(row_sums, 2)[..., ref_cols]  # (Rr, span dx, Rc)
            valid = rows_valid[:, None, None] & cols_valid.T[None, :, :]
            dist[:, :, index] = torch.where(valid, col_sums - bias, math.inf).permute(0, 2, 1)
        dist[:, :, radius, radius] = -math.inf  # each reference leads its own group, ties or not
        best, order = dist.reshape(rows.numel() * ref_cols.numel(), span * span).topk(
            count, dim=1, largest=False, sorted=True
        )
        row_shift, col_shift = order // span - radius, order % span - radius
        base = (rows[:, None] * width + ref_cols[None, :]).reshape(-1, 1)
        positions.append(base + row_shift * width + col_shift)
        distances.append(best)
    return torch.cat(positions), torch.cat(distances)


def _group_sizes(dist: torch.Tensor, tau: float) -> torch.Tensor:
    """Blocks per group: the largest power of 2 not above the count within ``tau`` (at least 1)."""
    within = (dist <= tau).sum(1).clamp(min=1)
    return torch.pow(2, torch.floor(torch.log2(within.double()))).long()


def _group_variances(
    members: torch.Tensor,
    width: int,
    radius: int,
    haar: torch.Tensor,
    pairs: torch.Tensor,
    levels: int,
) -> torch.Tensor:
    """Noise variance of every 3-D coefficient of groups of blocks at flat positions ``members``.

    ``members`` is (G, n), the reference block first; ``pairs`` the (C, 226, 64) table of
    :func:`pair_covariances`. The first ``levels`` Haar rows get their exact variance, the sum
    over the group's block pairs of Haar weight times pair covariance; the other rows share
    what is left of the group's total variance (n times a block's, the transforms being
    orthonormal). Returns (C, G, n, 64).
    """
    groups, size = members.shape
    rows, cols = members // width, members % width
    shift_bins = torch.as_tensor(_shift_bins(radius), device=members.device)
    row_bins = shift_bins[rows[:, None, :] - rows[:, :, None] + 2 * radius]  # (G, n, n)
    col_bins = shift_bins[cols[:, None, :] - cols[:, :, None] + 2 * radius]
    bins = (row_bins * (2 * BLOCK - 1) + col_bins).clamp_(max=_OVERLAPS).reshape(groups, -1)
    exact = min(levels, size)
    pair_weights = (haar[:exact, :, None] * haar[:exact, None, :]).reshape(1, exact, -1)
    weights = pairs.new_zeros((groups, exact, _OVERLAPS + 1))
    weights.scatter_add_(
        2, bins[:, None, :].expand(-1, exact, -1), pair_weights.expand(groups, -1, -1)
    )
    single = pairs[:, None, _SAME_PLACE]  # (C, 1, 64)
    floor = _VARIANCE_FLOOR * single[:, :, None]
    variances = torch.einsum("gbd,cdk->cgbk", weights, pairs).maximum(floor)  # (C, G, exact, 64)
    if exact == size:
        return variances
    rest = (size * single - variances.sum(2)) / (size - exact)
    rest = rest[:, :, None].maximum(floor)
    return torch.cat([variances, rest.expand(-1, -1, size - exact, -1)], dim=2)


def _kaiser_window(beta: float, device: torch.device) -> torch.Tensor:
    window = np.kaiser(BLOCK, beta)
    return torch.as_tensor(np.outer(window, window).ravel(), dtype=torch.float32, device=device)


def _filter_stage(
    noisy: torch.Tensor,
    pilot: torch.Tensor | None,
    psds: np.ndarray,
    settings: BM3DSettings,
) -> torch.Tensor:
    """One BM3D stage on ``noisy`` (C, H, W) with noise PSDs ``psds`` (C, H, W); ``pilot`` is
    the stage-1 estimate for stage 2."""
    channels, height, width = noisy.shape
    device = noisy.device
    wiener = pilot is not None
    forward, inverse = _block_transform("dct" if wiener else "bior")
    forward_t = torch.as_tensor(forward.T, dtype=torch.float32, device=device)
    inverse_t = torch.as_tensor(inverse.T, dtype=torch.float32, device=device)
    pair_table = pair_covariances(forward, psds)
    pairs = torch.as_tensor(pair_table, dtype=torch.float32, device=device)  # (C, 226, 64)
    var = pairs[:, _SAME_PLACE]  # (C, 64): the coefficient variances of one block
    ref_rows = torch.as_tensor(_reference_positions(height, settings.step), device=device)
    ref_cols = torch.as_tensor(_reference_positions(width, settings.step), device=device)
    count = settings.group_wiener if wiener else settings.group_hard
    guide = pilot[0] if pilot is not None else noisy[0]
    # Stage 1 matches noisy blocks: their distance holds twice the noise energy of a block.
    bias = 0.0 if wiener else 2.0 * float(pair_table[0, _SAME_PLACE].sum())
    tau = settings.tau_wiener if wiener else settings.tau_hard
    positions, dist = _match(guide, ref_rows, ref_cols, count, settings.search_radius, bias)
    sizes = _group_sizes(dist, tau)

    block_rows, block_cols = np.divmod(np.arange(BLOCK * BLOCK), BLOCK)
    pixel_offsets = torch.as_tensor(block_rows * width + block_cols, device=device)
    window = _kaiser_window(settings.beta, device)
    flat_noisy = noisy.reshape(channels, -1)
    flat_pilot = pilot.reshape(channels, -1) if pilot is not None else None
    numerator = torch.zeros_like(flat_noisy)
    denominator = torch.zeros_like(flat_noisy)
    for size in sizes.unique().tolist():
        haar = torch.as_tensor(_haar_matrix(size), dtype=torch.float32, device=device)
        members = torch.nonzero(sizes == size).squeeze(1)
        for start in range(0, members.numel(), settings.chunk):
            chosen = members[start : start + settings.chunk]
            pixels = positions[chosen, :size, None] + pixel_offsets  # (G, size, 64)
            groups = flat_noisy[:, pixels]  # (C, G, size, 64)
            coefficients = haar @ (groups @ forward_t)
            if size > 1 and settings.exact_levels > 0:
                variances = _group_variances(
                    positions[chosen, :size],
                    width,
                    settings.search_radius,
                    haar,
                    pairs,
                    settings.exact_levels,
                )
            else:
                variances = var[:, None, None, :]
            if flat_pilot is None:
                keep = coefficients.abs() > settings.lambda_hard * variances.sqrt()
                keep[:, :, 0, 0] = True  # the group's mean always survives
                coefficients = coefficients * keep
                weight = 1.0 / (keep * variances).sum((2, 3)).clamp(min=1e-20)  # (C, G)
            else:
                basic = (haar @ (flat_pilot[:, pixels] @ forward_t)).square_()
                gains = basic / (basic + settings.mu2 * variances)
                coefficients = coefficients * gains
                weight = 1.0 / (gains.square() * variances).sum((2, 3)).clamp(min=1e-20)
            filtered = (haar.T @ coefficients) @ inverse_t
            weights = weight[:, :, None, None] * window  # (C, G, 1, 64)
            flat_pixels = pixels.reshape(-1)
            numerator.index_add_(1, flat_pixels, (filtered * weights).reshape(channels, -1))
            denominator.index_add_(
                1, flat_pixels, weights.expand(-1, -1, size, -1).reshape(channels, -1)
            )
    return (numerator / denominator).reshape(channels, height, width)


MAX_SIGMA = 1e3
"""Largest noise standard deviation accepted (images are nominally in [0, 1]; far beyond it,
float32 group variances overflow, and BM3D has long flattened the image to group means)."""


def _as_psds(noise: float | np.ndarray, shape: tuple[int, int], channels: int) -> np.ndarray:
    """Noise given as a standard deviation, an HxW PSD or a CxHxW PSD, as a (C, H, W) PSD.

    Raises ``ValueError`` for a negative, non-finite or absurdly large (over ``MAX_SIGMA``)
    standard deviation, and for a PSD of the wrong shape or with such values.
    """
    if np.ndim(noise) == 0:
        sigma = float(noise)  # a number or a 0-d array
        if not 0 <= sigma <= MAX_SIGMA:
            raise ValueError(
                f"the noise sigma must be in [0, {MAX_SIGMA:g}] (images nominally span [0, 1]), "
                f"got {sigma}"
            )
        return np.broadcast_to(white_psd(sigma, shape), (channels, *shape))
    psd = np.asarray(noise, dtype=np.float64)
    if psd.ndim == 2:
        psd = np.broadcast_to(psd, (channels, *psd.shape))
    if psd.shape != (channels, *shape):
        raise ValueError(
            f"the noise PSD must have the image's shape {shape} (or {(channels, *shape)}), "
            f"got {np.shape(noise)}"
        )
    if not np.isfinite(psd).all() or (psd < 0).any():
        raise ValueError("the noise PSD must be finite and non-negative")
    if psd.mean() > MAX_SIGMA**2 * shape[0] * shape[1]:
        raise ValueError(f"the noise PSD's standard deviation is over {MAX_SIGMA:g}")
    return psd


def _check_size(shape: tuple[int, ...]) -> None:
    if min(shape[:2]) < BLOCK:
        raise ValueError(f"BM3D needs both image sides at least {BLOCK} pixels, got {shape}")


def bm3d_channels(
    image: torch.Tensor,
    psds: np.ndarray,
    *,
    stage: Stage = "all",
    pilot: torch.Tensor | None = None,
    settings: BM3DSettings | None = None,
) -> torch.Tensor:
    """BM3D of a (C, H, W) float32 tensor whose channels share block matching (on channel 0).

    ``psds`` is the (C, H, W) noise PSD of each channel. ``pilot`` (C, H, W), if given, is
    used as the stage-1 estimate and only the Wiener stage runs; otherwise ``stage`` says
    whether to stop after hard thresholding. Returns a (C, H, W) tensor on ``image``'s device.
    """
    settings = settings or BM3DSettings()
    _check_size(tuple(image.shape[1:]))
    if pilot is None:
        pilot = _filter_stage(image, None, psds, settings)
        if stage == "hard":
            return pilot
    return _filter_stage(image, pilot, psds, settings)


def _device(device: str | torch.device | None) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cpu")


def resolve_device(name: Literal["auto", "cpu", "cuda"]) -> torch.device:
    """The torch device a node's ``device`` parameter names; "auto" is CUDA where available.

    Asking for "cuda" on a machine without it raises ``ValueError``.
    """
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but CUDA is not available here")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def bm3d(
    image: np.ndarray,
    noise: float | np.ndarray,
    *,
    stage: Stage = "all",
    device: str | torch.device | None = None,
    settings: BM3DSettings | None = None,
) -> np.ndarray:
    """Denoise a grey HxW image with BM3D; ``noise`` is a standard deviation or an HxW PSD.

    Parameters
    ----------
    image : ndarray, float, (H, W), both sides at least 8
        Noisy image, nominally in [0, 1].
    noise : float or ndarray (H, W)
        Standard deviation of white Gaussian noise, or the noise PSD (see the module docstring).
        Zero noise returns the image unchanged.
    stage : {"all", "hard"}
        Both stages, or hard thresholding only.
    device : str or torch.device, optional
        Where to compute ("cpu", "cuda"); CPU by default.
    settings : BM3DSettings, optional
        Algorithm parameters.

    Returns
    -------
    ndarray, float32, (H, W)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> clean = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))
    >>> noisy = clean + rng.normal(0, 0.1, clean.shape).astype(np.float32)
    >>> denoised = bm3d(noisy, 0.1)
    >>> bool(np.abs(denoised - clean).std() < 0.5 * np.abs(noisy - clean).std())
    True
    """
    _check_size(image.shape)
    psds = _as_psds(noise, image.shape[:2], 1)
    if not psds.any():
        return np.array(image, dtype=np.float32)
    tensor = torch.as_tensor(np.asarray(image, np.float32), device=_device(device))[None]
    result = bm3d_channels(tensor, psds, stage=stage, settings=settings)
    return result[0].cpu().numpy()


def colour_psds(
    noise: float | np.ndarray, shape: tuple[int, int], colourspace: ColourSpace = "opp"
) -> np.ndarray:
    """The (3, H, W) PSDs of the decorrelated channels of RGB noise independent between channels.

    ``noise`` is a standard deviation, an HxW PSD shared by R, G and B, or a (3, H, W) PSD.
    """
    rgb = _as_psds(noise, shape, 3)
    return np.einsum("oc,chw->ohw", _COLOUR_TRANSFORMS[colourspace] ** 2, rgb)


def bm3d_rgb(
    image: np.ndarray,
    noise: float | np.ndarray,
    *,
    stage: Stage = "all",
    colourspace: ColourSpace = "opp",
    device: str | torch.device | None = None,
    settings: BM3DSettings | None = None,
) -> np.ndarray:
    """Denoise an RGB HxWx3 image with colour BM3D in a decorrelated colour space.

    Parameters are those of :func:`bm3d`, except that ``image`` is (H, W, 3), ``noise`` may
    also be a (3, H, W) PSD (one per RGB channel, noise independent between channels), and
    ``colourspace`` ("opp" opponent colours, or "YCbCr") is where blocks are filtered, matched
    on its first (luminance) channel.

    Returns
    -------
    ndarray, float32, (H, W, 3)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> clean = np.zeros((32, 32, 3), np.float32) + [0.2, 0.5, 0.8]
    >>> noisy = (clean + rng.normal(0, 0.1, clean.shape)).astype(np.float32)
    >>> bool(np.abs(bm3d_rgb(noisy, 0.1) - clean).mean() < 0.02)
    True
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"bm3d_rgb takes an HxWx3 image, got shape {image.shape}")
    _check_size(image.shape)
    psds = colour_psds(noise, image.shape[:2], colourspace)
    if not psds.any():
        return np.array(image, dtype=np.float32)
    forward = _COLOUR_TRANSFORMS[colourspace].astype(np.float32)
    decorrelated = np.asarray(image, np.float32) @ forward.T
    tensor = torch.as_tensor(np.ascontiguousarray(decorrelated.transpose(2, 0, 1)))
    result = bm3d_channels(tensor.to(_device(device)), psds, stage=stage, settings=settings)
    rgb = result.cpu().numpy().transpose(1, 2, 0) @ np.linalg.inv(forward).T
    return np.ascontiguousarray(rgb, dtype=np.float32)
