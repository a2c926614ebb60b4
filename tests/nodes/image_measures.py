"""Measurements the node tests share, on float images in [0, 1]."""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """PSNR in dB of ``image`` against ``reference`` (data range 1; inf when equal)."""
    with np.errstate(divide="ignore"):
        return float(peak_signal_noise_ratio(reference, image, data_range=1.0))
