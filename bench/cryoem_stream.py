"""Streaming benchmark: train over a paired MRC data set larger than RAM in constant memory.

Writes ``--gigabytes`` of float32 (noisy, clean) micrograph pairs (``--size``² each) into
``--dir``, trains the three-layer CNN for ``--steps`` optimiser steps on random aligned
patches read from the memory-mapped files (DataLoader workers prefetching), and prints the
peak resident memory and patches/s, beside the same training over an in-RAM copy of two
pairs (same patch size, batch and workers). The peak is shown with and without the
memory-mapped file pages resident in the processes; MRC reads unmap the pages they touched
(:mod:`pixelwise.io.mrc`), so both stay well under 1 GB however large the data set.

Usage: python bench/cryoem_stream.py --gigabytes 4 --dir /tmp/cryoem-stream [--keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import threading
import time
from pathlib import Path

import numpy as np


def _rollup_kb(pid: str, fields: tuple[str, ...]) -> int:
    """Sum of ``kB`` fields of ``/proc/PID/smaps_rollup`` (0 once the process is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            return sum(int(line.split()[1]) for line in rollup if line.startswith(fields))
    except OSError:
        return 0


def _children() -> list[str]:
    """Process ids whose parent is this process (the DataLoader workers)."""
    mine = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == mine:
                found.append(entry)
    return found


class MemoryWatch:
    """Samples the memory of this process and its workers every 0.1 s; keeps the peaks (MB).

    Proportional set sizes (PSS), so pages that forked DataLoader workers share with the
    main process count once. ``anon`` is the memory the processes own (heap, tensors,
    batches); ``total`` adds the memory-mapped file pages they have touched (page cache,
    reclaimable by the kernel, but counted in RSS by ``ps`` and ``top``).
    """

    def __init__(self) -> None:
        self.anon = 0.0
        self.total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            pids = ["self", *_children()]
            anon = sum(_rollup_kb(pid, ("Pss_Anon",)) for pid in pids) / 1024
            mapped = sum(_rollup_kb(pid, ("Pss_File", "Pss_Shmem")) for pid in pids) / 1024
            self.anon, self.total = max(self.anon, anon), max(self.total, anon + mapped)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


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


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (the workers)."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def train_over(inputs: list, targets: list, steps: int, workers: int) -> tuple[float, float]:
    """(patches per wall second, patches per CPU second) of ``steps`` CNN training steps.

    CPU seconds count the main process and its DataLoader workers (reaped at the end of the
    epoch), so the second rate does not depend on what else the machine runs.
    """
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
    started, cpu = time.perf_counter(), _cpu_seconds()
    fit_paired(
        (inputs, targets),
        data=data,
        model=ThreeLayerCNNConfig(),
        trainer=TrainerConfig(epochs=1, precision="32"),
    )
    return steps * 16 / (time.perf_counter() - started), steps * 16 / (_cpu_seconds() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=4.0)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/cryoem-stream"))
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed runs of each")
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
    with MemoryWatch() as watch:
        pairs = pairs_from_files([args.dir / "noisy"], [args.dir / "clean"], "paired")
        sources = [pair.training_sources() for pair in pairs]
        print(f"opened and standardised {len(pairs)} pairs (every pixel read once)")
        streamed = [
            train_over([a for a, _ in sources], [b for _, b in sources], args.steps, args.workers)
        ]
    in_ram = [
        tuple(MicrographSource(InMemorySource(s.read(_whole(s)))) for s in pair)
        for pair in sources[:2]
    ]
    ram = []
    for _ in range(args.rounds):
        ram.append(
            train_over([a for a, _ in in_ram], [b for _, b in in_ram], args.steps, args.workers)
        )
        if len(streamed) < args.rounds:
            streamed.append(
                train_over(
                    [a for a, _ in sources], [b for _, b in sources], args.steps, args.workers
                )
            )
    load = os.getloadavg()
    wall = [float(np.median([run[i] for run in runs])) for runs in (streamed, ram) for i in (0, 1)]
    print()
    print(
        "| dataset | on disk | patches/s wall | patches per CPU s | peak RSS, own memory "
        "| peak RSS incl. mapped file pages |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    print(
        f"| streamed from {count} MRC pairs | {on_disk:.2f} GiB | {wall[0]:.0f} | {wall[1]:.1f} | "
        f"{watch.anon:.0f} MB | {watch.total:.0f} MB |"
    )
    print(
        f"| in RAM (2 pairs, {4 * 4 * args.size**2 / 2**20:.0f} MB) | - | {wall[2]:.0f} | "
        f"{wall[3]:.1f} | - | - |"
    )
    print(
        f"128² patches, batch 16, {args.workers} workers, median of {args.rounds} alternating "
        f"runs; streamed / in-RAM: {wall[0] / wall[2]:.2f} (wall), {wall[1] / wall[3]:.2f} "
        f"(CPU); load average {load[0]:.1f} on {os.cpu_count()} cores"
    )
    if not args.keep:
        shutil.rmtree(args.dir)


def _whole(source: object) -> tuple[slice, slice]:
    height, width = source.shape  # type: ignore[attr-defined]
    return slice(0, height), slice(0, width)


if __name__ == "__main__":
    main()
