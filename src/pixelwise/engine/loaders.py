"""DataLoader construction with reproducible worker seeding."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset

from pixelwise.engine.distributed import DistributedContext
from pixelwise.engine.seeding import seed_worker


def make_loader(
    dataset: Dataset[Any],
    batch_size: int,
    *,
    shuffle: bool = False,
    num_workers: int = 0,
    drop_last: bool = False,
    seed: int = 0,
) -> DataLoader[Any]:
    """A DataLoader whose order and worker seeds follow torch's global RNG.

    The trainer reseeds that RNG at the start of every epoch, so shuffling and worker seeds
    are a function of (run seed, epoch) and do not depend on what ran before. Under torchrun,
    a ``DistributedSampler`` gives each process its own share of the dataset,
    shuffled from ``(seed, epoch)``. An :class:`~torch.utils.data.IterableDataset` (a stream
    without random access) gets no sampler and no shuffling: it orders and shards itself
    (see :func:`pixelwise.data.shard_of`).
    """
    context = DistributedContext.from_environment()
    streaming = isinstance(dataset, IterableDataset)
    shuffle = shuffle and not streaming
    sampler: DistributedSampler[Any] | None = (
        DistributedSampler(dataset, context.world_size, context.rank, shuffle=shuffle, seed=seed)
        if context.enabled and not streaming
        else None
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        worker_init_fn=seed_worker,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )
