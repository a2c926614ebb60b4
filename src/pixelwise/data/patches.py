"""Random training patches streamed from sections that may be larger than RAM.

Patches are read window by window from :class:`~pixelwise.io.section.Section` objects
(memory-mapped ``.npy`` or memory-mapped SEG-Y); no section is ever loaded whole. Each
patch position depends only on ``(seed, epoch, index)``, so a run gives the same patches
whatever the number of DataLoader workers or the state of the global RNGs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from pixelwise.errors import ConfigError, InputError
from pixelwise.io.arrays import open_section
from pixelwise.io.section import Section

SectionLike = Section | str | Path


def _as_sections(sections: Sequence[SectionLike]) -> list[Section]:
    """Open paths; pass Section objects through. Raises ConfigError for an empty list."""
    if len(sections) == 0:
        raise ConfigError("no sections given: need at least one .sgy/.segy/.npy file")
    return [open_section(item) if isinstance(item, (str, Path)) else item for item in sections]


def _area_weights(sections: Sequence[Section]) -> np.ndarray:
    """Pick probabilities proportional to section area, so every pixel is equally likely."""
    areas = np.array([height * width for height, width in (s.shape for s in sections)], float)
    return areas / areas.sum()


def _random_window(
    rng: np.random.Generator,
    sections: Sequence[Section],
    weights: np.ndarray,
    size: tuple[int, int],
) -> np.ndarray:
    """Read a uniformly placed window of at most ``size`` from a section picked by ``weights``."""
    section = sections[rng.choice(len(sections), p=weights)]
    height, width = min(size[0], section.shape[0]), min(size[1], section.shape[1])
    row0 = int(rng.integers(0, section.shape[0] - height + 1))
    col0 = int(rng.integers(0, section.shape[1] - width + 1))
    return section.read_window(row0, row0 + height, col0, col0 + width)


class RandomPatchDataset(Dataset[torch.Tensor]):
    """``patches_per_epoch`` random float32 patches of shape ``(1, h, w)`` per epoch.

    Args:
        sections: sections or paths (``.sgy``/``.segy``/``.npy``); sections are picked with
            probability proportional to their area.
        patch_size: ``h`` (square) or ``(h, w)``; must fit inside every section.
        patches_per_epoch: the dataset length.
        seed: non-negative base seed; a validation set is the same data with ``seed + 1``.
        augment: random vertical and horizontal flips. Never transposes, which would turn
            trace-wise (column) noise into row-wise noise.
        normalization: ``(mean, std)`` applied as ``(patch - mean) / std``, or None.

    Patch ``i`` of epoch ``e`` comes from ``np.random.default_rng([seed, e, i])``.
    :meth:`set_epoch` must be called before each epoch's DataLoader iterator is created
    (workers copy the dataset when they start, so use non-persistent workers).
    """

    def __init__(
        self,
        sections: Sequence[SectionLike],
        patch_size: int | tuple[int, int],
        patches_per_epoch: int,
        seed: int = 0,
        augment: bool = True,
        normalization: tuple[float, float] | None = None,
    ) -> None:
        self.sections = _as_sections(sections)
        square = isinstance(patch_size, (int, np.integer))
        height, width = (patch_size, patch_size) if square else patch_size
        if height < 1 or width < 1:
            raise ConfigError(f"patch_size must be positive, got {patch_size}")
        if patches_per_epoch < 1:
            raise ConfigError(f"patches_per_epoch must be >= 1, got {patches_per_epoch}")
        if seed < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}")
        if normalization is not None and not (
            math.isfinite(normalization[0]) and normalization[1] > 0
        ):
            raise ConfigError(f"normalization must be (finite mean, std > 0), got {normalization}")
        for section in self.sections:
            if section.shape[0] < height or section.shape[1] < width:
                raise InputError(
                    section.source,
                    f"patch size {height}x{width} is larger than the section "
                    f"({section.shape[0]} samples x {section.shape[1]} traces)",
                )
        self.patch_size = (height, width)
        self.patches_per_epoch = patches_per_epoch
        self.seed = seed
        self.augment = augment
        self.normalization = normalization
        self.epoch = 0
        self._weights = _area_weights(self.sections)

    def set_epoch(self, epoch: int) -> None:
        """Select the patch draw of ``epoch`` (>= 0)."""
        if epoch < 0:
            raise ConfigError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def __len__(self) -> int:
        return self.patches_per_epoch

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.patches_per_epoch:
            raise IndexError(f"patch index {index} out of range [0, {self.patches_per_epoch})")
        rng = np.random.default_rng([self.seed, self.epoch, index])
        patch = _random_window(rng, self.sections, self._weights, self.patch_size)
        if self.augment:
            if rng.random() < 0.5:
                patch = patch[::-1, :]  # time reversal
            if rng.random() < 0.5:
                patch = patch[:, ::-1]  # trace order reversal
        if self.normalization is not None:
            mean, std = self.normalization
            patch = (patch - np.float32(mean)) / np.float32(std)
        return torch.from_numpy(np.ascontiguousarray(patch, dtype=np.float32)).unsqueeze(0)


def estimate_normalization(
    sections: Sequence[SectionLike], n_windows: int = 64, window: int = 64, seed: int = 0
) -> tuple[float, float]:
    """Estimate ``(mean, std)`` of the data from ``n_windows`` random windows.

    Windows are ``window`` x ``window`` (cropped to small sections), placed like training
    patches; statistics are merged window by window in float64, so memory stays constant.
    Raises :class:`InputError` if the sampled data is constant (std 0).
    """
    if n_windows < 1 or window < 1:
        raise ConfigError(f"need n_windows >= 1 and window >= 1, got {n_windows}, {window}")
    sections = _as_sections(sections)
    weights = _area_weights(sections)
    rng = np.random.default_rng(seed)
    count, mean, sum_sq = 0, 0.0, 0.0  # running size, mean and sum of squared deviations
    for _ in range(n_windows):
        values = _random_window(rng, sections, weights, (window, window)).astype(np.float64)
        window_mean = float(values.mean())
        window_sum_sq = float(((values - window_mean) ** 2).sum())
        # Chan et al.'s pairwise update merges the window into the running statistics.
        delta = window_mean - mean
        total = count + values.size
        mean += delta * values.size / total
        sum_sq += window_sum_sq + delta**2 * count * values.size / total
        count = total
    std = math.sqrt(sum_sq / count)
    if std == 0:
        raise InputError(
            ", ".join(s.source for s in sections),
            "sampled windows are constant (std 0); cannot normalise",
        )
    return mean, std
