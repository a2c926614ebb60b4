"""Supervised layer segmentation with boundary extraction, written once.

A network predicts ``C`` ordered classes stacked down each column (for retinal OCT: vitreous,
retina, choroid); the ``C - 1`` boundaries between them are read from the softmax as
cumulative probabilities. With the label convention "pixel ``r`` belongs below boundary ``k``
when ``r >= b_k``", the count of pixels above boundary ``k`` in a column is ``ceil(b_k)``, so

    b_k = sum_r sum_{j <= k} p_j(r) - 0.5

is a sub-pixel, unbiased estimate that is ordered by construction (``b_k <= b_{k+1}``, as
every term is a probability). Columns whose middle layers hold less than ``min_layer_rows``
rows of probability mass get NaN (nothing to segment there).

Training minimises ``ce_weight * CE + dice_weight * Dice`` over labelled pixels (unannotated
columns carry ``ignore_index``) plus, optionally, ``boundary_weight`` times the L1 error of the
soft boundaries. Validation predicts whole images and accumulates Dice per class and the
boundary MAE per boundary over the whole set (not means of batches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from pixelwise.data import (
    Augmentation,
    DataField,
    FieldKind,
    Layout,
    Normalization,
    PatchDataset,
)
from pixelwise.data.config import PatchConfig
from pixelwise.engine import (
    Checkpoint,
    FitResult,
    InferenceSettings,
    ProgressReporter,
    Trainer,
    TrainerConfig,
    make_loader,
    predict_array,
    resolve_device,
    sliding_window_inference,
)
from pixelwise.io.sources import ArraySource
from pixelwise.losses import boundary_l1, cross_entropy_dice
from pixelwise.methods.common import learned_state, seeded_model
from pixelwise.metrics import BoundaryError, Dice
from pixelwise.metrics.accumulate import Metric
from pixelwise.models import size_multiple_of


class SegmentationLoss(BaseModel):
    """Weights of the loss terms and the label that marks unannotated pixels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ce_weight: float = Field(0.5, ge=0, le=100)
    dice_weight: float = Field(0.5, ge=0, le=100)
    boundary_weight: float = Field(
        0.0, ge=0, le=100, description="L1 on the soft boundary rows (px); 0: off"
    )
    ignore_index: int = Field(255, ge=0, le=65535)


class IntensityJitter(BaseModel):
    """Random contrast, brightness and Gaussian noise per training sample (normalised units)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contrast: float = Field(0.2, ge=0, lt=1, description="gain drawn from 1 ± contrast")
    brightness: float = Field(0.2, ge=0, le=5, description="offset drawn from ± brightness")
    noise: float = Field(0.05, ge=0, le=5, description="std of added Gaussian noise")

    def __call__(self, images: Tensor) -> Tensor:
        """Jitter a batch ``(N, C, *S)`` with torch's global RNG (seeded by the engine)."""
        shape = (images.shape[0],) + (1,) * (images.ndim - 1)
        gain = 1 + (2 * torch.rand(shape, device=images.device) - 1) * self.contrast
        offset = (2 * torch.rand(shape, device=images.device) - 1) * self.brightness
        return images * gain + offset + self.noise * torch.randn_like(images)


