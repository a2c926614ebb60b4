"""Metrics computed in torch: per-batch functions and dataset-exact accumulating metrics.

The functions (``psnr``, ``rmse``, ...) score one set of tensors; the :class:`Metric` objects
accumulate over a whole validation set and across processes (see
:mod:`pixelwise.metrics.accumulate`).
"""

from pixelwise.metrics.accumulate import (
    PSNR,
    BoundaryError,
    Dice,
    Mean,
    MeanSquaredError,
    Median,
    Metric,
    PearsonR,
    Quantile,
    Sum,
)
from pixelwise.metrics.regression import masked_rmse, mse, pearson_r, psnr, rmse, snr_db

__all__ = [
    "PSNR",
    "BoundaryError",
    "Dice",
    "Mean",
    "MeanSquaredError",
    "Median",
    "Metric",
    "PearsonR",
    "Quantile",
    "Sum",
    "masked_rmse",
    "mse",
    "pearson_r",
    "psnr",
    "rmse",
    "snr_db",
]
