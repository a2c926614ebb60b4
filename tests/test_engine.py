"""The engine's guarantees: eval mode, progress, accumulation, clipping, guards, reproducibility."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from pixelwise.engine import Trainer, TrainerConfig, load_checkpoint, make_loader
from pixelwise.errors import CheckpointError, ConfigError, TrainingError
from pixelwise.models import UNetConfig, build_model, restore_model


class RegressionTask:
    """Fits model(x) to y with an MSE loss; records what the engine does around it."""

    def __init__(self, seed: int = 0, fail_at_step: int | None = None) -> None:
        torch.manual_seed(seed)
        self.model = build_model(UNetConfig(levels=1, base_channels=4, norm="none"))
        self.fail_at_step = fail_at_step
        self.steps = 0
        self.eval_states: list[tuple[bool, bool]] = []

    def training_step(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        self.steps += 1
        x, y = batch
        loss = torch.mean((self.model(x) - y) ** 2)
        if self.fail_at_step == self.steps:
            return loss * float("nan")
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        self.eval_states.append((self.model.training, torch.is_grad_enabled()))
        x, y = batch
        noise = torch.rand(())  # random draws in eval come from a private, fixed stream
        return {"loss": torch.mean((self.model(x) - y) ** 2), "draw": noise}


class RecordingProgress:
    def __init__(self, crash_at_epoch: int | None = None) -> None:
        self.advances: Counter[str] = Counter()
        self.starts: Counter[str] = Counter()
        self.crash_at_epoch = crash_at_epoch

    def start(self, phase: str, total: int | None, description: str) -> None:
        self.starts[phase] += 1
        if phase == "train" and self.crash_at_epoch == self.starts[phase]:
            raise KeyboardInterrupt

    def advance(self, phase: str, metrics: dict[str, float] | None = None) -> None:
        self.advances[phase] += 1

    def finish(self, phase: str) -> None:
        pass


def make_data(count: int = 10, batch_size: int = 2, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(count, 1, 8, 8, generator=generator)
    y = 0.5 * x + 0.1
    return make_loader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)


def config(**overrides) -> TrainerConfig:
    settings = {"epochs": 2, "learning_rate": 1e-2, "device": "cpu", "precision": "32"}
    return TrainerConfig(**{**settings, **overrides})


def test_evaluation_runs_in_eval_mode_without_grad_and_restores_mode():
    task = RegressionTask()
    task.model.train()
    for parameter in task.model.parameters():
        parameter.grad = torch.ones_like(parameter)
    metrics = Trainer(config()).evaluate(task, make_data())
    assert task.eval_states and all(state == (False, False) for state in task.eval_states)
    assert task.model.training, "evaluate must restore train mode"
    assert all(torch.all(p.grad == 1) for p in task.model.parameters()), "eval touched grads"
    assert metrics["loss"] > 0


def test_evaluation_uses_a_fixed_private_random_stream():
    task = RegressionTask()
    trainer = Trainer(config())
    torch.manual_seed(123)
    first = trainer.evaluate(task, make_data())
    after_first = torch.rand(())
    torch.manual_seed(123)
    torch.rand(())  # a different global state must not change eval's draws
    second = trainer.evaluate(task, make_data())
    assert first["draw"] == second["draw"]
    torch.manual_seed(123)
    trainer.evaluate(task, make_data())
    assert torch.rand(()) == after_first, "evaluation must not consume the global stream"


def test_train_and_eval_progress_bars_advance_once_per_batch():
    progress = RecordingProgress()
    task = RegressionTask()
    Trainer(config(epochs=3), progress=progress).fit(task, make_data(10, 2), make_data(6, 2))
    assert progress.advances["train"] == 3 * 5
    assert progress.advances["eval"] == 3 * 3
    assert progress.starts == Counter({"train": 3, "eval": 3})


@pytest.mark.parametrize(
    ("batches", "accumulate", "expected_steps"), [(5, 2, 3), (5, 4, 2), (4, 4, 1), (3, 1, 3)]
)
def test_gradient_accumulation_flushes_the_last_partial_group(batches, accumulate, expected_steps):
    task = RegressionTask()
    loader = make_data(batches * 2, 2)
    result = Trainer(config(epochs=2, accumulate_grad_batches=accumulate)).fit(task, loader)
    assert result.optimizer_steps == 2 * expected_steps
    assert all(p.grad is None for p in task.model.parameters()), (
        "a partial group was left unapplied"
    )


def test_accumulated_step_equals_one_big_batch_step():
    """Accumulating 2 batches of 2 must equal one batch of 4 (losses scaled by group size)."""
    loader_small = make_data(4, 2)
    loader_big = make_data(4, 4)
    small, big = RegressionTask(), RegressionTask()
    overrides = {"epochs": 1, "optimizer": "sgd", "scheduler": "none"}
    Trainer(config(accumulate_grad_batches=2, **overrides)).fit(small, loader_small)
    Trainer(config(**overrides)).fit(big, loader_big)
    for a, b in zip(small.model.parameters(), big.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_gradient_clipping_bounds_the_update():
    task = RegressionTask()
    before = [p.detach().clone() for p in task.model.parameters()]
    loader = make_data(2, 2)
    overrides = {"epochs": 1, "optimizer": "sgd", "scheduler": "none", "learning_rate": 1.0}
    Trainer(config(gradient_clip_norm=1e-3, **overrides)).fit(task, loader)
    delta = torch.sqrt(
        sum(((p - b) ** 2).sum() for p, b in zip(task.model.parameters(), before, strict=True))
    )
    assert delta <= 1e-3 * 1.0001


def test_non_finite_loss_names_epoch_and_step():
    task = RegressionTask(fail_at_step=8)  # epoch 2 (5 batches per epoch), step 3
    with pytest.raises(TrainingError, match=r"epoch 2, step 3"):
        Trainer(config(epochs=3)).fit(task, make_data(10, 2))


def test_runs_are_bitwise_reproducible():
    weights = []
    for _ in range(2):
        task = RegressionTask(seed=5)
        Trainer(config(epochs=2, seed=7)).fit(task, make_data(), make_data(4))
        weights.append([p.detach().clone() for p in task.model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))


def test_resume_reproduces_the_uninterrupted_run(tmp_path: Path):
    settings = config(epochs=4, seed=3, checkpoint_every=1)
    full = RegressionTask(seed=1)
    Trainer(settings).fit(full, make_data(), make_data(4), checkpoint_dir=tmp_path / "full")

    crashed = RegressionTask(seed=1)
    with pytest.raises(KeyboardInterrupt):
        Trainer(settings, progress=RecordingProgress(crash_at_epoch=3)).fit(
            crashed, make_data(), make_data(4), checkpoint_dir=tmp_path / "crashed"
        )
    checkpoint = load_checkpoint(tmp_path / "crashed" / "last.pt")
    assert checkpoint.epoch == 2
    resumed = RegressionTask(seed=99)  # different init: everything must come from the checkpoint
    Trainer(settings).fit(
        resumed, make_data(), make_data(4), checkpoint_dir=tmp_path / "crashed", resume=checkpoint
    )
    for a, b in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_checkpoint_carries_config_and_rebuilds_the_model(tmp_path: Path):
    task = RegressionTask()
    result = Trainer(config()).fit(
        task, make_data(), make_data(4), checkpoint_dir=tmp_path, app="demo", app_config={"x": 1}
    )
    checkpoint = load_checkpoint(result.last_checkpoint, app="demo")
    assert checkpoint.app_config == {"x": 1}
    assert checkpoint.epoch == 2
    assert {"pixelwise", "torch"} <= checkpoint.versions.keys()
    assert checkpoint.optimizer_state is not None and checkpoint.scheduler_state is not None
    assert result.best_checkpoint is not None and (tmp_path / "history.json").is_file()
    rebuilt = restore_model(checkpoint)
    x = torch.randn(1, 1, 8, 8)
    task.model.eval()
    rebuilt.eval()
    assert torch.equal(rebuilt(x), task.model(x))


def test_bad_checkpoints_give_clear_errors(tmp_path: Path):
    task = RegressionTask()
    good = Trainer(config(epochs=1)).fit(task, make_data(), checkpoint_dir=tmp_path, app="seismic")
    data = good.last_checkpoint.read_bytes()

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.pt: checkpoint is truncated or corrupt"):
        load_checkpoint(truncated)

    with pytest.raises(CheckpointError, match=r"missing\.pt: checkpoint file not found"):
        load_checkpoint(tmp_path / "missing.pt")

    with pytest.raises(CheckpointError, match="belongs to the 'seismic' application, not 'cryoem'"):
        load_checkpoint(good.last_checkpoint, app="cryoem")

    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="not a pixelwise checkpoint"):
        load_checkpoint(other)

    checkpoint = load_checkpoint(good.last_checkpoint)
    checkpoint.model_config = {**checkpoint.model_config, "base_channels": 8}
    with pytest.raises(CheckpointError, match=r"weights do not match .*tensors differ"):
        restore_model(checkpoint)


class _Exploit:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/pixelwise-pwned"),))


def test_checkpoint_loading_never_runs_pickled_code(tmp_path: Path):
    marker = Path("/tmp/pixelwise-pwned")
    marker.unlink(missing_ok=True)
    evil = tmp_path / "evil.pt"
    torch.save(
        {"format": "pixelwise-checkpoint/1", "payload": _Exploit()}, evil, pickle_module=pickle
    )
    with pytest.raises(CheckpointError):
        load_checkpoint(evil)
    assert not marker.exists()


def test_precision_policy_rejects_fp16_on_cpu_and_trains_in_bf16():
    with pytest.raises(ConfigError, match="16-mixed' needs a CUDA device"):
        Trainer(config(precision="16-mixed")).fit(RegressionTask(), make_data())
    task = RegressionTask()
    result = Trainer(config(precision="bf16-mixed")).fit(task, make_data(), make_data(4))
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in result.history)


def test_a_task_can_stop_training_early(tmp_path: Path):
    task = RegressionTask()
    task.should_stop = lambda record: record["epoch"] == 2
    result = Trainer(config(epochs=10)).fit(task, make_data(), checkpoint_dir=tmp_path)
    assert len(result.history) == 2
    assert load_checkpoint(result.last_checkpoint).epoch == 2
