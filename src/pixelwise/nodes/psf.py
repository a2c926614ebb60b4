"""PSF (blur kernel) makers: Gaussian, motion and disk/defocus.

The plain functions (:func:`gaussian_psf`, :func:`motion_psf`, :func:`disk_psf`) build the
kernels so that other code (benchmarks, simulations) can reuse them; the nodes wrap them.
Every kernel is a float32 ``(size, size)`` array with odd ``size``, centred on the middle
pixel and normalised to sum 1. Motion and disk kernels are anti-aliased: each pixel holds the
fraction of its area covered by the shape, measured by supersampling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import cv2
import numpy as np
from pydantic import Field, field_validator
from skimage.draw import disk, polygon
from skimage.transform import downscale_local_mean

from pixelwise.errors import ConfigError
from pixelwise.nodes.base import Kind, Node, NodeParams, P
from pixelwise.nodes.registry import register

_SUPERSAMPLING = 8
"""Subpixels per pixel side used to measure the area a shape covers in each pixel."""

_Rasteriser = Callable[[float, tuple[int, int]], tuple[np.ndarray, np.ndarray]]


def _odd_size(half_extent: float) -> int:
    """Smallest odd side of a square centred grid whose pixels cover ``±half_extent``."""
    # Pixel k spans [k - 0.5, k + 0.5]; the tolerance absorbs cos/sin rounding (cos 90° != 0).
    return 2 * max(0, math.ceil(half_extent - 0.5 - 1e-9)) + 1


def _normalised(kernel: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(kernel / kernel.sum(), dtype=np.float32)


def _coverage(size: int, rasterise: _Rasteriser) -> np.ndarray:
    """Fraction of each pixel of a ``size`` x ``size`` grid covered by a rasterised shape.

    ``rasterise(centre, shape)`` returns the row and column indices of the supersampled grid
    (``shape``, ``_SUPERSAMPLING`` subpixels per pixel side) inside the shape, given the
    subpixel coordinate of the kernel centre. Averaging the subpixels of each pixel is a box
    filter, i.e. anti-aliasing.
    """
    fine = np.zeros((size * _SUPERSAMPLING, size * _SUPERSAMPLING), dtype=np.float64)
    centre = size * _SUPERSAMPLING / 2 - 0.5
    rows, cols = rasterise(centre, fine.shape)
    fine[rows, cols] = 1.0
    return downscale_local_mean(fine, (_SUPERSAMPLING, _SUPERSAMPLING))


def gaussian_psf(sigma: float, size: int | None = None) -> np.ndarray:
    """Isotropic Gaussian PSF of standard deviation ``sigma`` pixels.

    ``size`` must be odd; by default it is ``2 * ceil(3 * sigma) + 1`` (±3 sigma).
    Returns float32 ``(size, size)`` with unit sum.
    """
    if not sigma > 0:
        raise ConfigError(f"gaussian_psf: sigma must be positive, got {sigma}")
    if size is None:
        size = 2 * math.ceil(3 * sigma) + 1
    if size < 1 or size % 2 == 0:
        raise ConfigError(f"gaussian_psf: size must be a positive odd integer, got {size}")
    profile = cv2.getGaussianKernel(size, sigma, ktype=cv2.CV_64F)
    return _normalised(profile @ profile.T)


def motion_psf(length: float, angle: float) -> np.ndarray:
    """Linear motion-blur PSF: an anti-aliased segment ``length`` pixels long and 1 pixel wide.

    ``angle`` is in degrees, counter-clockwise from the +x (column) axis as displayed (rows
    grow downwards): 0° blurs horizontally, 90° vertically. The segment is centred, so the PSF
    is point-symmetric. Returns float32 ``(size, size)`` (odd ``size``) with unit sum.
    """
    if not length >= 1:
        raise ConfigError(f"motion_psf: length must be at least 1 pixel, got {length}")
    theta = math.radians(angle)
    along = np.array([-math.sin(theta), math.cos(theta)])  # (row, col) unit vectors
    across = np.array([math.cos(theta), math.sin(theta)])
    half_length, half_width = length / 2, 0.5
    size = _odd_size(
        max(half_length * abs(a) + half_width * abs(b) for a, b in zip(along, across, strict=True))
    )
    corners = [
        s * half_length * along + t * half_width * across
        for s, t in ((1, 1), (1, -1), (-1, -1), (-1, 1))
    ]

    def rasterise(centre: float, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        vertices = centre + _SUPERSAMPLING * np.array(corners)
        return polygon(vertices[:, 0], vertices[:, 1], shape)

    return _normalised(_coverage(size, rasterise))


def disk_psf(radius: float) -> np.ndarray:
    """Defocus PSF: a uniform, anti-aliased disk of ``radius`` pixels.

    Returns float32 ``(size, size)`` (odd ``size``) with unit sum; a radius of 0.5 is the
    identity kernel ``[[1]]``.
    """
    if not radius >= 0.5:
        raise ConfigError(f"disk_psf: radius must be at least 0.5 pixel, got {radius}")

    def rasterise(centre: float, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        return disk((centre, centre), radius * _SUPERSAMPLING, shape=shape)

    return _normalised(_coverage(_odd_size(radius), rasterise))


class _PsfNode(Node[P]):
    """A source node (no inputs) producing one PSF."""

    category = "psf"
    inputs: ClassVar[dict[str, Kind]] = {}
    outputs: ClassVar[dict[str, Kind]] = {"kernel": Kind.KERNEL}


class GaussianPsfParams(NodeParams):
    sigma: float = Field(1.5, gt=0, le=50, description="Standard deviation in pixels.")
    size: int | None = Field(
        None, ge=1, le=301, description="Odd kernel side in pixels; default ±3 sigma."
    )

    @field_validator("size")
    @classmethod
    def _odd(cls, size: int | None) -> int | None:
        if size is not None and size % 2 == 0:
            raise ValueError(f"must be odd, got {size}")
        return size


@register
class GaussianPsf(_PsfNode[GaussianPsfParams]):
    """The kernel of :func:`gaussian_psf`."""

    name = "psf_gaussian"
    description = "Gaussian blur kernel (optics, atmospheric turbulence)."

    def process(self) -> np.ndarray:
        return gaussian_psf(self.params.sigma, self.params.size)


class MotionPsfParams(NodeParams):
    length: float = Field(9.0, ge=1, le=201, description="Blur length in pixels.")
    angle: float = Field(
        0.0, ge=-360, le=360, description="Degrees counter-clockwise; 0 is horizontal."
    )


@register
class MotionPsf(_PsfNode[MotionPsfParams]):
    """The kernel of :func:`motion_psf`."""

    name = "psf_motion"
    description = "Linear motion-blur kernel: an anti-aliased line of given length and angle."

    def process(self) -> np.ndarray:
        return motion_psf(self.params.length, self.params.angle)


class DiskPsfParams(NodeParams):
    radius: float = Field(3.0, ge=0.5, le=100, description="Disk radius in pixels.")


@register
class DiskPsf(_PsfNode[DiskPsfParams]):
    """The kernel of :func:`disk_psf`."""

    name = "psf_disk"
    description = "Defocus kernel: a uniform anti-aliased disk."

    def process(self) -> np.ndarray:
        return disk_psf(self.params.radius)
