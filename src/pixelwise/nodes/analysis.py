"""Analysis nodes that measure an image: noise, sharpness, texture, quality against a reference.

Every node here outputs a table (``dict[str, float]``). Single-image measures are computed
on each colour channel and averaged (an alpha channel is ignored), so gray and colour
images give comparable numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Annotated, ClassVar

import numpy as np
from pydantic import Field, field_validator
from scipy import ndimage
from skimage import feature, filters, metrics, restoration

from pixelwise.errors import InputError
from pixelwise.nodes.base import Kind, Node, NodeParams
from pixelwise.nodes.color import split_alpha
from pixelwise.nodes.registry import register

GLCM_PROPERTIES = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM")


def require_same_shape(
    owner: str, array: np.ndarray, expected: np.ndarray, expected_name: str
) -> None:
    """Raise :class:`InputError` for ``owner`` unless ``array`` has ``expected``'s shape."""
    if array.shape != expected.shape:
        raise InputError(
            owner, f"shape {array.shape} does not match the {expected_name} shape {expected.shape}"
        )


def channel_mean(
    image: np.ndarray, measure: Callable[[np.ndarray], dict[str, float]]
) -> dict[str, float]:
    """Apply ``measure`` (HxW -> table) to each colour channel and average every entry."""
    colour, _ = split_alpha(image)
    planes = [colour] if colour.ndim == 2 else list(np.moveaxis(colour, -1, 0))
    tables = [measure(plane) for plane in planes]
    return {key: float(np.mean([table[key] for table in tables])) for key in tables[0]}


def _noise_sigma(plane: np.ndarray) -> dict[str, float]:
    # A plane without any non-zero wavelet detail (flat or linear) has no measurable noise;
    # skimage returns NaN for it, with a RuntimeWarning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sigma = restoration.estimate_sigma(plane)
    return {"sigma": 0.0 if np.isnan(sigma) else float(sigma)}


@register
class NoiseLevel(Node[NodeParams]):
    """Gaussian noise standard deviation, estimated by :func:`skimage.restoration.estimate_sigma`.

    Uses the median absolute wavelet detail coefficient (Donoho & Johnstone), so it is robust
    to image content. Output: ``{"sigma": ...}`` in image units, averaged over channels.
    """

    name = "noise_level"
    category = "analysis"
    description = "Estimate the Gaussian noise standard deviation (wavelet MAD)."
    outputs: ClassVar[dict[str, Kind]] = {"table": Kind.TABLE}

    def process(self, image: np.ndarray) -> dict[str, float]:
        return channel_mean(image, _noise_sigma)


def _sharpness(plane: np.ndarray) -> dict[str, float]:
    return {
        "laplacian_variance": float(np.var(ndimage.laplace(plane))),
        "gradient_magnitude": float(np.mean(filters.sobel(plane))),
    }


@register
class Sharpness(Node[NodeParams]):
    """Focus measures: variance of the Laplacian and mean Sobel gradient magnitude.

    Both grow with the amount of fine detail and fall when an image is blurred. Output:
    ``{"laplacian_variance": ..., "gradient_magnitude": ...}``, averaged over channels.
    """

    name = "sharpness"
    category = "analysis"
    description = "Measure sharpness: Laplacian variance and mean gradient magnitude."
    outputs: ClassVar[dict[str, Kind]] = {"table": Kind.TABLE}

    def process(self, image: np.ndarray) -> dict[str, float]:
        return channel_mean(image, _sharpness)


