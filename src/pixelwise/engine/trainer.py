"""The training and evaluation loops shared by every pixelwise application.

An application supplies a :class:`TrainingTask` (its model plus how to turn a batch into a
loss and into validation metrics); the :class:`Trainer` owns everything that the systems we
replace got wrong:

* evaluation runs under ``model.eval()`` and ``torch.inference_mode()``, restores the previous
  mode afterwards, never touches optimiser gradients, and uses its own fixed random stream;
  metrics are exact over the whole validation set (sums and counts, or accumulating metric
  objects synchronised across processes), not means of batch means;
* gradient accumulation steps the optimiser after the last, partial group of an epoch and
  weights every batch equally, also for streams whose length is unknown;
* optional gradient clipping; mixed precision only where it is safe and fast
  (see :mod:`pixelwise.engine.precision`);
* a non-finite loss stops training with an error naming the epoch and step;
* every epoch reseeds the RNGs from ``(seed, epoch)``, so runs are reproducible and a run
  resumed from a checkpoint ends with exactly the weights of an uninterrupted one;
* checkpoints are atomic and self-describing (see :mod:`pixelwise.engine.checkpoint`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from pydantic import BaseModel
from torch import Tensor, nn

from pixelwise.engine.checkpoint import Checkpoint, save_checkpoint, state_dict_differences
from pixelwise.engine.config import TrainerConfig
from pixelwise.engine.distributed import DistributedContext
from pixelwise.engine.optim import make_optimizer, make_scheduler
from pixelwise.engine.precision import PrecisionPolicy
from pixelwise.engine.progress import ProgressReporter, SilentProgress
from pixelwise.engine.seeding import configure_determinism, derive_seed, seed_everything
from pixelwise.errors import CheckpointError, ConfigError, TrainingError
from pixelwise.io.atomic import locked_folder, write_text_atomic
from pixelwise.metrics.accumulate import Metric, Sum

logger = logging.getLogger(__name__)

_EVAL_STREAM = 1  # key mixed into the seed of evaluation's private random stream


class TrainingTask(Protocol):
    """What an application provides to the engine.

    Optional members the engine looks for:

    * ``metrics``: a mapping of names to accumulating :class:`~pixelwise.metrics.Metric`
      objects that ``validation_step`` updates; the engine resets them before evaluation,
      synchronises them across processes and reports ``compute()`` (scalars or vectors);
    * ``extra_modules``: a mapping of names to task-owned modules (a frozen perceptual
      network, learnable loss weights) that the engine moves to the device, optimises when
      they have trainable parameters, and stores in checkpoints;
    * ``should_stop(record) -> bool``: early stopping, asked after every epoch.
    """

    model: nn.Module

    def training_step(self, batch: Any) -> Tensor | Mapping[str, Tensor]:
        """The loss of one batch: a scalar, or named terms (``loss`` or their sum is optimised)."""
        ...

    def validation_step(self, batch: Any) -> Mapping[str, Tensor | float | Sum] | None:
        """Batch metrics: means (weighted by batch size), :class:`Sum` totals, or None."""
        ...


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM turned into an interrupt) during :meth:`Trainer.fit`.

    The message says where the last checkpoint is and how to resume.
    """

    def __init__(self, message: str, last_checkpoint: Path | None) -> None:
        super().__init__(message)
        self.last_checkpoint = last_checkpoint


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` returns."""

    history: list[dict[str, Any]] = field(default_factory=list)
    optimizer_steps: int = 0
    precision: str = "32"
    best_checkpoint: Path | None = None
    last_checkpoint: Path | None = None


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when available; anything else must name an available device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"unknown device '{name}'; use 'auto', 'cpu', 'cuda' or 'cuda:N'"
        ) from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device '{name}'; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' requested but CUDA is not available")
    return device


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor inside a (nested) batch to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {key: move_to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, tuple):
        return tuple(move_to_device(value, device) for value in batch)
    if isinstance(batch, list):
        return [move_to_device(value, device) for value in batch]
    return batch


def batch_size_of(batch: Any) -> int:
    """Number of samples in a batch: the leading size of its first tensor."""
    if isinstance(batch, Tensor):
        return int(batch.shape[0])
    values = batch.values() if isinstance(batch, Mapping) else batch
    for value in values:
        if isinstance(value, (Tensor, Mapping)) or (
            isinstance(value, Sequence) and not isinstance(value, str)
        ):
            return batch_size_of(value)
    raise TrainingError("a batch holds no tensor; cannot tell its size")


def loader_length(loader: Iterable[Any]) -> int | None:
    """``len(loader)``, or None for streams (iterable datasets) that have no length."""
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def model_config_of(model: nn.Module) -> BaseModel:
    """The pydantic config a trainable model must carry (it rebuilds the model at inference)."""
    config = getattr(model, "config", None)
    if not isinstance(config, BaseModel):
        raise ConfigError(
            f"{type(model).__name__} has no pydantic 'config' attribute; the engine stores "
            "it in checkpoints so that inference can rebuild the exact model"
        )
    return config


def _batches(
    loader: Iterable[Any], steps: int | None, epoch: int
) -> Iterator[tuple[int, Any, bool]]:
    """Yield ``(index, batch, is_last)`` for one epoch.

    With ``steps`` the loader is restarted as often as needed to give exactly that many
    batches; without it the epoch is one pass, and a one-batch look-ahead tells the last
    batch even when the loader has no length.
    """
    if steps is not None:
        iterator = iter(loader)
        for index in range(steps):
            try:
                batch = next(iterator)
            except StopIteration:
                iterator = iter(loader)
                batch = next(iterator, None)
                if batch is None:
                    raise TrainingError(f"the training data is empty (epoch {epoch + 1})") from None
            yield index, batch, index + 1 == steps
        return
    iterator = iter(loader)
    upcoming = next(iterator, None)
    index = 0
    while upcoming is not None:
        batch, upcoming = upcoming, next(iterator, None)
        yield index, batch, upcoming is None
        index += 1


def _no_sync(model: nn.Module) -> contextlib.AbstractContextManager[None]:
    """DDP's ``no_sync()`` (skip the gradient all-reduce), or nothing for a plain module."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()


def _loss_terms(output: Tensor | Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
    """The loss to optimise and every term to log, from a ``training_step`` result."""
    if isinstance(output, Tensor):
        return output, {"loss": output}
    if not output:
        raise TrainingError("training_step returned an empty dict of losses")
    terms = dict(output)
    loss = terms["loss"] if "loss" in terms else sum(terms.values())
    if not isinstance(loss, Tensor):
        raise TrainingError("training_step must return tensors")
    return loss, {"loss": loss, **{key: value for key, value in terms.items() if key != "loss"}}


@contextlib.contextmanager
def _training_model(task: TrainingTask, train_model: nn.Module) -> Iterator[None]:
    """Let the task's steps run through ``train_model`` (e.g. the DDP wrapper) for one epoch."""
    model = task.model
    task.model = train_model
    try:
        yield
    finally:
        task.model = model


class Trainer:
    """Fits a :class:`TrainingTask` according to a :class:`TrainerConfig`."""

    def __init__(self, config: TrainerConfig, progress: ProgressReporter | None = None) -> None:
        self.config = config
        self.distributed = DistributedContext.from_environment()
        self.device = self.distributed.device(resolve_device(config.device))
        self.progress: ProgressReporter = progress or SilentProgress()

    # ----------------------------------------------------------------------------------
    # fitting

    def fit(
        self,
        task: TrainingTask,
        train_loader: Iterable[Any],
        val_loader: Iterable[Any] | None = None,
        *,
        checkpoint_dir: str | Path | None = None,
        app: str = "generic",
        app_config: Mapping[str, Any] | None = None,
        learned_state: Mapping[str, Any] | None = None,
        resume: Checkpoint | None = None,
    ) -> FitResult:
        """Train ``task.model`` until ``config.epochs`` or ``config.max_steps`` is reached.

        Writes ``last.pt`` (every ``checkpoint_every`` epochs and at the end), ``best.pt``
        (best ``monitor`` value under ``monitor_mode``; needs ``val_loader``),
        ``epoch-NNNN.pt`` (every ``keep_every`` epochs, when set) and
        ``history.json`` into ``checkpoint_dir`` when one is given, which is locked
        (:func:`~pixelwise.io.atomic.locked_folder`) before the first step, so an unusable
        folder fails at once. ``learned_state`` (e.g. normalisation statistics) is stored
        beside ``app_config`` in every checkpoint.
        """
        config = self.config
        model_config = model_config_of(task.model)
        configure_determinism(config.deterministic, self.device)
        model = task.model.to(self.device)
        extra = self._extra_modules(task)
        policy = PrecisionPolicy.resolve(config.precision, self.device, model)
        logger.info("training on %s, %s", self.device, policy.describe())
        batches_per_epoch = config.steps_per_epoch or loader_length(train_loader)
        optimizer = make_optimizer(config, [model, *extra.values()])
        scheduler = make_scheduler(config, optimizer, batches_per_epoch)
        scaler = torch.amp.GradScaler(self.device.type) if policy.needs_scaler else None
        result = FitResult(precision=policy.name)
        start_epoch, step = 0, 0
        sign = 1.0 if config.monitor_mode == "min" else -1.0
        best = math.inf
        if resume is not None:
            self._check_resumable(resume, model_config, model)
            model.load_state_dict(resume.state_dict)
            for name, module in extra.items():
                if name in resume.task_state:
                    module.load_state_dict(resume.task_state[name])
            if resume.optimizer_state is not None:
                optimizer.load_state_dict(resume.optimizer_state)
            if resume.scheduler_state is not None:
                scheduler.load_state_dict(resume.scheduler_state)
            if scaler is not None and resume.scaler_state is not None:
                scaler.load_state_dict(resume.scaler_state)
            start_epoch, step = resume.epoch, resume.step
            best = sign * resume.metrics.get(f"best_{config.monitor}", sign * math.inf)
            result.history = [dict(record) for record in resume.history]
        directory = (
            Path(checkpoint_dir)
            if checkpoint_dir is not None and self.distributed.is_main
            else None
        )
        train_model = self.distributed.wrap(model, self.device)

        def checkpoint_at(epoch: int, metrics: dict[str, float]) -> Checkpoint:
            return Checkpoint(
                app=app,
                model_config=model_config.model_dump(mode="json"),
                app_config=dict(app_config or {}),
                learned_state=dict(learned_state or {}),
                state_dict=model.state_dict(),
                task_state={name: module.state_dict() for name, module in extra.items()},
                epoch=epoch,
                step=step,
                metrics=metrics,
                precision=policy.name,
                optimizer_state=optimizer.state_dict(),
                scheduler_state=scheduler.state_dict(),
                scaler_state=scaler.state_dict() if scaler is not None else None,
                history=result.history,
            )

        # The output folder is checked and locked before the first step: a file in its place,
        # a read-only folder or one another run is writing to fails now, not at the end.
        with locked_folder(directory) if directory is not None else contextlib.nullcontext():
            epoch = start_epoch
            try:
                while (config.epochs is None or epoch < config.epochs) and not (
                    config.max_steps is not None and step >= config.max_steps
                ):
                    seed_everything(derive_seed(config.seed, epoch))
                    for source in (
                        getattr(train_loader, "dataset", None),
                        getattr(train_loader, "sampler", None),
                    ):
                        set_epoch = getattr(source, "set_epoch", None)
                        if callable(set_epoch):
                            set_epoch(epoch)
                    started = time.perf_counter()
                    with _training_model(task, train_model):
                        losses, steps = self._train_epoch(
                            task, train_loader, optimizer, scheduler, scaler, policy, epoch, step
                        )
                    step += steps
                    result.optimizer_steps += steps
                    record: dict[str, Any] = {
                        "epoch": epoch + 1,
                        "step": step,
                        **{f"train_{key}": value for key, value in losses.items()},
                        "lr": optimizer.param_groups[0]["lr"],
                    }
                    if val_loader is not None:
                        record.update(
                            {
                                f"val_{k}": v
                                for k, v in self.evaluate(task, val_loader, policy).items()
                            }
                        )
                    record["seconds"] = time.perf_counter() - started
                    result.history.append(record)
                    epoch += 1
                    stop = _should_stop(task, record) or (
                        config.max_steps is not None and step >= config.max_steps
                    )
                    if directory is not None:
                        value = record.get(config.monitor)
                        improved = isinstance(value, (int, float)) and sign * value < best
                        if isinstance(value, (int, float)) and improved:
                            best = sign * float(value)
                        metrics = {
                            **_scalars(record),
                            f"best_{config.monitor}": sign * best,
                        }
                        if improved:
                            result.best_checkpoint = save_checkpoint(
                                directory / "best.pt", checkpoint_at(epoch, metrics)
                            )
                        is_last = stop or epoch == config.epochs
                        if is_last or epoch % config.checkpoint_every == 0:
                            result.last_checkpoint = save_checkpoint(
                                directory / "last.pt", checkpoint_at(epoch, metrics)
                            )
                        if config.keep_every and epoch % config.keep_every == 0:
                            save_checkpoint(
                                directory / f"epoch-{epoch:04d}.pt", checkpoint_at(epoch, metrics)
                            )
                        write_text_atomic(
                            directory / "history.json", json.dumps(result.history, indent=2)
                        )
                    if stop:
                        break
            except KeyboardInterrupt as interrupt:
                last = result.last_checkpoint or (resume and Path(resume.source))
                where = (
                    f"the last checkpoint is {last}; continue with --resume {last}"
                    if last
                    else "no checkpoint was written yet"
                )
                raise TrainingInterrupted(
                    f"training interrupted in epoch {epoch + 1}; {where}",
                    Path(last) if last else None,
                ) from interrupt
            return result

    def _extra_modules(self, task: TrainingTask) -> dict[str, nn.Module]:
        """Task-owned modules on the engine's device; frozen ones stay in eval mode."""
        extra = dict(getattr(task, "extra_modules", None) or {})
        for name, module in extra.items():
            if not isinstance(module, nn.Module):
                raise ConfigError(f"task.extra_modules['{name}'] is not a torch module")
            module.to(self.device)
            if not any(parameter.requires_grad for parameter in module.parameters()):
                module.eval()
        return extra

    def _check_resumable(
        self, resume: Checkpoint, model_config: BaseModel, model: nn.Module
    ) -> None:
        """Refuse a checkpoint of another architecture or one that is already finished."""
        current = model_config.model_dump(mode="json")
        differing = sorted(
            key
            for key in current.keys() | resume.model_config.keys()
            if current.get(key) != resume.model_config.get(key)
        )
        if differing:
            details = ", ".join(
                f"{key}={resume.model_config.get(key)!r} there, {current.get(key)!r} here"
                for key in differing
            )
            raise CheckpointError(
                f"{resume.source}: cannot resume: the checkpoint's model differs ({details})"
            )
        problem = state_dict_differences(model.state_dict(), resume.state_dict)
        if problem is not None:
            raise CheckpointError(f"{resume.source}: cannot resume: {problem}")
        config = self.config
        if (config.epochs is not None and resume.epoch >= config.epochs) or (
            config.max_steps is not None and resume.step >= config.max_steps
        ):
            raise ConfigError(
                f"{resume.source}: the checkpoint already holds {resume.epoch} epochs "
                f"({resume.step} steps); trainer.epochs is {config.epochs} and "
                f"trainer.max_steps is {config.max_steps}: nothing to train — raise them"
            )

    def _train_epoch(
        self,
        task: TrainingTask,
        loader: Iterable[Any],
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        scaler: torch.amp.GradScaler | None,
        policy: PrecisionPolicy,
        epoch: int,
        step: int,
    ) -> tuple[dict[str, float], int]:
        """One epoch; returns (mean of every loss term, optimiser steps taken)."""
        config = self.config
        model = task.model
        model.train()
        accumulate = config.accumulate_grad_batches
        optimizer.zero_grad(set_to_none=True)
        sums: dict[str, float] = {}
        batches, steps, pending = 0, 0, 0
        total = config.steps_per_epoch or loader_length(loader)
        epochs = "" if config.epochs is None else f"/{config.epochs}"
        self.progress.start("train", total, f"epoch {epoch + 1}{epochs}")
        try:
            for index, batch, is_last in _batches(loader, config.steps_per_epoch, epoch):
                pending += 1
                budget_hit = config.max_steps is not None and step + steps + 1 >= config.max_steps
                group_ends = pending == accumulate or is_last
                # DDP all-reduces gradients on every backward unless told to wait.
                synchronise = contextlib.nullcontext() if group_ends else _no_sync(model)
                with synchronise, policy.autocast():
                    loss, terms = _loss_terms(
                        task.training_step(move_to_device(batch, self.device))
                    )
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"loss became {loss.item()} at epoch {epoch + 1}, step {index + 1}; "
                        "check the input data for NaN/Inf or lower the learning rate"
                    )
                with synchronise:
                    scaled = loss / accumulate
                    (scaler.scale(scaled) if scaler is not None else scaled).backward()
                if group_ends:
                    self._optimizer_step(optimizer, scaler, accumulate / pending)
                    scheduler.step()
                    steps += 1
                    pending = 0
                batches += 1
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + float(value.detach())
                self.progress.advance("train", {"loss": float(loss.detach())})
                if group_ends and budget_hit:
                    break
        finally:
            self.progress.finish("train")
        totals = self.distributed.sum_across_processes({**sums, "__batches__": batches})
        count = max(totals.pop("__batches__"), 1)
        return {key: value / count for key, value in totals.items()}, steps

    def _optimizer_step(
        self,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
        correction: float,
    ) -> None:
        """Step on the accumulated gradients.

        Every batch's loss was divided by ``accumulate_grad_batches``; a short last group of
        ``k`` batches is rescaled by ``accumulate / k`` so that it is a mean like the others.
        """
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        if scaler is not None:
            scaler.unscale_(optimizer)
        if correction != 1.0:
            for parameter in parameters:
                if parameter.grad is not None:
                    parameter.grad.mul_(correction)
        if self.config.gradient_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(parameters, self.config.gradient_clip_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    # ----------------------------------------------------------------------------------
    # evaluation

    def evaluate(
        self, task: TrainingTask, loader: Iterable[Any], policy: PrecisionPolicy | None = None
    ) -> dict[str, Any]:
        """Validation metrics of ``task`` over the whole of ``loader``.

        Scalar results of ``validation_step`` are averaged weighted by batch size,
        :class:`Sum` results are summed and divided once at the end, and the task's
        accumulating ``metrics`` report ``compute()`` (floats, or lists for vectors). All are
        exact across processes under torchrun. Runs under ``eval()`` and ``inference_mode``
        with a private random stream seeded from the run seed, so repeated evaluations see
        the same random draws (e.g. masks) and do not disturb training's stream. The
        model's previous train/eval mode is restored.
        """
        model = task.model.to(self.device)
        policy = policy or PrecisionPolicy.resolve(self.config.precision, self.device, model)
        metric_objects: dict[str, Metric] = dict(getattr(task, "metrics", None) or {})
        for metric in metric_objects.values():
            metric.reset()
            metric.to(self.device)
        was_training = model.training
        model.eval()
        totals: dict[str, float] = {}
        counts: dict[str, float] = {}
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        self.progress.start("eval", loader_length(loader), "eval")
        try:
            with torch.random.fork_rng(devices=devices), torch.inference_mode():
                seed_everything(derive_seed(self.config.seed, _EVAL_STREAM))
                for batch in loader:
                    batch = move_to_device(batch, self.device)
                    with policy.autocast():
                        values = task.validation_step(batch) or {}
                    size = batch_size_of(batch)
                    for key, value in values.items():
                        total, count = (
                            (float(value.total), float(value.count))
                            if isinstance(value, Sum)
                            else (float(value) * size, float(size))
                        )
                        totals[key] = totals.get(key, 0.0) + total
                        counts[key] = counts.get(key, 0.0) + count
                    self.progress.advance(
                        "eval", {key: totals[key] / max(counts[key], 1.0) for key in totals}
                    )
        finally:
            self.progress.finish("eval")
            model.train(was_training)
        summed = self.distributed.sum_across_processes(
            {**{f"t:{k}": v for k, v in totals.items()}, **{f"c:{k}": v for k, v in counts.items()}}
        )
        results: dict[str, Any] = {
            key: summed[f"t:{key}"] / max(summed[f"c:{key}"], 1e-300) for key in totals
        }
        for name, metric in metric_objects.items():
            metric.sync()
            value = metric.compute().detach().float().cpu()
            results[name] = value.item() if value.ndim == 0 else value.tolist()
        return results


def _should_stop(task: TrainingTask, record: Mapping[str, Any]) -> bool:
    """Early stopping: a task may define ``should_stop(record) -> bool``, asked after each epoch."""
    hook = getattr(task, "should_stop", None)
    return bool(hook(record)) if hook is not None else False


def _scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """A history record as checkpoint metrics: vectors become ``name_0``, ``name_1``, ..."""
    flat: dict[str, float] = {}
    for key, value in record.items():
        if isinstance(value, (list, tuple)):
            flat.update({f"{key}_{index}": float(item) for index, item in enumerate(value)})
        else:
            flat[key] = float(value)
    return flat
