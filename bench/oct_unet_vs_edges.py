"""OCT layer segmentation: the pixelwise U-Net against a classical gradient-edge detector.

Trains the U-Net on phantom B-scans on the CPU, then scores both methods on held-out phantoms
of another seed with pathology unseen in training (more and taller drusen, fluid pockets).
The classical baseline's smoothing is tuned on the training scans (a small grid), as a
researcher would. Also reports parameter counts at the seed's depth, training throughput,
peak memory and inference speed on full-size 496 x 768 B-scans.

    .venv/bin/python bench/oct_unet_vs_edges.py            # 192 x 256, ~10 min on 2 idle cores
    .venv/bin/python bench/oct_unet_vs_edges.py --height 128 --width 160 --epochs 12

MONAI is not installed in this environment, so no MONAI UNet/DiceCELoss column is printed.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pixelwise.apps.oct.baseline import EdgeBaselineConfig, detect_stack
from pixelwise.apps.oct.config import run_config
from pixelwise.apps.oct.evaluate import score
from pixelwise.apps.oct.layout import write_oct
from pixelwise.apps.oct.phantom import PhantomConfig, simulate
from pixelwise.apps.oct.predict import load_segmenter, segment
from pixelwise.apps.oct.train import train
from pixelwise.models import UNetConfig, count_parameters


def tuned_baseline(bscans: np.ndarray, rows: np.ndarray) -> EdgeBaselineConfig:
    """The grid point with the lowest mean ILM + BM error on the training scans."""
    best, best_error = EdgeBaselineConfig(), np.inf
    for sigma, window, depth in itertools.product((1.0, 2.0, 3.0), (8, 12, 20), (0.04, 0.06, 0.1)):
        config = EdgeBaselineConfig(
            sigma_rows=sigma, sigma_columns=2 * sigma, bm_window=window, rpe_min_depth=depth
        )
        error = float(np.nanmean(np.abs(detect_stack(bscans, config) - rows)))
        if error < best_error:
            best, best_error = config, error
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--train-scans", type=int, default=48)
    parser.add_argument("--test-scans", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--base", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    phantom = PhantomConfig(height=args.height, width=args.width)
    unseen = phantom.model_copy(
        update={"drusen_probability": 0.6, "drusen_height": (0.02, 0.05), "fluid_probability": 0.5}
    )
    training = simulate(phantom, args.train_scans, seed=1)
    test = simulate(unseen, args.test_scans, seed=10_001)
    folder = Path(tempfile.mkdtemp(prefix="oct-bench-"))
    write_oct(folder / "train.h5", training)
    patches = 192
    config = run_config(
        profile="cpu",
        overrides={
            "data": {
                "train": [str(folder / "train.h5")],
                "patch_size": 64,
                "patches_per_epoch": patches,
                "batch_size": 8,
                "validation_patches": 4,
            },
            "model": {"levels": 4, "base_channels": args.base},
            "trainer": {"epochs": args.epochs, "learning_rate": 0.003},
            "output_dir": str(folder / "run"),
        },
    )
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = train(config)
    train_seconds = time.perf_counter() - started
    trained, stored = load_segmenter(result.last_checkpoint)
    predicted = segment(trained, stored, test.bscans, device="cpu")
    baseline_config = tuned_baseline(training.bscans, training.boundaries)
    metrics = score(predicted, test, baseline=detect_stack(test.bscans, baseline_config))
    base = metrics["baseline"]

    print(
        f"\nheld-out phantoms: {args.test_scans} x {args.height} x {args.width}, unseen pathology"
    )
    print(
        f"{'method':34s} {'Dice vit':>9s} {'Dice ret':>9s} {'Dice cho':>9s} "
        f"{'ILM MAE':>8s} {'BM MAE':>8s} {'ILM P95':>8s} {'BM P95':>8s}  (px)"
    )
    for name, m, rows in (
        (f"pixelwise U-Net (base {args.base})", metrics, metrics["boundaries"]),
        ("gradient edges (tuned on train)", base, base["boundaries"]),
    ):
        print(
            f"{name:34s} {m['dice_vitreous']:9.4f} {m['dice_retina']:9.4f} "
            f"{m['dice_choroid']:9.4f} {rows['ILM']['mae_px']:8.3f} {rows['BM']['mae_px']:8.3f} "
            f"{rows['ILM']['p95_px']:8.3f} {rows['BM']['p95_px']:8.3f}"
        )
    print(
        f"signed error (px): ILM {metrics['boundaries']['ILM']['signed_px']:+.3f}, "
        f"BM {metrics['boundaries']['BM']['signed_px']:+.3f}; thickness MAE "
        f"{metrics['boundaries']['thickness']['mae_um']:.2f} µm"
    )
    height = config.data.patch_height or (args.height // 8) * 8
    print(
        f"\ntraining: {train_seconds:.0f} s for {args.epochs} epochs, "
        f"{args.epochs * patches / train_seconds:.1f} patches/s ({height} x 64), "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB, "
        f"load average at start {load:.1f}, {torch.get_num_threads()} torch threads"
    )
    full = simulate(PhantomConfig(), 2, seed=3)
    started = time.perf_counter()
    segment(trained, stored, full.bscans, device="cpu")
    per_scan = (time.perf_counter() - started) / 2
    print(f"inference on 496 x 768 (this model): {1 / per_scan:.2f} B-scans/s")
    for base_channels in (32, 64):
        count = count_parameters(UNetConfig(levels=5, base_channels=base_channels, out_channels=3))
        print(f"parameters, seed depth (levels=5), base {base_channels}: {count / 1e6:.2f} M")


if __name__ == "__main__":
    main()
