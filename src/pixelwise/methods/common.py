"""What every training recipe shares: seeding, loaders, normalised prediction, reloading.

A recipe (Noise2Void, paired supervision, Noise2Noise, segmentation, ...) is written once in
``pixelwise.methods`` and used by the apps, the studio's nodes and the benches alike. The
pieces here make sure each recipe seeds before it builds anything, stores its learned state
beside its config, and undoes its normalisation exactly on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ValidationError
from torch import nn

from pixelwise.config import describe_validation_error
from pixelwise.data import Normalization
from pixelwise.engine import (
    Checkpoint,
    InferenceSettings,
    load_checkpoint,
    predict_array,
    resolve_device,
    seed_everything,
)
from pixelwise.errors import CheckpointError
from pixelwise.models import build_model, restore_model, size_multiple_of

#: Key of the normalisation statistics in a checkpoint's ``learned_state``.
NORMALIZATION_KEY = "normalization"


def seeded_model(config: BaseModel, seed: int) -> nn.Module:
    """Seed every RNG from ``seed``, then build ``config``'s network.

    Recipes call this before they build masks, datasets or loaders, so a run's initial
    weights — and with them the whole run — are a function of its seed.
    """
    seed_everything(seed)
    return build_model(config)


@dataclass
class TrainedModel:
    """A network rebuilt from a checkpoint, in eval mode, with the statistics it needs."""

    model: nn.Module
    checkpoint: Checkpoint
    normalization: Normalization | None


def load_trained(path: str | Path, app: str) -> TrainedModel:
    """Load an ``app`` checkpoint and rebuild its exact model (``weights_only`` loading)."""
    checkpoint = load_checkpoint(path, app=app)
    model = restore_model(checkpoint).eval()
    stored = checkpoint.learned_state.get(NORMALIZATION_KEY)
    try:
        normalization = Normalization.model_validate(stored) if stored is not None else None
    except ValidationError as error:
        problems = describe_validation_error(error)
        raise CheckpointError(f"{path}: stored normalization is invalid: {problems}") from None
    return TrainedModel(model, checkpoint, normalization)


def learned_state(normalization: Normalization | None) -> dict[str, Any]:
    """The ``learned_state`` entry a recipe stores in its checkpoints."""
    return {} if normalization is None else {NORMALIZATION_KEY: normalization.model_dump()}


def predict_normalized(
    trained: TrainedModel | nn.Module,
    array: np.ndarray,
    normalization: Normalization | None,
    *,
    inference: InferenceSettings | None = None,
    spatial_dims: int = 2,
    device: str | torch.device = "auto",
) -> np.ndarray:
    """Normalise ``array``, predict it window by window, and undo the normalisation.

    ``array`` is ``(*S)`` or ``(C, *S)`` float (see :func:`pixelwise.engine.predict_array`);
    the result is float32 of the same layout for a one-channel model.
    """
    model = trained.model if isinstance(trained, TrainedModel) else trained
    settings = inference or InferenceSettings()
    target = resolve_device(device) if isinstance(device, str) else device
    values = np.asarray(array, dtype=np.float32)
    if normalization is not None:
        values = normalization.apply(values)
    prediction = predict_array(
        model.to(target),
        values,
        spatial_dims=spatial_dims,
        window=settings.window,
        overlap=settings.overlap,
        size_multiple=size_multiple_of(model),
        device=target,
    )
    return normalization.invert(prediction) if normalization is not None else prediction
