"""Film grain nodes: analyse grain, remove it with coloured-noise BM3D, re-synthesise it.

Grain is modelled as stationary Gaussian noise described by its power spectral density (PSD),
optionally with a strength that varies linearly with brightness. ``grain_analysis`` measures
it from the flattest patches of an image and outputs a table and the PSD (a field); both wire
into ``grain_removal`` (BM3D driven by the PSD) and ``grain_synthesis`` (noise shaped by the
PSD), so analysis -> removal and analysis -> synthesis are two-step pipelines.

The PSD field is ``p x p`` (one PSD for a gray image, or shared by all colour channels) or
``p x p x 3`` (one per RGB channel), in the convention of
:mod:`pixelwise.restoration.bm3d_torch`: the expected ``|fft2(noise)|²`` over a ``p x p``
patch, so white noise of standard deviation ``s`` has the constant PSD ``s² p²``. A PSD is
carried to an image of another size by :func:`psd_for_shape`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field
from scipy import ndimage

from pixelwise.errors import InputError
from pixelwise.nodes.base import Kind, Node, NodeParams
from pixelwise.nodes.color import join_alpha, luminance, split_alpha
from pixelwise.nodes.denoise import DeviceName, torch_device
from pixelwise.nodes.registry import register
from pixelwise.restoration.bm3d_torch import BLOCK, bm3d, bm3d_rgb

#: Smallest PSD side: it must hold the noise autocovariance at every lag within a BM3D block.
MIN_PSD_SIDE = 2 * BLOCK

#: Table entries the analysis writes and synthesis reads.
TABLE_KEYS = ("relative_std_slope", "mean_level")


#: Most rounds of widening the flat-tile selection (see :func:`estimate_grain`).
_SELECTION_ROUNDS = 4

#: Tiles whose variance is within this many standard deviations of a pure-grain tile's are
#: taken as flat.
_SELECTION_Z = 2.0

#: Brightness classes (quantiles of tile luminance) that each seed the flat-tile selection.
_BRIGHTNESS_CLASSES = 4

#: Largest ratio of grain strengths between brightness classes: a class whose least-varied
#: tiles vary more than this (squared) times the calmest class's holds structure, not grain.
_MAX_STRENGTH_RATIO = 2.0

#: Alternating projections that make the PSD non-negative (see :func:`_nonnegative_psd`).
_PSD_ROUNDS = 50


#: Tiles varying less than this hold no grain to measure (clipped highlights, synthetic
#: flats) and are left out of the selection.
_EMPTY_TILE_VARIANCE = 1e-12


@dataclass(frozen=True)
class GrainEstimate:
    """Grain measured on one image (see :func:`estimate_grain`)."""

    psd: np.ndarray
    """(C, p, p) float64 PSD per colour channel."""
    std: float
    """Grain standard deviation, averaged over channels."""
    correlation_length: tuple[float, float]
    """1/e widths of the autocorrelation along rows and columns (pixels), channel mean."""
    relative_std_slope: float
    """Change of the grain standard deviation per unit of luminance, as a fraction of the
    standard deviation at ``mean_level`` (0: grain as strong in shadows as in highlights)."""
    mean_level: float
    """Mean luminance of the patches used."""
    patches: int
    """Number of flat patches used."""


def _tiles(planes: np.ndarray, patch: int) -> np.ndarray:
    """Non-overlapping ``patch``-sided tiles of (C, H, W) planes: (N, C, patch, patch)."""
    channels, height, width = planes.shape
    rows, cols = height // patch, width // patch
    cropped = planes[:, : rows * patch, : cols * patch]
    tiles = cropped.reshape(channels, rows, patch, cols, patch).transpose(1, 3, 0, 2, 4)
    return tiles.reshape(rows * cols, channels, patch, patch)


def correlation_lengths(psd: np.ndarray) -> tuple[float, float]:
    """The 1/e widths (pixels) along rows and columns of the autocorrelation of a PSD.

    The autocorrelation is the normalised inverse FFT of ``psd`` (p x q); see
    :func:`_autocorrelation_widths` for how the widths are read.

    Examples
    --------
    >>> [round(length, 2) for length in correlation_lengths(np.ones((16, 16)))]
    [0.63, 0.63]
    """
    return _autocorrelation_widths(np.real(np.fft.ifft2(psd)))


def _autocorrelation_widths(autocovariance: np.ndarray) -> tuple[float, float]:
    """1/e widths of an autocovariance indexed by lag (lag 0 at [0, 0], wrapping or not).

    Each width is the lag where the autocorrelation along that axis first falls to 1/e,
    interpolated linearly between whole lags (white noise: 1 - 1/e ≈ 0.63), capped at half
    the array's side. Zero variance gives widths 0.
    """
    if autocovariance[0, 0] <= 0:
        return 0.0, 0.0
    correlation = autocovariance / autocovariance[0, 0]
    return (
        _first_crossing(correlation[: autocovariance.shape[0] // 2 + 1, 0]),
        _first_crossing(correlation[0, : autocovariance.shape[1] // 2 + 1]),
    )


def _first_crossing(profile: np.ndarray) -> float:
    """Where a profile starting at 1 first falls to 1/e, linear between samples."""
    level = np.exp(-1.0)
    below = np.flatnonzero(profile <= level)
    if below.size == 0:
        return float(profile.size - 1)
    lag = int(below[0])
    before, after = profile[lag - 1], profile[lag]
    return float(lag - 1 + (before - level) / (before - after))


def _tile_autocovariance(residuals: np.ndarray) -> np.ndarray:
    """Unbiased autocovariance of mean-removed (N, C, p, p) tiles: (C, p, p), lags wrapped.

    Lag sums come from zero-padded FFTs (no wrap-around between opposite tile edges) and are
    divided by the number of pixel pairs at each lag, which undoes the shrinking towards
    large lags of the plain periodogram. Removing each tile's mean lowers every lag by the
    variance of that mean; that offset cannot be told from the data alone, so it is taken
    from the lags beyond a quarter of the tile, where grain much finer than a tile is
    uncorrelated. Lags up to half the tile are kept, wrapped into a p x p array.
    """
    size = residuals.shape[-1]
    padded = np.fft.fft2(residuals, s=(2 * size, 2 * size))
    sums = np.real(np.fft.ifft2(np.abs(padded) ** 2)).mean(axis=0)  # (C, 2p, 2p)
    lags = np.fft.fftfreq(2 * size, 1.0 / (2 * size)).astype(int)
    pairs = np.maximum(size - np.abs(lags), 1)
    autocovariance = sums / (pairs[:, None] * pairs[None, :])
    reach = np.maximum(np.abs(lags)[:, None], np.abs(lags)[None, :])
    far = (reach >= size // 4) & (reach < size // 2)
    autocovariance -= autocovariance[:, far].mean(axis=1)[:, None, None]
    # Lags 0..p//2 then -(p - p//2 - 1)..-1 on each axis, as in an FFT of size p.
    wrapped = np.concatenate([np.arange(size // 2 + 1), np.arange(size // 2 + 1 - size, 0)])
    return autocovariance[:, wrapped[:, None], wrapped[None, :]]


def _degrees_of_freedom(autocovariance: np.ndarray, patch: int) -> float:
    """Effective number of independent pixels in a tile: its area over the correlation area.

    The correlation area is the sum of the autocorrelation over all lags kept (1 for white
    noise, about ``4 pi s²`` for white noise blurred by a Gaussian of ``s`` pixels).
    """
    if autocovariance[0, 0] <= 0:
        return float(patch**2)
    area = max(float(autocovariance.sum() / autocovariance[0, 0]), 1.0)
    return patch**2 / area


def _seed_tiles(spread: np.ndarray, levels: np.ndarray, flat_share: float) -> np.ndarray:
    """Least-varied ``flat_share`` of each brightness class, from classes that hold grain.

    Seeding per brightness class lets grain whose strength follows brightness be found in
    dark and bright regions alike; a class whose seeds vary more than
    ``_MAX_STRENGTH_RATIO²`` times the calmest class's (no flat region at that brightness)
    is left out.
    """
    classes = [
        group[np.argsort(spread[group], kind="stable")[: max(1, round(flat_share * group.size))]]
        for group in np.array_split(np.argsort(levels, kind="stable"), _BRIGHTNESS_CLASSES)
        if group.size
    ]
    calmest = min(float(spread[seeds].mean()) for seeds in classes)
    kept = [seeds for seeds in classes if spread[seeds].mean() <= _MAX_STRENGTH_RATIO**2 * calmest]
    return np.sort(np.concatenate(kept))


def _strength_line(
    spread: np.ndarray, levels: np.ndarray, chosen: np.ndarray
) -> tuple[float, float]:
    """Least-squares line (intercept, slope) of the chosen tiles' std against luminance.

    Flat (slope 0) with fewer than three tiles or tiles of a single brightness.
    """
    stds = np.sqrt(spread[chosen])
    if chosen.size < 3 or np.ptp(levels[chosen]) == 0:
        return float(stds.mean()), 0.0
    slope, intercept = np.polyfit(levels[chosen], stds, 1)
    return float(intercept), float(slope)


def _nonnegative_psd(autocovariance: np.ndarray, reach: int) -> np.ndarray:
    """A non-negative (C, p, p) PSD whose autocovariance matches the given one up to ``reach``.

    The measured autocovariance, cut off at half a tile, can have a Fourier transform with
    small negative values, which no noise has (and BM3D refuses). Alternating projections
    between non-negative spectra and spectra with the measured lags up to ``reach`` converge
    to one that keeps the short-range correlation (all BM3D and the grain size depend on)
    and changes only the long-range lags, which a tile measures poorly anyway.
    """
    size = autocovariance.shape[-1]
    lags = np.abs(np.fft.fftfreq(size, 1.0 / size))
    measured = np.maximum(lags[:, None], lags[None, :]) <= reach
    spectrum = np.maximum(np.real(np.fft.fft2(autocovariance)), 0.0)
    for _ in range(_PSD_ROUNDS):
        current = np.real(np.fft.ifft2(spectrum))
        current[:, measured] = autocovariance[:, measured]
        spectrum = np.maximum(np.real(np.fft.fft2(current)), 0.0)
    return spectrum * size**2


def _flat_tiles(
    residuals: np.ndarray, spread: np.ndarray, levels: np.ndarray, flat_share: float
) -> np.ndarray:
    """Indices of the tiles taken as flat grain (see :func:`estimate_grain`).

    ``residuals`` are the mean-removed (N, C, p, p) tiles, ``spread`` their variances summed
    over channels and ``levels`` their mean luminance. Tiles without variance are left out
    unless every tile is one.
    """
    patch = residuals.shape[-1]
    candidates = np.flatnonzero(spread > _EMPTY_TILE_VARIANCE)
    if candidates.size == 0:
        return np.arange(len(spread))
    chosen = candidates[_seed_tiles(spread[candidates], levels[candidates], flat_share)]
    for _ in range(_SELECTION_ROUNDS):
        autocovariance = _tile_autocovariance(residuals[chosen]).sum(axis=0)
        intercept, slope = _strength_line(spread, levels, chosen)
        tolerance = _SELECTION_Z * np.sqrt(2.0 / _degrees_of_freedom(autocovariance, patch))
        expected = np.maximum(intercept + slope * levels[candidates], 0.0) ** 2
        within = candidates[spread[candidates] <= expected * (1.0 + tolerance)]
        widened = np.union1d(chosen, within)
        if np.array_equal(widened, chosen):
            break
        chosen = widened
    return chosen


def estimate_grain(
    image: np.ndarray, patch: int = 32, flat_share: float = 0.3, source: str = "image"
) -> GrainEstimate:
    """Measure the grain of an HxW or HxWxC image from its flattest ``patch``-sided tiles.

    Parameters
    ----------
    image : ndarray, float, (H, W) or (H, W, 3)
        Grainy gray or RGB image (alpha already removed); both sides at least ``patch``.
    patch : int
        Side of the square tiles, and of the PSD returned.
    flat_share : float
        Share of the tiles of each brightness class that seeds the selection of flat tiles:
        those with the least variance (summed over channels), so that image structure does
        not count as grain.
    source : str
        How errors name the image.

    Returns
    -------
    GrainEstimate
        Seeds are the least-varied ``flat_share`` of the tiles in each of four brightness
        classes (:func:`_seed_tiles`). Keeping only those would bias the strength low (their
        grain happens to be weaker, markedly so for coarse grain, whose tiles hold few
        independent clumps), so the selection is widened, in up to four rounds, to every
        tile whose variance is within two standard deviations of a pure-grain tile's at its
        luminance: grain strength is modelled as a line in luminance, and the spread of a
        tile's variance follows from the grain's correlation area. The line's slope is
        reported relative to its value at the selected tiles' mean luminance. Standard
        deviation and correlation lengths are read from the selected tiles' unbiased
        autocovariance (:func:`_tile_autocovariance`); the PSD is its non-negative Fourier
        transform (:func:`_nonnegative_psd`).

    Examples
    --------
    >>> noise = np.random.default_rng(0).normal(0.5, 0.1, (128, 128))
    >>> grain = estimate_grain(noise)
    >>> round(grain.std, 2), grain.patches  # pure grain: every tile is flat
    (0.1, 16)
    """
    planes = image[np.newaxis] if image.ndim == 2 else np.moveaxis(image, -1, 0)
    if min(planes.shape[1:]) < patch:
        raise InputError(
            source,
            f"grain analysis needs both sides at least {patch} pixels (one patch), "
            f"got shape {image.shape}",
        )
    tiles = _tiles(planes.astype(np.float64), patch)
    residuals = tiles - tiles.mean(axis=(2, 3), keepdims=True)
    spread = residuals.var(axis=(2, 3)).sum(axis=1)
    levels = _tiles(luminance(image)[np.newaxis].astype(np.float64), patch).mean(axis=(1, 2, 3))
    chosen = _flat_tiles(residuals, spread, levels, flat_share)
    autocovariance = _tile_autocovariance(residuals[chosen])
    intercept, slope = _strength_line(spread, levels, chosen)
    mean_level = float(levels[chosen].mean())
    at_mean_level = intercept + slope * mean_level
    reach = min(patch // 2 - 1, max(patch // 4, BLOCK - 1))
    lengths = np.array([_autocorrelation_widths(channel) for channel in autocovariance])
    return GrainEstimate(
        psd=_nonnegative_psd(autocovariance, reach),
        std=float(np.sqrt(np.maximum(autocovariance[:, 0, 0], 0.0)).mean()),
        correlation_length=(float(lengths[:, 0].mean()), float(lengths[:, 1].mean())),
        relative_std_slope=slope / at_mean_level if at_mean_level > 0 else 0.0,
        mean_level=mean_level,
        patches=len(chosen),
    )


def psd_for_shape(psd: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Carry a p x q PSD to an image of ``shape`` (H, W): the same noise, sampled on H x W.

    The spectrum is linearly interpolated at the image's frequencies (periodically, as
    frequencies wrap) and scaled by ``H W / (p q)``, so the noise variance is kept.

    Examples
    --------
    >>> white = np.full((16, 16), 0.01 * 16 * 16)  # standard deviation 0.1
    >>> bool(np.allclose(psd_for_shape(white, (40, 24)), 0.01 * 40 * 24))
    True
    """
    if psd.shape == shape:
        return psd
    rows = np.arange(shape[0]) * psd.shape[0] / shape[0]
    cols = np.arange(shape[1]) * psd.shape[1] / shape[1]
    grid = np.meshgrid(rows, cols, indexing="ij")
    sampled = ndimage.map_coordinates(psd, grid, order=1, mode="grid-wrap")
    return sampled * (shape[0] * shape[1]) / (psd.shape[0] * psd.shape[1])


