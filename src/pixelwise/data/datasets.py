"""Datasets of aligned multi-field samples, as random patches or whole items.

:class:`PatchDataset` is map-style: sample ``i`` of epoch ``e`` comes from
``np.random.default_rng([seed, e, i])``, so a run draws the same patches whatever the number
of DataLoader workers or the state of the global RNGs. :class:`PatchStream` serves the same
patches as an iterable stream, sharded across processes and workers, for loaders that must
not depend on a length. Sources are read window by window (memory maps, SEG-Y traces, HDF5
datasets), so memory does not grow with the size of the files.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from pixelwise.data.augment import Augmentation
from pixelwise.data.normalization import Normalization
from pixelwise.data.specs import FieldKind, Layout, PatchSpec, read_field
from pixelwise.errors import ConfigError, InputError
from pixelwise.io.sources import ArraySource

Sample = dict[str, Tensor]


@dataclass(frozen=True)
class DataField:
    """One named field of every item: its kind, its layout and one source per item group.

    ``sources[k]`` of every field of a dataset describe the same data (``noisy[k]`` and
    ``clean[k]``), so they must agree on stack length and spatial sizes.
    """

    name: str
    sources: Sequence[ArraySource]
    kind: FieldKind = FieldKind.IMAGE
    layout: Layout = field(default_factory=lambda: Layout("hw"))


@dataclass(frozen=True)
class _Group:
    """The extent shared by the k-th sources of every field."""

    stack: int
    sizes: dict[str, int]

    @property
    def area(self) -> int:
        return self.stack * int(np.prod(list(self.sizes.values())))


def _groups(fields: Sequence[DataField]) -> list[_Group]:
    """Check that the fields line up source by source; return each source group's extent."""
    if not fields:
        raise ConfigError("a dataset needs at least one field")
    counts = {f.name: len(f.sources) for f in fields}
    if len(set(counts.values())) != 1 or 0 in counts.values():
        raise ConfigError(f"every field needs the same, non-zero number of sources, got {counts}")
    if len({f.name for f in fields}) != len(fields):
        raise ConfigError(f"field names must be unique, got {[f.name for f in fields]}")
    groups = []
    for k in range(len(fields[0].sources)):
        reference: tuple[DataField, int, dict[str, int]] | None = None
        for data_field in fields:
            source = data_field.sources[k]
            stack, sizes = data_field.layout.extent(tuple(source.shape), source.source)
            if reference is None:
                reference = (data_field, stack, sizes)
                continue
            first, first_stack, first_sizes = reference
            shared = sizes.keys() & first_sizes.keys()
            if stack != first_stack or any(sizes[key] != first_sizes[key] for key in shared):
                raise InputError(
                    source.source,
                    f"does not line up with {first.sources[k].source}: "
                    f"{stack} x {sizes} against {first_stack} x {first_sizes}",
                )
            if len(sizes) > len(first_sizes):
                reference = (data_field, stack, sizes)
        if reference is None:  # pragma: no cover - fields is non-empty
            raise ConfigError("a dataset needs at least one field")
        groups.append(_Group(reference[1], reference[2]))
    return groups


