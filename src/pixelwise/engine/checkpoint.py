"""Self-describing checkpoints.

A checkpoint is one ``torch.save`` file holding only tensors, numbers, strings and containers,
so it loads with ``torch.load(weights_only=True)`` (no pickled code runs). It carries the model
config (enough to rebuild the exact network with no other file), the application config, the
weights, optimiser/scheduler/scaler state, the epoch, metrics, and the versions that wrote it.
Files are written atomically: a crash never leaves a truncated checkpoint under the final name.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import pixelwise
from pixelwise.errors import CheckpointError, ConfigError
from pixelwise.io.atomic import atomic_path
from pixelwise.models import build_model

FORMAT = "pixelwise-checkpoint/1"


@dataclass
class Checkpoint:
    """The content of a checkpoint file."""

    app: str
    model_config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    app_config: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None
    scaler_state: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    source: str = "<memory>"

    def build_model(self) -> nn.Module:
        """Rebuild the network from the stored config and load the stored weights."""
        try:
            model = build_model(self.model_config)
        except ConfigError as error:
            raise CheckpointError(f"{self.source}: {error}") from None
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0]
            raise CheckpointError(
                f"{self.source}: weights do not match the stored model config ({first})"
            ) from None
        return model


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` atomically and return the path."""
    payload = {
        "format": FORMAT,
        "app": checkpoint.app,
        "model_config": json.dumps(checkpoint.model_config),
        "app_config": json.dumps(checkpoint.app_config),
        "state_dict": {key: value.detach().cpu() for key, value in checkpoint.state_dict.items()},
        "epoch": checkpoint.epoch,
        "metrics": {key: float(value) for key, value in checkpoint.metrics.items()},
        "optimizer_state": checkpoint.optimizer_state,
        "scheduler_state": checkpoint.scheduler_state,
        "scaler_state": checkpoint.scaler_state,
        "versions": {"pixelwise": pixelwise.__version__, "torch": str(torch.__version__)},
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, app: str | None = None) -> Checkpoint:
    """Read a checkpoint with ``weights_only=True``; check it belongs to ``app`` if given.

    Raises :class:`CheckpointError` naming the file when it is missing, corrupt or truncated,
    not a pixelwise checkpoint, or written by another application.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path}: not a readable checkpoint, corrupt or truncated ({reason})"
        ) from None
    except Exception as error:  # weights_only refusal raises pickle.UnpicklingError and friends
        raise CheckpointError(
            f"{path}: not a pixelwise checkpoint ({type(error).__name__})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a pixelwise checkpoint (expected format '{FORMAT}')")
    if app is not None and payload["app"] != app:
        raise CheckpointError(
            f"{path}: checkpoint belongs to the '{payload['app']}' application, not '{app}'"
        )
    return Checkpoint(
        app=payload["app"],
        model_config=json.loads(payload["model_config"]),
        app_config=json.loads(payload["app_config"]),
        state_dict=payload["state_dict"],
        epoch=payload["epoch"],
        metrics=payload["metrics"],
        optimizer_state=payload["optimizer_state"],
        scheduler_state=payload["scheduler_state"],
        scaler_state=payload["scaler_state"],
        versions=payload["versions"],
        source=str(path),
    )