def image_psds(node: Node, psd: np.ndarray, shape: tuple[int, int], channels: int) -> np.ndarray:
    """The (channels, H, W) PSDs for an image from a PSD field, or an InputError on ``node.psd``.

    A single-channel field applies to every channel; a multi-channel one needs one channel
    per colour channel of the image.
    """
    source = f"{node.name}.psd"
    field = psd[..., np.newaxis] if psd.ndim == 2 else psd
    if field.shape[2] not in (1, channels):
        raise InputError(
            source,
            f"the PSD has {field.shape[2]} channels but the image has {channels}; give one "
            f"PSD (HxW) or one per colour channel (HxWx{channels})",
        )
    if min(field.shape[:2]) < MIN_PSD_SIDE:
        raise InputError(
            source,
            f"the PSD must be at least {MIN_PSD_SIDE}x{MIN_PSD_SIDE} (got {field.shape[:2]}), "
            f"to hold the noise correlation within a {BLOCK}x{BLOCK} block",
        )
    if (field < 0).any():
        raise InputError(source, "a power spectral density cannot be negative")
    planes = [psd_for_shape(plane.astype(np.float64), shape) for plane in np.moveaxis(field, -1, 0)]
    return np.stack(planes * (channels // len(planes)))


def _colour_planes(node: Node, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The colour part of a gray or RGB image (alpha split off), else an InputError."""
    colour, alpha = split_alpha(image)
    if colour.ndim == 3 and colour.shape[2] == 1:
        colour = colour[..., 0]
    if colour.ndim == 3 and colour.shape[2] != 3:
        raise InputError(f"{node.name}.image", f"expected a gray or RGB image, got {image.shape}")
    return colour, alpha


class GrainAnalysisParams(NodeParams):
    patch: int = Field(
        32, ge=MIN_PSD_SIDE, le=256, description="Side of the analysed tiles and of the PSD."
    )
    flat_share: float = Field(
        0.3, gt=0, le=1, description="Share of each brightness class seeding the flat tiles."
    )


@register
class GrainAnalysis(Node[GrainAnalysisParams]):
    """Measure film grain from the flattest tiles of an image (:func:`estimate_grain`).

    Outputs a table — ``std`` (grain standard deviation), ``correlation_length`` (1/e width
    of the autocorrelation in pixels, mean of ``correlation_length_x`` along rows and
    ``correlation_length_y`` along columns; about 0.63 for white noise, larger for coarser
    grain), ``relative_std_slope`` and ``mean_level`` (grain strength against luminance, see
    :class:`GrainEstimate`), ``patches``
    — and the grain PSD as a ``patch x patch`` field (``patch x patch x 3`` on RGB, one per
    channel). Colour channels are measured on the same tiles; alpha is ignored. An image
    smaller than ``patch`` is analysed in tiles of its shorter side (at least 16 pixels). A
    constant image has no grain: zero std, lengths and PSD.
    """

    name = "grain_analysis"
    category = "grain"
    description = "Estimate film grain strength, size and power spectrum from flat regions."
    outputs: ClassVar[dict[str, Kind]] = {"table": Kind.TABLE, "psd": Kind.FIELD}
    modifies_input = False

    def process(self, image: np.ndarray) -> dict[str, object]:
        colour, _ = _colour_planes(self, image)
        patch = max(min(self.params.patch, *colour.shape[:2]), MIN_PSD_SIDE)
        grain = estimate_grain(colour, patch, self.params.flat_share, f"{self.name}.image")
        length_x, length_y = grain.correlation_length
        table = {
            "std": grain.std,
            "correlation_length": (length_x + length_y) / 2,
            "correlation_length_x": length_x,
            "correlation_length_y": length_y,
            "relative_std_slope": grain.relative_std_slope,
            "mean_level": grain.mean_level,
            "patches": float(grain.patches),
        }
        psd = grain.psd[0] if colour.ndim == 2 else np.moveaxis(grain.psd, 0, -1)
        return {"table": table, "psd": psd}


class GrainRemovalParams(NodeParams):
    strength: float = Field(
        1.0, gt=0, le=16, description="Multiplier of the PSD: above 1 removes more."
    )
    stage: Literal["all", "hard"] = Field(
        "all", description="'all': hard thresholding then Wiener; 'hard': first stage only."
    )
    device: DeviceName = Field("auto", description="Where to run: 'auto' uses CUDA if present.")


@register
class GrainRemoval(Node[GrainRemovalParams]):
    """Remove grain with BM3D driven by its power spectrum (coloured-noise BM3D).

    The PSD field (from ``grain_analysis``) is carried to the image's size
    (:func:`psd_for_shape`) and BM3D (:func:`~pixelwise.restoration.bm3d_torch.bm3d`, or
    ``bm3d_rgb`` in opponent colours for RGB, channels' grain taken as independent) shrinks
    every block coefficient by its own noise variance, so low-frequency clumps of coarse
    grain are removed where white-noise BM3D with the same standard deviation leaves them.
    A gray image takes an HxW PSD, an RGB one an HxW PSD (shared) or HxWx3; alpha passes
    through. A zero PSD returns the image unchanged.
    """

    name = "grain_removal"
    category = "grain"
    description = "Remove film grain with BM3D driven by the analysed grain spectrum."
    inputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE, "psd": Kind.FIELD}
    modifies_input = False

    def process(self, image: np.ndarray, psd: np.ndarray) -> np.ndarray:
        colour, alpha = _colour_planes(self, image)
        if min(colour.shape[:2]) < BLOCK:
            raise InputError(
                f"{self.name}.image",
                f"BM3D needs both sides at least {BLOCK} pixels, got shape {image.shape}",
            )
        channels = 1 if colour.ndim == 2 else 3
        psds = self.params.strength * image_psds(self, psd, colour.shape[:2], channels)
        device = torch_device(self, self.params.device)
        if channels == 1:
            cleaned = bm3d(colour, psds[0], stage=self.params.stage, device=device)
        else:
            cleaned = bm3d_rgb(colour, psds, stage=self.params.stage, device=device)
        return join_alpha(cleaned, alpha)


class GrainSynthesisParams(NodeParams):
    strength: float = Field(
        1.0, ge=0, le=16, description="Multiplier of the grain's standard deviation."
    )
    luminance_dependent: bool = Field(
        False, description="Scale grain with luminance as in the analysed sample."
    )
    seed: int = Field(0, ge=0, description="Random seed; the same seed gives the same grain.")


@register
class GrainSynthesis(Node[GrainSynthesisParams]):
    """Add grain matched to an analysed sample: noise shaped by its PSD.

    Seeded white Gaussian noise is filtered in the Fourier domain by the square root of the
    PSD (carried to the image's size, :func:`psd_for_shape`), so it has the sample's
    standard deviation and autocorrelation, times ``strength``. A single-channel PSD gives
    the same (monochrome) grain in every colour channel, a three-channel one independent
    grain per channel. With ``luminance_dependent`` the grain is scaled by
    ``max(0, 1 + relative_std_slope * (L - mean_level))`` from the analysis table, L the
    image's luminance: the sample's strength-against-brightness line. The result is clipped to
    [0, 1] (as ``film_grain``); alpha passes through.
    """

    name = "grain_synthesis"
    category = "grain"
    description = "Add grain with the spectrum (and luminance response) of an analysed sample."
    inputs: ClassVar[dict[str, Kind]] = {
        "image": Kind.IMAGE,
        "psd": Kind.FIELD,
        "table": Kind.TABLE,
    }
    modifies_input = False

    def process(self, image: np.ndarray, psd: np.ndarray, table: dict[str, float]) -> np.ndarray:
        colour, alpha = _colour_planes(self, image)
        shape = colour.shape[:2]
        channels = 1 if colour.ndim == 2 else 3
        psds = image_psds(self, psd, shape, channels)
        monochrome = psd.ndim == 2 or psd.shape[2] == 1
        rng = np.random.default_rng(self.params.seed)
        spectra = np.sqrt(psds[: 1 if monochrome else channels] / (shape[0] * shape[1]))
        white = rng.standard_normal(spectra.shape)
        grain = np.real(np.fft.ifft2(np.fft.fft2(white) * spectra)) * self.params.strength
        if self.params.luminance_dependent:
            grain *= self._luminance_gain(luminance(colour), table)
        grain = np.moveaxis(grain, 0, -1)
        noisy = colour + (grain[..., 0] if colour.ndim == 2 else grain)
        return join_alpha(np.clip(noisy, 0.0, 1.0).astype(np.float32), alpha)

    def _luminance_gain(self, lightness: np.ndarray, table: dict[str, float]) -> np.ndarray:
        missing = [key for key in TABLE_KEYS if key not in table]
        if missing:
            raise InputError(
                f"{self.name}.table",
                f"luminance-dependent grain needs the grain_analysis entries {missing}",
            )
        slope, level = table["relative_std_slope"], table["mean_level"]
        return np.maximum(0.0, 1.0 + slope * (lightness - level))


__all__ = [
    "GrainAnalysis",
    "GrainEstimate",
    "GrainRemoval",
    "GrainSynthesis",
    "correlation_lengths",
    "estimate_grain",
    "image_psds",
    "psd_for_shape",
]
