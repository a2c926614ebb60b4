"""Training the OCT layer-segmentation U-Net from files of the HDF5 layout."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pixelwise.apps.oct.config import OctConfig
from pixelwise.apps.oct.layout import OctData, labels_from_boundaries, read_oct
from pixelwise.apps.oct.preprocess import preprocess_stack
from pixelwise.data import Layout, Normalization, estimate_normalization
from pixelwise.engine import FitResult, ProgressReporter, load_checkpoint
from pixelwise.errors import InputError
from pixelwise.io.sources import InMemorySource
from pixelwise.methods.common import NORMALIZATION_KEY
from pixelwise.methods.segmentation import SegmentationData, fit_segmentation

APP = "oct"


def _annotated(data: OctData) -> OctData:
    if data.boundaries is None or not np.isfinite(data.boundaries).all(axis=1).any():
        raise InputError(data.source, "has no annotated boundaries (/boundaries) to train on")
    return data


def _segmentation_data(parts: Sequence[OctData], config: OctConfig) -> SegmentationData:
    images, labels, rows = [], [], []
    for part in parts:
        boundaries = part.boundaries
        if boundaries is None:  # pragma: no cover - checked by _annotated
            raise InputError(part.source, "has no boundaries")
        images.append(
            InMemorySource(preprocess_stack(part.bscans, config.preprocessing), part.source)
        )
        labels.append(InMemorySource(labels_from_boundaries(boundaries, part.shape[1])))
        rows.append(InMemorySource(boundaries.astype(np.float32)))
    return SegmentationData(images, labels, rows)


def _split(data: OctData, fraction: float) -> tuple[OctData, OctData | None]:
    """The last ``fraction`` of the B-scans (at least one) for validation, the rest for training."""
    n = data.shape[0]
    held = min(max(1, math.ceil(fraction * n)), n - 1) if fraction > 0 and n > 1 else 0
    if held == 0:
        return data, None

    def part(index: slice) -> OctData:
        rows = data.boundaries[index] if data.boundaries is not None else None
        return OctData(
            data.bscans[index],
            rows,
            data.scale_axial_um,
            data.scale_lateral_um,
            data.names[index] if data.names else [],
            data.source,
        )

    return part(slice(0, n - held)), part(slice(n - held, n))


def patch_shape(
    config: OctConfig, heights: Sequence[int], widths: Sequence[int]
) -> tuple[int, int]:
    """(rows, columns) of training patches: the configured ones, checked against the data."""
    multiple = config.model.size_multiple
    height = config.data.patch_height or (min(heights) // multiple) * multiple
    width = config.data.patch_size
    if height < multiple or height > min(heights) or width > min(widths):
        raise InputError(
            ", ".join(str(p) for p in config.data.train),
            f"patches of {height} x {width} do not fit B-scans of "
            f"{min(heights)} x {min(widths)}; set data.patch_height / data.patch_size",
        )
    return height, width


def train(
    config: OctConfig,
    *,
    progress: ProgressReporter | None = None,
    resume: str | Path | None = None,
) -> FitResult:
    """Train as ``config`` says; checkpoints (``best.pt``, ``last.pt``) go to ``config.output_dir``.

    B-scans are preprocessed once (blur, CLAHE), the mean and std of ``img / 255`` are
    measured on the training B-scans and stored in the checkpoint, labels are derived from
    the boundaries (unannotated columns ignored), and validation predicts whole held-out
    B-scans, accumulating Dice per class and boundary MAE per boundary.
    """
    training = [_annotated(read_oct(path)) for path in config.data.train]
    if config.data.validation:
        validation = [_annotated(read_oct(path)) for path in config.data.validation]
    else:
        splits = [_split(part, config.data.validation_fraction) for part in training]
        training = [kept for kept, _ in splits]
        validation = [held for _, held in splits if held is not None]
    if config.data.validation_patches == 0:
        validation = []
    limit = config.data.validation_patches
    validation = [
        OctData(
            v.bscans[:limit],
            None if v.boundaries is None else v.boundaries[:limit],
            v.scale_axial_um,
            v.scale_lateral_um,
            v.names[:limit],
            v.source,
        )
        for v in validation
    ]
    train_data = _segmentation_data(training, config)
    checkpoint = load_checkpoint(resume, app=APP) if resume is not None else None
    if checkpoint is not None and NORMALIZATION_KEY in checkpoint.learned_state:
        normalization = Normalization.model_validate(checkpoint.learned_state[NORMALIZATION_KEY])
    else:
        normalization = estimate_normalization(
            train_data.images, Layout("nhw"), windows=256, seed=config.trainer.seed
        )
    run = fit_segmentation(
        train_data,
        data=config.data,
        patch_size=patch_shape(
            config, [p.shape[1] for p in training], [p.shape[2] for p in training]
        ),
        model=config.model,
        loss=config.loss,
        trainer=config.trainer,
        normalization=normalization,
        validation=_segmentation_data(validation, config) if validation else None,
        augmentation=config.augmentation,
        jitter=config.jitter,
        min_layer_rows=config.boundaries.min_retina_rows,
        progress=progress,
        checkpoint_dir=config.output_dir,
        app=APP,
        app_config=config.model_dump(mode="json"),
        resume=checkpoint,
    )
    return run.result
