"""The OCT demo: simulate phantoms, train briefly on the CPU, predict and evaluate held-out scans.

Training scans and held-out scans come from different seeds, and the held-out set has
pathology the training set never shows in that amount (more and larger drusen, and
intraretinal fluid pockets, absent from training). Writes into the output folder:
``train.h5``, ``test.h5``, ``model/`` (checkpoints), ``predictions.h5``, ``metrics.json``
(with ``dice_retina``, ``ilm_mae_px``, ``bm_mae_px``) and ``report.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pixelwise.apps.oct.config import OctConfig, OctDataConfig
from pixelwise.apps.oct.evaluate import evaluate_file, write_metrics
from pixelwise.apps.oct.layout import write_oct
from pixelwise.apps.oct.phantom import PhantomConfig, simulate
from pixelwise.apps.oct.predict import predict_file
from pixelwise.apps.oct.train import train
from pixelwise.engine import ProgressReporter, TrainerConfig
from pixelwise.errors import TrainingError
from pixelwise.models import UNetConfig


class OctDemoConfig(BaseModel):
    """Sizes and budget of the demo (training takes about a minute on an idle 2-core CPU)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    height: int = Field(128, ge=64, le=1024)
    width: int = Field(160, ge=64, le=2048)
    train_scans: int = Field(40, ge=4, le=10000)
    test_scans: int = Field(12, ge=1, le=10000)
    epochs: int = Field(12, ge=1, le=1000)
    patches_per_epoch: int = Field(128, ge=8)
    patch_width: int = Field(64, ge=16)
    base_channels: int = Field(8, ge=4, le=128)
    levels: int = Field(4, ge=2, le=6)
    learning_rate: float = Field(3e-3, gt=0)
    seed: int = Field(0, ge=0)


def demo_run_config(config: OctDemoConfig, train_file: Path, output_dir: Path) -> OctConfig:
    """The training run the demo performs."""
    return OctConfig(
        data=OctDataConfig(
            train=[train_file],
            patch_size=config.patch_width,
            patches_per_epoch=config.patches_per_epoch,
            batch_size=8,
            validation_patches=4,
        ),
        model=UNetConfig(levels=config.levels, base_channels=config.base_channels, out_channels=3),
        trainer=TrainerConfig(
            epochs=config.epochs,
            learning_rate=config.learning_rate,
            gradient_clip_norm=1.0,
            seed=config.seed,
        ),
        output_dir=output_dir,
    )


def run_demo(
    output_dir: str | Path,
    config: OctDemoConfig | None = None,
    *,
    progress: ProgressReporter | None = None,
) -> dict[str, Any]:
    """Run the whole demo into ``output_dir``; return the metrics (also in metrics.json)."""
    config = config or OctDemoConfig()
    output_dir = Path(output_dir)
    phantom = PhantomConfig(height=config.height, width=config.width)
    unseen = phantom.model_copy(
        update={"drusen_probability": 0.6, "drusen_height": (0.02, 0.05), "fluid_probability": 0.5}
    )
    train_file = write_oct(
        output_dir / "train.h5", simulate(phantom, config.train_scans, config.seed)
    )
    test_file = write_oct(
        output_dir / "test.h5", simulate(unseen, config.test_scans, config.seed + 10_000)
    )
    result = train(demo_run_config(config, train_file, output_dir / "model"), progress=progress)
    if result.last_checkpoint is None:
        raise TrainingError("the demo runs in one process; start it without torchrun")
    predictions = output_dir / "predictions.h5"
    predict_file(test_file, predictions, result.last_checkpoint, device="cpu")
    metrics = evaluate_file(predictions, output_dir)
    metrics["train_seconds"] = sum(record["seconds"] for record in result.history)
    metrics["checkpoint"] = str(result.last_checkpoint)
    write_metrics(output_dir / "metrics.json", metrics)
    return metrics
