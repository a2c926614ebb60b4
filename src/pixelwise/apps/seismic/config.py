"""The seismic application's typed config: the single source of every number a run uses."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pixelwise.config import load_config
from pixelwise.engine import TrainerConfig
from pixelwise.methods.n2v import MaskingConfig
from pixelwise.models import UNetConfig


class SeismicDataConfig(BaseModel):
    """Where training patches come from and how many."""

    model_config = ConfigDict(extra="forbid")

    train: list[Path] = Field(min_length=1, description="noisy sections (.sgy/.segy/.npy)")
    validation: list[Path] = Field(
        default_factory=list,
        description="held-out sections; empty: other patches of the training files (seed + 1)",
    )
    patch_size: int = Field(64, ge=8, le=1024)
    patches_per_epoch: int = Field(1024, ge=1)
    validation_patches: int = Field(128, ge=1)
    batch_size: int = Field(16, ge=1)
    num_workers: int = Field(0, ge=0)


class SeismicConfig(BaseModel):
    """A complete seismic denoising run; stored inside its checkpoints."""

    model_config = ConfigDict(extra="forbid")

    data: SeismicDataConfig
    masking: MaskingConfig = MaskingConfig(strategy="tracewise")
    model: UNetConfig = UNetConfig(levels=3, base_channels=32)
    trainer: TrainerConfig = TrainerConfig()
    output_dir: Path = Path("runs/seismic")
    tile_size: int = Field(512, ge=16, description="inference tile edge; larger sections are tiled")
    tile_overlap: int = Field(32, ge=0)
    normalization: tuple[float, float] | None = Field(
        None, description="(mean, std) of the training data; measured at training time"
    )

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
        """Load and validate a YAML config; relative data paths are taken from the file's folder."""
        config = load_config(cls, path)
        base = Path(path).parent

        def resolve(paths: list[Path]) -> list[Path]:
            return [p if p.is_absolute() else base / p for p in paths]

        data = config.data.model_copy(
            update={
                "train": resolve(config.data.train),
                "validation": resolve(config.data.validation),
            }
        )
        output = config.output_dir if config.output_dir.is_absolute() else base / config.output_dir
        return config.model_copy(update={"data": data, "output_dir": output})
