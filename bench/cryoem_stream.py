"""Streaming benchmark: train over a paired MRC data set larger than RAM in constant memory.

Writes ``--gigabytes`` of float32 (noisy, clean) micrograph pairs (``--size``² each) into
``--dir``, trains the three-layer CNN for ``--steps`` optimiser steps on random aligned
patches read from the memory-mapped files (DataLoader workers prefetching), and prints the
peak resident memory and patches/s, beside the same training over an in-RAM copy of two
pairs (same patch size, batch and workers). Memory maps are read-only page cache: they are
not counted in the process's anonymous memory, and the kernel drops them under pressure.

Usage: python bench/cryoem_stream.py --gigabytes 4 --dir /tmp/cryoem-stream [--keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import time
from pathlib import Path

import numpy as np


def rss_mb() -> tuple[float, float]:
    """(current anonymous RSS of this process, peak RSS of it and its children) in MB.

    The peak (``ru_maxrss``) counts the memory-mapped file pages read so far, which are page
    cache the kernel reclaims at will; the anonymous RSS is the memory the process owns.
    """
    with open("/proc/self/status") as status:
        current = next(int(line.split()[1]) for line in status if line.startswith("RssAnon"))
    peak = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return current / 1024, peak / 1024


def write_dataset(folder: Path, gigabytes: float, size: int) -> int:
    from pixelwise.io.mrc import write_mrc

    pairs = max(2, int(gigabytes * 2**30 / (2 * 4 * size * size)))
    rng = np.random.default_rng(0)
    for index in range(pairs):
        if (folder / "clean" / f"m{index:04d}.mrc").exists():
            continue
        clean = rng.normal(40.0, 2.0, (size, size)).astype(np.float32)
        write_mrc(folder / "noisy" / f"m{index:04d}.mrc", clean + rng.normal(0, 6.0, clean.shape))
        write_mrc(folder / "clean" / f"m{index:04d}.mrc", clean)
    return pairs


def train_over(inputs: list, targets: list, steps: int, workers: int) -> float:
    """Patches per second of ``steps`` CNN training steps over the given sources."""
    from pixelwise.data.config import PatchConfig
    from pixelwise.engine import TrainerConfig
    from pixelwise.methods.paired import fit_paired
    from pixelwise.models import ThreeLayerCNNConfig

    data = PatchConfig(
        patch_size=128,
        patches_per_epoch=steps * 16,
        validation_patches=0,
        batch_size=16,
        num_workers=workers,
    )
    started = time.perf_counter()
    fit_paired(
        (inputs, targets),
        data=data,
        model=ThreeLayerCNNConfig(),
        trainer=TrainerConfig(epochs=1, precision="32"),
    )
    return steps * 16 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=4.0)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/cryoem-stream"))
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the data set afterwards")
    args = parser.parse_args()
    import torch

    from pixelwise.apps.cryoem.micrographs import MicrographSource, pairs_from_files
    from pixelwise.io.sources import InMemorySource

    torch.set_num_threads(1)
    started = time.perf_counter()
    count = write_dataset(args.dir, args.gigabytes, args.size)
    on_disk = sum(f.stat().st_size for f in args.dir.rglob("*.mrc")) / 2**30
    print(
        f"data set: {count} pairs of {args.size}², {on_disk:.2f} GiB on disk "
        f"({time.perf_counter() - started:.0f} s to write or find)"
    )
    pairs = pairs_from_files([args.dir / "noisy"], [args.dir / "clean"], "paired")
    sources = [pair.training_sources() for pair in pairs]
    print(f"opened and standardised {len(pairs)} pairs; RSS now {rss_mb()[0]:.0f} MB")
    streamed = train_over(
        [a for a, _ in sources], [b for _, b in sources], args.steps, args.workers
    )
    current, peak = rss_mb()
    in_ram = []
    for a, b in sources[:2]:
        in_ram.append(
            tuple(
                MicrographSource(
                    InMemorySource(s.read((slice(0, s.shape[0]), slice(0, s.shape[1]))))
                )
                for s in (a, b)
            )
        )
    ram = train_over([a for a, _ in in_ram], [b for _, b in in_ram], args.steps, args.workers)
    load = os.getloadavg()
    print()
    print("| dataset | on disk | patches/s (128², batch 16) | peak RSS incl. mapped pages |")
    print("| --- | --- | --- | --- |")
    print(
        f"| streamed from {count} MRC pairs | {on_disk:.2f} GiB | {streamed:.0f} | "
        f"{peak:.0f} MB (current {current:.0f} MB) |"
    )
    print(f"| in RAM (2 pairs) | - | {ram:.0f} | - |")
    print(f"streamed / in-RAM throughput: {streamed / ram:.2f}; load average {load[0]:.1f}")
    if not args.keep:
        shutil.rmtree(args.dir)


if __name__ == "__main__":
    main()
