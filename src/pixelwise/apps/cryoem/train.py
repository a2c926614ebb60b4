"""Training a cryo-EM denoiser on paired or Noise2Noise micrographs streamed from disk."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pixelwise.apps.cryoem.config import CryoConfig, CryoDataConfig
from pixelwise.apps.cryoem.micrographs import (
    MicrographPair,
    pairs_from_files,
    pairs_from_manifest,
    pairs_from_movies,
    split_pairs,
)
from pixelwise.data import Normalization
from pixelwise.engine import FitResult, ProgressReporter, load_checkpoint
from pixelwise.errors import InputError
from pixelwise.methods.common import NORMALIZATION_KEY
from pixelwise.methods.paired import fit_paired

APP = "cryoem"
#: learned_state key of the standardisation scheme (see :mod:`.micrographs`).
STANDARDIZATION_KEY = "standardization"
PER_MICROGRAPH = "per-micrograph"


def open_pairs(data: CryoDataConfig) -> list[MicrographPair]:
    """Every pair the data section describes (folders, files, stacks, movies or manifest)."""
    if data.manifest is not None:
        return pairs_from_manifest(data.manifest, data.kind)
    if data.movies:
        return pairs_from_movies(data.movies)
    return pairs_from_files(data.input, data.target, data.kind)


def split_of(data: CryoDataConfig) -> dict[str, list[MicrographPair]]:
    """The seeded train / validation / test split by micrograph of ``data``'s pairs."""
    pairs = open_pairs(data)
    return split_pairs(pairs, data.validation_fraction, data.test_fraction, data.split_seed)


def _learned_state(
    kind: str, statistics: list[tuple[float, float]], split: dict[str, list[MicrographPair]]
) -> dict[str, Any]:
    """Per-micrograph scheme, the training set's pooled statistics and the split's names."""
    mean = sum(m for m, _ in statistics) / len(statistics)
    variance = sum(s**2 + (m - mean) ** 2 for m, s in statistics) / len(statistics)
    return {
        STANDARDIZATION_KEY: PER_MICROGRAPH,
        NORMALIZATION_KEY: Normalization(mean=mean, std=math.sqrt(variance)).model_dump(),
        "pair_kind": kind,
        "split": {part: [pair.name for pair in pairs] for part, pairs in split.items()},
    }


def train(
    config: CryoConfig,
    *,
    progress: ProgressReporter | None = None,
    resume: str | Path | None = None,
) -> FitResult:
    """Train the denoiser ``config`` describes; checkpoints go to ``config.output_dir``.

    Pairs are split by micrograph (seeded); each is standardised by its own statistics
    (exact, in slabs) and served as random aligned patches read from the memory-mapped
    files, so memory stays flat however large the data set. Noise2Noise pairs train both
    directions (odd -> even and even -> odd).
    """
    split = split_of(config.data)
    if not split["train"]:
        raise InputError("data", "no micrographs left for training after the split")
    train_sources = [pair.training_sources() for pair in split["train"]]
    validation_sources = [pair.training_sources() for pair in split["validation"]]
    statistics = [(source.mean, source.std) for source, _ in train_sources]
    run = fit_paired(
        ([a for a, _ in train_sources], [b for _, b in train_sources]),
        validation=(
            ([a for a, _ in validation_sources], [b for _, b in validation_sources])
            if validation_sources
            else None
        ),
        data=config.data,
        model=config.model,
        trainer=config.trainer,
        loss=config.loss,
        symmetric=config.data.kind == "n2n",
        progress=progress,
        checkpoint_dir=config.output_dir,
        app=APP,
        app_config=config.model_dump(mode="json"),
        learned_state=_learned_state(config.data.kind, statistics, split),
        resume=load_checkpoint(resume, app=APP) if resume is not None else None,
    )
    return run.result
