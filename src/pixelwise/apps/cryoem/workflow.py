"""Evaluation of stored checkpoints on their own split or on given test micrographs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pixelwise.apps.cryoem.config import CryoConfig
from pixelwise.apps.cryoem.denoise import load_denoiser
from pixelwise.apps.cryoem.evaluate import Evaluation, evaluate, write_report
from pixelwise.apps.cryoem.micrographs import MicrographPair, PairKind, pairs_from_files
from pixelwise.apps.cryoem.train import split_of
from pixelwise.config import validate_config
from pixelwise.errors import ConfigError, InputError
from pixelwise.methods import TrainedModel


def stored_split(trained: TrainedModel) -> dict[str, list[MicrographPair]]:
    """The train / validation / test split of the run that wrote ``trained``'s checkpoint."""
    source = trained.checkpoint.source
    if not trained.checkpoint.app_config:
        raise ConfigError(f"{source}: holds no run config (imported weights?); give --input")
    config = validate_config(CryoConfig, trained.checkpoint.app_config, f"{source} (config)")
    return split_of(config.data)


def checkpoint_files(path: str | Path) -> list[Path]:
    """``[path]`` for a file; for a run folder its ``epoch-*.pt`` and ``last.pt``, in order.

    ``best.pt`` is left out when epoch checkpoints exist (it repeats one of them).

    Examples
    --------
    >>> [str(p) for p in checkpoint_files("runs/cryoem/last.pt")]
    ['runs/cryoem/last.pt']
    """
    path = Path(path)
    if not path.is_dir():
        return [path]
    found = sorted(path.glob("epoch-*.pt")) + [p for p in [path / "last.pt"] if p.is_file()]
    if not found and (path / "best.pt").is_file():
        found = [path / "best.pt"]
    if not found:
        raise InputError(path, "folder holds no checkpoints (epoch-*.pt, last.pt, best.pt)")
    return found


def evaluate_checkpoints(
    checkpoints: Sequence[str | Path],
    output_dir: str | Path,
    *,
    inputs: Sequence[str | Path] = (),
    targets: Sequence[str | Path] = (),
    kind: str = "paired",
    patch_size: int | None = None,
    device: str = "auto",
) -> tuple[Evaluation, Path]:
    """Evaluate ``checkpoints`` and write ``report.html`` + ``metrics.json`` to ``output_dir``.

    A folder stands for its checkpoints (:func:`checkpoint_files`), so every kept epoch of
    a run enters the "worse with more epochs" check. Test micrographs: ``inputs``/``targets``
    when given, else the first checkpoint's own test split; validation micrographs (Gaussian
    tuning, test-vs-validation check): the first checkpoint's validation split when its
    files can be opened.
    """
    checkpoints = [file for path in checkpoints for file in checkpoint_files(path)]
    if not checkpoints:
        raise ConfigError("give at least one checkpoint")
    if kind not in ("paired", "n2n"):
        raise ConfigError(f"kind must be paired or n2n, got {kind}")
    pair_kind: PairKind = "paired" if kind == "paired" else "n2n"
    models = {}
    for path in checkpoints:
        trained = load_denoiser(path)
        label = f"{Path(path).parent.name}/{Path(path).name} (epoch {trained.checkpoint.epoch})"
        models[label] = trained
    first = next(iter(models.values()))
    try:
        split = stored_split(first)
    except (InputError, ConfigError):
        if not inputs:
            raise
        split = {"validation": [], "test": []}
    test = pairs_from_files(inputs, targets, pair_kind) if inputs else split["test"]
    if not test:
        raise InputError(first.checkpoint.source, "its split has no test micrographs; give --input")
    evaluation = evaluate(models, test, split["validation"], patch_size=patch_size, device=device)
    title = "Cryo-EM denoising evaluation"
    return evaluation, write_report(evaluation, output_dir, title)
