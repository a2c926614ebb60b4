"""The cryo-EM application's typed config: every number a training run uses.

Composed of the shared sections (data / model / trainer / inference) plus the app's own
fields; frozen, validated at the edge, and stored in every checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pixelwise.config import RelativePath, load_config
from pixelwise.data.config import PatchConfig
from pixelwise.engine import InferenceSettings, TrainerConfig
from pixelwise.models import ThreeLayerCNNConfig, UNetConfig

ModelChoice = Annotated[UNetConfig | ThreeLayerCNNConfig, Field(discriminator="name")]


class CryoDataConfig(PatchConfig):
    """Where the training pairs come from, and how they are split by micrograph.

    ``kind: paired`` takes ``input`` (noisy) and ``target`` (clean) folders, files or stacks;
    ``kind: n2n`` takes ``input``/``target`` odd and even sums, or ``movies`` whose frames are
    split into odd and even sums here. A ``manifest`` (CSV or STAR) replaces all of them.
    """

    kind: Literal["paired", "n2n"] = "paired"
    input: list[RelativePath] = Field(default_factory=list)
    target: list[RelativePath] = Field(default_factory=list)
    movies: list[RelativePath] = Field(default_factory=list)
    manifest: RelativePath | None = None
    validation_fraction: float = Field(0.1, ge=0, lt=1)
    test_fraction: float = Field(0.1, ge=0, lt=1)
    split_seed: int = Field(0, ge=0)
    patch_size: int = Field(96, ge=8, le=4096)

    @model_validator(mode="after")
    def _one_source(self) -> CryoDataConfig:
        given = [bool(self.input or self.target), bool(self.movies), self.manifest is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of input+target, movies, or manifest")
        if self.movies and self.kind != "n2n":
            raise ValueError("movies give Noise2Noise pairs: set kind: n2n")
        if self.validation_fraction + self.test_fraction >= 1:
            raise ValueError("validation_fraction + test_fraction must leave micrographs to train")
        return self


class CryoConfig(BaseModel):
    """A complete cryo-EM denoiser training run; stored inside its checkpoints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: CryoDataConfig
    model: ModelChoice = UNetConfig(levels=3, base_channels=16)
    loss: Literal["mse", "l1"] = "mse"
    trainer: TrainerConfig = TrainerConfig()
    inference: InferenceSettings = InferenceSettings()
    output_dir: RelativePath = Path("runs/cryoem")

    @model_validator(mode="after")
    def _fits(self) -> CryoConfig:
        multiple = self.model.size_multiple
        if self.data.patch_size % multiple:
            raise ValueError(
                f"data.patch_size {self.data.patch_size} must be a multiple of {multiple}"
            )
        if self.model.in_channels != 1 or self.model.out_channels != 1:
            raise ValueError("micrographs have one channel: model in/out_channels must be 1")
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> CryoConfig:
        """Load and validate a YAML config; relative paths are taken from the file's folder."""
        return load_config(cls, path)
