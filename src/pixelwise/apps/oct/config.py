"""The OCT application's typed config: the single source of every number a run uses.

Stored whole in every checkpoint, so prediction rebuilds the network, the preprocessing, the
inference window and the boundary rule from the checkpoint alone. Shipped profiles
(``configs/*.yaml`` beside this module): ``cpu``, ``gpu-4gb``, ``gpu-80gb``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pixelwise.apps.oct.preprocess import PreprocessConfig
from pixelwise.config import RelativePath, load_config, validate_config
from pixelwise.data import Augmentation
from pixelwise.data.config import PatchConfig
from pixelwise.engine import InferenceSettings, TrainerConfig
from pixelwise.errors import ConfigError
from pixelwise.methods.segmentation import IntensityJitter, SegmentationLoss
from pixelwise.models import UNetConfig

PROFILE_DIR = Path(__file__).parent / "configs"
#: What the three classes mean, stored with every checkpoint.
CLASS_NAMES = ("vitreous (above ILM)", "retina (ILM to BM)", "choroid (below BM)")


class OctDataConfig(PatchConfig):
    """Training files (HDF5 layout) and patch sampling.

    Patches are ``patch_height`` x ``patch_size`` (rows x columns); ``patch_height`` None
    takes the largest multiple of the network's size multiple that fits the B-scans.
    """

    train: list[RelativePath] = Field(min_length=1, description="OCT HDF5 files with boundaries")
    validation: list[RelativePath] = Field(
        default_factory=list,
        description="held-out files; empty: the last validation_fraction of each training file",
    )
    validation_fraction: float = Field(0.1, ge=0, lt=1)
    patch_size: int = Field(128, ge=16, le=4096, description="patch width in columns")
    patch_height: int | None = Field(None, ge=16, le=4096, description="patch height in rows")
    validation_patches: int = Field(
        64, ge=0, le=10**6, description="most whole B-scans validated per epoch; 0: no validation"
    )


class BoundaryConfig(BaseModel):
    """How boundaries are read from the class probabilities."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_retina_rows: float = Field(
        2.0, ge=0, le=4096, description="columns with less retina mass (rows) get NaN"
    )


class OctConfig(BaseModel):
    """A complete OCT layer-segmentation run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: OctDataConfig
    preprocessing: PreprocessConfig = PreprocessConfig()
    augmentation: Augmentation = Augmentation(flips="w")
    jitter: IntensityJitter | None = IntensityJitter()
    loss: SegmentationLoss = SegmentationLoss()
    model: UNetConfig = UNetConfig(levels=5, base_channels=32, out_channels=3)
    trainer: TrainerConfig = TrainerConfig(gradient_clip_norm=1.0)
    inference: InferenceSettings = InferenceSettings(window=None)
    boundaries: BoundaryConfig = BoundaryConfig()
    classes: tuple[str, str, str] = CLASS_NAMES
    output_dir: RelativePath = Path("runs/oct")

    @model_validator(mode="after")
    def _fits_network(self) -> OctConfig:
        multiple = self.model.size_multiple
        if self.model.in_channels != 1 or self.model.out_channels != 3:
            raise ValueError("OCT models take 1 channel and predict 3 classes")
        for name in ("patch_size", "patch_height"):
            value = getattr(self.data, name)
            if value is not None and value % multiple:
                raise ValueError(
                    f"data.{name} {value} must be a multiple of {multiple} (2**(model.levels-1))"
                )
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> OctConfig:
        """Load and validate a YAML run config; relative paths from the file's folder."""
        return load_config(cls, path)


def profile_names() -> list[str]:
    """The shipped profiles."""
    return sorted(path.stem for path in PROFILE_DIR.glob("*.yaml"))


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        merged[key] = (
            _merge(merged[key], value)
            if isinstance(value, dict) and isinstance(merged.get(key), dict)
            else value
        )
    return merged


def run_config(
    *,
    profile: str | None = None,
    config: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> OctConfig:
    """An :class:`OctConfig` from a shipped profile or a YAML file, with ``overrides`` on top.

    ``overrides`` is a nested mapping (``{"data": {"train": [...]}, "output_dir": ...}``);
    give absolute paths in it: relative paths of a config file are resolved against its
    folder.
    """
    if (profile is None) == (config is None):
        raise ConfigError("give either a profile or a config file")
    if profile is not None:
        path = PROFILE_DIR / f"{profile}.yaml"
        if not path.is_file():
            raise ConfigError(f"unknown profile '{profile}'; choose one of {profile_names()}")
    else:
        path = Path(str(config))
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    base = path.parent if config is not None else None
    return validate_config(OctConfig, _merge(data, overrides or {}), str(path), base_dir=base)
