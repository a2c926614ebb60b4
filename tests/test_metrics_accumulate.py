"""Accumulating metrics: exact over uneven batches, and across two Gloo processes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from skimage.metrics import peak_signal_noise_ratio

from pixelwise.errors import ConfigError, InputError
from pixelwise.metrics import (
    PSNR,
    BoundaryError,
    Dice,
    Mean,
    MeanSquaredError,
    Median,
    Metric,
    PearsonR,
    Quantile,
    Sum,
)

BATCHES = (slice(0, 1), slice(1, 5), slice(5, 7))  # uneven: 1, 4 and 2 images


def segmentation_data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(7, 4, 16, 12, generator=generator)
    target = torch.randint(0, 4, (7, 16, 12), generator=generator)
    target[2, :3] = 255  # unannotated rows
    return scores, target


def numpy_dice(prediction: np.ndarray, target: np.ndarray, n_classes: int) -> np.ndarray:
    keep = target != 255
    prediction, target = prediction[keep], target[keep]
    return np.array(
        [
            2
            * np.sum((prediction == c) & (target == c))
            / (np.sum(prediction == c) + np.sum(target == c))
            for c in range(n_classes)
        ]
    )


def test_dice_over_uneven_batches_equals_dice_of_the_whole_dataset() -> None:
    scores, target = segmentation_data()
    whole, batched = (Dice(4, per_class=True, ignore_index=255) for _ in range(2))
    whole.update(scores, target)
    for batch in BATCHES:
        batched.update(scores[batch], target[batch])
    expected = numpy_dice(scores.argmax(1).numpy(), target.numpy(), 4)
    np.testing.assert_allclose(batched.compute().numpy(), expected, rtol=1e-12)
    assert torch.equal(batched.compute(), whole.compute())


def test_dice_of_a_dataset_is_not_the_mean_of_batch_dice() -> None:
    # A large image with class 1 found perfectly, then a small one where it is missed.
    target = torch.zeros(2, 20, 20, dtype=torch.long)
    target[0, :10] = 1
    target[1, 0, 0] = 1
    prediction = target.clone()
    prediction[1, 0, 0] = 0
    dataset, batch_scores = Dice(2, include_background=False), []
    for index in range(2):
        dataset.update(prediction[index : index + 1], target[index : index + 1])
        batch = Dice(2, include_background=False)
        batch.update(prediction[index : index + 1], target[index : index + 1])
        batch_scores.append(batch.compute().item())
    assert dataset.compute().item() == pytest.approx(2 * 200 / (200 + 201))
    assert np.mean(batch_scores) == pytest.approx(0.5)


def test_dice_options() -> None:
    target = torch.tensor([[0, 0, 1, 1]])
    prediction = torch.tensor([[0, 1, 1, 1]])
    per_class = Dice(3, per_class=True)
    per_class.update(prediction, target)
    scores = per_class.compute()
    assert scores[:2].tolist() == pytest.approx([2 / 3, 0.8])
    assert math.isnan(scores[2].item())  # class 2 never seen: undefined
    mean = Dice(3)
    mean.update(prediction, target)
    assert mean.compute().item() == pytest.approx((2 / 3 + 0.8) / 2)  # NaN left out
    foreground = Dice(3, include_background=False, per_class=True)
    foreground.update(prediction, target)
    assert foreground.compute().shape == (2,)
    with pytest.raises(InputError):
        mean.update(prediction + 2, target)
    with pytest.raises(ConfigError):
        Dice(1, include_background=False)


def test_pearson_r_streaming_equals_numpy_corrcoef() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(1000.0, 2.0, 5000)  # an offset much larger than the spread
    y = 0.3 * x + rng.normal(0.0, 1.0, x.shape)
    metric = PearsonR()
    for chunk in np.array_split(np.arange(x.size), [1, 700, 701, 3000]):
        metric.update(torch.from_numpy(x[chunk]).float(), torch.from_numpy(y[chunk]).float())
    expected = np.corrcoef(x.astype(np.float32), y.astype(np.float32))[0, 1]
    assert metric.compute().item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("count", [9, 10])
def test_median_and_quantiles_are_exact(count: int) -> None:
    values = torch.randn(count, generator=torch.Generator().manual_seed(count))
    median, quantiles = Median(), Quantile([0.0, 0.1, 0.75, 1.0])
    for chunk in values.split(4):
        median.update(chunk)
        quantiles.update(chunk.view(-1, 1))
    assert median.compute().item() == pytest.approx(np.median(values.numpy()), rel=1e-12)
    np.testing.assert_allclose(
        quantiles.compute().numpy(), np.quantile(values.double().numpy(), [0.0, 0.1, 0.75, 1.0])
    )
    median.update(torch.tensor([float("nan")]))
    assert math.isnan(median.compute().item())
    with pytest.raises(ConfigError):
        Quantile(1.5)


def test_mean_mse_and_psnr() -> None:
    rng = np.random.default_rng(0)
    target = rng.random((5, 1, 8, 8))
    prediction = target + rng.normal(0, 0.05, target.shape)
    mean, mse, psnr = Mean(), MeanSquaredError(), PSNR(data_range=1.0)
    for batch in (slice(0, 2), slice(2, 5)):
        p, t = torch.from_numpy(prediction[batch]), torch.from_numpy(target[batch])
        mse.update(p, t)
        psnr.update(p, t)
        mean.update(p, weight=2.0)
    assert mse.compute().item() == pytest.approx(np.mean((prediction - target) ** 2))
    per_image = [
        peak_signal_noise_ratio(t, p, data_range=1.0)
        for p, t in zip(prediction, target, strict=True)
    ]
    assert psnr.compute().item() == pytest.approx(np.mean(per_image))
    assert mean.compute().item() == pytest.approx(prediction.mean())
    weighted = Mean()
    weighted.update(torch.tensor([1.0, 3.0]), torch.tensor([3.0, 1.0]))
    assert weighted.compute().item() == pytest.approx(1.5)
    with pytest.raises(ConfigError):
        PSNR(data_range=0.0)


def test_boundary_error_counts_annotated_positions_only() -> None:
    rng = np.random.default_rng(1)
    target = rng.uniform(0, 100, (6, 3, 20))
    target[rng.random(target.shape) < 0.3] = np.nan
    target[:, 2] = np.nan  # boundary 2 never annotated
    prediction = target + rng.normal(0, 2, target.shape)
    prediction[np.isnan(prediction)] = 50.0
    pooled, per_boundary = BoundaryError(3), BoundaryError(3, per_boundary=True)
    for batch in (slice(0, 1), slice(1, 6)):
        for metric in (pooled, per_boundary):
            metric.update(torch.from_numpy(prediction[batch]), torch.from_numpy(target[batch]))
    error = np.abs(prediction - target)
    assert pooled.compute().item() == pytest.approx(np.nanmean(error))
    vector = per_boundary.compute().numpy()
    np.testing.assert_allclose(vector[:2], np.nanmean(error[:, :2], axis=(0, 2)))
    assert np.isnan(vector[2])


def test_reset_compute_and_sync_in_one_process() -> None:
    metric = MeanSquaredError()
    with torch.inference_mode():  # as during the engine's evaluation
        metric.update(torch.ones(4), torch.zeros(4))
    first = metric.compute()
    assert metric.compute().item() == first.item() == 1.0  # compute does not change state
    metric.sync()  # no process group: a no-op
    metric.sync()
    assert metric.compute().item() == 1.0
    with pytest.raises(RuntimeError, match="reset"):
        metric.update(torch.ones(1), torch.zeros(1))
    metric.reset()
    with pytest.raises(RuntimeError, match="no data"):
        metric.compute()
    metric.update(torch.full((2,), 3.0), torch.zeros(2))
    assert metric.to("cpu").compute().item() == 9.0


def test_metric_states_are_checked() -> None:
    metric = Extremes()
    with pytest.raises(ValueError, match="already registered"):
        metric.add_state("low", torch.zeros(()), "min")
    with pytest.raises(ValueError, match="reduction"):
        metric.add_state("other", torch.zeros(()), "mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        metric.accumulate("low", torch.zeros(2))
    assert Sum(total=4.0, count=2)._fields == ("total", "count")


class Extremes(Metric):
    """Smallest and largest value: exercises the "min" and "max" reductions."""

    def __init__(self) -> None:
        super().__init__()
        self.add_state("low", torch.tensor(math.inf, dtype=torch.float64), "min")
        self.add_state("high", torch.tensor(-math.inf, dtype=torch.float64), "max")

    def update(self, values: torch.Tensor) -> None:
        self.accumulate("low", values.min())
        self.accumulate("high", values.max())

    def compute(self) -> torch.Tensor:
        return torch.stack([self.state("low"), self.state("high")])


def all_metrics() -> dict[str, Metric]:
    return {
        "dice": Dice(4, per_class=True, ignore_index=255),
        "median": Median(),
        "pearson": PearsonR(),
        "extremes": Extremes(),
    }


def update_all(metrics: dict[str, Metric], scores: torch.Tensor, target: torch.Tensor) -> None:
    values = scores[:, 0].flatten()
    metrics["dice"].update(scores, target)
    metrics["median"].update(values)
    metrics["pearson"].update(values, scores[:, 1].flatten())
    metrics["extremes"].update(values)


def sync_worker(rank: int, store: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        scores, target = segmentation_data()
        shard = slice(0, 3) if rank == 0 else slice(3, 7)  # ranks hold 3 and 4 images
        metrics = all_metrics()
        with torch.inference_mode():
            update_all(metrics, scores[shard], target[shard])
        results = {}
        for name, metric in metrics.items():
            metric.sync()
            results[name] = metric.compute()
        torch.save(results, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_sync_across_two_gloo_processes_matches_one_process(tmp_path: Path) -> None:
    mp.spawn(sync_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    expected = all_metrics()
    update_all(expected, *segmentation_data())
    for rank in (0, 1):
        results = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for name, metric in expected.items():
            torch.testing.assert_close(results[name], metric.compute(), rtol=1e-12, atol=0)
