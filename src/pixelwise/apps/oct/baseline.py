"""A classical ILM/BM detector, the baseline a researcher would write before a network.

Per column of a Gaussian-smoothed B-scan: the ILM is the strongest dark-to-bright step
(largest positive vertical gradient) of the column; the RPE is the brightest row at least
``rpe_min_depth`` below it (deeper than the bright nerve fibre layer), and the BM the
strongest bright-to-dark step (largest negative gradient) within a window below the RPE.
Peaks are refined to sub-pixel by a parabola through the three gradient samples, and both
boundaries are median-filtered across columns to reject outliers.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.ndimage import gaussian_filter, median_filter


class EdgeBaselineConfig(BaseModel):
    """Smoothing and search windows of :func:`detect_boundaries`, in pixels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sigma_rows: float = Field(2.0, gt=0, description="Gaussian sigma down the columns")
    sigma_columns: float = Field(4.0, gt=0, description="Gaussian sigma across columns")
    rpe_min_depth: float = Field(
        0.06, ge=0, lt=1, description="RPE searched this share of the height below the ILM"
    )
    bm_window: int = Field(12, ge=2, description="rows below the RPE peak searched for the BM")
    median_columns: int = Field(9, ge=1, description="median filter across columns (odd)")


def _subpixel(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Parabolic refinement of the peak of ``values`` ``(H, W)`` at rows ``index`` ``(W,)``."""
    h = values.shape[0]
    inner = np.clip(index, 1, h - 2)
    columns = np.arange(values.shape[1])
    left, centre, right = (values[inner + k, columns] for k in (-1, 0, 1))
    curvature = left - 2 * centre + right
    offset = np.where(np.abs(curvature) > 1e-12, 0.5 * (left - right) / curvature, 0.0)
    return inner + np.clip(offset, -0.5, 0.5)


def detect_boundaries(bscan: np.ndarray, config: EdgeBaselineConfig | None = None) -> np.ndarray:
    """ILM and BM rows ``(2, W)`` float32 of one B-scan ``(H, W)`` (uint8 or float).

    Examples
    --------
    >>> image = np.zeros((40, 8), np.float32); image[10:25] = 1.0
    >>> rows = detect_boundaries(image, EdgeBaselineConfig(sigma_columns=1, median_columns=1))
    >>> [round(float(v), 1) for v in rows[:, 0]]
    [9.5, 24.5]
    """
    config = config or EdgeBaselineConfig()
    image = gaussian_filter(bscan.astype(np.float64), (config.sigma_rows, config.sigma_columns))
    gradient = np.zeros_like(image)
    gradient[:-1] = image[1:] - image[:-1]  # step between rows r and r + 1 sits at r + 0.5
    h = image.shape[0]
    ilm = _subpixel(gradient, np.argmax(gradient, axis=0)) + 0.5
    rows = np.arange(h)[:, None]
    below_ilm = np.where(rows > ilm[None, :] + config.rpe_min_depth * h, image, -np.inf)
    rpe = np.argmax(below_ilm, axis=0)
    window = (rows >= rpe[None, :]) & (rows <= rpe[None, :] + config.bm_window)
    falling = np.where(window, -gradient, -np.inf)
    bm = _subpixel(np.where(np.isfinite(falling), falling, 0.0), np.argmax(falling, axis=0)) + 0.5
    size = config.median_columns
    rows_out = np.stack(
        [median_filter(ilm, size, mode="nearest"), median_filter(bm, size, mode="nearest")]
    )
    rows_out[1] = np.maximum(rows_out[1], rows_out[0])
    return rows_out.astype(np.float32)


def detect_stack(bscans: np.ndarray, config: EdgeBaselineConfig | None = None) -> np.ndarray:
    """:func:`detect_boundaries` for ``(N, H, W)``; float32 ``(N, 2, W)``."""
    return np.stack([detect_boundaries(bscan, config) for bscan in bscans])