def boundaries_from_probabilities(probabilities: Tensor, min_layer_rows: float = 2.0) -> Tensor:
    """Sub-pixel boundary rows ``(N, C - 1, W)`` from softmax ``(N, C, H, W)``.

    ``b_k = sum_r sum_{j <= k} p_j - 0.5`` (see the module docstring): ordered, in
    ``[-0.5, H - 0.5]``; NaN in columns where classes ``1 .. C - 2`` hold fewer than
    ``min_layer_rows`` rows of mass (for ``C = 2`` nothing is ever NaN).

    Examples
    --------
    >>> rows = torch.arange(6.0)[:, None]
    >>> above_ilm = (1.7 + 0.5 - rows).clamp(0, 1)        # ILM at row 1.7
    >>> above_bm = (3.2 + 0.5 - rows).clamp(0, 1)         # BM at row 3.2
    >>> p = torch.stack([above_ilm, above_bm - above_ilm, 1 - above_bm])[None]
    >>> boundaries_from_probabilities(p, 1.0)[0, :, 0].tolist()
    [1.7000000476837158, 3.200000047683716]
    """
    if probabilities.ndim != 4 or probabilities.shape[1] < 2:
        raise ValueError(f"expected (N, C >= 2, H, W) probabilities, got {probabilities.shape}")
    mass = probabilities.float().sum(dim=2)  # (N, C, W): rows of each class per column
    rows = torch.cumsum(mass, dim=1)[:, :-1] - 0.5
    if probabilities.shape[1] > 2:
        middle = mass[:, 1:-1].sum(dim=1, keepdim=True)
        rows = torch.where(middle >= min_layer_rows, rows, torch.nan)
    return rows


