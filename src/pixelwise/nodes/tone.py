"""Tone and contrast nodes: CLAHE, histogram equalisation, gamma, levels, Retinex.

CLAHE and histogram equalisation remap lightness only (by default the L channel of CIE Lab
on colour images, see :func:`pixelwise.nodes.color.apply_to_lightness`) so that they change
contrast without shifting hue.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

import numpy as np
from pydantic import Field, model_validator
from scipy import fft
from skimage import exposure

from pixelwise.nodes.base import Node, NodeParams
from pixelwise.nodes.color import LightnessSpace, apply_to_lightness, join_alpha, split_alpha
from pixelwise.nodes.registry import register


def _clahe_gray(lightness: np.ndarray, clip_limit: float, kernel_size: int | None) -> np.ndarray:
    """CLAHE of an HxW image in [0, 1]; a flat image is returned unchanged.

    :func:`skimage.exposure.equalize_adapthist` min-max stretches its input and output,
    which would turn a flat image white.
    """
    if np.ptp(lightness) == 0:
        return lightness.copy()
    return exposure.equalize_adapthist(lightness, kernel_size=kernel_size, clip_limit=clip_limit)


class ClaheParams(NodeParams):
    clip_limit: float = Field(
        0.01, gt=0, le=1, description="Contrast limit, as a fraction of the tile's pixels per bin."
    )
    kernel_size: int | None = Field(
        None, ge=2, description="Tile size in pixels; default 1/8 of each image dimension."
    )
    space: LightnessSpace = Field(
        "lab",
        description="Channel equalised on colour images: Lab L, Oklab L, HSV V or YCrCb Y.",
    )


@register
class Clahe(Node[ClaheParams]):
    """Contrast-limited adaptive histogram equalisation (skimage ``equalize_adapthist``).

    Raises local contrast tile by tile. Colour images are equalised on one lightness-like
    channel of ``space`` only (CIE Lab L, Oklab L, HSV value or YCrCb luma) and the other two
    are kept, so hue does not shift (see :func:`~pixelwise.nodes.color.apply_to_lightness`).
    As in scikit-image, the equalised channel is stretched to span [0, 1].
    """

    name = "clahe"
    category = "tone"
    description = "Contrast-limited adaptive histogram equalisation of lightness."

    def process(self, image: np.ndarray) -> np.ndarray:
        curve = partial(
            _clahe_gray, clip_limit=self.params.clip_limit, kernel_size=self.params.kernel_size
        )
        return apply_to_lightness(image, curve, self.params.space)


class EqualizeHistogramParams(NodeParams):
    nbins: int = Field(256, ge=2, le=65536, description="Number of histogram bins.")


@register
class EqualizeHistogram(Node[EqualizeHistogramParams]):
    """Global histogram equalisation (skimage ``equalize_hist``) of lightness.

    Maps each value to its cumulative frequency, which flattens the histogram.
    """

    name = "equalize_histogram"
    category = "tone"
    description = "Global histogram equalisation of lightness."

    def process(self, image: np.ndarray) -> np.ndarray:
        return apply_to_lightness(image, partial(exposure.equalize_hist, nbins=self.params.nbins))


class GammaParams(NodeParams):
    gamma: float = Field(1.0, gt=0, description="Exponent: below 1 brightens, above 1 darkens.")
    gain: float = Field(1.0, gt=0, description="Multiplier applied after the power law.")


@register
class Gamma(Node[GammaParams]):
    """Power-law tone curve ``gain * image ** gamma`` (skimage ``adjust_gamma``).

    Negative values (possible in noisy images) are clipped to 0 first, where the power is
    defined; the alpha channel of gray+alpha and RGB+alpha images is left unchanged.
    """

    name = "gamma"
    category = "tone"
    description = "Power-law (gamma) tone curve: gain * image ** gamma."

    def process(self, image: np.ndarray) -> np.ndarray:
        colour, alpha = split_alpha(image)
        curved = exposure.adjust_gamma(np.maximum(colour, 0.0), self.params.gamma, self.params.gain)
        return join_alpha(curved, alpha)


class AutoLevelsParams(NodeParams):
    low_percentile: float = Field(0.5, ge=0, lt=100, description="Percentile mapped to black (0).")
    high_percentile: float = Field(
        99.5, gt=0, le=100, description="Percentile mapped to white (1)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> AutoLevelsParams:
        if self.low_percentile >= self.high_percentile:
            raise ValueError("low_percentile must be below high_percentile")
        return self


@register
class AutoLevels(Node[AutoLevelsParams]):
    """Stretch contrast so the low/high percentiles become 0 and 1, clipping beyond them.

    The black and white points are taken over all colour channels together, so colour
    balance is kept. An image whose two percentiles coincide (a flat image) cannot be
    stretched and is only clipped to [0, 1].
    """

    name = "auto_levels"
    category = "tone"
    description = "Map the low/high percentiles to black/white and stretch to [0, 1]."

    def process(self, image: np.ndarray) -> np.ndarray:
        colour, alpha = split_alpha(image)
        black, white = np.percentile(
            colour, [self.params.low_percentile, self.params.high_percentile]
        )
        if white > black:
            stretched = exposure.rescale_intensity(
                colour, in_range=(black, white), out_range=(0.0, 1.0)
            )
        else:
            stretched = np.clip(colour, 0.0, 1.0)
        return join_alpha(stretched, alpha)


# Added before taking logarithms: one 8-bit step, so black pixels have a finite log.
_LOG_OFFSET = 1.0 / 255.0

# A Retinex channel spanning less than this is flat: there is nothing to stretch.
_FLAT_SPAN = 1e-6


def gaussian_surround(plane: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an HxW image with mirrored borders, at a cost independent of ``sigma``.

    The DCT-II diagonalises convolution with a symmetric kernel under half-sample mirrored
    borders, so the blur is a multiplication of DCT coefficients by the Gaussian's transfer
    function ``exp(-(sigma w)² / 2)`` at ``w = pi k / N``. Retinex surrounds (sigma up to
    hundreds of pixels) would otherwise need kernels wider than the image.

    Examples
    --------
    >>> ramp = np.tile(np.arange(8.0), (4, 1))
    >>> bool(np.allclose(gaussian_surround(ramp, 1e3), ramp.mean()))
    True
    """
    coefficients = fft.dctn(plane, type=2, norm="ortho")
    rows, cols = (np.pi * np.arange(size) / size for size in plane.shape)
    coefficients *= np.exp(-0.5 * sigma**2 * rows[:, None] ** 2)
    coefficients *= np.exp(-0.5 * sigma**2 * cols[None, :] ** 2)
    return fft.idctn(coefficients, type=2, norm="ortho")


