"""The engine's extension points: dict losses, exact metrics, monitors, streams, budgets,
task-owned modules, optimiser groups, per-step schedules and resume checks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from pydantic import BaseModel
from torch import Tensor, nn
from torch.utils.data import IterableDataset, TensorDataset

from pixelwise.engine import Trainer, TrainerConfig, load_checkpoint, make_loader
from pixelwise.engine.optim import lr_factor, parameter_groups
from pixelwise.errors import CheckpointError, ConfigError
from pixelwise.metrics import Dice, Sum
from pixelwise.models import UNetConfig, build_model


def config(**overrides) -> TrainerConfig:
    settings = {"epochs": 2, "learning_rate": 1e-2, "device": "cpu", "precision": "32"}
    return TrainerConfig(**{**settings, **overrides})


def regression_data(count: int = 8, batch_size: int = 2) -> TensorDataset:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(count, 1, 8, 8, generator=generator)
    return TensorDataset(x, 0.5 * x + 0.1)


class TermsTask:
    """A dict of loss terms; ``loss`` is not among them, so their sum is optimised."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.model = build_model(UNetConfig(levels=1, base_channels=4))
        self.seen: list[float] = []

    def training_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        x, y = batch
        output = self.model(x)
        terms = {"mse": ((output - y) ** 2).mean(), "l1": (output - y).abs().mean()}
        self.seen.append(float((terms["mse"] + terms["l1"]).detach()))
        return terms

    def validation_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        x, y = batch
        return {"loss": ((self.model(x) - y) ** 2).mean()}


def test_dict_losses_log_every_term_and_optimise_their_sum():
    task = TermsTask()
    loader = make_loader(regression_data(8), batch_size=2)
    result = Trainer(config(epochs=1)).fit(task, loader)
    record = result.history[0]
    assert {"train_loss", "train_mse", "train_l1"} <= record.keys()
    assert record["train_loss"] == pytest.approx(sum(task.seen) / len(task.seen), rel=1e-6)
    assert record["train_loss"] == pytest.approx(record["train_mse"] + record["train_l1"])


class SegmentationTask:
    """Predicts the labels it is given (after one layer), scored by exact and naive Dice."""

    def __init__(self) -> None:
        self.model = build_model(UNetConfig(levels=1, base_channels=2, out_channels=2))
        self.metrics = {"dice": Dice(num_classes=2, per_class=True)}

    def training_step(self, batch):  # pragma: no cover - evaluation only
        raise AssertionError

    def validation_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Sum | Tensor]:
        prediction, target = batch
        self.metrics["dice"].update(prediction, target)
        hits = (prediction == target).sum()
        return {"accuracy": Sum(hits, target.numel()), "batch_dice": _dice1(prediction, target)}


def _dice1(prediction: Tensor, target: Tensor) -> Tensor:
    p, t = prediction == 1, target == 1
    return 2 * (p & t).sum() / (p.sum() + t.sum()).clamp(min=1)


def test_accumulated_metrics_equal_the_whole_dataset_value_on_uneven_batches():
    generator = torch.Generator().manual_seed(3)
    target = (torch.rand(7, 6, 6, generator=generator) < 0.3).long()
    prediction = target.clone()
    prediction[0] = 1 - prediction[0]  # one image wrong everywhere; the others perfect
    prediction[3, :2] = 0
    loader = make_loader(TensorDataset(prediction, target), batch_size=3)  # batches 3, 3, 1
    metrics = Trainer(config()).evaluate(SegmentationTask(), loader)

    whole = Dice(num_classes=2, per_class=True)
    whole.update(prediction, target)
    assert metrics["dice"] == pytest.approx(whole.compute().tolist())
    assert metrics["accuracy"] == pytest.approx(float((prediction == target).float().mean()))
    # The mean of per-batch scores is not the dataset's Dice: the point of accumulating.
    assert abs(metrics["batch_dice"] - metrics["dice"][1]) > 0.01


class ScoreTask(TermsTask):
    """Validation reports a score that gets *higher* as the fit improves."""

    def validation_step(self, batch):
        x, y = batch
        return {"score": -((self.model(x) - y) ** 2).mean(), "loss": torch.tensor(0.0)}


