"""Pixel-wise regression metrics on tensors of any (matching) shape.

All functions reduce over every element and return a 0-d float tensor on the inputs' device.
They compute in float64 internally so that metrics on large images do not lose precision.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _pair(prediction: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    if prediction.shape != target.shape:
        raise ValueError(
            f"shape mismatch: prediction {tuple(prediction.shape)} vs target {tuple(target.shape)}"
        )
    return prediction.double(), target.double()


def mse(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean squared error."""
    prediction, target = _pair(prediction, target)
    return torch.mean((prediction - target) ** 2)


def rmse(prediction: Tensor, target: Tensor) -> Tensor:
    """Root mean squared error."""
    return torch.sqrt(mse(prediction, target))


def masked_rmse(prediction: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """RMSE over the positions where the boolean ``mask`` (same shape) is True."""
    prediction, target = _pair(prediction, target)
    if mask.shape != prediction.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} differs from {tuple(prediction.shape)}")
    count = mask.sum()
    if count == 0:
        raise ValueError("masked_rmse: the mask selects no positions")
    squared = torch.where(mask, (prediction - target) ** 2, torch.zeros_like(prediction))
    return torch.sqrt(squared.sum() / count)


def psnr(prediction: Tensor, target: Tensor, data_range: float) -> Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``.

    ``data_range`` is explicit (e.g. 1.0 for images in [0, 1], 255 for 8-bit) because guessing
    it from the data silently changes the number between images.
    """
    if data_range <= 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    return 10.0 * torch.log10(
        torch.as_tensor(data_range, dtype=torch.float64) ** 2 / mse(prediction, target)
    )


def snr_db(reference: Tensor, estimate: Tensor) -> Tensor:
    """Signal-to-noise ratio in dB: signal energy of ``reference`` over the error energy.

    ``10 log10(sum(reference^2) / sum((reference - estimate)^2))``, the usual figure for
    seismic denoising, independent of the data's scale.
    """
    reference, estimate = _pair(reference, estimate)
    return 10.0 * torch.log10(torch.sum(reference**2) / torch.sum((reference - estimate) ** 2))


def pearson_r(prediction: Tensor, target: Tensor) -> Tensor:
    """Pearson correlation coefficient between the flattened inputs."""
    prediction, target = _pair(prediction, target)
    x = prediction.flatten() - prediction.mean()
    y = target.flatten() - target.mean()
    return torch.sum(x * y) / torch.sqrt(torch.sum(x**2) * torch.sum(y**2))
