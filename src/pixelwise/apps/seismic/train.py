"""Training a seismic blind-spot denoiser from noisy sections streamed from disk."""

from __future__ import annotations

from pathlib import Path

from pixelwise.apps.seismic.config import SeismicConfig
from pixelwise.engine import FitResult, ProgressReporter, load_checkpoint
from pixelwise.io.arrays import open_section
from pixelwise.methods.n2v import fit_noise2void

APP = "seismic"


def train(
    config: SeismicConfig,
    *,
    progress: ProgressReporter | None = None,
    resume: str | Path | None = None,
) -> FitResult:
    """Train a Noise2Void U-Net as ``config`` says; checkpoints go to ``config.output_dir``.

    Patches are read from memory-mapped/streamed sections, so memory does not grow with the
    size of the files. The data's mean and std are measured once (from random windows) and
    stored in the checkpoint's learned state, so inference normalises exactly as training did.
    """
    run = fit_noise2void(
        [open_section(path) for path in config.data.train],
        validation=[open_section(path) for path in config.data.validation],
        data=config.data,
        model=config.model,
        masking=config.masking,
        trainer=config.trainer,
        progress=progress,
        checkpoint_dir=config.output_dir,
        app=APP,
        app_config=config.model_dump(mode="json"),
        resume=load_checkpoint(resume, app=APP) if resume is not None else None,
    )
    return run.result