def test_monitor_mode_max_keeps_the_highest_score(tmp_path: Path):
    task = ScoreTask()
    loader = make_loader(regression_data(8), batch_size=2)
    settings = config(epochs=3, monitor="val_score", monitor_mode="max", learning_rate=1e-3)
    result = Trainer(settings).fit(task, loader, loader, checkpoint_dir=tmp_path)
    scores = [record["val_score"] for record in result.history]
    best = load_checkpoint(result.best_checkpoint)
    assert best.epoch == 1 + scores.index(max(scores))
    assert best.metrics["best_val_score"] == pytest.approx(max(scores))


class Stream(IterableDataset):
    """A stream without ``__len__``."""

    def __init__(self, count: int) -> None:
        self.data = regression_data(count)

    def __iter__(self):
        return iter(self.data)


def test_streams_without_length_train_and_flush_the_last_partial_group():
    task = TermsTask()
    loader = make_loader(Stream(10), batch_size=2)  # 5 batches, length unknown
    with pytest.raises(TypeError):
        len(loader)
    settings = config(epochs=2, accumulate_grad_batches=2, scheduler="none")
    result = Trainer(settings).fit(task, loader, loader)
    assert result.optimizer_steps == 2 * 3
    assert all(parameter.grad is None for parameter in task.model.parameters())
    assert math.isfinite(result.history[-1]["val_loss"])


def test_a_cosine_schedule_over_a_stream_needs_a_length():
    loader = make_loader(Stream(4), batch_size=2)
    with pytest.raises(ConfigError, match=r"max_steps or trainer\.steps_per_epoch"):
        Trainer(config()).fit(TermsTask(), loader)


def test_max_steps_and_steps_per_epoch_bound_the_run():
    loader = make_loader(regression_data(4), batch_size=2)  # 2 batches per pass
    settings = config(max_steps=7, steps_per_epoch=3, epochs=None)
    result = Trainer(settings).fit(TermsTask(), loader)
    assert result.optimizer_steps == 7
    assert [record["step"] for record in result.history] == [3, 6, 7]
    assert TrainerConfig(max_steps=5).epochs is None  # epochs unlimited when only steps given


def test_warmup_then_cosine_is_applied_per_optimiser_step():
    task = TermsTask()
    loader = make_loader(regression_data(8), batch_size=2)  # 4 steps per epoch
    schedule = {"name": "cosine", "warmup_steps": 2, "min_lr_ratio": 0.1}
    seen: list[float] = []
    settings = config(epochs=2, scheduler=schedule, learning_rate=1.0)
    trainer = Trainer(settings)
    original = trainer._optimizer_step

    def spy(optimizer, scaler, correction):
        seen.append(optimizer.param_groups[0]["lr"])
        original(optimizer, scaler, correction)

    trainer._optimizer_step = spy
    trainer.fit(task, loader)
    expected = [lr_factor(step, 2, 8, 0.1) for step in range(8)]
    assert seen == pytest.approx(expected)
    assert seen[:3] == pytest.approx([0.5, 1.0, 1.0]) and seen[-1] > 0.1


def test_optimisers_validate_their_own_arguments_and_skip_decay_on_biases():
    adamw = config(optimizer={"name": "adamw", "betas": [0.8, 0.9], "weight_decay": 0.05})
    assert adamw.optimizer.betas == (0.8, 0.9)
    with pytest.raises(ValueError, match="momentum"):
        config(optimizer={"name": "adam", "momentum": 0.9})
    with pytest.raises(ValueError, match="betas"):
        config(optimizer={"name": "adam", "betas": [1.5, 0.9]})
    network = nn.Sequential(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4), nn.Conv2d(4, 1, 1))
    decayed, undecayed = parameter_groups([network], weight_decay=0.05)
    assert [p.ndim for p in decayed["params"]] == [4, 4]
    assert all(p.ndim == 1 for p in undecayed["params"]) and undecayed["weight_decay"] == 0.0


