"""Learned vs classical seismic denoising on real public sections with synthetic noise.

For every real section under ``../shared/data/seismic`` (F3 crop: dGB Earth Sciences,
CC BY-SA 3.0, via equinor/segyio test data; Volve inline 10117: Equinor Open Data Licence,
"Equinor and the former Volve licence partners", via trhallam/segysak test data) and every
noise scenario (white; trace-wise band-limited on 10% of traces; both), it prints SNR / PSNR,
CPU and wall seconds of every classical method and every learned variant, and the margin of
the best learned over the best classical method, and of the default recipe over it.

The noisy section is written as a SEG-Y with the original headers, and every learned variant
goes through the app's own ``train`` and ``denoise_file`` (one small U-Net per training,
trained on the noisy file itself, Noise2Void style, all with the same budget):

* ``v1 n2v-tracewise``: the first release's default (global mean/std, trace-wise masks);
* ``recipe blend`` / ``recipe median``: today's default
  (:class:`~pixelwise.apps.seismic.config.SectionConfig`) with each of the two fills its
  ``flagged_fill: auto`` chooses between: robust levels, noisy traces flagged by RMS and
  either hidden (rebuilt by the network, trained with mixed masks, and averaged with the
  lateral median: ``blend``) or replaced by the lateral median first (``median``, then
  random masks), clean good traces kept, four-flip ensemble. ``hide``: the blend network
  without the averaging; ``-flips``: without the ensemble;
* F3 only, which is a 3-D cube: the same in ``volume`` geometry (each inline with its
  neighbouring inlines as channels), against the butted inlines of the rows above (of
  which, to save CPU time, only the fill ``auto`` picks is trained).

The *default* margin is that of the defaults, ``geometry: auto`` (``volume`` on cubes,
``file`` on lines) and the fill ``flagged_fill: auto`` picks.

Run: ``.venv/bin/python bench/seismic_real.py [--epochs 12] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelwise.apps.seismic import SeismicConfig, denoise_file, train
from pixelwise.apps.seismic.classical import METHODS
from pixelwise.apps.seismic.noise import tracewise_noise, white_noise
from pixelwise.apps.seismic.train import resolve_fill
from pixelwise.io.segy import read_segy, write_segy_like
from pixelwise.metrics import psnr, snr_db

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "seismic"
SECTIONS = {"F3": "f3.sgy", "Volve": "volve_inline_10117_depth.sgy"}
#: Sections that are regular 3-D cubes (inline/crossline headers), denoised as volumes too.
CUBES = {"F3"}
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


def timed(run: Callable[[], Any]) -> tuple[Any, float, float]:
    """``(result, CPU seconds, wall seconds)`` of ``run()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = run()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def run_config(noisy: Path, folder: Path, args: argparse.Namespace, **changes: Any) -> Any:
    """The bench's training budget, with ``sections``/``masking`` ``changes`` on top."""
    volume = changes.get("sections", {}).get("geometry") == "volume"
    config: dict[str, Any] = {
        "data": {
            "train": [str(noisy)],
            # A cube's inlines are short (18 traces on F3): small patches, as many samples.
            "patch_size": 16 if volume else 64,
            "patches_per_epoch": args.patches * (8 if volume else 1),
            "validation_patches": 0,
            "batch_size": 16,
        },
        "model": {"levels": 3, "base_channels": args.channels},
        "trainer": {"epochs": args.epochs, "learning_rate": 2e-3, "seed": args.seed},
        "output_dir": str(folder),
    }
    return SeismicConfig.model_validate(config | changes)


