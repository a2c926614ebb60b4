"""Peak memory of streaming ``pixelwise seismic denoise`` on a generated multi-GB SEG-Y.

Writes a SEG-Y of about ``--gigabytes`` GB (IEEE float, random band-limited traces), denoises
it with ``--method`` (a classical method by default: the learned path streams the same way)
in a child process, and prints the child's peak resident memory (ru_maxrss) and wall time.
Pages of memory-mapped files count in ru_maxrss while mapped, so the figure is an upper bound
of what the process really needs.

Run: ``.venv/bin/python bench/seismic_memory.py --gigabytes 2 --folder /tmp/big``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pixelwise.io.segy import write_segy

N_SAMPLES = 1000


def generate(path: Path, gigabytes: float) -> int:
    """Write the big file trace block by trace block; return its trace count."""
    n_traces = int(gigabytes * 1e9 // (240 + 4 * N_SAMPLES))
    template = path.with_name("template.sgy")
    write_segy(template, np.zeros((N_SAMPLES, 1), np.float32))
    raw = bytearray(template.read_bytes())
    header, trace = raw[:3600], raw[3600 : 3600 + 240]
    with path.open("wb") as stream:
        stream.write(header)
        rng = np.random.default_rng(0)
        block = 4096
        for start in range(0, n_traces, block):
            count = min(block, n_traces - start)
            samples = rng.standard_normal((count, N_SAMPLES)).astype(">f4")
            rows = np.empty((count, 240 + 4 * N_SAMPLES), np.uint8)
            rows[:, :240] = np.frombuffer(bytes(trace), np.uint8)
            rows[:, 240:] = samples.view(np.uint8).reshape(count, -1)
            stream.write(rows.tobytes())
    return n_traces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/pixelwise-big-segy"))
    parser.add_argument("--method", default="bandpass")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    big, out = args.folder / "big.sgy", args.folder / "out.sgy"
    n_traces = generate(big, args.gigabytes)
    start = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pixelwise"),
            "seismic",
            "denoise",
            str(big),
            str(out),
            "--method",
            args.method,
        ],
        check=True,
    )
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    size_gb = big.stat().st_size / 1e9
    print(
        f"{size_gb:.2f} GB, {n_traces} traces x {N_SAMPLES} samples, --method {args.method}: "
        f"peak RSS {peak_mb:.0f} MB, {seconds:.0f} s (load average {os.getloadavg()[0]:.1f})"
    )
    for path in (big, out, args.folder / "template.sgy"):
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
