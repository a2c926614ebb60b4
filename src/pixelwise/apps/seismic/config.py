"""The seismic application's typed config: the single source of every number a run uses.

Composed of the shared sections (data / masking / model / trainer / inference) plus the
app's own fields; frozen, validated at the edge, and stored in every checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pixelwise.config import RelativePath, load_config
from pixelwise.data.config import PatchConfig
from pixelwise.engine import InferenceSettings, TrainerConfig
from pixelwise.methods.n2v import MaskingConfig
from pixelwise.models import UNetConfig


class SeismicDataConfig(PatchConfig):
    """Where training patches come from, and how many."""

    train: list[RelativePath] = Field(min_length=1, description="noisy sections (.sgy/.segy/.npy)")
    validation: list[RelativePath] = Field(
        default_factory=list,
        description="held-out sections; empty: other patches of the training files (seed + 1)",
    )


class SeismicConfig(BaseModel):
    """A complete seismic denoising run; stored inside its checkpoints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: SeismicDataConfig
    masking: MaskingConfig = MaskingConfig(strategy="tracewise")
    model: UNetConfig = UNetConfig(levels=3, base_channels=32)
    trainer: TrainerConfig = TrainerConfig()
    inference: InferenceSettings = InferenceSettings()
    output_dir: RelativePath = Path("runs/seismic")

    @model_validator(mode="before")
    @classmethod
    def _legacy_tile_fields(cls, data: Any) -> Any:
        """Configs written before the inference section had top-level tile fields."""
        if isinstance(data, dict) and ({"tile_size", "tile_overlap"} & data.keys()):
            data = dict(data)
            inference = dict(data.get("inference") or {})
            if "tile_size" in data:
                inference.setdefault("window", data.pop("tile_size"))
            if "tile_overlap" in data:
                inference.setdefault("overlap", data.pop("tile_overlap"))
            data["inference"] = inference
        return data

    @model_validator(mode="after")
    def _patch_fits_network(self) -> SeismicConfig:
        multiple = self.model.size_multiple
        if self.data.patch_size % multiple:
            raise ValueError(
                f"data.patch_size {self.data.patch_size} must be a multiple of "
                f"{multiple} (2**(model.levels-1))"
            )
        if self.model.in_channels != 1 or self.model.out_channels != 1:
            raise ValueError("seismic sections have one channel: model in/out_channels must be 1")
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> SeismicConfig:
        """Load and validate a YAML config; relative paths are taken from the file's folder."""
        return load_config(cls, path)