class Gain(nn.Module):
    """A learnable loss weight owned by the task, not the model."""

    def __init__(self) -> None:
        super().__init__()
        self.log_weight = nn.Parameter(torch.zeros(()))


class OwningTask(TermsTask):
    def __init__(self) -> None:
        super().__init__()
        self.gain = Gain()
        self.frozen = nn.Linear(1, 1).requires_grad_(False)
        self.extra_modules = {"gain": self.gain, "frozen": self.frozen}
        self.devices: set[torch.device] = set()

    def training_step(self, batch):
        x, y = batch
        self.devices.add(self.gain.log_weight.device)
        error = ((self.model(x) - y) ** 2).mean()
        return {"loss": error * torch.exp(-self.gain.log_weight) + self.gain.log_weight}


def test_task_owned_modules_are_moved_optimised_and_checkpointed(tmp_path: Path):
    task = OwningTask()
    loader = make_loader(regression_data(8), batch_size=2)
    trainer = Trainer(config(epochs=2))
    result = trainer.fit(task, loader, checkpoint_dir=tmp_path)
    assert task.devices == {trainer.device}
    assert float(task.gain.log_weight.detach()) != 0.0, "the task's parameter was not optimised"
    assert not task.frozen.training, "a frozen task module must stay in eval mode"
    stored = load_checkpoint(result.last_checkpoint).task_state["gain"]["log_weight"]
    assert torch.equal(stored, task.gain.log_weight.detach())


class Plain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Conv2d(1, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)


def test_a_model_without_a_config_is_a_config_error():
    task = TermsTask()
    task.model = Plain()
    with pytest.raises(ConfigError, match="Plain has no pydantic 'config'"):
        Trainer(config()).fit(task, make_loader(regression_data(4), batch_size=2))


def test_any_module_with_a_pydantic_config_trains():
    class Settings(BaseModel):
        width: int = 1

    task = TermsTask()
    task.model = Plain()
    task.model.config = Settings()
    result = Trainer(config(epochs=1)).fit(task, make_loader(regression_data(4), batch_size=2))
    assert result.optimizer_steps == 2


def test_resume_keeps_history_and_refuses_other_models_and_finished_runs(tmp_path: Path):
    loader = make_loader(regression_data(4), batch_size=2)
    first = Trainer(config(epochs=2)).fit(TermsTask(), loader, checkpoint_dir=tmp_path)
    checkpoint = load_checkpoint(first.last_checkpoint)
    resumed = Trainer(config(epochs=3)).fit(
        TermsTask(), loader, checkpoint_dir=tmp_path, resume=checkpoint
    )
    assert [record["epoch"] for record in resumed.history] == [1, 2, 3]
    on_disk = json.loads((tmp_path / "history.json").read_text())
    assert [record["epoch"] for record in on_disk] == [1, 2, 3]

    with pytest.raises(ConfigError, match=r"already holds 2 epochs.*nothing to train"):
        Trainer(config(epochs=2)).fit(TermsTask(), loader, resume=checkpoint)

    wider = TermsTask()
    wider.model = build_model(UNetConfig(levels=1, base_channels=8))
    with pytest.raises(CheckpointError, match=r"base_channels=4 there, 8 here"):
        Trainer(config(epochs=3)).fit(wider, loader, resume=checkpoint)


def test_the_precision_in_force_is_recorded(tmp_path: Path):
    loader = make_loader(regression_data(4), batch_size=2)
    result = Trainer(config(epochs=1, precision="bf16-mixed")).fit(
        TermsTask(), loader, checkpoint_dir=tmp_path
    )
    assert result.precision == "bf16-mixed"
    assert load_checkpoint(result.last_checkpoint).precision == "bf16-mixed"
    auto = Trainer(config(epochs=1, precision="auto")).fit(TermsTask(), loader)
    assert auto.precision in ("32", "bf16-mixed")


def test_config_bounds_refuse_absurd_sizes():
    for field, value in (("epochs", 10**21), ("accumulate_grad_batches", 10**9)):
        with pytest.raises(ValueError, match=field):
            config(**{field: value})
    with pytest.raises(ConfigError, match="parameters"):
        build_model(UNetConfig(levels=7, base_channels=1024))