class PatchDataset(Dataset[Sample]):
    """Aligned samples ``{field name: tensor}`` drawn from the fields' sources.

    Parameters
    ----------
    fields : sequence of DataField
        The fields of every sample; their k-th sources must line up.
    patch_size : int, sequence of int, or None
        Patch edge for every spatial axis, or one per spatial letter of the widest layout;
        None serves whole items in order (evaluation on full images).
    patches_per_epoch : int, optional
        The dataset's length when patching (required then).
    seed : int
        Base seed of patch positions and augmentations.
    augmentation : Augmentation, optional
        Applied to the whole sample with the patch's own random draw.
    normalization : mapping of field name to Normalization, optional
        Applied to those image fields after augmentation.

    Sources are picked with probability proportional to their size, so every pixel is
    equally likely. Shapes per sample: images and fields ``(C, *S)`` float32, labels
    ``(*S)`` int64, masks ``(*S)`` bool, rows ``(B, W)`` float32.
    """

    def __init__(
        self,
        fields: Sequence[DataField],
        patch_size: int | Sequence[int] | None,
        patches_per_epoch: int | None = None,
        *,
        seed: int = 0,
        augmentation: Augmentation | None = None,
        normalization: Mapping[str, Normalization] | None = None,
    ) -> None:
        self.fields = list(fields)
        self.kinds = {f.name: f.kind for f in self.fields}
        self.groups = _groups(self.fields)
        self.spatial = max((f.layout.spatial for f in self.fields), key=len)
        self.seed = seed
        self.epoch = 0
        self.augmentation = augmentation
        if augmentation is not None:
            augmentation.check(self.kinds)
        self.normalization = dict(normalization or {})
        for name in self.normalization:
            if self.kinds.get(name) is not FieldKind.IMAGE:
                raise ConfigError(f"normalization names '{name}', which is not an image field")
        if seed < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}")
        self.patch_size = self._patch_size(patch_size)
        if self.patch_size is None:
            self.length = sum(group.stack for group in self.groups)
        else:
            if patches_per_epoch is None or patches_per_epoch < 1:
                raise ConfigError(f"patches_per_epoch must be >= 1, got {patches_per_epoch}")
            self.length = patches_per_epoch
        areas = np.array([group.area for group in self.groups], dtype=float)
        self._weights = areas / areas.sum()
        self._item_starts = np.cumsum([0] + [group.stack for group in self.groups])

    def _patch_size(self, patch_size: int | Sequence[int] | None) -> dict[str, int] | None:
        if patch_size is None:
            return None
        sizes = (
            (patch_size,) * len(self.spatial)
            if isinstance(patch_size, (int, np.integer))
            else tuple(patch_size)
        )
        if len(sizes) != len(self.spatial) or min(sizes) < 1:
            raise ConfigError(
                f"patch_size needs {len(self.spatial)} positive values ({self.spatial}), "
                f"got {patch_size}"
            )
        size = dict(zip(self.spatial, (int(s) for s in sizes), strict=True))
        for k, group in enumerate(self.groups):
            if any(group.sizes[key] < size[key] for key in group.sizes):
                raise InputError(
                    self.fields[0].sources[k].source,
                    f"patch size {size} is larger than the data ({group.sizes})",
                )
        return size

    def set_epoch(self, epoch: int) -> None:
        """Select the patch draw of ``epoch`` (>= 0); the trainer calls it every epoch."""
        if epoch < 0:
            raise ConfigError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def spec(self, index: int, rng: np.random.Generator) -> PatchSpec:
        """Where sample ``index`` is: a random window, or whole item ``index``."""
        if self.patch_size is None:
            k = int(np.searchsorted(self._item_starts, index, side="right") - 1)
            group = self.groups[k]
            start = {key: 0 for key in group.sizes}
            return PatchSpec(k, index - int(self._item_starts[k]), start, dict(group.sizes))
        k = int(rng.choice(len(self.groups), p=self._weights))
        group = self.groups[k]
        start = {
            key: int(rng.integers(0, group.sizes[key] - self.patch_size[key] + 1))
            for key in group.sizes
        }
        return PatchSpec(k, int(rng.integers(group.stack)), start, dict(self.patch_size))

    def read(self, spec: PatchSpec, rng: np.random.Generator | None = None) -> Sample:
        """Read, augment (when ``rng`` is given) and normalise the sample at ``spec``."""
        arrays = {
            f.name: read_field(f.sources[spec.source], f.layout, f.kind, spec) for f in self.fields
        }
        if self.augmentation is not None and rng is not None:
            arrays = self.augmentation(arrays, self.kinds, rng, self.spatial)
        for name, normalization in self.normalization.items():
            arrays[name] = normalization.apply(arrays[name])
        return {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in arrays.items()}

    def sample(self, epoch: int, index: int) -> Sample:
        """Sample ``index`` of ``epoch``: a function of ``(seed, epoch, index)`` only."""
        rng = np.random.default_rng([self.seed, epoch, index])
        return self.read(self.spec(index, rng), rng)

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.length:
            raise IndexError(f"sample index {index} out of range [0, {self.length})")
        return self.sample(self.epoch, index)


def shard_of() -> tuple[int, int]:
    """``(first index, step)`` of this process and DataLoader worker in a shared stream.

    Process ``r`` of ``R`` with worker ``w`` of ``W`` takes indices ``r * W + w`` plus
    multiples of ``R * W``, so the shards partition the stream.
    """
    info = get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    return rank * workers + worker, world * workers


class PatchStream(IterableDataset[Sample]):
    """The patches of a :class:`PatchDataset` as a stream without a length.

    Yields samples ``first, first + step, ...`` of the current epoch (see :func:`shard_of`),
    endlessly or up to ``limit`` indices in total, so the engine ends an epoch by
    ``trainer.steps_per_epoch`` or by the stream running out.
    """

    def __init__(self, dataset: PatchDataset, limit: int | None = None) -> None:
        if dataset.patch_size is None:
            raise ConfigError("a patch stream needs a dataset with a patch size")
        self.dataset = dataset
        self.limit = limit
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[Sample]:
        index, step = shard_of()
        while self.limit is None or index < self.limit:
            yield self.dataset.sample(self.epoch, index)
            index += step
