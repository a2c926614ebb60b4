"""The training and evaluation loops shared by every pixelwise application.

An application supplies a :class:`TrainingTask` (its model plus how to turn a batch into a
loss and into validation metrics); the :class:`Trainer` owns everything that the systems we
replace got wrong:

* evaluation runs under ``model.eval()`` and ``torch.inference_mode()``, restores the previous
  mode afterwards, never touches optimiser gradients, and uses its own fixed random stream;
* gradient accumulation steps the optimiser after the last, partial group of an epoch, and
  scales each group's losses by that group's real size;
* optional gradient clipping and mixed precision (see :mod:`pixelwise.engine.precision`);
* a non-finite loss stops training with an error naming the epoch and step;
* every epoch reseeds the RNGs from ``(seed, epoch)``, so runs are reproducible and a run resumed
  from a checkpoint ends with exactly the weights of an uninterrupted one;
* checkpoints are atomic and self-describing (see :mod:`pixelwise.engine.checkpoint`).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from pixelwise.engine.checkpoint import Checkpoint, save_checkpoint
from pixelwise.engine.config import TrainerConfig
from pixelwise.engine.distributed import DistributedContext
from pixelwise.engine.precision import PrecisionPolicy
from pixelwise.engine.progress import ProgressReporter, SilentProgress
from pixelwise.engine.seeding import configure_determinism, derive_seed, seed_everything
from pixelwise.errors import ConfigError, TrainingError
from pixelwise.io.atomic import write_text_atomic

_EVAL_STREAM = 1  # key mixed into the seed of evaluation's private random stream
_COUNT = "__samples__"


class TrainingTask(Protocol):
    """What an application provides to the engine."""

    model: nn.Module

    def training_step(self, batch: Any) -> Tensor:
        """Return the scalar loss of one batch (the engine does backward and the step)."""

    def validation_step(self, batch: Any) -> Mapping[str, Tensor]:
        """Return the batch's mean metrics as scalar tensors (lower ``val_loss`` is better)."""


