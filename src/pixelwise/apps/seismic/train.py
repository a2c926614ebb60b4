"""Training a seismic blind-spot denoiser from noisy sections streamed from disk."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from pixelwise.apps.seismic.amplitude import PreparedSection, prepare_section
from pixelwise.apps.seismic.config import SeismicConfig
from pixelwise.apps.seismic.geometry import open_traces, read_traces, trace_groups
from pixelwise.apps.seismic.learned import (
    CLEAN_NOISE_LEVEL,
    for_network,
    residual_noise,
    training_sources,
)
from pixelwise.apps.seismic.volume import cube_statistics, volume_grid, volume_inlines
from pixelwise.data import Layout, Normalization
from pixelwise.engine import FitResult, ProgressReporter, load_checkpoint
from pixelwise.engine.config import MAX_COUNT
from pixelwise.errors import InputError
from pixelwise.io.arrays import open_section
from pixelwise.io.sources import ArraySource, InMemorySource
from pixelwise.methods.n2v import fit_noise2void

APP = "seismic"
#: learned_state key of the training data's robust amplitude scale (median over sections).
AMPLITUDE_KEY = "amplitude_scale"


class SeismicNote(UserWarning):
    """Something the user should know about a run (printed as a note by the CLI)."""


def fitting_patch(config: SeismicConfig, sources: list[ArraySource]) -> SeismicConfig:
    """``config`` with the largest patch that fits every section, with a note if it shrank.

    A smaller patch comes with proportionally more patches per epoch, so that an epoch
    still sees as many samples (this is what lets a cube's short inlines train well).
    """
    multiple = config.model.size_multiple
    smallest = min(min(source.shape[-2:]) for source in sources)  # (C,) H, W
    fitting = smallest // multiple * multiple
    if fitting >= config.data.patch_size:
        return config
    if fitting < max(4, multiple):
        raise ValueError(
            f"the smallest section is {smallest} samples or traces: too small for a "
            f"{config.model.levels}-level network (needs {max(4, multiple)})"
        )
    patches = min(
        MAX_COUNT, config.data.patches_per_epoch * round((config.data.patch_size / fitting) ** 2)
    )
    warnings.warn(
        f"data.patch_size {config.data.patch_size} is larger than the smallest section "
        f"({smallest}); training with patch size {fitting} instead, {patches} patches per "
        "epoch",
        SeismicNote,
        stacklevel=3,
    )
    data = config.data.model_copy(update={"patch_size": fitting, "patches_per_epoch": patches})
    return config.model_copy(update={"data": data})


def resolve_geometry(config: SeismicConfig, paths: list[Path]) -> SeismicConfig:
    """``config`` with ``sections.geometry: auto`` decided from the training files.

    ``volume`` when robustly normalised and every file is a regular 3-D cube (SEG-Y with
    inline/crossline headers, :func:`~.volume.volume_grid`), else ``file``. On the F3 cube a
    volume is 0.4-0.7 dB better than its butted inlines (``bench/seismic_real.py``).
    """
    if config.sections.geometry != "auto":
        return config
    geometry = "file"
    if config.sections.normalization == "robust" and paths:
        geometry = "volume"
        for path in paths:
            try:
                source = open_traces(path)
                try:
                    volume_grid(path, source.shape[1], config.sections)
                finally:
                    source.close()
            except InputError:  # not a SEG-Y, no 3-D headers, or holes in the grid
                geometry = "file"
                break
    data = config.model_dump(mode="json")
    data["sections"]["geometry"] = geometry
    return SeismicConfig.model_validate(data)  # model.in_channels follows the geometry


def resolve_fill(config: SeismicConfig, paths: list[Path]) -> SeismicConfig:
    """``config`` with ``sections.flagged_fill: auto`` decided from the training files.

    When the good traces carry no random noise (:func:`~.learned.residual_noise` of each
    file, robustly normalised, below :data:`~.learned.CLEAN_NOISE_LEVEL` for the median
    file), the only work is rebuilding flagged traces: they are hidden, learned from trace
    masks, and blended with the lateral median (``blend``). Otherwise they are edited first
    (``median``) so that training goes to denoising: on the F3 crop with white and
    trace-wise noise that is 6.5 dB against 4.6 dB with hidden traces.
    """
    settings = config.sections
    if settings.flagged_fill != "auto":
        return config
    levels = []
    for path in paths:
        source = open_traces(path)
        try:
            section = read_traces(source, np.arange(source.shape[1]))
        finally:
            source.close()
        levels.append(residual_noise(prepare_section(section, flag_noise=True)))
    fill = "blend" if sorted(levels)[len(levels) // 2] < CLEAN_NOISE_LEVEL else "median"
    return config.model_copy(
        update={"sections": settings.model_copy(update={"flagged_fill": fill})}
    )


def masking_for_data(config: SeismicConfig, flagged: bool) -> SeismicConfig:
    """``config``, with ``mixed`` masking reduced to ``random`` when no trace is flagged.

    Trace masks teach the network to rebuild a trace from its neighbours, which only
    flagged traces need; on data without them they cost accuracy (F3 crop with white noise:
    4.5 dB with mixed masking, 6.4 dB with random) and the change gets a note.
    """
    if config.masking.strategy != "mixed" or flagged or config.sections.interpolate_dead:
        return config
    warnings.warn(
        "no training trace is flagged as noisy: training with random (pixel) masking only",
        SeismicNote,
        stacklevel=3,
    )
    masking = config.masking.model_copy(update={"strategy": "random"})
    return config.model_copy(update={"masking": masking})


def volume_sources(
    config: SeismicConfig, paths: list[Path], name: str
) -> tuple[list[ArraySource], list[ArraySource], list[float], bool]:
    """Per inline of every cube: ``(C, n_samples, n_crosslines)`` inputs, ``valid`` masks.

    Also returns each cube's robust amplitude scale, and whether any trace is flagged.
    Inputs hold the inline between its ``sections.context`` neighbours on each side
    (:mod:`pixelwise.apps.seismic.volume`).
    """
    settings = config.sections
    images: list[ArraySource] = []
    masks: list[ArraySource] = []
    scales = []
    flagged = False
    for path in paths:
        source = open_traces(path)
        try:
            grid = volume_grid(path, source.shape[1], settings)
            stats = cube_statistics(source, grid, settings)
            scales.append(stats.scale)
            for inline in volume_inlines(source, grid, stats, settings):
                label = f"{name} {path.name} inline {len(images)}"
                flagged |= bool(inline.prepared.flagged.any())  # none left after median
                images.append(InMemorySource(inline.network_input(), label))
                masks.append(InMemorySource(inline.prepared.valid_mask(), f"{label} mask"))
        finally:
            source.close()
    return images, masks, scales, flagged


def prepared_sections(config: SeismicConfig, paths: list[Path]) -> list[PreparedSection]:
    """Every section of ``paths`` (by ``config.sections.geometry``), robustly normalised.

    Sections are held in memory (float32 plus one bool per trace).
    """
    settings = config.sections
    prepared = []
    for path in paths:
        source = open_traces(path)
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

    With ``sections.normalization: robust`` (the default), each section (by
    ``sections.geometry``; a ``volume`` is one, its inlines train with their neighbours as
    channels) is scaled by the median/MAD of its good traces, dead traces (and, with
    ``flag_noisy_traces``, noisy ones) are hidden from the network and the loss, and the
    median training scale is stored so that denoising can warn about files far from it;
    ``mixed`` masking falls back to ``random`` when no trace is flagged
    (:func:`masking_for_data`). With ``global``, patches are read from memory-mapped/streamed
    files and one mean/std, measured from random windows, is stored in the checkpoint. A
    patch larger than the smallest section shrinks to fit, with a :class:`SeismicNote`.
    """
    config = resolve_geometry(config, list(config.data.train))
    common = dict(
        model=config.model,
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
            masking=config.masking,
            app_config=config.model_dump(mode="json"),
            **common,  # type: ignore[arg-type]
        )
        return run.result
    layout, target = None, None
    config = resolve_fill(config, list(config.data.train))
    if config.sections.geometry == "volume":
        images, masks, scales, flagged = volume_sources(config, list(config.data.train), "training")
        validation, validation_masks, _, _ = volume_sources(
            config, list(config.data.validation), "validation"
        )
        layout, target = Layout("chw"), config.sections.context
    else:
        sections = prepared_sections(config, list(config.data.train))
        checks = prepared_sections(config, list(config.data.validation))
        images, masks = training_sources(sections, "training section")
        validation, validation_masks = training_sources(checks, "validation section")
        scales = [section.scale for section in sections]
        flagged = any(section.flagged.any() for section in sections)
    config = masking_for_data(fitting_patch(config, images + validation), flagged)
    scale = sorted(scales)[len(scales) // 2]
    run = fit_noise2void(
        images,
        valid=masks,
        validation=validation,
        validation_valid=validation_masks if validation else None,
        data=config.data,
        masking=config.masking,
        normalization=Normalization(mean=0.0, std=1.0),
        app_config=config.model_dump(mode="json"),
        extra_state={AMPLITUDE_KEY: scale},
        layout=layout,
        target_channel=target,
        **common,  # type: ignore[arg-type]
    )
    return run.result