class GlcmParams(NodeParams):
    distances: tuple[Annotated[int, Field(ge=1)], ...] = Field(
        (1,), min_length=1, description="Pixel-pair offsets in pixels."
    )
    angles: tuple[float, ...] = Field(
        (0.0, 45.0, 90.0, 135.0), min_length=1, description="Pixel-pair directions in degrees."
    )
    levels: int = Field(32, ge=2, le=256, description="Gray levels the image is quantised to.")

    @field_validator("distances", "angles")
    @classmethod
    def _distinct(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if len(set(values)) != len(values):
            raise ValueError("values must be distinct")
        return values


def quantise(plane: np.ndarray, levels: int) -> np.ndarray:
    """Map an HxW image in [0, 1] to uint8 gray levels ``0..levels-1`` in equal-width bins."""
    bins = np.floor(np.clip(plane, 0.0, 1.0) * levels)
    return np.minimum(bins, levels - 1).astype(np.uint8)


@register
class GlcmFeatures(Node[GlcmParams]):
    """Haralick texture features from the gray-level co-occurrence matrix.

    The image is quantised to ``levels`` gray levels; a symmetric, normalised GLCM is built
    with :func:`skimage.feature.graycomatrix` for every distance and angle, and each
    :func:`~skimage.feature.graycoprops` property is averaged over them (and over channels).
    Output keys: contrast, dissimilarity, homogeneity, energy, correlation, asm.
    """

    name = "glcm_features"
    category = "analysis"
    description = "Texture features from the gray-level co-occurrence matrix (GLCM)."
    outputs: ClassVar[dict[str, Kind]] = {"table": Kind.TABLE}

    def process(self, image: np.ndarray) -> dict[str, float]:
        return channel_mean(image, self._features)

    def _features(self, plane: np.ndarray) -> dict[str, float]:
        matrix = feature.graycomatrix(
            quantise(plane, self.params.levels),
            distances=self.params.distances,
            angles=np.deg2rad(self.params.angles),
            levels=self.params.levels,
            symmetric=True,
            normed=True,
        )
        return {
            prop.lower(): float(np.mean(feature.graycoprops(matrix, prop)))
            for prop in GLCM_PROPERTIES
        }


@register
class Psnr(Node[NodeParams]):
    """Peak signal-to-noise ratio in dB of ``image`` against ``reference`` (data range 1).

    Output: ``{"psnr": ...}``; identical images give ``inf``.
    """

    name = "psnr"
    category = "analysis"
    description = "Peak signal-to-noise ratio (dB) against a reference image."
    inputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE, "reference": Kind.IMAGE}
    outputs: ClassVar[dict[str, Kind]] = {"table": Kind.TABLE}

    def process(self, image: np.ndarray, reference: np.ndarray) -> dict[str, float]:
        require_same_shape(f"{self.name}.reference", reference, image, "image")
        with np.errstate(divide="ignore"):
            value = metrics.peak_signal_noise_ratio(reference, image, data_range=1.0)
        return {"psnr": float(value)}


class SsimParams(NodeParams):
    win_size: int = Field(7, ge=3, description="Side of the square sliding window (odd).")

    @field_validator("win_size")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError("win_size must be odd")
        return value


@register
class Ssim(Node[SsimParams]):
    """Mean structural similarity of ``image`` against ``reference`` (data range 1).

    Colour images are compared channel by channel and averaged. Output: ``{"ssim": ...}``.
    """

    name = "ssim"
    category = "analysis"
    description = "Structural similarity index (SSIM) against a reference image."
    inputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE, "reference": Kind.IMAGE}
    outputs: ClassVar[dict[str, Kind]] = {"table": Kind.TABLE}

    def process(self, image: np.ndarray, reference: np.ndarray) -> dict[str, float]:
        require_same_shape(f"{self.name}.reference", reference, image, "image")
        win_size = self.params.win_size
        if min(image.shape[:2]) < win_size:
            raise InputError(
                f"{self.name}.image",
                f"image is {image.shape[0]}x{image.shape[1]}, smaller than the "
                f"{win_size}x{win_size} SSIM window",
            )
        value = metrics.structural_similarity(
            reference,
            image,
            win_size=win_size,
            data_range=1.0,
            channel_axis=-1 if image.ndim == 3 else None,
        )
        return {"ssim": float(value)}


__all__ = [
    "GLCM_PROPERTIES",
    "GlcmFeatures",
    "NoiseLevel",
    "Psnr",
    "Sharpness",
    "Ssim",
    "channel_mean",
    "quantise",
    "require_same_shape",
]