def _should_stop(task: TrainingTask, record: Mapping[str, float]) -> bool:
    """Early stopping: a task may define ``should_stop(record) -> bool``, asked after each epoch."""
    hook = getattr(task, "should_stop", None)
    return bool(hook(record)) if hook is not None else False


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` returns."""

    history: list[dict[str, float]] = field(default_factory=list)
    optimizer_steps: int = 0
    best_checkpoint: Path | None = None
    last_checkpoint: Path | None = None


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when available; anything else must name an available device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' requested but CUDA is not available")
    return device


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor inside a (nested) batch to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {key: move_to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, Sequence) and not isinstance(batch, str):
        return type(batch)(move_to_device(value, device) for value in batch)
    return batch


def batch_size_of(batch: Any) -> int:
    """Number of samples in a batch: the leading size of its first tensor."""
    if isinstance(batch, Tensor):
        return int(batch.shape[0])
    values = batch.values() if isinstance(batch, Mapping) else batch
    return next(
        batch_size_of(value) for value in values if isinstance(value, (Tensor, Mapping, Sequence))
    )


@contextlib.contextmanager
def _training_model(task: TrainingTask, train_model: nn.Module) -> Iterator[None]:
    """Let the task's steps run through ``train_model`` (e.g. the DDP wrapper) for one epoch."""
    model = task.model
    task.model = train_model
    try:
        yield
    finally:
        task.model = model


def _no_sync(model: nn.Module) -> contextlib.AbstractContextManager[None]:
    return model.no_sync() if hasattr(model, "no_sync") else contextlib.nullcontext()


def _make_optimizer(
    config: TrainerConfig, parameters: Iterable[nn.Parameter]
) -> torch.optim.Optimizer:
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[
        config.optimizer
    ]
    extra = {"momentum": 0.9} if config.optimizer == "sgd" else {}
    return kind(parameters, lr=config.learning_rate, weight_decay=config.weight_decay, **extra)


def _make_scheduler(config: TrainerConfig, optimizer: torch.optim.Optimizer) -> Any:
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return None


class Trainer:
    """Fits a :class:`TrainingTask` according to a :class:`TrainerConfig`."""

    def __init__(self, config: TrainerConfig, progress: ProgressReporter | None = None) -> None:
        self.config = config
        self.distributed = DistributedContext.from_environment()
        self.device = self.distributed.device(resolve_device(config.device))
        self.progress: ProgressReporter = progress or SilentProgress()

    def fit(
        self,
        task: TrainingTask,
        train_loader: Iterable[Any],
        val_loader: Iterable[Any] | None = None,
        *,
        checkpoint_dir: str | Path | None = None,
        app: str = "generic",
        app_config: Mapping[str, Any] | None = None,
        resume: Checkpoint | None = None,
    ) -> FitResult:
        """Train ``task.model`` for ``config.epochs`` epochs (continuing ``resume`` if given).

        Writes ``last.pt`` (every ``checkpoint_every`` epochs and at the end), ``best.pt``
        (lowest ``monitor`` value; needs ``val_loader``) and ``history.json`` into
        ``checkpoint_dir`` when one is given.
        """
        config = self.config
        configure_determinism(config.deterministic, self.device)
        model = task.model.to(self.device)
        policy = PrecisionPolicy.resolve(config.precision, self.device, model)
        optimizer = _make_optimizer(config, model.parameters())
        scheduler = _make_scheduler(config, optimizer)
        scaler = torch.amp.GradScaler(self.device.type) if policy.needs_scaler else None
        result = FitResult()
        start_epoch = 0
        best = math.inf
        if resume is not None:
            model.load_state_dict(resume.state_dict)
            if resume.optimizer_state is not None:
                optimizer.load_state_dict(resume.optimizer_state)
            if scheduler is not None and resume.scheduler_state is not None:
                scheduler.load_state_dict(resume.scheduler_state)
            if scaler is not None and resume.scaler_state is not None:
                scaler.load_state_dict(resume.scaler_state)
            start_epoch = resume.epoch
            best = resume.metrics.get(f"best_{config.monitor}", math.inf)
        directory = (
            Path(checkpoint_dir)
            if checkpoint_dir is not None and self.distributed.is_main
            else None
        )
        train_model = self.distributed.wrap(model, self.device)

        def checkpoint_at(epoch: int, metrics: dict[str, float]) -> Checkpoint:
            return Checkpoint(
                app=app,
                model_config=model.config.model_dump(),
                app_config=dict(app_config or {}),
                state_dict=model.state_dict(),
                epoch=epoch,
                metrics=metrics,
                optimizer_state=optimizer.state_dict(),
                scheduler_state=scheduler.state_dict() if scheduler is not None else None,
                scaler_state=scaler.state_dict() if scaler is not None else None,
            )

        for epoch in range(start_epoch, config.epochs):
            seed_everything(derive_seed(config.seed, epoch))
            for source in (
                getattr(train_loader, "dataset", None),
                getattr(train_loader, "sampler", None),
            ):
                if hasattr(source, "set_epoch"):
                    source.set_epoch(epoch)
            started = time.perf_counter()
            with _training_model(task, train_model):
                train_loss, steps = self._train_epoch(
                    task, train_loader, optimizer, scaler, policy, epoch
                )
            result.optimizer_steps += steps
            record = {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "lr": optimizer.param_groups[0]["lr"],
            }
            if scheduler is not None:
                scheduler.step()
            if val_loader is not None:
                record.update(
                    {f"val_{k}": v for k, v in self.evaluate(task, val_loader, policy).items()}
                )
            record["seconds"] = time.perf_counter() - started
            result.history.append(record)
            stop = _should_stop(task, record)
            if directory is not None:
                improved = config.monitor in record and record[config.monitor] < best
                best = record[config.monitor] if improved else best
                metrics = {**record, f"best_{config.monitor}": best}
                if improved:
                    result.best_checkpoint = save_checkpoint(
                        directory / "best.pt", checkpoint_at(epoch + 1, metrics)
                    )
                is_last = stop or epoch + 1 == config.epochs
                if is_last or (epoch + 1) % config.checkpoint_every == 0:
                    result.last_checkpoint = save_checkpoint(
                        directory / "last.pt", checkpoint_at(epoch + 1, metrics)
                    )
                history = json.dumps(result.history, indent=2)
                write_text_atomic(directory / "history.json", history)
            if stop:
                break
        return result

    def _train_epoch(
        self,
        task: TrainingTask,
        loader: Iterable[Any],
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
        policy: PrecisionPolicy,
        epoch: int,
    ) -> tuple[float, int]:
        """One pass over ``loader``; returns (mean loss, optimiser steps taken)."""
        config = self.config
        model = task.model
        model.train()
        total_batches = len(loader)  # type: ignore[arg-type]
        accumulate = config.accumulate_grad_batches
        optimizer.zero_grad(set_to_none=True)
        loss_sum, steps = 0.0, 0
        self.progress.start("train", total_batches, f"epoch {epoch + 1}/{config.epochs}")
        for step, batch in enumerate(loader):
            group_start = step - step % accumulate
            group_size = min(accumulate, total_batches - group_start)
            group_ends = step + 1 == group_start + group_size
            # DDP all-reduces gradients on every backward unless told to wait for the group's end.
            synchronise = contextlib.nullcontext() if group_ends else _no_sync(model)
            with synchronise, policy.autocast():
                loss = task.training_step(move_to_device(batch, self.device))
            if not torch.isfinite(loss):
                self.progress.finish("train")
                raise TrainingError(
                    f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                    "check the input data for NaN/Inf or lower the learning rate"
                )
            scaled = loss / group_size
            with synchronise:
                (scaler.scale(scaled) if scaler is not None else scaled).backward()
            if group_ends:
                self._optimizer_step(model, optimizer, scaler)
                steps += 1
            loss_sum += loss.item()
            self.progress.advance("train", {"loss": loss.item()})
        self.progress.finish("train")
        totals = self.distributed.sum_across_processes({"loss": loss_sum, "batches": total_batches})
        return totals["loss"] / max(totals["batches"], 1), steps

    def _optimizer_step(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
    ) -> None:
        if scaler is not None:
            scaler.unscale_(optimizer)
        if self.config.gradient_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.config.gradient_clip_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def evaluate(
        self, task: TrainingTask, loader: Iterable[Any], policy: PrecisionPolicy | None = None
    ) -> dict[str, float]:
        """Mean of ``task.validation_step`` over ``loader``, weighted by batch size.

        Runs under ``eval()`` and ``inference_mode`` with a private random stream seeded from
        the run seed, so repeated evaluations see the same random draws (e.g. masks) and do not
        disturb training's stream. The model's previous train/eval mode is restored.
        """
        model = task.model.to(self.device)
        policy = policy or PrecisionPolicy.resolve(self.config.precision, self.device, model)
        was_training = model.training
        model.eval()
        totals: dict[str, float] = {}
        count = 0
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        self.progress.start("eval", len(loader), "eval")  # type: ignore[arg-type]
        try:
            with torch.random.fork_rng(devices=devices), torch.inference_mode():
                seed_everything(derive_seed(self.config.seed, _EVAL_STREAM))
                for batch in loader:
                    batch = move_to_device(batch, self.device)
                    with policy.autocast():
                        metrics = task.validation_step(batch)
                    size = batch_size_of(batch)
                    count += size
                    for key, value in metrics.items():
                        totals[key] = totals.get(key, 0.0) + float(value) * size
                    self.progress.advance("eval", {key: totals[key] / count for key in totals})
        finally:
            self.progress.finish("eval")
            model.train(was_training)
        totals = self.distributed.sum_across_processes({**totals, _COUNT: float(count)})
        count = int(totals.pop(_COUNT))
        return {key: value / max(count, 1) for key, value in totals.items()}
