"""The embedded cryo-EM demo: simulate, train a U-Net briefly, denoise, evaluate, report.

Everything is generated (no download): micrographs from :mod:`.simulate` at 300 kV, 1 Å/px
and 40 e⁻/Å² in 20 frames. The run writes the data set, the checkpoints (``model/last.pt``
is accepted by ``pixelwise cryoem denoise``; ``model/epoch-*.pt`` every quarter of the
training, all evaluated), a denoised test micrograph (MRC, header kept),
``report.html`` and ``metrics.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pixelwise.apps.cryoem.config import CryoConfig, CryoDataConfig
from pixelwise.apps.cryoem.denoise import denoise_files
from pixelwise.apps.cryoem.simulate import SimulationConfig, simulate_dataset
from pixelwise.apps.cryoem.train import train
from pixelwise.apps.cryoem.workflow import evaluate_checkpoints
from pixelwise.engine import ProgressReporter, TrainerConfig, load_checkpoint
from pixelwise.errors import TrainingError
from pixelwise.io.atomic import write_text_atomic
from pixelwise.models import UNetConfig


class DemoConfig(BaseModel):
    """The demo's data set and training budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(384, ge=96, le=4096, description="micrograph edge in pixels")
    count: int = Field(16, ge=4, le=1000, description="micrographs (split 70/15/15)")
    seed: int = Field(0, ge=0)
    epochs: int = Field(12, ge=1, le=10000)
    patches_per_epoch: int = Field(512, ge=16)
    patch_size: int = Field(64, ge=16)
    batch_size: int = Field(16, ge=1)
    base_channels: int = Field(16, ge=4, le=128)
    learning_rate: float = Field(2e-3, gt=0)


def demo_run_config(config: DemoConfig, data_dir: Path, output_dir: Path) -> CryoConfig:
    """The paired training run the demo performs on its simulated ``data_dir``."""
    return CryoConfig(
        data=CryoDataConfig(
            kind="paired",
            input=[data_dir / "noisy"],
            target=[data_dir / "clean"],
            patch_size=config.patch_size,
            patches_per_epoch=config.patches_per_epoch,
            validation_patches=max(config.batch_size, config.patches_per_epoch // 8),
            batch_size=config.batch_size,
            validation_fraction=0.15,
            test_fraction=0.15,
            split_seed=config.seed,
        ),
        model=UNetConfig(levels=3, base_channels=config.base_channels),
        trainer=TrainerConfig(
            epochs=config.epochs,
            learning_rate=config.learning_rate,
            seed=config.seed,
            keep_every=max(1, config.epochs // 4),  # a few epochs for the worse-with-epochs check
        ),
        output_dir=output_dir,
    )


def run_demo(
    output_dir: str | Path,
    config: DemoConfig | None = None,
    *,
    progress: ProgressReporter | None = None,
) -> dict[str, Any]:
    """Run the whole demo into ``output_dir``; return its summary (also in summary.json)."""
    config = config or DemoConfig()
    output_dir = Path(output_dir)
    data_dir = output_dir / "data"
    simulation = SimulationConfig(shape=(config.size, config.size))
    simulate_dataset(data_dir, simulation, config.count, seed=config.seed, movies=False)
    run = demo_run_config(config, data_dir, output_dir / "model")
    result = train(run, progress=progress)
    if result.last_checkpoint is None:  # only under torchrun, on a process other than rank 0
        raise TrainingError("the demo runs in one process; start it without torchrun")
    evaluation, report = evaluate_checkpoints([result.last_checkpoint.parent], output_dir)
    first_test = load_checkpoint(result.last_checkpoint).learned_state["split"]["test"][0]
    denoise_files([first_test], output_dir / "denoised.mrc", result.last_checkpoint)
    last_label = next(label for label in evaluation.scores if "last.pt" in label)
    scores = evaluation.scores
    summary = {
        "checkpoint": str(result.last_checkpoint),
        "report": str(report),
        "epochs": len(result.history),
        "train_seconds": sum(record["seconds"] for record in result.history),
        "gaussian_sigma_px": evaluation.gaussian_sigma,
        **{
            f"{name}_{metric}": scores[label][metric]
            for name, label in (
                ("noisy", "noisy input"),
                ("gaussian", next(k for k in scores if k.startswith("gaussian"))),
                ("unet", last_label),
            )
            for metric in ("pearson_r", "psnr_db")
        },
        "red_flags": evaluation.flags,
    }
    write_text_atomic(output_dir / "summary.json", json.dumps(summary, indent=2))
    return summary
