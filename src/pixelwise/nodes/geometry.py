"""Geometry nodes: resize, crop, flip and quarter-turn rotation.

All nodes work on HxW and HxWxC images alike and only move pixels in the two spatial axes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator
from skimage import transform

from pixelwise.errors import InputError
from pixelwise.nodes.base import Node, NodeParams
from pixelwise.nodes.registry import register


class ResizeParams(NodeParams):
    scale: float = Field(1.0, gt=0, le=64, description="Zoom factor for both axes.")
    height: int | None = Field(
        None, ge=1, description="Output height, instead of scale; alone it keeps the aspect."
    )
    width: int | None = Field(
        None, ge=1, description="Output width, instead of scale; alone it keeps the aspect."
    )
    order: int = Field(1, ge=0, le=5, description="Spline order: 0 nearest, 1 linear, 3 cubic.")
    anti_aliasing: bool = Field(True, description="Gaussian prefilter when shrinking.")

    @model_validator(mode="after")
    def _scale_or_size(self) -> ResizeParams:
        sized = self.height is not None or self.width is not None
        if sized and "scale" in self.model_fields_set:
            raise ValueError("give either scale or height/width, not both")
        return self


def output_size(
    shape: tuple[int, ...], scale: float, height: int | None, width: int | None
) -> tuple[int, int]:
    """The (height, width) a resize produces for an image of ``shape``.

    With neither ``height`` nor ``width`` both axes are multiplied by ``scale``; with one of
    them the other follows from the aspect ratio. Sizes are rounded and at least 1.
    """
    rows, cols = shape[:2]
    if height is None:
        if width is None:
            return max(1, round(rows * scale)), max(1, round(cols * scale))
        return max(1, round(rows * width / cols)), width
    if width is None:
        return height, max(1, round(cols * height / rows))
    return height, width


@register
class Resize(Node[ResizeParams]):
    """Resample to a new size with :func:`skimage.transform.resize`.

    Values stay within the input's range (no spline overshoot). With ``anti_aliasing`` a
    Gaussian prefilter suppresses aliasing when shrinking.
    """

    name = "resize"
    category = "geometry"
    description = "Resize by a scale factor or to an explicit height and width."
    modifies_input = False  # skimage.transform.resize returns a new array
    preserves_finite = True  # interpolation within the input's range

    def process(self, image: np.ndarray) -> np.ndarray:
        params = self.params
        size = output_size(image.shape, params.scale, params.height, params.width)
        return transform.resize(
            image,
            size + image.shape[2:],
            order=params.order,
            anti_aliasing=params.anti_aliasing,
            preserve_range=True,
        )


class CropParams(NodeParams):
    top: int = Field(0, ge=0, description="First row kept.")
    left: int = Field(0, ge=0, description="First column kept.")
    height: int | None = Field(None, ge=1, description="Rows kept; default to the bottom edge.")
    width: int | None = Field(None, ge=1, description="Columns kept; default to the right edge.")


@register
class Crop(Node[CropParams]):
    """Cut out the rectangle ``[top, top + height) x [left, left + width)``.

    A rectangle reaching outside the image raises :class:`~pixelwise.errors.InputError`.
    """

    name = "crop"
    category = "geometry"
    description = "Cut out a rectangle given by top, left, height and width."

    def process(self, image: np.ndarray) -> np.ndarray:
        rows, cols = image.shape[:2]
        top, left = self.params.top, self.params.left
        bottom = rows if self.params.height is None else top + self.params.height
        right = cols if self.params.width is None else left + self.params.width
        if top >= rows or bottom > rows or left >= cols or right > cols:
            raise InputError(
                f"{self.name}.image",
                f"crop rows {top}:{bottom}, columns {left}:{right} fall outside the "
                f"{rows}x{cols} image",
            )
        return image[top:bottom, left:right].copy()


class FlipParams(NodeParams):
    direction: Literal["horizontal", "vertical"] = Field(
        "horizontal", description="horizontal mirrors left-right, vertical mirrors top-bottom."
    )


@register
class Flip(Node[FlipParams]):
    """Mirror the image left-right (horizontal) or top-bottom (vertical)."""

    name = "flip"
    category = "geometry"
    description = "Mirror the image horizontally or vertically."

    def process(self, image: np.ndarray) -> np.ndarray:
        axis = 1 if self.params.direction == "horizontal" else 0
        return np.flip(image, axis=axis).copy()


class Rotate90Params(NodeParams):
    k: int = Field(1, description="Number of counter-clockwise quarter turns (any integer).")


@register
class Rotate90(Node[Rotate90Params]):
    """Rotate by ``k`` quarter turns counter-clockwise (:func:`numpy.rot90`), losslessly."""

    name = "rotate90"
    category = "geometry"
    description = "Rotate by k quarter turns counter-clockwise."

    def process(self, image: np.ndarray) -> np.ndarray:
        return np.rot90(image, k=self.params.k, axes=(0, 1)).copy()


__all__ = ["Crop", "Flip", "Resize", "Rotate90", "output_size"]
