"""Geometric augmentations applied to a whole sample at once, each field by its kind.

A sample is a dict of canonical arrays (see :func:`pixelwise.data.specs.read_field`): images,
fields, labels and masks share their trailing spatial axes, and ``rows`` fields hold one row
coordinate per column. One random draw decides the transform for the whole sample, so the
fields stay aligned; a transform that would make a field invalid (a vertical flip or a
rotation of boundary rows, which exist per column only) is refused when it is built.

Examples
--------
>>> import numpy as np
>>> augment = Augmentation(flips="w")
>>> sample = {"image": np.arange(4.0).reshape(1, 1, 4), "labels": np.arange(4).reshape(1, 4)}
>>> flipped = augment(sample, {"image": FieldKind.IMAGE, "labels": FieldKind.LABELS},
...                   np.random.default_rng(1), "hw")
>>> flipped["image"][0, 0].tolist() == flipped["labels"][0].astype(float).tolist()
True
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pixelwise.data.specs import SPATIAL_LETTERS, FieldKind
from pixelwise.errors import ConfigError


class Augmentation(BaseModel):
    """Random flips along the given spatial axes and random 90-degree turns.

    ``flips`` holds spatial letters (``"hw"`` flips rows and columns, each with probability
    1/2); ``rotate90`` turns the ``h``-``w`` plane by 0, 90, 180 or 270 degrees (square
    patches only). Seismic sections use ``flips="hw"`` and no rotation: a transpose would turn
    trace-wise noise into row-wise noise.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    flips: str = Field("", description="spatial axes to flip at random, e.g. 'hw'")
    rotate90: bool = Field(False, description="random multiples of 90 degrees in the h-w plane")

    @field_validator("flips")
    @classmethod
    def _spatial_letters(cls, value: str) -> str:
        if any(letter not in SPATIAL_LETTERS for letter in value) or len(set(value)) != len(value):
            raise ValueError(
                f"flips must be distinct letters of '{SPATIAL_LETTERS}', got {value!r}"
            )
        return value

    def check(self, kinds: Mapping[str, FieldKind]) -> None:
        """Refuse transforms that would break a field; call once when a dataset is built."""
        rows = [name for name, kind in kinds.items() if kind is FieldKind.ROWS]
        if rows and ("h" in self.flips or self.rotate90):
            raise ConfigError(
                f"field(s) {rows} hold boundary rows per column: vertical flips and 90-degree "
                "rotations would invalidate them; use flips 'w' only"
            )

    def __call__(
        self,
        sample: dict[str, np.ndarray],
        kinds: Mapping[str, FieldKind],
        rng: np.random.Generator,
        spatial: str,
    ) -> dict[str, np.ndarray]:
        """Transform every field of ``sample`` the same way; ``spatial`` names its axes."""
        flips = [letter for letter in spatial if letter in self.flips and rng.random() < 0.5]
        turns = int(rng.integers(4)) if self.rotate90 else 0
        result = {}
        for name, values in sample.items():
            kind = kinds[name]
            if kind is FieldKind.ROWS:
                result[name] = values[:, ::-1] if "w" in flips else values
                continue
            offset = values.ndim - len(spatial)
            for letter in flips:
                values = np.flip(values, axis=offset + spatial.index(letter))
            if turns:
                axes = (offset + spatial.index("h"), offset + spatial.index("w"))
                values = np.rot90(values, k=turns, axes=axes)
            result[name] = values
        return {name: np.ascontiguousarray(values) for name, values in result.items()}
