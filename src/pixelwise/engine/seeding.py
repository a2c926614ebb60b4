"""Seeding for reproducible runs.

The trainer reseeds python, numpy and torch at the start of every epoch from ``(seed, epoch)``.
An epoch's random draws (data order, augmentation, masking) therefore depend only on the run's
seed and the epoch number, which is what makes a resumed run identical to an uninterrupted one.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def derive_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed derived from ``seed`` and ``keys`` (stable across processes and versions)."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1, dtype=np.uint64)[0] >> 1)


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's legacy global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (libraries still draw from it)
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive numpy/python seeds from torch's per-worker seed."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)  # noqa: NPY002
    random.seed(worker_seed)


def configure_determinism(enabled: bool, device: torch.device) -> None:
    """Ask torch for deterministic kernels (bit-for-bit runs on the same hardware).

    Only CUDA has non-deterministic kernels to switch off (atomics in cuDNN and scatter ops);
    the CPU kernels pixelwise uses are deterministic already, and the switch itself costs
    seconds there (it imports torch's compiler stack), so CPU runs skip it.
    """
    if device.type != "cuda":
        return
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.benchmark = not enabled
