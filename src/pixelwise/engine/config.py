"""Typed configuration of the training engine: optimiser, schedule, precision, budget.

Every section is a frozen pydantic model validated at the edge. Optimisers and schedules are
tagged unions keyed by ``name``; a bare string (``optimizer: adamw``) selects one with its
defaults, so short YAML files stay short.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pixelwise.engine.precision import Precision

#: Upper bound of every count a run config can ask for (epochs, steps, batches, ...): far
#: beyond any real run, small enough that a typo such as ``1e21`` is refused at once.
MAX_COUNT = 10**9


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AdamConfig(_Frozen):
    """Adam (Kingma & Ba, 2015); ``weight_decay`` is L2 added to the gradient."""

    name: Literal["adam"] = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0, le=1)
    weight_decay: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _betas_in_range(self) -> AdamConfig:
        if not all(0 <= beta < 1 for beta in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {self.betas}")
        return self


class AdamWConfig(AdamConfig):
    """AdamW (Loshchilov & Hutter, 2019): decoupled weight decay."""

    name: Literal["adamw"] = "adamw"  # type: ignore[assignment]
    weight_decay: float = Field(0.01, ge=0, le=1)


class SGDConfig(_Frozen):
    """Stochastic gradient descent with (optionally Nesterov) momentum."""

    name: Literal["sgd"] = "sgd"
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0, le=1)


class ConstantSchedule(_Frozen):
    """The learning rate stays at ``trainer.learning_rate`` (after an optional warmup)."""

    name: Literal["none"] = "none"
    warmup_steps: int = Field(0, ge=0, le=MAX_COUNT)


class CosineSchedule(_Frozen):
    """Linear warmup over ``warmup_steps`` optimiser steps, then cosine decay to
    ``min_lr_ratio * learning_rate`` at the last step. Updated every optimiser step."""

    name: Literal["cosine"] = "cosine"
    warmup_steps: int = Field(0, ge=0, le=MAX_COUNT)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)


def _tagged(value: Any) -> Any:
    """Let a bare name stand for a section with its defaults: ``"adamw"`` -> ``{"name": ...}``."""
    return {"name": value} if isinstance(value, str) else value


OptimizerConfig = Annotated[AdamConfig | AdamWConfig | SGDConfig, Field(discriminator="name")]
ScheduleConfig = Annotated[ConstantSchedule | CosineSchedule, Field(discriminator="name")]


class TrainerConfig(_Frozen):
    """Every number the engine uses; stored in checkpoints with the application's config.

    Training runs for ``epochs`` epochs or until ``max_steps`` optimiser steps, whichever
    comes first; with ``max_steps`` set and ``epochs`` left out, epochs are unlimited. An
    epoch is one pass over the loader, or ``steps_per_epoch`` batches when that is set (the
    loader is then restarted as often as needed, which suits streams without a length and
    single-image fits such as Deep Image Prior).
    """

    epochs: int | None = Field(10, ge=1, le=MAX_COUNT)
    max_steps: int | None = Field(None, ge=1, le=MAX_COUNT, description="optimiser-step budget")
    steps_per_epoch: int | None = Field(
        None, ge=1, le=MAX_COUNT, description="batches per epoch; default: one loader pass"
    )
    learning_rate: float = Field(1e-3, gt=0, le=10)
    optimizer: OptimizerConfig = AdamConfig()
    scheduler: ScheduleConfig = CosineSchedule()
    decay_norms_and_biases: bool = Field(
        False,
        description="apply weight decay to norm weights, biases and gates too (usually harmful)",
    )
    accumulate_grad_batches: int = Field(
        1, ge=1, le=4096, description="optimiser step every N batches"
    )
    gradient_clip_norm: float | None = Field(None, gt=0, description="clip the global grad norm")
    precision: Precision = "auto"
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'")
    seed: int = Field(0, ge=0, le=2**63 - 1)
    deterministic: bool = True
    checkpoint_every: int = Field(1, ge=1, le=MAX_COUNT, description="write last.pt every N epochs")
    keep_every: int | None = Field(
        None, ge=1, le=MAX_COUNT, description="also keep epoch-NNNN.pt every N epochs"
    )
    monitor: str = Field("val_loss", description="history key deciding best.pt")
    monitor_mode: Literal["min", "max"] = Field("min", description="whether lower or higher wins")

    @model_validator(mode="before")
    @classmethod
    def _expand_names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("optimizer", "scheduler"):
                if key in data:
                    data[key] = _tagged(data[key])
            if data.get("max_steps") is not None and "epochs" not in data:
                data["epochs"] = None
        return data

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        """Refuse a device name at once, with the file and line (availability is checked later)."""
        if not re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", value):
            raise ValueError(f"unknown device '{value}'; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
        return value

    @model_validator(mode="after")
    def _has_a_budget(self) -> TrainerConfig:
        if self.epochs is None and self.max_steps is None:
            raise ValueError("set epochs or max_steps (or both): training needs an end")
        return self


class InferenceSettings(_Frozen):
    """How trained models are applied to whole inputs (see ``sliding_window_inference``)."""

    window: int | None = Field(
        512, ge=16, le=65536, description="window edge in pixels; null: the whole input at once"
    )
    overlap: int = Field(32, ge=0, le=4096, description="overlap of neighbouring windows")
