"""Colour-space conversion nodes, and helpers for nodes that work on lightness only.

Images are canonical float32 arrays (see :mod:`pixelwise.nodes.base`). Two- and
four-channel images are read as gray+alpha and RGB+alpha: the helpers here keep the alpha
channel out of colour computations and pass it through unchanged.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from skimage import color

from pixelwise.nodes.base import Node, NodeParams
from pixelwise.nodes.registry import register

_LAB_L_MAX = 100.0


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Split an HxW or HxWxC image into its colour part and its alpha channel.

    HxWx2 (gray+alpha) and HxWx4 (RGB+alpha) images carry alpha in the last channel; the
    colour part of an HxWx2 image is returned as HxW. Other images have no alpha (``None``).
    """
    if image.ndim == 3 and image.shape[2] in (2, 4):
        colour = image[..., :-1]
        return (colour[..., 0] if colour.shape[2] == 1 else colour), image[..., -1]
    return image, None


def join_alpha(colour: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Inverse of :func:`split_alpha`: append ``alpha`` (HxW, or ``None``) to ``colour``."""
    if alpha is None:
        return colour
    channels = colour if colour.ndim == 3 else colour[..., np.newaxis]
    return np.concatenate([channels, alpha[..., np.newaxis]], axis=-1)


def luminance(image: np.ndarray) -> np.ndarray:
    """The HxW luminance of an image: itself if gray, Rec. 709 luma of RGB (alpha ignored)."""
    colour, _ = split_alpha(image)
    if colour.ndim == 2:
        return colour
    if colour.shape[2] == 1:
        return colour[..., 0]
    return color.rgb2gray(colour)


def apply_to_lightness(
    image: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Apply a tone curve ``transform`` (HxW in [0, 1] -> HxW in [0, 1]) to lightness only.

    Gray images are transformed directly. RGB images are converted to CIE Lab, the L channel
    (scaled to [0, 1]) is transformed and a* b* are kept, so hue and chroma are preserved
    (up to gamut clipping on the way back to RGB). Alpha passes through. The image is
    clipped to [0, 1] first, as Lab is defined for display-range colours.
    """
    colour, alpha = split_alpha(image)
    colour = np.clip(colour, 0.0, 1.0)
    if colour.ndim == 2:
        result = transform(colour)
    elif colour.shape[2] == 1:
        result = transform(colour[..., 0])[..., np.newaxis]
    else:
        lab = color.rgb2lab(colour)
        lab[..., 0] = transform(lab[..., 0] / _LAB_L_MAX) * _LAB_L_MAX
        with warnings.catch_warnings():
            # Brightening a saturated colour can leave the sRGB gamut; lab2rgb clips it
            # (the documented "up to gamut clipping" above) and warns each time.
            warnings.filterwarnings("ignore", "Conversion from CIE-LAB", UserWarning)
            result = color.lab2rgb(lab)
    return join_alpha(result.astype(np.float32, copy=False), alpha)


@register
class RgbToGray(Node[NodeParams]):
    """Rec. 709 luma of an RGB image (:func:`skimage.color.rgb2gray`): HxWx3 -> HxW."""

    name = "rgb_to_gray"
    category = "color"
    description = "Convert an RGB image to grayscale luma (Rec. 709 weights)."
    channels = "rgb"

    def process(self, image: np.ndarray) -> np.ndarray:
        return color.rgb2gray(image)


@register
class GrayToRgb(Node[NodeParams]):
    """Repeat a grayscale image into three identical channels: HxW -> HxWx3."""

    name = "gray_to_rgb"
    category = "color"
    description = "Convert a grayscale image to RGB by repeating it in three channels."
    channels = "gray"

    def process(self, image: np.ndarray) -> np.ndarray:
        return color.gray2rgb(image)


@register
class RgbToHsv(Node[NodeParams]):
    """RGB -> HSV (:func:`skimage.color.rgb2hsv`); hue is a fraction of a turn in [0, 1).

    The image is clipped to [0, 1] first: HSV is defined for display-range colours only.
    """

    name = "rgb_to_hsv"
    category = "color"
    description = "Convert an RGB image to HSV (hue, saturation, value, all in [0, 1])."
    channels = "rgb"

    def process(self, image: np.ndarray) -> np.ndarray:
        return color.rgb2hsv(np.clip(image, 0.0, 1.0))


@register
class HsvToRgb(Node[NodeParams]):
    """HSV -> RGB (:func:`skimage.color.hsv2rgb`).

    Hue is circular, so it is wrapped into [0, 1); saturation and value are clipped to [0, 1].
    """

    name = "hsv_to_rgb"
    category = "color"
    description = "Convert an HSV image (all channels in [0, 1]) back to RGB."
    channels = "rgb"

    def process(self, image: np.ndarray) -> np.ndarray:
        hsv = np.empty_like(image)
        hsv[..., 0] = np.mod(image[..., 0], 1.0)
        hsv[..., 1:] = np.clip(image[..., 1:], 0.0, 1.0)
        return color.hsv2rgb(hsv)


__all__ = [
    "GrayToRgb",
    "HsvToRgb",
    "RgbToGray",
    "RgbToHsv",
    "apply_to_lightness",
    "join_alpha",
    "luminance",
    "split_alpha",
]
