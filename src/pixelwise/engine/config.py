"""Typed configuration of the training engine."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pixelwise.engine.precision import Precision


class TrainerConfig(BaseModel):
    """Every number the engine uses; stored in checkpoints with the application's config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(10, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    scheduler: Literal["none", "cosine"] = "cosine"
    accumulate_grad_batches: int = Field(1, ge=1, description="optimiser step every N batches")
    gradient_clip_norm: float | None = Field(None, gt=0, description="clip the global grad norm")
    precision: Precision = "32"
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'")
    seed: int = Field(0, ge=0)
    deterministic: bool = True
    checkpoint_every: int = Field(1, ge=1, description="write last.pt every N epochs")
    monitor: str = Field(
        "val_loss", description="validation metric deciding best.pt (lower is better)"
    )
