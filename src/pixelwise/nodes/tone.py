"""Tone and contrast nodes: CLAHE, histogram equalisation, gamma, levels.

CLAHE and histogram equalisation remap lightness only (the L channel of CIE Lab on colour
images, see :func:`pixelwise.nodes.color.apply_to_lightness`) so that they change contrast
without shifting hue or chroma.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from pydantic import Field, model_validator
from skimage import exposure

from pixelwise.nodes.base import Node, NodeParams
from pixelwise.nodes.color import apply_to_lightness, join_alpha, split_alpha
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


@register
class Clahe(Node[ClaheParams]):
    """Contrast-limited adaptive histogram equalisation (skimage ``equalize_adapthist``).

    Raises local contrast tile by tile. Colour images are equalised on Lab lightness only.
    As in scikit-image, the equalised lightness is stretched to span [0, 1].
    """

    name = "clahe"
    category = "tone"
    description = "Contrast-limited adaptive histogram equalisation of lightness."

    def process(self, image: np.ndarray) -> np.ndarray:
        curve = partial(
            _clahe_gray, clip_limit=self.params.clip_limit, kernel_size=self.params.kernel_size
        )
        return apply_to_lightness(image, curve)


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


__all__ = ["AutoLevels", "Clahe", "EqualizeHistogram", "Gamma"]
