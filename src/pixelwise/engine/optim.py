"""Optimisers with parameter groups, and per-step learning-rate schedules.

Weight decay is meant for weight matrices and kernels. Applied to biases, normalisation
scales and gates it pulls them towards zero for no benefit, so by default those parameters
(every tensor with at most one dimension, and any a module lists in ``no_weight_decay()``)
go into a group without decay.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from pixelwise.engine.config import (
    AdamConfig,
    CosineSchedule,
    SGDConfig,
    TrainerConfig,
)
from pixelwise.errors import ConfigError


def _exempt_from_decay(module: nn.Module) -> set[str]:
    """Names of ``module``'s parameters listed by a ``no_weight_decay()`` of it or its children."""
    exempt: set[str] = set()
    for prefix, child in module.named_modules():
        hook = getattr(child, "no_weight_decay", None)
        if callable(hook):
            exempt.update(f"{prefix}.{name}" if prefix else name for name in hook())
    return exempt


def parameter_groups(
    modules: Sequence[nn.Module], weight_decay: float, decay_everything: bool = False
) -> list[dict[str, object]]:
    """Split the trainable parameters of ``modules`` into decayed and undecayed groups.

    Examples
    --------
    >>> groups = parameter_groups([nn.Linear(3, 2)], weight_decay=0.01)
    >>> [(len(g["params"]), g["weight_decay"]) for g in groups]
    [(1, 0.01), (1, 0.0)]
    """
    decayed: list[nn.Parameter] = []
    undecayed: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in modules:
        exempt = _exempt_from_decay(module)
        for name, parameter in module.named_parameters():
            if not parameter.requires_grad or id(parameter) in seen:
                continue
            seen.add(id(parameter))
            plain = decay_everything or (parameter.ndim > 1 and name not in exempt)
            (decayed if plain else undecayed).append(parameter)
    groups = [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": undecayed, "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]


def make_optimizer(config: TrainerConfig, modules: Sequence[nn.Module]) -> torch.optim.Optimizer:
    """The optimiser ``config.optimizer`` names, over the trainable parameters of ``modules``."""
    settings = config.optimizer
    groups = parameter_groups(modules, settings.weight_decay, config.decay_norms_and_biases)
    if not groups:
        raise ConfigError("the model has no trainable parameters")
    if isinstance(settings, SGDConfig):
        return torch.optim.SGD(
            groups, lr=config.learning_rate, momentum=settings.momentum, nesterov=settings.nesterov
        )
    kind = torch.optim.AdamW if settings.name == "adamw" else torch.optim.Adam
    if not isinstance(settings, AdamConfig):  # pragma: no cover - the union is exhaustive
        raise ConfigError(f"unknown optimizer {settings}")
    return kind(groups, lr=config.learning_rate, betas=settings.betas, eps=settings.eps)


def total_steps(config: TrainerConfig, batches_per_epoch: int | None) -> int | None:
    """Optimiser steps the run will take, or None when the data's length is unknown."""
    per_epoch = (
        None
        if batches_per_epoch is None
        else math.ceil(batches_per_epoch / config.accumulate_grad_batches)
    )
    by_epochs = None if per_epoch is None or config.epochs is None else per_epoch * config.epochs
    candidates = [steps for steps in (by_epochs, config.max_steps) if steps is not None]
    return min(candidates) if candidates else None


def lr_factor(step: int, warmup: int, total: int | None, min_ratio: float | None) -> float:
    """Learning-rate multiplier after ``step`` optimiser steps.

    Linear warmup from ``1 / warmup`` to 1 over the first ``warmup`` steps; then constant
    (``min_ratio`` None) or cosine decay reaching ``min_ratio`` at step ``total``.

    Examples
    --------
    >>> [round(lr_factor(s, warmup=2, total=6, min_ratio=0.0), 3) for s in range(6)]
    [0.5, 1.0, 1.0, 0.854, 0.5, 0.146]
    """
    if step < warmup:
        return (step + 1) / warmup
    if min_ratio is None or total is None:
        return 1.0
    span = max(total - warmup, 1)
    progress = min((step - warmup) / span, 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(
    config: TrainerConfig, optimizer: torch.optim.Optimizer, batches_per_epoch: int | None
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step schedule (``scheduler.step()`` after every optimiser step)."""
    schedule = config.scheduler
    total = total_steps(config, batches_per_epoch)
    min_ratio = schedule.min_lr_ratio if isinstance(schedule, CosineSchedule) else None
    if min_ratio is not None and total is None:
        raise ConfigError(
            "a cosine schedule needs to know the run's length: the training data has no "
            "length, so set trainer.max_steps or trainer.steps_per_epoch"
        )
    warmup = schedule.warmup_steps
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup, total, min_ratio)
    )