def default_fill(noisy: Path, args: argparse.Namespace) -> str:
    """The ``flagged_fill`` that the default recipe (``auto``) picks for ``noisy``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = resolve_fill(run_config(noisy, noisy.parent, args), [noisy])
    return config.sections.flagged_fill


def learned(noisy: Path, folder: Path, cube: bool, args: argparse.Namespace) -> dict:
    """Every learned variant on the noisy SEG-Y ``noisy``: ``{name: (section, cpu, wall)}``."""
    trainings: dict[str, dict[str, Any]] = {
        "v1 n2v-tracewise": {
            "masking": {"strategy": "tracewise"},
            "sections": {
                "geometry": "file",
                "normalization": "global",
                "flag_noisy_traces": False,
                "keep_clean": "never",
                "flip_ensemble": False,
            },
        },
        "recipe blend": {"sections": {"geometry": "file", "flagged_fill": "blend"}},
        "recipe median": {"sections": {"geometry": "file", "flagged_fill": "median"}},
    }
    if cube:  # both fills as volumes; as butted inlines only the one auto picks (CPU time)
        trainings.pop(f"recipe {'median' if default_fill(noisy, args) == 'blend' else 'blend'}")
        for fill in ("blend", "median"):
            trainings[f"volume {fill}"] = {"sections": {"geometry": "volume", "flagged_fill": fill}}
    #: Inference-only variants: the same network, other denoising settings.
    inference_variants = {
        "recipe blend": {"hide": {"flagged_fill": "hide"}, "-flips": {"flip_ensemble": False}},
        "recipe median": {"-flips": {"flip_ensemble": False}},
        "volume blend": {"hide": {"flagged_fill": "hide"}},
    }
    results = {}
    for name, changes in trainings.items():
        config = run_config(noisy, folder / name, args, **changes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit, train_cpu, train_wall = timed(lambda config=config: train(config))
        variants = {"": config.sections} | {
            suffix: config.sections.model_copy(update=update)
            for suffix, update in inference_variants.get(name, {}).items()
        }
        for suffix, sections in variants.items():
            out = folder / f"{name}{suffix}.sgy"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                section, cpu, wall = timed(
                    lambda out=out, sections=sections, checkpoint=fit.last_checkpoint: denoise_file(
                        noisy, out, checkpoint, device="cpu", sections=sections
                    )
                )
            label = f"{name} {suffix}".strip()
            results[label] = (section, train_cpu + cpu, train_wall + wall)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--patches", type=int, default=256)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sections", nargs="*", default=list(SECTIONS))
    parser.add_argument("--noise", nargs="*", default=["white", "trace-wise", "mixed"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, margins, recipe_margins = [], [], []
    print(f"load average at start: {os.getloadavg()[0]:.1f}; {args}")
    print("| section | noise | method | SNR dB | PSNR dB | CPU s | wall s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as scratch:
        for section in args.sections:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clean = read_segy(DATA / SECTIONS[section])
            for scenario, noisy in scenarios(clean, args.seed).items():
                if scenario not in args.noise:
                    continue
                noisy = noisy.astype(np.float32)
                folder = Path(scratch) / section / scenario
                folder.mkdir(parents=True)
                noisy_path = folder / "noisy.sgy"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    write_segy_like(DATA / SECTIONS[section], noisy, noisy_path, sample_format=5)
                table = {"noisy": (noisy, 0.0, 0.0)}
                for name, method in METHODS.items():
                    table[name] = timed(lambda method=method, noisy=noisy: method(noisy, DT))
                table |= learned(noisy_path, folder, section in CUBES, args)
                snrs = {}
                for name, (estimate, cpu, wall) in table.items():
                    snr, peak = scores(clean, estimate)
                    snrs[name] = snr
                    rows.append(
                        dict(
                            section=section,
                            noise=scenario,
                            method=name,
                            snr=snr,
                            psnr=peak,
                            cpu_seconds=cpu,
                            wall_seconds=wall,
                        )
                    )
                    print(
                        f"| {section} | {scenario} | {name} | {snr:.2f} | {peak:.2f} | "
                        f"{cpu:.1f} | {wall:.1f} |",
                        flush=True,
                    )
                best_classical = max(METHODS, key=snrs.__getitem__)
                learned_names = [n for n in snrs if n not in METHODS and n != "noisy"]
                best_learned = max(learned_names, key=snrs.__getitem__)
                fill = default_fill(noisy_path, args)
                # The defaults: geometry auto (volume on cubes), flagged_fill auto.
                recipe = f"volume {fill}" if section in CUBES else f"recipe {fill}"
                margin = snrs[best_learned] - snrs[best_classical]
                recipe_margin = snrs[recipe] - snrs[best_classical]
                margins.append(margin)
                recipe_margins.append(recipe_margin)
                lines = [
                    f"**margin** {best_learned} - {best_classical} | **{margin:+.2f}**",
                    f"**margin** {recipe} (default) - {best_classical} | **{recipe_margin:+.2f}**",
                ]
                if section in CUBES:
                    gain = snrs[recipe] - snrs[f"recipe {fill}"]
                    lines.append(f"**volume - butted inlines** ({fill}) | **{gain:+.2f}**")
                for line in lines:
                    print(f"| {section} | {scenario} | {line} | | | |", flush=True)
    print(
        f"mean margin of best learned over best classical: {np.mean(margins):+.2f} dB "
        f"(min {np.min(margins):+.2f}); of the default recipe: {np.mean(recipe_margins):+.2f} "
        f"dB (min {np.min(recipe_margins):+.2f}); load average at end: {os.getloadavg()[0]:.1f}"
    )
    if args.json:
        summary = {"rows": rows, "margins": margins, "recipe_margins": recipe_margins}
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
