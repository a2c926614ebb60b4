"""The seismic application's typed config: the single source of every number a run uses.

Composed of the shared sections (data / masking / model / trainer / inference) plus the
app's own fields; frozen, validated at the edge, and stored in every checkpoint.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pixelwise.config import RelativePath, load_config, validate_config
from pixelwise.data.config import PatchConfig
from pixelwise.engine import InferenceSettings, TrainerConfig
from pixelwise.errors import ConfigError
from pixelwise.methods.n2v import MaskingConfig
from pixelwise.models import UNetConfig


class SeismicDataConfig(PatchConfig):
    """Where training patches come from, and how many."""

    train: list[RelativePath] = Field(min_length=1, description="noisy sections (.sgy/.segy/.npy)")
    validation: list[RelativePath] = Field(
        default_factory=list,
        description="held-out sections; empty: other patches of the training files (seed + 1)",
    )


class SectionConfig(BaseModel):
    """How a file is cut into sections and how each section's amplitudes are handled.

    The defaults are the recipe that beats the classical toolbox on real data
    (``bench/seismic_real.py``): robust per-section levels, noisy traces flagged and rebuilt
    by the network, clean good traces kept, flip-averaged predictions. ``normalization:
    global`` with ``flag_noisy_traces: false`` and ``flip_ensemble: false`` is the first
    release's behaviour, with ``geometry: file``; ``auto`` picks ``volume`` for cubes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    geometry: Literal["auto", "file", "inline", "crossline", "gather", "volume"] = Field(
        "auto",
        description="auto: volume for SEG-Y files that are regular 3-D cubes, else file "
        "(decided in training); file: all traces in file order, in blocks; "
        "inline/crossline: one section "
        "per line of a 3-D cube; gather: one section per value of gather_byte (shot, CMP, ...); "
        "volume: a regular 3-D cube, each inline denoised with its neighbouring inlines as "
        "input channels (2.5-D)",
    )
    context: int = Field(
        1, ge=1, le=8, description="volume: neighbouring inlines on each side fed to the network"
    )
    inline_byte: int = Field(189, ge=1, le=237, description="trace-header byte of the inline")
    crossline_byte: int = Field(193, ge=1, le=237, description="byte of the crossline")
    gather_byte: int = Field(9, ge=1, le=237, description="byte of the gather key (9: FFID)")
    order_byte: int = Field(37, ge=1, le=237, description="byte ordering a gather (37: offset)")
    block_traces: int = Field(
        4096, ge=16, le=1 << 20, description="file geometry: traces denoised at once"
    )
    normalization: Literal["global", "robust"] = Field(
        "robust",
        description="global: training mean/std for every file; robust: each section by the "
        "median and MAD of its good traces",
    )
    flag_noisy_traces: bool = Field(
        True, description="hide traces with outlying RMS from training and rebuild them"
    )
    flagged_fill: Literal["auto", "hide", "median", "blend"] = Field(
        "auto",
        description="flagged traces: hide them from the network (it rebuilds them), replace "
        "them by the lateral median first (trace editing) and denoise that, or blend: hide "
        "them and average the network's rebuilt trace with the lateral median; auto: blend "
        "when the good traces carry no random noise, else median (decided in training)",
    )
    balance_traces: bool = Field(False, description="robust: scale every trace to one level")
    keep_clean: Literal["auto", "always", "never"] = Field(
        "auto", description="keep good traces unchanged (auto: when they carry no noise)"
    )
    interpolate_dead: bool = Field(
        False, description="fill dead traces with the network's estimate instead of zeros"
    )
    flip_ensemble: bool = Field(
        True, description="robust: average the four time/trace flips (4x cost, +0.2-0.8 dB)"
    )

    @property
    def input_channels(self) -> int:
        """Channels of the network's input: the section, and its context inlines in volumes."""
        return 2 * self.context + 1 if self.geometry == "volume" else 1


class SeismicConfig(BaseModel):
    """A complete seismic denoising run; stored inside its checkpoints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: SeismicDataConfig
    masking: MaskingConfig = MaskingConfig(strategy="mixed", active_fraction=0.02)
    model: UNetConfig = UNetConfig(levels=3, base_channels=32)
    trainer: TrainerConfig = TrainerConfig()
    inference: InferenceSettings = InferenceSettings()
    sections: SectionConfig = SectionConfig()
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
        if (
            self.sections.geometry not in ("auto", "file")
            and self.sections.normalization != "robust"
        ):
            raise ValueError("sections.geometry other than 'file' needs normalization: robust")
        if self.data.patch_size % multiple:
            raise ValueError(
                f"data.patch_size {self.data.patch_size} must be a multiple of "
                f"{multiple} (2**(model.levels-1))"
            )
        channels = self.sections.input_channels
        if self.model.in_channels == 1 and channels > 1:  # the default: fitted to the geometry
            model = self.model.model_copy(update={"in_channels": channels})
            return self.model_copy(update={"model": model})
        if self.model.in_channels != channels or self.model.out_channels != 1:
            raise ValueError(
                f"model in_channels must be {channels} (geometry {self.sections.geometry}"
                + (f", context {self.sections.context}" if channels > 1 else "")
                + ") and out_channels 1"
            )
        return self

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Sequence[str] = ()) -> SeismicConfig:
        """Load and validate a YAML config; relative paths are taken from the file's folder.

        ``overrides`` are ``dotted.key=value`` strings (values parsed as YAML), applied on top
        of the file, e.g. ``["trainer.epochs=20", "sections.geometry=inline"]``.
        """
        config = load_config(cls, path)
        if not overrides:
            return config
        return validate_config(
            cls, apply_overrides(config.model_dump(mode="json"), overrides), f"{path} with --set"
        )


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return ``data`` with each ``dotted.key=value`` override set (value parsed as YAML).

    >>> apply_overrides({"trainer": {"epochs": 5}}, ["trainer.epochs=20", "seed=3"])
    {'trainer': {'epochs': 20}, 'seed': 3}
    """
    result = copy.deepcopy(data)
    for override in overrides:
        key, separator, text = override.partition("=")
        if not separator or not key.strip():
            raise ConfigError(f"--set {override!r}: expected dotted.key=value")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"--set {override!r}: the value is not valid YAML") from None
        *parents, leaf = key.strip().split(".")
        node = result
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {override!r}: {part} is not a section")
            node = child
        node[leaf] = value
    return result
