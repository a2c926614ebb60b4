"""Training BokehNet from a :class:`BokehConfig`, and loading it back."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor
from torch.utils.data import Dataset

from pixelwise.apps.bokeh.config import BokehConfig
from pixelwise.apps.bokeh.network import BokehNet
from pixelwise.apps.bokeh.realbokeh import RealBokehDataset
from pixelwise.apps.bokeh.scenes import SyntheticBokehDataset
from pixelwise.apps.bokeh.task import BokehRun, fit_bokeh
from pixelwise.engine import ProgressReporter
from pixelwise.errors import CheckpointError
from pixelwise.methods.common import load_trained

APP = "bokeh"


def datasets(
    config: BokehConfig,
) -> tuple[Dataset[dict[str, Tensor]], Dataset[dict[str, Tensor]] | None]:
    """The (train, validation) datasets a config describes."""
    if config.realbokeh is not None:
        real = config.realbokeh
        validation: Dataset[dict[str, Tensor]] | None = (
            RealBokehDataset(real.root, real.validation_split, real.size)
            if real.validation_split
            else None
        )
        return RealBokehDataset(real.root, real.train_split, real.size), validation
    synthetic = config.synthetic
    if synthetic is None:  # pragma: no cover - the config validator forbids it
        raise ValueError("no data")
    depth = config.model.max_depth_m
    train = SyntheticBokehDataset(synthetic.scenes, synthetic.train_count, synthetic.seed, depth)
    validation_set = (
        SyntheticBokehDataset(
            synthetic.scenes, synthetic.validation_count, synthetic.seed + 1_000_000, depth
        )
        if synthetic.validation_count
        else None
    )
    return train, validation_set


def train(config: BokehConfig, *, progress: ProgressReporter | None = None) -> BokehRun:
    """Train BokehNet as ``config`` says; checkpoints go to ``config.output_dir``."""
    train_set, validation = datasets(config)
    return fit_bokeh(
        train_set,
        validation=validation,
        model=config.model,
        trainer=config.trainer,
        batch_size=config.batch_size,
        depth_weight=config.depth_weight if config.synthetic is not None else 0.0,
        clips=config.clips,
        progress=progress,
        checkpoint_dir=config.output_dir,
        app=APP,
        app_config=config.model_dump(mode="json"),
    )


def load_bokeh_model(path: str | Path) -> BokehNet:
    """A trained BokehNet from a bokeh checkpoint, in eval mode."""
    model = load_trained(path, APP).model
    if not isinstance(model, BokehNet):
        raise CheckpointError(f"{path}: holds a {type(model).__name__}, not a BokehNet")
    return model
