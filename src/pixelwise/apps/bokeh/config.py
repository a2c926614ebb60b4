"""The bokeh application's typed run config: data, model, trainer; stored in checkpoints."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pixelwise.apps.bokeh.network import BokehNetConfig
from pixelwise.apps.bokeh.scenes import SceneConfig
from pixelwise.apps.bokeh.task import ClipTraining
from pixelwise.config import RelativePath, load_config
from pixelwise.engine import TrainerConfig


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticData(_Frozen):
    """Synthetic scenes (see :mod:`pixelwise.apps.bokeh.scenes`), drawn once per run."""

    scenes: SceneConfig = SceneConfig()
    train_count: int = Field(128, ge=1, le=1_000_000)
    validation_count: int = Field(32, ge=0, le=1_000_000)
    seed: int = Field(0, ge=0)


class RealBokehData(_Frozen):
    """A RealBokeh-layout folder (see :mod:`pixelwise.apps.bokeh.realbokeh`)."""

    root: RelativePath
    train_split: str = "train"
    validation_split: str | None = "validation"
    size: tuple[int, int] | None = Field(None, description="resize to (height, width)")


class BokehConfig(_Frozen):
    """A complete BokehNet training run."""

    synthetic: SyntheticData | None = SyntheticData()
    realbokeh: RealBokehData | None = None
    model: BokehNetConfig = BokehNetConfig()
    trainer: TrainerConfig = TrainerConfig(
        epochs=20,
        learning_rate=3e-3,
        gradient_clip_norm=1.0,
        monitor="val_psnr",
        monitor_mode="max",
    )
    batch_size: int = Field(8, ge=1, le=4096)
    depth_weight: float = Field(
        0.1, ge=0, description="weight of the L1 error of the predicted CoC in pixels"
    )
    clips: ClipTraining | None = Field(
        None, description="train on short noisy static clips (null: single frames)"
    )
    output_dir: RelativePath = Path("runs/bokeh")

    @model_validator(mode="after")
    def _one_source(self) -> BokehConfig:
        if self.realbokeh is not None:
            object.__setattr__(self, "synthetic", None)
        if self.synthetic is None and self.realbokeh is None:
            raise ValueError("set synthetic or realbokeh data")
        multiple = self.model.size_multiple
        sizes = (
            (self.synthetic.scenes.height, self.synthetic.scenes.width)
            if self.synthetic is not None
            else self.realbokeh.size
            if self.realbokeh is not None
            else None
        )
        if sizes is not None and any(size % multiple for size in sizes):
            raise ValueError(f"image sizes {sizes} must be multiples of model.stride {multiple}")
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> BokehConfig:
        """Load and validate a YAML config; relative paths are taken from its folder."""
        return load_config(cls, path)