def simplest_colour_balance(
    plane: np.ndarray, low_share: float, high_share: float
) -> np.ndarray | None:
    """Stretch an HxW channel to [0, 1], saturating ``low_share``/``high_share`` of its pixels.

    The "simplest colour balance" of Limare, Lisani, Morel, Petro & Sbert (IPOL 2011): the
    values at those quantiles become 0 and 1, values beyond them are clipped. Returns None
    for a flat channel (quantiles closer than 1e-6), which has no range to stretch.

    Examples
    --------
    >>> balanced = simplest_colour_balance(np.arange(100.0).reshape(10, 10), 0.05, 0.05)
    >>> float(balanced.mean()), int((balanced == 0).sum()), int((balanced == 1).sum())
    (0.5, 5, 5)
    """
    low, high = np.quantile(plane, [low_share, 1.0 - high_share])
    if high - low < _FLAT_SPAN:
        return None
    return np.clip((plane - low) / (high - low), 0.0, 1.0)


class RetinexParams(NodeParams):
    sigmas: tuple[Annotated[float, Field(ge=1, le=1000)], ...] = Field(
        (15.0, 80.0, 250.0),
        min_length=1,
        description="Gaussian surround scales in pixels, weighted equally.",
    )
    colour_restoration: bool = Field(
        True, description="Multiply by the colour restoration function (MSRCR) on RGB."
    )
    alpha: float = Field(125.0, gt=0, description="Colour restoration nonlinearity strength.")
    beta: float = Field(46.0, gt=0, description="Colour restoration gain.")
    low_clip: float = Field(
        0.01, ge=0, lt=0.5, description="Share of each channel's pixels saturated to black."
    )
    high_clip: float = Field(
        0.01, ge=0, lt=0.5, description="Share of each channel's pixels saturated to white."
    )


@register
class Retinex(Node[RetinexParams]):
    """Multi-scale Retinex with colour restoration (MSRCR, Jobson, Rahman & Woodell 1997).

    Each channel's log is compared with the log of its Gaussian surround at every scale in
    ``sigmas`` (:func:`gaussian_surround`), and the differences are averaged: this divides
    out slowly varying illumination, brightening shadows and compressing the dynamic range.
    On RGB with ``colour_restoration``, each channel is then multiplied by
    ``beta * (log(alpha I_c) - log(sum_j I_j))``, which restores the saturation that the
    per-channel division greys out. Finally each channel is stretched to [0, 1] by
    :func:`simplest_colour_balance`, saturating at most ``low_clip`` and ``high_clip`` of its
    pixels (more only where values tie at a quantile). Gray images get multi-scale Retinex
    without colour restoration; alpha passes through. Input is clipped to [0, 1] first; a
    channel whose Retinex output is flat (a constant image: no illumination to remove) keeps
    its input values.
    """

    name = "retinex"
    category = "tone"
    description = "Multi-scale Retinex with colour restoration (MSRCR): evens illumination."
    modifies_input = False

    def process(self, image: np.ndarray) -> np.ndarray:
        colour, alpha = split_alpha(image)
        values = np.clip(colour, 0.0, 1.0).astype(np.float64) + _LOG_OFFSET
        planes = values[..., np.newaxis] if values.ndim == 2 else values
        logs = np.log(planes)
        retinex = np.zeros_like(planes)
        for channel in range(planes.shape[2]):
            for sigma in self.params.sigmas:
                # A blur of values >= the offset stays >= it, up to rounding.
                surround = np.maximum(gaussian_surround(planes[..., channel], sigma), _LOG_OFFSET)
                retinex[..., channel] += logs[..., channel] - np.log(surround)
        retinex /= len(self.params.sigmas)
        if self.params.colour_restoration and planes.shape[2] == 3:
            total = planes.sum(axis=2, keepdims=True)
            retinex *= self.params.beta * (np.log(self.params.alpha * planes) - np.log(total))
        balanced = planes - _LOG_OFFSET
        for channel in range(planes.shape[2]):
            stretched = simplest_colour_balance(
                retinex[..., channel], self.params.low_clip, self.params.high_clip
            )
            if stretched is not None:
                balanced[..., channel] = stretched
        return join_alpha(balanced.reshape(colour.shape).astype(np.float32), alpha)


__all__ = [
    "AutoLevels",
    "Clahe",
    "EqualizeHistogram",
    "Gamma",
    "Retinex",
    "gaussian_surround",
    "simplest_colour_balance",
]
