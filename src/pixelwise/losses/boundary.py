"""Losses on layer-boundary positions, as regressed by OCT retinal layer segmentation."""

from __future__ import annotations

import torch
from torch import Tensor


def boundary_l1(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error between boundary positions, over annotated positions only.

    A boundary surface is stored as its row (depth) in each column: ``(N, B, W)`` for ``N``
    images, ``B`` boundaries and ``W`` columns (A-scans). Annotators leave columns out where a
    boundary is not visible; those target entries are NaN (any non-finite value counts as not
    annotated) and take no part in the loss or its gradient.

    A batch with no annotated position gives 0 rather than NaN, and the 0 is still computed
    from ``prediction`` so it has a gradient path: ``backward()`` works as usual and, under
    ``DistributedDataParallel``, this rank still produces (zero) gradients for every parameter,
    so the all-reduce that the other ranks wait for takes place.

    Parameters
    ----------
    prediction
        Float ``(N, B, W)`` predicted positions, in pixels.
    target
        Float ``(N, B, W)`` annotated positions, NaN where not annotated.

    Returns
    -------
    Tensor
        0-d loss in pixels, in ``prediction``'s dtype.

    Examples
    --------
    >>> prediction = torch.tensor([[[10.0, 12.0, 14.0]]])
    >>> target = torch.tensor([[[11.0, float("nan"), 14.0]]])
    >>> boundary_l1(prediction, target).item()
    0.5
    """
    if prediction.ndim != 3 or prediction.shape != target.shape:
        raise ValueError(
            f"expected prediction and target of one shape (N, B, W), got "
            f"{tuple(prediction.shape)} and {tuple(target.shape)}"
        )
    annotated = torch.isfinite(target)
    # Where nothing is annotated the target is replaced by the (detached) prediction itself:
    # the error there is exactly 0 and so is its gradient (abs'(0) = 0). Masking the error
    # after computing it from a NaN target would instead give NaN gradients (0 * NaN).
    error = (prediction - torch.where(annotated, target, prediction.detach())).abs()
    return error.sum() / annotated.sum().clamp_min(1)
