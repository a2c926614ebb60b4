"""Learned vs classical seismic denoising on real public sections with synthetic noise.

For every real section under ``../shared/data/seismic`` (F3 crop: dGB Earth Sciences,
CC BY-SA 3.0, via equinor/segyio test data; Volve inline 10117: Equinor Open Data Licence,
"Equinor and the former Volve licence partners", via trhallam/segysak test data) and every
noise scenario (white; trace-wise band-limited on 10% of traces; both), it prints SNR / PSNR
and wall time of every classical method and every learned variant, and the margin of the
best learned over the best classical method.

Learned variants (one small U-Net each, trained on the noisy section itself, Noise2Void
style, with the same budget):

* ``n2v-tracewise``: today's default (global mean/std, trace-wise blind spots);
* ``n2v-random``: plain Noise2Void pixel masking;
* ``edit+n2v``: robust per-section levels, noisy traces flagged by RMS z-score hidden from
  the input and the loss, ``mixed`` masking (pixels + traces);
* ``edit+n2v-auto``: the same network; good traces kept when they carry no random noise
  (estimated from the finest wavelet scale);
* ``edit+n2v-flagged``: the same network, only the flagged traces replaced (learned trace
  interpolation instead of trace editing's lateral median);
* ``median-edit+n2v``: trace editing (lateral median) first, then plain Noise2Void on the
  edited section; ``-auto``: good traces kept when they carry no random noise.

Run: ``.venv/bin/python bench/seismic_real.py [--epochs 12] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from pixelwise.apps.seismic.amplitude import prepare_section
from pixelwise.apps.seismic.classical import METHODS, trace_edit
from pixelwise.apps.seismic.learned import denoise_prepared, training_sources
from pixelwise.apps.seismic.noise import tracewise_noise, white_noise
from pixelwise.data import Normalization
from pixelwise.data.config import PatchConfig
from pixelwise.engine import InferenceSettings, TrainerConfig
from pixelwise.io.segy import read_segy
from pixelwise.io.sources import InMemorySource
from pixelwise.methods import predict_normalized
from pixelwise.methods.n2v import MaskingConfig, fit_noise2void
from pixelwise.metrics import psnr, snr_db
from pixelwise.models import UNetConfig

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "seismic"
SECTIONS = {"F3": "f3.sgy", "Volve": "volve_inline_10117_depth.sgy"}
DT = 0.004


def scenarios(clean: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Noisy versions of ``clean``: white (0.5 sigma), trace-wise (10% at 2 sigma), mixed."""
    scale = float(clean.std())
    rng = np.random.default_rng(seed)

    def traces() -> np.ndarray:
        return tracewise_noise(clean.shape, 0.1, 2 * scale, rng, band_hz=(2.0, 20.0), dt=DT)

    white = white_noise(clean.shape, 0.5 * scale, rng)
    trace = traces()
    mixed = white_noise(clean.shape, 0.5 * scale, rng) + traces()
    return {"white": clean + white, "trace-wise": clean + trace, "mixed": clean + mixed}


def scores(clean: np.ndarray, estimate: np.ndarray) -> tuple[float, float]:
    reference, value = torch.from_numpy(clean), torch.from_numpy(estimate.astype(np.float32))
    data_range = float(clean.max() - clean.min())
    return snr_db(reference, value).item(), psnr(value, reference, data_range).item()


def train(images, masks, masking: str, args, normalization: Normalization | None):
    patch = min(64, min(images[0].shape) // 4 * 4)
    return fit_noise2void(
        images,
        valid=masks,
        data=PatchConfig(
            patch_size=patch,
            patches_per_epoch=args.patches,
            validation_patches=0,
            batch_size=16,
        ),
        model=UNetConfig(levels=3, base_channels=args.channels),
        masking=MaskingConfig(strategy=masking, active_fraction=0.02),
        trainer=TrainerConfig(epochs=args.epochs, learning_rate=2e-3, seed=args.seed),
        normalization=normalization,
    ).model


def learned(noisy: np.ndarray, args) -> dict[str, tuple[np.ndarray, float]]:
    inference = InferenceSettings(window=256, overlap=32)
    results = {}
    for masking in ("tracewise", "random"):
        start = time.perf_counter()
        model = train([InMemorySource(noisy)], None, masking, args, None)
        norm = Normalization(mean=float(noisy.mean()), std=float(noisy.std()))
        out = predict_normalized(model, noisy, norm, inference=inference)
        results[f"n2v-{masking}"] = (out, time.perf_counter() - start)
    start = time.perf_counter()
    prepared = prepare_section(noisy)
    images, masks = training_sources([prepared])
    model = train(images, masks, "mixed", args, Normalization(mean=0.0, std=1.0))
    trained = time.perf_counter() - start
    for name, keep in (
        ("edit+n2v", "never"),
        ("edit+n2v-auto", "auto"),
        ("edit+n2v-flagged", "always"),
    ):
        begin = time.perf_counter()
        out = denoise_prepared(model, prepared, inference=inference, keep_clean=keep)
        results[name] = (out, trained + time.perf_counter() - begin)
    start = time.perf_counter()
    edited = prepare_section(trace_edit(noisy, DT), flag_noise=False)
    images, _ = training_sources([edited])
    model = train(images, None, "random", args, Normalization(mean=0.0, std=1.0))
    trained = time.perf_counter() - start
    for name, keep in (("median-edit+n2v", "never"), ("median-edit+n2v-auto", "auto")):
        begin = time.perf_counter()
        out = denoise_prepared(model, edited, inference=inference, keep_clean=keep)
        results[name] = (out, trained + time.perf_counter() - begin)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--patches", type=int, default=256)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sections", nargs="*", default=list(SECTIONS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, margins = [], []
    print(f"load average at start: {os.getloadavg()[0]:.1f}; {args}")
    print("| section | noise | method | SNR dB | PSNR dB | seconds |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for section in args.sections:
        clean = read_segy(DATA / SECTIONS[section])
        for scenario, noisy in scenarios(clean, args.seed).items():
            noisy = noisy.astype(np.float32)
            table = {"noisy": (noisy, 0.0)}
            for name, method in METHODS.items():
                start = time.perf_counter()
                table[name] = (method(noisy, DT), time.perf_counter() - start)
            table |= learned(noisy, args)
            snrs = {}
            for name, (estimate, seconds) in table.items():
                snr, peak = scores(clean, estimate)
                snrs[name] = snr
                rows.append(
                    dict(
                        section=section,
                        noise=scenario,
                        method=name,
                        snr=snr,
                        psnr=peak,
                        seconds=seconds,
                    )
                )
                print(
                    f"| {section} | {scenario} | {name} | {snr:.2f} | {peak:.2f} | {seconds:.1f} |",
                    flush=True,
                )
            best_classical = max(METHODS, key=snrs.__getitem__)
            best_learned = max(
                (n for n in snrs if n not in METHODS and n != "noisy"), key=snrs.__getitem__
            )
            margin = snrs[best_learned] - snrs[best_classical]
            margins.append(margin)
            print(
                f"| {section} | {scenario} | **margin** {best_learned} - {best_classical} | "
                f"**{margin:+.2f}** | | |",
                flush=True,
            )
    print(
        f"mean margin of best learned over best classical: {np.mean(margins):+.2f} dB; "
        f"load average at end: {os.getloadavg()[0]:.1f}"
    )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "margins": margins}, indent=2))


if __name__ == "__main__":
    main()
