"""Intensity normalisation: learned statistics that travel with a model.

Networks train on standardised data, ``(x - mean) / std``; inference must apply the same
statistics and undo them on the output. A :class:`Normalization` is stored in a
checkpoint's ``learned_state`` (not inside the run config), so denoising a file never
depends on anything but the checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pixelwise.data.specs import FieldKind, Layout, PatchSpec, read_field
from pixelwise.errors import ConfigError, InputError
from pixelwise.io.sources import ArraySource


class Normalization(BaseModel):
    """``(x - mean) / std`` and its inverse.

    Examples
    --------
    >>> norm = Normalization(mean=2.0, std=4.0)
    >>> float(norm.invert(norm.apply(np.float32(10.0))))
    10.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mean: float
    std: float = Field(gt=0)

    @field_validator("mean", "std")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return value

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Standardise ``values`` (float32 in, float32 out)."""
        return ((values - np.float32(self.mean)) / np.float32(self.std)).astype(np.float32)

    def invert(self, values: np.ndarray) -> np.ndarray:
        """Undo :meth:`apply`."""
        return (values * np.float32(self.std) + np.float32(self.mean)).astype(np.float32)


def estimate_normalization(
    sources: Sequence[ArraySource],
    layout: Layout,
    *,
    windows: int = 64,
    window: int = 64,
    seed: int = 0,
) -> Normalization:
    """Estimate mean and std of ``sources`` from ``windows`` random windows.

    Windows are ``window`` pixels along every spatial axis (cropped to small sources),
    placed uniformly like training patches, on sources picked in proportion to their size;
    statistics are merged window by window in float64 (Chan et al.'s update), so memory
    stays constant however large the files are. Raises :class:`InputError` if the sampled
    data is constant.
    """
    if windows < 1 or window < 1 or not sources:
        raise ConfigError(
            f"need sources, windows >= 1 and window >= 1, got {len(sources)}, {windows}, {window}"
        )
    extents = [layout.extent(tuple(s.shape), s.source) for s in sources]
    areas = np.array([stack * np.prod(list(sizes.values())) for stack, sizes in extents], float)
    rng = np.random.default_rng(seed)
    count, mean, sum_sq = 0, 0.0, 0.0  # running size, mean and sum of squared deviations
    for _ in range(windows):
        k = int(rng.choice(len(sources), p=areas / areas.sum()))
        stack, sizes = extents[k]
        size = {key: min(window, extent) for key, extent in sizes.items()}
        start = {key: int(rng.integers(0, sizes[key] - size[key] + 1)) for key in sizes}
        spec = PatchSpec(k, int(rng.integers(stack)), start, size)
        values = read_field(sources[k], layout, FieldKind.IMAGE, spec).astype(np.float64)
        window_mean = float(values.mean())
        window_sum_sq = float(((values - window_mean) ** 2).sum())
        delta = window_mean - mean
        total = count + values.size
        mean += delta * values.size / total
        sum_sq += window_sum_sq + delta**2 * count * values.size / total
        count = total
    std = math.sqrt(sum_sq / count)
    if std == 0:
        raise InputError(
            ", ".join(s.source for s in sources), "sampled windows are constant (std 0)"
        )
    return Normalization(mean=mean, std=std)
