"""Colour-space conversion nodes, perceptual (Oklab) adjustments, and lightness helpers.

Images are canonical float32 arrays (see :mod:`pixelwise.nodes.base`). Two- and
four-channel images are read as gray+alpha and RGB+alpha: the helpers here keep the alpha
channel out of colour computations and pass it through unchanged.

Oklab (Ottosson 2020) is a perceptual colour space: L is lightness (0 black, 1 the sRGB white),
a and b are opponent axes, so chroma is ``hypot(a, b)`` and hue the angle of (a, b). Equal steps
in it look about equally large, and changing L keeps hue better than CIE Lab does in blues. No
library in use provides it (scikit-image and OpenCV do not; colour-science would add a large
dependency for two 3x3 matrices), so it is written here from the published definition.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal

import cv2
import numpy as np
from pydantic import Field
from skimage import color

from pixelwise.nodes.base import Node, NodeParams
from pixelwise.nodes.registry import register

_LAB_L_MAX = 100.0

LightnessSpace = Literal["lab", "oklab", "hsv", "ycrcb"]
"""Colour spaces whose lightness-like channel tone curves may act on, keeping the others."""

# Oklab, from linear sRGB: LMS cone responses, their cube roots, then the Lab-like axes.
_LINEAR_SRGB_TO_LMS = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_LMS_ROOT_TO_OKLAB = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)
_LMS_TO_LINEAR_SRGB = np.linalg.inv(_LINEAR_SRGB_TO_LMS)
_OKLAB_TO_LMS_ROOT = np.linalg.inv(_LMS_ROOT_TO_OKLAB)


def _srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """Undo the sRGB transfer curve (IEC 61966-2-1) of values in [0, 1]."""
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Apply the sRGB transfer curve to linear values in [0, 1]."""
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def rgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB (HxWx3 or Nx3, clipped to [0, 1]) to Oklab, float64 of the same shape.

    Examples
    --------
    >>> np.round(rgb_to_oklab(np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])), 3)
    array([[1.   , 0.   , 0.   ],
           [0.628, 0.225, 0.126]])
    """
    linear = _srgb_to_linear(np.clip(np.asarray(rgb, np.float64), 0.0, 1.0))
    return np.cbrt(linear @ _LINEAR_SRGB_TO_LMS.T) @ _LMS_ROOT_TO_OKLAB.T


def oklab_to_rgb(oklab: np.ndarray) -> np.ndarray:
    """Convert Oklab (..., 3) to sRGB float64, clipping colours outside the sRGB gamut.

    Examples
    --------
    >>> rgb = np.array([[0.2, 0.5, 0.9]])
    >>> bool(np.allclose(oklab_to_rgb(rgb_to_oklab(rgb)), rgb))
    True
    """
    linear = (np.asarray(oklab, np.float64) @ _OKLAB_TO_LMS_ROOT.T) ** 3 @ _LMS_TO_LINEAR_SRGB.T
    return _linear_to_srgb(np.clip(linear, 0.0, 1.0))


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


def _lightness_via_lab(
    rgb: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    lab = color.rgb2lab(rgb)
    lab[..., 0] = transform(lab[..., 0] / _LAB_L_MAX) * _LAB_L_MAX
    with warnings.catch_warnings():
        # Brightening a saturated colour can leave the sRGB gamut; lab2rgb clips it
        # (the documented "up to gamut clipping") and warns each time.
        warnings.filterwarnings("ignore", "Conversion from CIE-LAB", UserWarning)
        return color.lab2rgb(lab)


def _lightness_via_oklab(
    rgb: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    oklab = rgb_to_oklab(rgb)
    oklab[..., 0] = transform(np.clip(oklab[..., 0], 0.0, 1.0))
    return oklab_to_rgb(oklab)


def _lightness_via_hsv(
    rgb: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    hsv = color.rgb2hsv(rgb)
    hsv[..., 2] = transform(hsv[..., 2])
    return color.hsv2rgb(hsv)


def _lightness_via_ycrcb(
    rgb: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    ycrcb = cv2.cvtColor(np.ascontiguousarray(rgb, np.float32), cv2.COLOR_RGB2YCrCb)
    ycrcb[..., 0] = transform(ycrcb[..., 0])
    return np.clip(cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB), 0.0, 1.0)


_LIGHTNESS_SPACES: dict[
    str, Callable[[np.ndarray, Callable[[np.ndarray], np.ndarray]], np.ndarray]
] = {
    "lab": _lightness_via_lab,
    "oklab": _lightness_via_oklab,
    "hsv": _lightness_via_hsv,
    "ycrcb": _lightness_via_ycrcb,
}


def apply_to_lightness(
    image: np.ndarray,
    transform: Callable[[np.ndarray], np.ndarray],
    space: LightnessSpace = "lab",
) -> np.ndarray:
    """Apply a tone curve ``transform`` (HxW in [0, 1] -> HxW in [0, 1]) to lightness only.

    Gray images are transformed directly, whatever ``space``. RGB images are converted to
    ``space`` and only its lightness-like channel is transformed: CIE Lab L (scaled to [0, 1];
    a* b* kept, so hue and chroma are preserved), Oklab L (a, b kept: hue and chroma
    preserved perceptually), HSV value (hue and saturation kept exactly) or YCrCb luma Y
    (Rec. 601; the colour differences R - Y and B - Y kept, so all three channels move by the
    same amount and HSV hue is kept exactly). Results are clipped to the sRGB gamut on the way
    back. Alpha passes through. The image is clipped to [0, 1] first, as these spaces are
    defined for display-range colours.
    """
    colour, alpha = split_alpha(image)
    colour = np.clip(colour, 0.0, 1.0)
    if colour.ndim == 2:
        result = transform(colour)
    elif colour.shape[2] == 1:
        result = transform(colour[..., 0])[..., np.newaxis]
    else:
        result = _LIGHTNESS_SPACES[space](colour, transform)
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


@register
class RgbToOklab(Node[NodeParams]):
    """sRGB -> Oklab (:func:`rgb_to_oklab`): channels L (0 to 1), a and b (about ±0.4).

    The image is clipped to [0, 1] first: sRGB is defined for display-range colours only.
    """

    name = "rgb_to_oklab"
    category = "color"
    description = "Convert an RGB image to the perceptual Oklab space (L, a, b)."
    channels = "rgb"
    modifies_input = False

    def process(self, image: np.ndarray) -> np.ndarray:
        return rgb_to_oklab(image)


@register
class OklabToRgb(Node[NodeParams]):
    """Oklab -> sRGB (:func:`oklab_to_rgb`), clipping colours outside the sRGB gamut."""

    name = "oklab_to_rgb"
    category = "color"
    description = "Convert an Oklab image (L, a, b) back to RGB."
    channels = "rgb"
    modifies_input = False

    def process(self, image: np.ndarray) -> np.ndarray:
        return oklab_to_rgb(image)


class OklabAdjustParams(NodeParams):
    lightness: float = Field(
        0.0, ge=-1.0, le=1.0, description="Added to Oklab L (0 black, 1 white)."
    )
    chroma: float = Field(
        1.0, ge=0.0, le=4.0, description="Chroma multiplier: 0 gives gray, above 1 saturates."
    )
    hue: float = Field(0.0, ge=-360.0, le=360.0, description="Hue rotation in degrees.")


@register
class OklabAdjust(Node[OklabAdjustParams]):
    """Perceptual colour adjustment in Oklab: shift lightness, scale chroma, rotate hue.

    L gets ``lightness`` added; the (a, b) plane is scaled by ``chroma`` and rotated by
    ``hue`` degrees, so lightness is untouched by the colour changes and hue by the chroma
    change. Colours pushed outside the sRGB gamut are clipped on the way back, and the
    image is clipped to [0, 1] first. Takes RGB only: a gray image has no hue or chroma to
    adjust (convert it with ``gray_to_rgb`` first, or use ``gamma`` for its lightness).
    """

    name = "oklab_adjust"
    category = "color"
    description = "Perceptual colour adjustment in Oklab: lightness, chroma and hue."
    channels = "rgb"
    modifies_input = False

    def process(self, image: np.ndarray) -> np.ndarray:
        oklab = rgb_to_oklab(image)
        angle = np.deg2rad(self.params.hue)
        scale = self.params.chroma
        rotation = scale * np.array(
            [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
        )
        oklab[..., 0] += self.params.lightness
        oklab[..., 1:] = oklab[..., 1:] @ rotation.T
        return oklab_to_rgb(oklab)


__all__ = [
    "GrayToRgb",
    "HsvToRgb",
    "LightnessSpace",
    "OklabAdjust",
    "OklabToRgb",
    "RgbToGray",
    "RgbToHsv",
    "RgbToOklab",
    "apply_to_lightness",
    "join_alpha",
    "luminance",
    "oklab_to_rgb",
    "rgb_to_oklab",
    "split_alpha",
]