class SegmentationTask:
    """Engine task: batches ``{"image": (N,1,H,W), "labels": (N,H,W), "rows"?: (N,C-1,W)}``."""

    def __init__(
        self,
        model: nn.Module,
        loss: SegmentationLoss,
        *,
        num_classes: int,
        jitter: IntensityJitter | None = None,
        min_layer_rows: float = 2.0,
    ) -> None:
        self.model = model
        self.loss = loss
        self.num_classes = num_classes
        self.jitter = jitter
        self.min_layer_rows = min_layer_rows
        self.size_multiple = size_multiple_of(model)
        self.metrics: dict[str, Metric] = {
            "dice": Dice(num_classes, per_class=True, ignore_index=loss.ignore_index),
            "boundary_mae_px": BoundaryError(num_classes - 1, per_boundary=True),
        }

    def _terms(self, logits: Tensor, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        terms = cross_entropy_dice(
            logits,
            batch["labels"],
            ce_weight=self.loss.ce_weight,
            dice_weight=self.loss.dice_weight,
            ignore_index=self.loss.ignore_index,
        )
        if self.loss.boundary_weight > 0 and "rows" in batch:
            target = batch["rows"]
            height = logits.shape[2]
            inside = (target > -0.5) & (target < height - 0.5)  # cut by the patch: unknown
            soft = boundaries_from_probabilities(torch.softmax(logits.float(), 1), 0.0)
            terms["boundary"] = boundary_l1(soft, torch.where(inside, target, torch.nan))
            terms["loss"] = terms["loss"] + self.loss.boundary_weight * terms["boundary"]
        return terms

    def training_step(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        image = batch["image"]
        if self.jitter is not None:
            image = self.jitter(image)
        return self._terms(self.model(image), batch)

    def validation_step(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        logits = sliding_window_inference(
            self.model, batch["image"], window=None, size_multiple=self.size_multiple
        )
        if not isinstance(logits, Tensor):  # pragma: no cover - one input, one output
            raise TypeError("a segmentation model returns one tensor")
        terms = self._terms(logits, batch)
        self.metrics["dice"].update(logits, batch["labels"])
        if "rows" in batch:
            probabilities = torch.softmax(logits, dim=1)
            self.metrics["boundary_mae_px"].update(
                boundaries_from_probabilities(probabilities, self.min_layer_rows), batch["rows"]
            )
        # "dice" is the accumulated metric; the loss term is reported as "dice_loss".
        return {("dice_loss" if key == "dice" else key): value for key, value in terms.items()}


@dataclass
class SegmentationRun:
    """A trained segmentation network, its input statistics and the fit record."""

    model: nn.Module
    normalization: Normalization
    result: FitResult


@dataclass(frozen=True)
class SegmentationData:
    """Aligned sources, one per item group: images ``(N,H,W)`` float (normalised by the
    recipe), labels ``(N,H,W)`` integer, and optionally boundary rows ``(N,C-1,W)``."""

    images: Sequence[ArraySource]
    labels: Sequence[ArraySource]
    rows: Sequence[ArraySource] = ()

    def fields(self) -> list[DataField]:
        fields = [
            DataField("image", self.images, FieldKind.IMAGE, Layout("nhw")),
            DataField("labels", self.labels, FieldKind.LABELS, Layout("nhw")),
        ]
        if self.rows:
            fields.append(DataField("rows", self.rows, FieldKind.ROWS, Layout("nbw")))
        return fields


def fit_segmentation(
    train: SegmentationData,
    *,
    data: PatchConfig,
    patch_size: tuple[int, int],
    model: BaseModel,
    loss: SegmentationLoss,
    trainer: TrainerConfig,
    normalization: Normalization,
    validation: SegmentationData | None = None,
    augmentation: Augmentation | None = None,
    jitter: IntensityJitter | None = None,
    min_layer_rows: float = 2.0,
    progress: ProgressReporter | None = None,
    checkpoint_dir: str | Path | None = None,
    app: str = "segmentation",
    app_config: Mapping[str, Any] | None = None,
    resume: Checkpoint | None = None,
) -> SegmentationRun:
    """Train a ``C``-class layer segmentation network; the one segmentation recipe.

    Every RNG is seeded from ``trainer.seed`` before the network exists. Training draws
    ``data.patches_per_epoch`` random ``patch_size`` (rows, columns) windows per epoch, with
    ``augmentation`` (geometric, applied alike to images, labels and rows) and ``jitter``
    (intensity, on the normalised batch). Validation predicts whole images of ``validation``
    (skipped when None). ``normalization`` is stored in the checkpoints' learned state.
    """
    network = seeded_model(model, trainer.seed)
    num_classes = int(getattr(model, "out_channels", 0))
    if num_classes < 2:
        raise ValueError("a segmentation model needs out_channels >= 2 (one per class)")
    train_set = PatchDataset(
        train.fields(),
        patch_size,
        data.patches_per_epoch,
        seed=trainer.seed,
        augmentation=augmentation,
        normalization={"image": normalization},
    )
    validation_loader = None
    if validation is not None:
        validation_set = PatchDataset(
            validation.fields(), None, normalization={"image": normalization}
        )
        sizes = {tuple(group.sizes.items()) for group in validation_set.groups}
        validation_loader = make_loader(validation_set, data.batch_size if len(sizes) == 1 else 1)
    result = Trainer(trainer, progress=progress).fit(
        SegmentationTask(
            network, loss, num_classes=num_classes, jitter=jitter, min_layer_rows=min_layer_rows
        ),
        make_loader(train_set, data.batch_size, num_workers=data.num_workers),
        validation_loader,
        checkpoint_dir=checkpoint_dir,
        app=app,
        app_config=app_config,
        learned_state=learned_state(normalization),
        resume=resume,
    )
    return SegmentationRun(network, normalization, result)


def predict_probabilities(
    model: nn.Module,
    image: np.ndarray,
    normalization: Normalization,
    *,
    inference: InferenceSettings | None = None,
    device: str | torch.device = "auto",
) -> np.ndarray:
    """Class probabilities float32 ``(C, H, W)`` of one image ``(H, W)`` of any size.

    The image is normalised with the training statistics, padded to the network's size
    multiple (and, with a window set, cut into blended windows) and cropped back exactly.

    Examples
    --------
    >>> net = torch.nn.Conv2d(1, 3, 1)
    >>> p = predict_probabilities(net, np.zeros((5, 7), np.float32), Normalization(mean=0, std=1))
    >>> p.shape, bool(np.allclose(p.sum(0), 1))
    ((3, 5, 7), True)
    """
    settings = inference or InferenceSettings(window=None)
    target = resolve_device(device) if isinstance(device, str) else device
    logits = predict_array(
        model.to(target),
        normalization.apply(np.asarray(image, dtype=np.float32))[None],
        window=settings.window,
        overlap=settings.overlap,
        size_multiple=size_multiple_of(model),
        device=target,
    )
    return torch.softmax(torch.from_numpy(logits), dim=0).numpy()
