"""Training a seismic blind-spot denoiser from noisy sections streamed from disk."""

from __future__ import annotations

import warnings
from pathlib import Path

from pixelwise.apps.seismic.amplitude import PreparedSection, prepare_section
from pixelwise.apps.seismic.config import SeismicConfig
from pixelwise.apps.seismic.geometry import read_traces, trace_groups
from pixelwise.apps.seismic.learned import for_network, training_sources
from pixelwise.data import Normalization
from pixelwise.engine import FitResult, ProgressReporter, load_checkpoint
from pixelwise.io.arrays import open_section
from pixelwise.io.sources import ArraySource
from pixelwise.methods.n2v import fit_noise2void

APP = "seismic"
#: learned_state key of the training data's robust amplitude scale (median over sections).
AMPLITUDE_KEY = "amplitude_scale"


class SeismicNote(UserWarning):
    """Something the user should know about a run (printed as a note by the CLI)."""


def fitting_patch(config: SeismicConfig, sources: list[ArraySource]) -> SeismicConfig:
    """``config`` with the largest patch that fits every section, with a note if it shrank."""
    multiple = config.model.size_multiple
    smallest = min(min(source.shape) for source in sources)
    fitting = smallest // multiple * multiple
    if fitting >= config.data.patch_size:
        return config
    if fitting < max(4, multiple):
        raise ValueError(
            f"the smallest section is {smallest} samples or traces: too small for a "
            f"{config.model.levels}-level network (needs {max(4, multiple)})"
        )
    warnings.warn(
        f"data.patch_size {config.data.patch_size} is larger than the smallest section "
        f"({smallest}); training with patch size {fitting} instead",
        SeismicNote,
        stacklevel=3,
    )
    data = config.data.model_copy(update={"patch_size": fitting})
    return config.model_copy(update={"data": data})


def prepared_sections(config: SeismicConfig, paths: list[Path]) -> list[PreparedSection]:
    """Every section of ``paths`` (by ``config.sections.geometry``), robustly normalised.

    Sections are held in memory (float32 plus one bool per trace).
    """
    settings = config.sections
    prepared = []
    for path in paths:
        source = open_section(path)
        try:
            for group in trace_groups(path, source.shape[1], settings):
                section = prepare_section(
                    read_traces(source, group),
                    flag_noise=settings.flag_noisy_traces,
                    balance_traces=settings.balance_traces,
                )
                prepared.append(for_network(section, settings.flagged_fill))
        finally:
            source.close()
    return prepared


def train(
    config: SeismicConfig,
    *,
    progress: ProgressReporter | None = None,
    resume: str | Path | None = None,
) -> FitResult:
    """Train a Noise2Void U-Net as ``config`` says; checkpoints go to ``config.output_dir``.

    With ``sections.normalization: global`` (the default), patches are read from
    memory-mapped/streamed files and one mean/std, measured from random windows, is stored
    in the checkpoint. With ``robust``, each section (by ``sections.geometry``) is scaled by
    the median/MAD of its good traces, dead traces (and, with ``flag_noisy_traces``, noisy
    ones) are hidden from the network and the loss, and the median training scale is stored
    so that denoising can warn about files far from it. A patch larger than the smallest
    section shrinks to fit, with a :class:`SeismicNote`.
    """
    common = dict(
        model=config.model,
        masking=config.masking,
        trainer=config.trainer,
        progress=progress,
        checkpoint_dir=config.output_dir,
        app=APP,
        resume=load_checkpoint(resume, app=APP) if resume is not None else None,
    )
    if config.sections.normalization == "global":
        train_sources = [open_section(path) for path in config.data.train]
        validation = [open_section(path) for path in config.data.validation]
        config = fitting_patch(config, train_sources + validation)
        run = fit_noise2void(
            train_sources,
            validation=validation,
            data=config.data,
            app_config=config.model_dump(mode="json"),
            **common,  # type: ignore[arg-type]
        )
        return run.result
    sections = prepared_sections(config, list(config.data.train))
    checks = prepared_sections(config, list(config.data.validation))
    images, masks = training_sources(sections, "training section")
    validation, validation_masks = training_sources(checks, "validation section")
    config = fitting_patch(config, images + validation)
    scale = sorted(section.scale for section in sections)[len(sections) // 2]
    run = fit_noise2void(
        images,
        valid=masks,
        validation=validation,
        validation_valid=validation_masks if validation else None,
        data=config.data,
        normalization=Normalization(mean=0.0, std=1.0),
        app_config=config.model_dump(mode="json"),
        extra_state={AMPLITUDE_KEY: scale},
        **common,  # type: ignore[arg-type]
    )
    return run.result
