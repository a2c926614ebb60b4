"""Paired supervision and Noise2Noise: regress a target image from an aligned input, written once.

With (noisy, clean) pairs this is supervised denoising. With two independent noisy views of
the same signal (the odd and even frame sums of a movie), the same regression is
Noise2Noise (Lehtinen et al., 2018): the target's noise has zero mean given the signal, so
the expected loss is minimised by the same clean estimate. ``symmetric=True`` trains both
directions of every pair (A -> B and B -> A) in each batch, which uses all the data and makes
the denoiser indifferent to which half it sees.

Batches are ``{"input": (N, C, H, W), "target": (N, C, H, W)}``. The cryo-EM app trains
through :func:`fit_paired`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel
from torch import Tensor, nn

from pixelwise.data import Augmentation, DataField, FieldKind, Layout, PatchDataset
from pixelwise.data.config import PatchConfig
from pixelwise.engine import (
    Checkpoint,
    FitResult,
    ProgressReporter,
    Trainer,
    TrainerConfig,
    make_loader,
)
from pixelwise.io.sources import ArraySource
from pixelwise.methods.common import seeded_model
from pixelwise.metrics import Sum

LossName = Literal["mse", "l1"]
_LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss}


class PairedTask:
    """Engine task: minimise ``loss(model(input), target)``; validation adds the exact MSE."""

    def __init__(self, model: nn.Module, loss: LossName = "mse", symmetric: bool = False) -> None:
        if loss not in _LOSSES:
            raise ValueError(f"loss must be one of {sorted(_LOSSES)}, got {loss!r}")
        self.model = model
        self.loss = _LOSSES[loss]
        self.symmetric = symmetric

    def _pairs(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        inputs, targets = batch["input"], batch["target"]
        if self.symmetric:
            return torch.cat([inputs, targets]), torch.cat([targets, inputs])
        return inputs, targets

    def training_step(self, batch: Mapping[str, Tensor]) -> Tensor:
        inputs, targets = self._pairs(batch)
        return self.loss(self.model(inputs), targets)

    def validation_step(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor | Sum]:
        inputs, targets = self._pairs(batch)
        prediction = self.model(inputs).float()
        squared = (prediction - targets.float()) ** 2
        return {
            "loss": self.loss(prediction, targets.float()),
            "mse": Sum(squared.sum().double(), float(squared.numel())),
        }


@dataclass
class PairedRun:
    """A trained regression network and its fit record."""

    model: nn.Module
    result: FitResult


def paired_dataset(
    inputs: Sequence[ArraySource],
    targets: Sequence[ArraySource],
    data: PatchConfig,
    count: int,
    seed: int,
    augmentation: Augmentation | None,
    layout: Layout | None = None,
) -> PatchDataset:
    """Aligned random ``data.patch_size`` patches of (input, target) source pairs.

    Sources are read window by window (memory maps), so memory is bounded by the patches.
    """
    layout = layout or Layout("hw")
    return PatchDataset(
        [
            DataField("input", inputs, FieldKind.IMAGE, layout),
            DataField("target", targets, FieldKind.IMAGE, layout),
        ],
        data.patch_size,
        count,
        seed=seed,
        augmentation=augmentation,
    )


def fit_paired(
    train: tuple[Sequence[ArraySource], Sequence[ArraySource]],
    *,
    data: PatchConfig,
    model: BaseModel,
    trainer: TrainerConfig,
    loss: LossName = "mse",
    symmetric: bool = False,
    validation: tuple[Sequence[ArraySource], Sequence[ArraySource]] | None = None,
    augmentation: Augmentation | None = None,
    progress: ProgressReporter | None = None,
    checkpoint_dir: str | Path | None = None,
    app: str = "paired",
    app_config: Mapping[str, Any] | None = None,
    learned_state: Mapping[str, Any] | None = None,
    resume: Checkpoint | None = None,
) -> PairedRun:
    """Train ``model`` to map ``train[0]`` sources onto the aligned ``train[1]`` sources.

    The sources must already be in the units the network sees (e.g. standardised: this
    recipe does not rescale them); ``learned_state`` records how, beside the weights in every
    checkpoint. Every RNG is seeded from ``trainer.seed`` before anything is built.
    Validation patches come from ``validation`` (or other patches of the training pairs,
    seed + 1) and are skipped when ``data.validation_patches`` is 0. Augmentation: random
    flips and 90-degree turns (the default) apply identically to input and target.
    """
    seed = trainer.seed
    network = seeded_model(model, seed)
    augmentation = (
        augmentation if augmentation is not None else Augmentation(flips="hw", rotate90=True)
    )
    train_set = paired_dataset(*train, data, data.patches_per_epoch, seed, augmentation)
    validation_loader = None
    if data.validation_patches:
        inputs, targets = validation if validation is not None and validation[0] else train
        validation_set = paired_dataset(
            inputs, targets, data, data.validation_patches, seed + 1, None
        )
        validation_loader = make_loader(
            validation_set, data.batch_size, num_workers=data.num_workers
        )
    result = Trainer(trainer, progress=progress).fit(
        PairedTask(network, loss, symmetric),
        make_loader(train_set, data.batch_size, num_workers=data.num_workers),
        validation_loader,
        checkpoint_dir=checkpoint_dir,
        app=app,
        app_config=app_config,
        learned_state=dict(learned_state or {}),
        resume=resume,
    )
    return PairedRun(network, result)
