"""Photographic effect nodes: film grain, vignette, blending, and synthetic Gaussian noise.

Random effects take a ``seed`` so that a pipeline gives the same result every run.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field
from scipy import ndimage
from skimage import util

from pixelwise.nodes.analysis import require_same_shape
from pixelwise.nodes.base import Kind, Node, NodeParams
from pixelwise.nodes.color import join_alpha, luminance, split_alpha
from pixelwise.nodes.registry import register


def grain_field(shape: tuple[int, int], grain_size: float, seed: int) -> np.ndarray:
    """Seeded HxW float32 noise with zero mean and unit standard deviation.

    White Gaussian noise is low-pass filtered with a Gaussian of standard deviation
    ``grain_size`` pixels (0: no filtering), which sets the size of the grain clumps. The
    filter wraps around, so the grain is as strong at the borders as in the middle.
    """
    noise = np.random.default_rng(seed).standard_normal(shape)
    if grain_size > 0:
        noise = ndimage.gaussian_filter(noise, grain_size, mode="wrap")
    noise -= noise.mean()
    spread = noise.std()
    return (noise / spread if spread > 0 else noise).astype(np.float32)


def midtone_weight(lightness: np.ndarray) -> np.ndarray:
    """``4 L (1 - L)`` for L clipped to [0, 1]: 1 at mid-gray, falling to 0 at black and white."""
    clipped = np.clip(lightness, 0.0, 1.0)
    return 4.0 * clipped * (1.0 - clipped)


class FilmGrainParams(NodeParams):
    intensity: float = Field(
        0.05, ge=0, le=1, description="Grain standard deviation in mid-gray areas."
    )
    grain_size: float = Field(
        1.0, ge=0, le=16, description="Grain clump size (Gaussian sigma, pixels)."
    )
    seed: int = Field(0, ge=0, description="Random seed; the same seed gives the same grain.")


@register
class FilmGrain(Node[FilmGrainParams]):
    """Add photographic film grain whose strength follows the image's tones.

    Grain is a seeded, Gaussian-filtered noise field (:func:`grain_field`) scaled by
    ``intensity * midtone_weight(luminance)``: strongest in mid-tones, fading towards black
    and white as on film. Colour images get the same (monochrome) grain in every colour
    channel; alpha is untouched. The result is clipped to [0, 1].
    """

    name = "film_grain"
    category = "effects"
    description = "Add seeded, luminance-dependent film grain."

    def process(self, image: np.ndarray) -> np.ndarray:
        colour, alpha = split_alpha(image)
        grain = grain_field(image.shape[:2], self.params.grain_size, self.params.seed)
        grain *= self.params.intensity * midtone_weight(luminance(image))
        if colour.ndim == 3:
            grain = grain[..., np.newaxis]
        return join_alpha(np.clip(colour + grain, 0.0, 1.0), alpha)


def radial_distance(shape: tuple[int, int]) -> np.ndarray:
    """HxW distance from the image centre, normalised to 0 at the centre and 1 at the corners.

    Distances are measured in half-widths and half-heights, so the contours follow the frame.
    """
    rows, cols = shape
    y = np.linspace(-1.0, 1.0, rows)[:, np.newaxis]
    x = np.linspace(-1.0, 1.0, cols)[np.newaxis, :]
    return np.sqrt((x**2 + y**2) / 2.0)


class VignetteParams(NodeParams):
    strength: float = Field(
        0.5, ge=0, le=1, description="Fraction of light removed in the corners."
    )
    radius: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="Normalised distance from the centre (1 = corner) where darkening starts.",
    )


@register
class Vignette(Node[VignetteParams]):
    """Darken towards the corners, like a lens's light falloff.

    Inside ``radius`` the image is unchanged; from there to the corners the gain falls
    smoothly (smoothstep) to ``1 - strength``. Alpha is untouched.
    """

    name = "vignette"
    category = "effects"
    description = "Darken the image radially towards the corners."

    def process(self, image: np.ndarray) -> np.ndarray:
        colour, alpha = split_alpha(image)
        radius = self.params.radius
        ramp = np.clip((radial_distance(image.shape[:2]) - radius) / (1.0 - radius), 0.0, 1.0)
        gain = 1.0 - self.params.strength * ramp * ramp * (3.0 - 2.0 * ramp)
        if colour.ndim == 3:
            gain = gain[..., np.newaxis]
        return join_alpha(colour * gain, alpha)


BlendMode = Literal["normal", "multiply", "screen", "overlay"]


def blend_layers(base: np.ndarray, layer: np.ndarray, mode: BlendMode) -> np.ndarray:
    """Composite ``layer`` over ``base`` (same shape, values in [0, 1]) with a blend mode.

    normal: ``layer``; multiply: ``base * layer``; screen: ``1 - (1 - base)(1 - layer)``;
    overlay: multiply (doubled) where ``base < 0.5``, screen (doubled) elsewhere.
    """
    if mode == "normal":
        return layer.copy()
    if mode == "multiply":
        return base * layer
    screen = 1.0 - (1.0 - base) * (1.0 - layer)
    if mode == "screen":
        return screen
    return np.where(base < 0.5, 2.0 * base * layer, 2.0 * screen - 1.0)


class BlendParams(NodeParams):
    mode: BlendMode = Field("normal", description="normal, multiply, screen or overlay.")
    opacity: float = Field(1.0, ge=0, le=1, description="Weight of the blended result.")


@register
class Blend(Node[BlendParams]):
    """Blend ``other`` onto ``image``: ``(1 - opacity) * image + opacity * blend``.

    See :func:`blend_layers` for the modes. Both images must have the same shape.
    """

    name = "blend"
    category = "effects"
    description = "Blend another image onto this one (normal, multiply, screen, overlay)."
    inputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE, "other": Kind.IMAGE}

    def process(self, image: np.ndarray, other: np.ndarray) -> np.ndarray:
        require_same_shape(f"{self.name}.other", other, image, "image")
        blended = blend_layers(image, other, self.params.mode)
        opacity = self.params.opacity
        return (1.0 - opacity) * image + opacity * blended


class GaussianNoiseParams(NodeParams):
    sigma: float = Field(0.1, ge=0, le=1, description="Noise standard deviation.")
    seed: int = Field(0, ge=0, description="Random seed; the same seed gives the same noise.")


@register
class AddGaussianNoise(Node[GaussianNoiseParams]):
    """Add seeded white Gaussian noise (:func:`skimage.util.random_noise`), unclipped.

    Meant for synthesising noisy test data, so values may leave [0, 1].
    """

    name = "add_gaussian_noise"
    category = "effects"
    description = "Add seeded white Gaussian noise (unclipped), for synthetic test data."

    def process(self, image: np.ndarray) -> np.ndarray:
        return util.random_noise(
            image, mode="gaussian", var=self.params.sigma**2, rng=self.params.seed, clip=False
        )


__all__ = [
    "AddGaussianNoise",
    "Blend",
    "FilmGrain",
    "Vignette",
    "blend_layers",
    "grain_field",
    "midtone_weight",
    "radial_distance",
]
