"""Training a seismic blind-spot denoiser from noisy sections streamed from disk."""

from __future__ import annotations

from pathlib import Path

from pixelwise.apps.seismic.config import SeismicConfig
from pixelwise.data.patches import RandomPatchDataset, estimate_normalization
from pixelwise.engine import FitResult, ProgressReporter, Trainer, load_checkpoint, make_loader
from pixelwise.io.arrays import open_section
from pixelwise.methods.n2v import Noise2VoidTask
from pixelwise.models import build_model

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
    stored in the checkpoint's config, so inference normalises exactly as training did.
    """
    data = config.data
    train_sections = [open_section(path) for path in data.train]
    validation_sections = [open_section(path) for path in data.validation] or train_sections
    normalization = config.normalization or estimate_normalization(
        train_sections, seed=config.trainer.seed
    )
    config = config.model_copy(update={"normalization": normalization})
    seed = config.trainer.seed
    train_set = RandomPatchDataset(
        train_sections,
        data.patch_size,
        data.patches_per_epoch,
        seed=seed,
        normalization=normalization,
    )
    validation_set = RandomPatchDataset(
        validation_sections,
        data.patch_size,
        data.validation_patches,
        seed=seed + 1,
        augment=False,
        normalization=normalization,
    )
    task = Noise2VoidTask(build_model(config.model), config.masking)
    return Trainer(config.trainer, progress=progress).fit(
        task,
        make_loader(train_set, data.batch_size, num_workers=data.num_workers),
        make_loader(validation_set, data.batch_size, num_workers=data.num_workers),
        checkpoint_dir=config.output_dir,
        app=APP,
        app_config=config.model_dump(mode="json"),
        resume=load_checkpoint(resume, app=APP) if resume is not None else None,
    )
