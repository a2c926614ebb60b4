"""Losses restricted to a boolean mask (blind-spot training computes the loss on hidden pixels)."""

from __future__ import annotations

import torch

from pixelwise.errors import TrainingError


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the positions where the bool ``mask`` is True, and only there.

    ``prediction``, ``target`` and ``mask`` share one shape; the result is a 0-d tensor. Raises
    :class:`~pixelwise.errors.TrainingError` if the mask selects nothing (the loss would be
    undefined).

    Examples
    --------
    >>> x = torch.zeros(1, 1, 2, 2)
    >>> mask = torch.tensor([[[[True, False], [False, False]]]])
    >>> masked_mse(x + 2, x, mask).item()
    4.0
    """
    if prediction.shape != target.shape or mask.shape != target.shape:
        raise ValueError(
            f"masked_mse: shapes differ: prediction {tuple(prediction.shape)}, "
            f"target {tuple(target.shape)}, mask {tuple(mask.shape)}"
        )
    if mask.dtype != torch.bool:
        raise ValueError(f"masked_mse: mask must be bool, got {mask.dtype}")
    if not bool(mask.any()):
        raise TrainingError("masked_mse: the mask selects no position, the loss is undefined")
    return (prediction[mask] - target[mask]).square().mean()
