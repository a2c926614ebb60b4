"""Multi-process data-parallel training through torch.distributed (launched with torchrun).

pixelwise does not implement its own communication: ``torchrun`` starts one process per
device and sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; this module joins the process
group (NCCL on CUDA, Gloo on CPU), wraps the model in ``DistributedDataParallel``, shards
datasets with ``DistributedSampler`` and averages evaluation metrics across processes.
Without those variables everything degrades to a single process with no overhead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes checkpoints and reports."""
        return self.rank == 0

    @classmethod
    def from_environment(cls) -> DistributedContext:
        """Read torchrun's variables; join the process group when there are several processes."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        context = cls(
            rank=int(os.environ.get("RANK", "0")),
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
            world_size=world_size,
        )
        if context.enabled and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend=backend)
        return context

    def device(self, requested: torch.device) -> torch.device:
        """One GPU per process: ``cuda`` becomes ``cuda:LOCAL_RANK``."""
        if self.enabled and requested.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return requested

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """``DistributedDataParallel(model)`` when distributed, else ``model`` itself."""
        if not self.enabled:
            return model
        device_ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def sum_across_processes(self, values: dict[str, float]) -> dict[str, float]:
        """Element-wise sum of ``values`` over all processes (identity when not distributed)."""
        if not self.enabled or not values:
            return values
        keys = sorted(values)
        backend_device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        tensor = torch.tensor(
            [values[key] for key in keys], dtype=torch.float64, device=backend_device
        )
        dist.all_reduce(tensor)
        return dict(zip(keys, tensor.tolist(), strict=True))
