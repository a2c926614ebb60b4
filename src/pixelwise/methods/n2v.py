"""Noise2Void: self-supervised blind-spot training (Krull et al., 2019), written once.

A blind-spot network is trained to predict masked pixels from their surroundings. Noise that
is independent between the masked position and its context cannot be predicted, so the
network learns the signal. Two masking strategies:

* ``random``: N2V's multi-active-pixel corruption, for pixel-wise independent noise;
* ``tracewise``: structured blind spots that hide whole traces (columns), for noise that is
  coherent along a trace (bad geophones, swell noise bursts). Hiding single pixels would let
  the network copy a trace's noise from its vertical neighbours; hiding the whole trace
  does not.
* ``mixed``: both at once, so one network learns to denoise every trace from its own
  samples and to rebuild a whole trace from its neighbours (the trace interpolation a
  denoiser needs for traces flagged as noise).

Traces known to be bad (dead, or flagged as noise) can be given as a ``valid`` mask field:
they are hidden from the network's input and never enter the loss.

The loss and the validation RMSE are computed over the masked positions only. The seismic
app, the studio's ``noise2void`` node and the CAREamics benchmark all train through
:func:`fit_noise2void`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
    estimate_normalization,
)
from pixelwise.data.config import PatchConfig
from pixelwise.engine import (
    Checkpoint,
    FitResult,
    ProgressReporter,
    Trainer,
    TrainerConfig,
    make_loader,
)
from pixelwise.errors import ConfigError
from pixelwise.io.sources import ArraySource
from pixelwise.losses import masked_mse
from pixelwise.masking import hide_traces, random_pixel_mask, tracewise_mask
from pixelwise.methods.common import NORMALIZATION_KEY, learned_state, seeded_model
from pixelwise.metrics import masked_rmse


class MaskingConfig(BaseModel):
    """How training patches are corrupted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Literal["random", "tracewise", "mixed"] = "random"
    active_fraction: float = Field(
        0.002, gt=0, le=0.25, description="random: share of pixels masked per patch"
    )
    radius: int = Field(2, ge=1, le=16, description="random: neighbourhood radius of replacements")
    replacement: Literal["neighbour", "median"] = Field(
        "neighbour",
        description="random: a masked pixel takes a random neighbour's value (N2V) or its "
        "window's median without itself (N2V2)",
    )
    trace_fraction: float = Field(
        0.05, gt=0, le=0.5, description="tracewise: share of traces (columns) blinded per patch"
    )


class Noise2VoidTask:
    """Engine task: batches are ``{"image": (N, C, H, W)}`` noisy patches, no clean targets.

    An optional ``"valid"`` entry (bool ``(N, H, W)``, False on every sample of a bad trace)
    hides bad traces from the input and keeps them out of the loss. With ``target_channel``
    the images carry context channels (e.g. neighbouring seismic inlines, whose noise is
    independent of the target's): only that channel is masked and predicted, by a
    one-channel model that sees every channel.
    """

    def __init__(
        self, model: nn.Module, masking: MaskingConfig, target_channel: int | None = None
    ) -> None:
        self.model = model
        self.masking = masking
        self.target_channel = target_channel

    def corrupt(self, batch: Tensor, bad: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Return (corrupted batch, boolean mask of the blinded positions).

        ``bad`` (bool ``(N, W)``) marks traces hidden from the input and kept out of the mask.
        """
        masking = self.masking
        if masking.strategy in ("tracewise", "mixed"):
            corrupted, mask = tracewise_mask(batch, trace_fraction=masking.trace_fraction, bad=bad)
            if masking.strategy == "tracewise":
                return corrupted, mask
        else:
            corrupted = batch if bad is None else hide_traces(batch, bad)
            mask = torch.zeros_like(batch, dtype=torch.bool)
        corrupted, pixels = random_pixel_mask(
            corrupted,
            active_fraction=masking.active_fraction,
            radius=masking.radius,
            replacement=masking.replacement,
        )
        if bad is not None:
            pixels &= ~bad[:, None, None, :]
        return corrupted, mask | pixels

    def _corrupt_batch(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """``(target, network input, mask)``; target and mask have the model's channels."""
        image = batch["image"]
        bad = ~batch["valid"].all(dim=1) if "valid" in batch else None
        channel = self.target_channel
        if channel is None:
            corrupted, mask = self.corrupt(image, bad)
            return image, corrupted, mask
        target = image[:, channel : channel + 1]
        corrupted_target, mask = self.corrupt(target, bad)
        corrupted = image.clone()
        corrupted[:, channel : channel + 1] = corrupted_target
        return target, corrupted, mask

    def training_step(self, batch: Mapping[str, Tensor]) -> Tensor:
        image, corrupted, mask = self._corrupt_batch(batch)
        return masked_mse(self.model(corrupted), image, mask)

    def validation_step(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        image, corrupted, mask = self._corrupt_batch(batch)
        prediction = self.model(corrupted).float()
        return {
            "loss": masked_mse(prediction, image, mask),
            "masked_rmse": masked_rmse(prediction, image, mask),
        }


@dataclass
class Noise2VoidRun:
    """A trained blind-spot denoiser: the network, its data statistics and the fit record."""

    model: nn.Module
    normalization: Normalization
    result: FitResult


def fit_noise2void(
    train: Sequence[ArraySource],
    *,
    data: PatchConfig,
    model: BaseModel,
    masking: MaskingConfig,
    trainer: TrainerConfig,
    validation: Sequence[ArraySource] = (),
    valid: Sequence[ArraySource] | None = None,
    validation_valid: Sequence[ArraySource] | None = None,
    layout: Layout | None = None,
    augmentation: Augmentation | None = None,
    normalization: Normalization | None = None,
    progress: ProgressReporter | None = None,
    checkpoint_dir: str | Path | None = None,
    app: str = "noise2void",
    app_config: Mapping[str, Any] | None = None,
    resume: Checkpoint | None = None,
    extra_state: Mapping[str, Any] | None = None,
    target_channel: int | None = None,
) -> Noise2VoidRun:
    """Train a blind-spot denoiser on noisy ``train`` sources; the one Noise2Void recipe.

    Every RNG is seeded from ``trainer.seed`` before the network, the datasets or the masks
    exist, so two runs with one config give identical weights. The data's mean and std are
    measured from random windows (or taken from ``resume``, or given as ``normalization``)
    and stored in the checkpoints' ``learned_state``. Validation uses ``validation``
    sources, or other patches of the training sources (seed + 1) when there are none, and is
    skipped when ``data.validation_patches`` is 0. Patches are ``data.patch_size`` square,
    read lazily from the sources (``layout`` ``"hw"`` by default), with ``augmentation``
    (default: flips of both axes, no rotation). ``valid`` (one bool-valued source per training
    source, shaped like it; ``validation_valid`` likewise for ``validation``) marks the good
    samples: traces that are False are hidden from the network and kept out of the loss.
    ``extra_state`` is stored in the checkpoints' ``learned_state`` beside the statistics.
    ``target_channel`` (with a ``layout`` holding ``"c"``; the ``valid`` masks then have no
    channel axis) trains a one-channel ``model`` to denoise that channel from all of them
    (:class:`Noise2VoidTask`).
    """
    seed = trainer.seed
    network = seeded_model(model, seed)
    layout = layout or Layout("hw")
    if resume is not None and NORMALIZATION_KEY in resume.learned_state:
        normalization = Normalization.model_validate(resume.learned_state[NORMALIZATION_KEY])
    elif normalization is None:
        normalization = estimate_normalization(train, layout, seed=seed)
    augmentation = augmentation if augmentation is not None else Augmentation(flips="hw")

    if validation and (valid is None) != (validation_valid is None):
        raise ConfigError("give valid masks for both the training and the validation sources")

    def dataset(
        sources: Sequence[ArraySource],
        masks: Sequence[ArraySource] | None,
        count: int,
        offset: int,
    ) -> PatchDataset:
        fields = [DataField("image", sources, FieldKind.IMAGE, layout)]
        if masks is not None:
            mask_layout = Layout(layout.letters.replace("c", ""))
            fields.append(DataField("valid", masks, FieldKind.MASK, mask_layout))
        return PatchDataset(
            fields,
            data.patch_size,
            count,
            seed=seed + offset,
            augmentation=augmentation if offset == 0 else None,
            normalization={"image": normalization},
        )

    train_set = dataset(train, valid, data.patches_per_epoch, 0)
    validation_loader = (
        make_loader(
            dataset(
                validation or train,
                validation_valid if validation else valid,
                data.validation_patches,
                1,
            ),
            data.batch_size,
            num_workers=data.num_workers,
        )
        if data.validation_patches
        else None
    )
    result = Trainer(trainer, progress=progress).fit(
        Noise2VoidTask(network, masking, target_channel),
        make_loader(train_set, data.batch_size, num_workers=data.num_workers),
        validation_loader,
        checkpoint_dir=checkpoint_dir,
        app=app,
        app_config=app_config,
        learned_state={**learned_state(normalization), **(extra_state or {})},
        resume=resume,
    )
    return Noise2VoidRun(network, normalization, result)
