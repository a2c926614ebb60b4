"""B-scan preprocessing on 8-bit data: Gaussian blur, then CLAHE; every number from the config.

The same :class:`PreprocessConfig` is stored in each checkpoint (inside the app config), so
prediction applies exactly the preprocessing the network was trained with.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class PreprocessConfig(BaseModel):
    """Gaussian blur (``gaussian_sigma`` px, 0: off) followed by CLAHE (``clahe``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gaussian_sigma: float = Field(1.0, ge=0, le=20, description="blur sigma in pixels; 0: none")
    clahe: bool = Field(True, description="contrast-limited adaptive histogram equalisation")
    clahe_clip_limit: float = Field(2.0, gt=0, le=100, description="CLAHE contrast limit")
    clahe_tiles: tuple[int, int] = Field((4, 8), description="CLAHE tile grid (rows, columns)")


def to_uint8(bscan: np.ndarray) -> np.ndarray:
    """uint8 as is; float B-scans (in [0, 1], see the HDF5 layout) scaled by 255 and rounded."""
    if bscan.dtype == np.uint8:
        return bscan
    return np.clip(np.rint(bscan.astype(np.float32) * 255), 0, 255).astype(np.uint8)


def preprocess(bscan: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Preprocess one B-scan ``(H, W)`` (uint8, or float in [0, 1]) into float32 ``img / 255``.

    Examples
    --------
    >>> image = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (16, 1))
    >>> out = preprocess(image, PreprocessConfig(gaussian_sigma=0, clahe=False))
    >>> out.dtype, round(float(out.max()) * 255)
    (dtype('float32'), 252)
    """
    image = to_uint8(bscan)
    if config.gaussian_sigma > 0:
        image = cv2.GaussianBlur(
            image, (0, 0), config.gaussian_sigma, borderType=cv2.BORDER_REFLECT
        )
    if config.clahe:
        rows, cols = config.clahe_tiles
        clahe = cv2.createCLAHE(clipLimit=config.clahe_clip_limit, tileGridSize=(cols, rows))
        image = clahe.apply(np.ascontiguousarray(image))
    return image.astype(np.float32) / np.float32(255)


def preprocess_stack(bscans: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """:func:`preprocess` for every B-scan of ``(N, H, W)``; float32 ``(N, H, W)``."""
    return np.stack([preprocess(bscan, config) for bscan in bscans])
