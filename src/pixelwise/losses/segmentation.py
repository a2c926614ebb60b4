"""Multi-class segmentation losses on logits ``(N, C, *S)`` and integer labels ``(N, *S)``.

``*S`` is any number of spatial dimensions (a B-scan's ``H, W``, a volume's ``D, H, W``).
Pixels labelled ``ignore_index`` (unannotated) take no part in any term. Both losses compute
in at least float32, so they are safe on logits produced under bf16/fp16 autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from pixelwise.errors import ConfigError, InputError

_SMOOTH = 1e-6


def class_label_mask(target: Tensor, num_classes: int, ignore_index: int | None = None) -> Tensor:
    """Bool mask of the pixels of an integer label map that carry a label (not ``ignore_index``).

    Raises :class:`~pixelwise.errors.InputError` if a label lies outside ``[0, num_classes)``:
    checked here because such a label is a device-side assertion on CUDA (which kills the
    process) and a cryptic indexing error on the CPU.

    Examples
    --------
    >>> class_label_mask(torch.tensor([0, 2, 255]), num_classes=3, ignore_index=255)
    tensor([ True,  True, False])
    """
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ValueError(f"class labels must be an integer tensor, got {target.dtype}")
    if ignore_index is None:
        valid = torch.ones_like(target, dtype=torch.bool)
    else:
        valid = target != ignore_index
    if bool(valid.any()):
        low, high = torch.aminmax(target[valid])
        if low < 0 or high >= num_classes:
            raise InputError(
                "segmentation labels",
                f"class labels span [{int(low)}, {int(high)}] but there are {num_classes} "
                f"classes (labels 0 to {num_classes - 1})",
            )
    return valid


def _valid_labels(logits: Tensor, target: Tensor, ignore_index: int | None) -> Tensor:
    """Check that ``logits`` and ``target`` fit together; return the mask of labelled pixels."""
    if logits.ndim < 2 or target.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(
            f"expected logits (N, C, *S) and target (N, *S), got {tuple(logits.shape)} "
            f"and {tuple(target.shape)}"
        )
    if target.dtype != torch.int64:
        raise ValueError(f"target must hold int64 class labels, got {target.dtype}")
    return class_label_mask(target, logits.shape[1], ignore_index)


def _at_least_float32(logits: Tensor) -> Tensor:
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def _dice(logits: Tensor, target: Tensor, valid: Tensor, smooth: float) -> Tensor:
    n_classes = logits.shape[1]
    probabilities = torch.softmax(_at_least_float32(logits), dim=1)
    one_hot = F.one_hot(torch.where(valid, target, 0), n_classes).movedim(-1, 1)
    weight = valid.unsqueeze(1).to(probabilities.dtype)
    probabilities = probabilities * weight
    one_hot = one_hot.to(probabilities.dtype) * weight
    dims = [0, *range(2, logits.ndim)]
    intersection = (probabilities * one_hot).sum(dim=dims)
    cardinality = probabilities.sum(dim=dims) + one_hot.sum(dim=dims)
    return 1.0 - ((2.0 * intersection + smooth) / (cardinality + smooth)).mean()


def dice_loss(
    logits: Tensor, target: Tensor, *, ignore_index: int | None = None, smooth: float = _SMOOTH
) -> Tensor:
    """Soft multi-class Dice loss, ``1 - mean_c (2 |P_c ∩ T_c| + s) / (|P_c| + |T_c| + s)``.

    ``P_c`` are the softmax probabilities of class ``c`` and ``T_c`` its one-hot target, summed
    over the whole batch rather than per image, so that a class absent from one image does not
    give that image an undefined (or arbitrarily smoothed) score. A class absent from both the
    batch's target and prediction scores 1 (``s / s``), so it neither rewards nor penalises.

    Parameters
    ----------
    logits
        Float ``(N, C, *S)`` unnormalised class scores.
    target
        int64 ``(N, *S)`` labels in ``[0, C)``, or ``ignore_index``.
    ignore_index
        Label of pixels to leave out (unannotated), or None.
    smooth
        Added to numerator and denominator; keeps empty classes finite.

    Returns
    -------
    Tensor
        0-d float32 loss in ``[0, 1]``.

    Examples
    --------
    >>> target = torch.tensor([[0, 1, 1]])
    >>> logits = 50.0 * torch.nn.functional.one_hot(target, 2).movedim(-1, 1).float()
    >>> round(dice_loss(logits, target).item(), 6)
    0.0
    """
    if smooth <= 0:
        raise ConfigError(f"dice smooth must be positive, got {smooth}")
    return _dice(logits, target, _valid_labels(logits, target, ignore_index), smooth)


def cross_entropy_dice(
    logits: Tensor,
    target: Tensor,
    *,
    ce_weight: float = 0.5,
    dice_weight: float = 0.5,
    class_weights: Tensor | None = None,
    ignore_index: int | None = None,
) -> dict[str, Tensor]:
    """Weighted sum of cross-entropy and soft Dice, the usual loss for layer segmentation.

    Cross-entropy gives every pixel a gradient; Dice counters class imbalance (thin retinal
    layers next to a large background). ``class_weights`` (shape ``(C,)``) weight the
    cross-entropy only, as in :func:`torch.nn.functional.cross_entropy`. If every pixel is
    ignored the cross-entropy is 0 rather than NaN, so an unannotated batch does not stop
    training.

    Returns
    -------
    dict
        ``{"loss": ce_weight * ce + dice_weight * dice, "ce": ce, "dice": dice}``, 0-d
        float32 tensors; the engine optimises ``"loss"`` and logs every term.

    Examples
    --------
    >>> logits, target = torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long)
    >>> sorted(cross_entropy_dice(logits, target))
    ['ce', 'dice', 'loss']
    """
    if ce_weight < 0 or dice_weight < 0 or ce_weight + dice_weight == 0:
        raise ConfigError(
            f"ce_weight and dice_weight must be >= 0 and not both 0, got {ce_weight}, {dice_weight}"
        )
    valid = _valid_labels(logits, target, ignore_index)
    scores = _at_least_float32(logits)
    n_classes = scores.shape[1]
    if class_weights is not None:
        if (
            class_weights.shape != (n_classes,)
            or not bool(torch.isfinite(class_weights).all())
            or bool((class_weights < 0).any())
        ):
            raise ConfigError(
                f"class_weights must be {n_classes} finite non-negative numbers, "
                f"got {class_weights.tolist()}"
            )
        class_weights = class_weights.to(scores.device, scores.dtype)
    labels = torch.where(valid, target, 0)
    per_pixel = F.cross_entropy(scores, labels, weight=class_weights, reduction="none") * valid
    pixel_weights = valid.to(scores.dtype)
    if class_weights is not None:
        pixel_weights = pixel_weights * class_weights[labels]
    # cross_entropy's "mean": divided by the summed weights of the labelled pixels. The clamp
    # makes it 0, not NaN, when nothing is labelled (the numerator is then 0 too).
    ce = per_pixel.sum() / pixel_weights.sum().clamp_min(torch.finfo(scores.dtype).tiny)
    dice = _dice(scores, target, valid, _SMOOTH)
    return {"loss": ce_weight * ce + dice_weight * dice, "ce": ce, "dice": dice}
