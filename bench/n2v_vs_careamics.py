"""Noise2Void: pixelwise against CAREamics on the same noisy image, same training budget.

Both libraries train N2V on ``skimage.data.camera()`` (float in [0, 1]) plus Gaussian noise of
sigma 25/255 (fixed seed), with the same patch size, patches per epoch, epochs, batch size,
U-Net depth/width, normalisation, masking, learning rate, precision and thread count, then
denoise the whole image. The table gives PSNR against the clean image (data_range 1),
wall-clock seconds for training and prediction, and the process CPU seconds of both (steadier
than wall time on a shared machine). pixelwise runs in this process; CAREamics runs in its own
venv through ``careamics_n2v_runner.py`` (see its docstring for how the runs are matched and
what still differs)::

    bash bench/setup_careamics_venv.sh          # once: bench/.venv-careamics
    python bench/n2v_vs_careamics.py            # defaults: a few minutes on 2 cores
    python bench/n2v_vs_careamics.py --norm none --precision bf16-mixed
    python bench/n2v_vs_careamics.py --epochs 40 --patches 128 --threads 2
    python bench/n2v_vs_careamics.py --skip-careamics

Three rows: pixelwise with its own N2V defaults (16-channel U-Net, no normalisation, bf16
autocast), pixelwise with CAREamics' network and precision (the like-for-like engine
comparison), and CAREamics. Both libraries see the same image, patches and epochs.

Defaults follow CAREamics' own (depth 2, 32 channels, batch norm, Adam at 1e-3, 0.2% masked
pixels, ROI 11) with 64x64 patches, batch 16 and 20 epochs. ``--patches`` defaults to what
CAREamics draws from the image per epoch (``ceil(H * W / patch**2)``: 64 for 512x512). The
default ``--threads 1`` suits a shared 2-core machine: under load, two OpenMP threads per
process were 2-3x slower than one. Timing starts after the imports in both runs (so CAREamics'
and Lightning's import time is not counted, while the first ``Trainer.fit`` of pixelwise pays
for the lazy ``torch._inductor`` import of ``torch.use_deterministic_algorithms``).
Exit status 2: the CAREamics venv is missing; 1: the CAREamics run failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from skimage import data as skdata

from pixelwise.data import Augmentation, Normalization
from pixelwise.data.config import PatchConfig
from pixelwise.engine import InferenceSettings, TrainerConfig, cpu_capability
from pixelwise.io.sources import InMemorySource
from pixelwise.methods import MaskingConfig, fit_noise2void, predict_normalized
from pixelwise.metrics import psnr
from pixelwise.models import UNetConfig

BENCH_DIR = Path(__file__).resolve().parent
CAREAMICS_PYTHON = BENCH_DIR / ".venv-careamics" / "bin" / "python"
RUNNER = BENCH_DIR / "careamics_n2v_runner.py"
SETUP_SCRIPT = BENCH_DIR / "setup_careamics_venv.sh"
NOISE_SIGMA = 25 / 255


@dataclass(frozen=True)
class BenchSettings:
    """Everything both runs share; written as JSON for the CAREamics runner."""

    patch_size: int = 64
    patches_per_epoch: int = 64
    epochs: int = 20
    batch_size: int = 16
    seed: int = 0
    depth: int = 2  # poolings: CAREamics' depth; pixelwise levels = depth + 1
    base_channels: int = 32
    batch_norm: bool = True  # CAREamics' default
    learning_rate: float = 1e-3
    masked_fraction: float = 0.002  # CAREamics' masked_pixel_percentage 0.2
    radius: int = 5  # CAREamics' roi_size 11
    threads: int = 1
    num_workers: int = 0
    precision: str = "32"  # or "bf16-mixed" (autocast on CPU), for both; "auto" for pixelwise

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


@dataclass
class RunResult:
    """One method's row of the table."""

    method: str
    psnr_db: float
    train_seconds: float
    predict_seconds: float
    cpu_seconds: float  # process CPU time of training + prediction
    note: str = ""

    @property
    def total_seconds(self) -> float:
        return self.train_seconds + self.predict_seconds


def noisy_camera(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) float32 images: camera() in [0, 1] plus N(0, (25/255)^2), unclipped."""
    clean = skdata.camera().astype(np.float32) / 255.0
    noise = np.random.default_rng(seed).normal(0.0, NOISE_SIGMA, clean.shape)
    return clean, (clean + noise).astype(np.float32)


def psnr_db(image: np.ndarray, clean: np.ndarray) -> float:
    return float(psnr(torch.from_numpy(image), torch.from_numpy(clean), data_range=1.0))


def careamics_patches_per_image(shape: tuple[int, ...], patch_size: int) -> int:
    """Patches per epoch of CAREamics' stratified patching for one 2-D image."""
    return math.ceil((shape[0] / patch_size) * (shape[1] / patch_size))


def pixelwise_recommended(settings: BenchSettings) -> BenchSettings:
    """pixelwise's own N2V choice for the same data budget: a 16-channel U-Net without
    normalisation at the engine's default precision, ``auto`` (bf16 autocast only where the
    CPU computes bf16 natively; float32 on AVX2-only CPUs, where emulated bf16 is slow)."""
    return dataclasses.replace(settings, base_channels=16, batch_norm=False, precision="auto")


def run_pixelwise(
    noisy: np.ndarray, settings: BenchSettings, label: str
) -> tuple[np.ndarray, RunResult]:
    """Train pixelwise N2V on ``noisy`` and denoise it; times training and prediction."""
    torch.set_num_threads(settings.threads)
    started, started_cpu = time.perf_counter(), time.process_time()
    run = fit_noise2void(
        [InMemorySource(noisy, source="camera")],
        data=PatchConfig(
            patch_size=settings.patch_size,
            patches_per_epoch=settings.patches_per_epoch,
            validation_patches=0,
            batch_size=settings.batch_size,
            num_workers=settings.num_workers,
        ),
        model=UNetConfig(
            levels=settings.depth + 1,
            base_channels=settings.base_channels,
            norm="batch" if settings.batch_norm else "none",
        ),
        masking=MaskingConfig(
            strategy="random", active_fraction=settings.masked_fraction, radius=settings.radius
        ),
        trainer=TrainerConfig(
            epochs=settings.epochs,
            learning_rate=settings.learning_rate,
            scheduler="none",
            precision=settings.precision,
            seed=settings.seed,
            device="cpu",
        ),
        augmentation=Augmentation(flips="hw"),
        normalization=Normalization(mean=float(noisy.mean()), std=float(noisy.std())),
    )
    train_seconds = time.perf_counter() - started

    started = time.perf_counter()
    # One window over the whole image, as CAREamics predicts it.
    prediction = predict_normalized(
        run.model, noisy, run.normalization, inference=InferenceSettings(window=None), device="cpu"
    )
    predict_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - started_cpu
    model, fit = run.model, run.result

    parameters = sum(p.numel() for p in model.parameters())
    note = f"{fit.optimizer_steps} steps, {parameters:,} params, torch {torch.__version__}"
    network = (
        f"{settings.base_channels} ch, {'batch norm' if settings.batch_norm else 'no norm'}, "
        f"precision {fit.precision}" + (" (auto)" if settings.precision == "auto" else "")
    )
    note = f"{network}; {note}"
    result = RunResult(label, 0.0, train_seconds, predict_seconds, cpu_seconds, note)
    return prediction, result


def run_careamics(
    noisy: np.ndarray, settings: BenchSettings, python: Path, work_dir: Path
) -> tuple[np.ndarray, RunResult]:
    """Run ``careamics_n2v_runner.py`` with the CAREamics venv's python."""
    image_path = work_dir / "noisy.npy"
    settings_path = work_dir / "settings.json"
    prediction_path = work_dir / "careamics_prediction.npy"
    timings_path = work_dir / "careamics_timings.json"
    log_path = work_dir / "careamics.log"
    np.save(image_path, noisy)
    settings_path.write_text(settings.to_json())
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(settings.threads),
        "MKL_NUM_THREADS": str(settings.threads),
        "CUDA_VISIBLE_DEVICES": "",  # the venv's torch is a CUDA build: keep it on the CPU
    }
    command = [
        str(python),
        str(RUNNER),
        *("--image", str(image_path), "--settings", str(settings_path)),
        *("--prediction", str(prediction_path), "--timings", str(timings_path)),
        *("--work-dir", str(work_dir / "careamics")),
    ]
    with log_path.open("w") as log:
        completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    if completed.returncode != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-30:])
        raise RuntimeError(f"CAREamics runner failed ({completed.returncode}):\n{tail}")
    timings = json.loads(timings_path.read_text())
    if timings["patches_per_epoch"] != settings.patches_per_epoch:
        print(
            f"warning: CAREamics drew {timings['patches_per_epoch']} patches per epoch, "
            f"pixelwise {settings.patches_per_epoch}",
            file=sys.stderr,
        )
    note = (
        f"{timings['optimizer_steps']} steps, {timings['parameters']:,} params, "
        f"careamics {timings['careamics']}, torch {timings['torch']}"
    )
    result = RunResult(
        "CAREamics N2V",
        0.0,
        timings["train_seconds"],
        timings["predict_seconds"],
        timings["train_cpu_seconds"] + timings["predict_cpu_seconds"],
        note,
    )
    return np.load(prediction_path), result


def print_table(noisy_psnr: float, results: list[RunResult], settings: BenchSettings) -> None:
    table = Table(
        title=(
            "Noise2Void on camera (512x512), Gaussian sigma 25/255; "
            f"CPU {cpu_capability()}, torch {torch.__version__}"
        ),
        caption=(
            f"{settings.epochs} epochs x {settings.patches_per_epoch} patches of "
            f"{settings.patch_size}px, batch {settings.batch_size}, depth {settings.depth}; "
            f"CAREamics' network: {settings.base_channels} channels, "
            f"norm {'batch' if settings.batch_norm else 'none'}, precision {settings.precision}; "
            f"{settings.threads} thread(s); "
            f"load average {os.getloadavg()[0]:.1f}"
        ),
    )
    columns = ("method", "PSNR (dB)", "train s", "predict s", "total s", "CPU s", "notes")
    for column in columns:
        justify = "left" if column in ("method", "notes") else "right"
        table.add_column(column, justify=justify)
    table.add_row("noisy input", f"{noisy_psnr:.2f}", "", "", "", "", "")
    for result in results:
        table.add_row(
            result.method,
            f"{result.psnr_db:.2f}",
            f"{result.train_seconds:.1f}",
            f"{result.predict_seconds:.2f}",
            f"{result.total_seconds:.1f}",
            f"{result.cpu_seconds:.1f}",
            result.note,
        )
    Console(width=160).print(table)
    if results[-1].method.startswith("CAREamics"):
        pixelwise, careamics = results[0], results[-1]
        wall = pixelwise.total_seconds / careamics.total_seconds
        cpu = pixelwise.cpu_seconds / careamics.cpu_seconds
        gain = pixelwise.psnr_db - careamics.psnr_db
        print(
            f"{pixelwise.method} / CAREamics: wall time {wall:.2f}, CPU time {cpu:.2f}; "
            f"PSNR difference {gain:+.2f} dB"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = BenchSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument(
        "--patches", type=int, help="training patches per epoch (default: CAREamics' count)"
    )
    parser.add_argument("--patch-size", type=int, default=defaults.patch_size)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--depth", type=int, default=defaults.depth, help="U-Net poolings")
    parser.add_argument("--channels", type=int, default=defaults.base_channels)
    parser.add_argument(
        "--norm", choices=("batch", "none"), default="batch", help="U-Net normalisation, both"
    )
    parser.add_argument(
        "--precision", choices=("32", "bf16-mixed"), default=defaults.precision, help="both"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--skip-careamics", action="store_true")
    parser.add_argument(
        "--recommended-only",
        action="store_true",
        help="skip the pixelwise run that copies CAREamics' network and precision",
    )
    parser.add_argument(
        "--careamics-python", type=Path, default=CAREAMICS_PYTHON, help=argparse.SUPPRESS
    )
    parser.add_argument("--work-dir", type=Path, help="keep inputs, outputs and logs here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.skip_careamics and not args.careamics_python.exists():
        print(
            f"CAREamics venv not found ({args.careamics_python}).\n"
            f"Create it with: bash {os.path.relpath(SETUP_SCRIPT)}\n"
            "or run with --skip-careamics.",
            file=sys.stderr,
        )
        return 2
    clean, noisy = noisy_camera(args.seed)
    patches = args.patches or careamics_patches_per_image(noisy.shape, args.patch_size)
    per_image = careamics_patches_per_image(noisy.shape, args.patch_size)
    if patches % per_image and patches % args.batch_size:
        patches = math.ceil(patches / args.batch_size) * args.batch_size
        print(f"--patches rounded up to {patches}, a multiple of the batch size", file=sys.stderr)
    settings = BenchSettings(
        patch_size=args.patch_size,
        patches_per_epoch=patches,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        depth=args.depth,
        base_channels=args.channels,
        batch_norm=args.norm == "batch",
        threads=args.threads,
        precision=args.precision,
    )

    runs = [("pixelwise N2V (its defaults)", pixelwise_recommended(settings))]
    if not args.recommended_only:
        runs.append(("pixelwise N2V (CAREamics' network)", settings))
    results: list[RunResult] = []
    for label, run_settings in runs:
        prediction, result = run_pixelwise(noisy, run_settings, label)
        result.psnr_db = psnr_db(prediction, clean)
        results.append(result)

    if not args.skip_careamics:
        with tempfile.TemporaryDirectory(prefix="n2v-vs-careamics-") as scratch:
            work_dir = args.work_dir or Path(scratch)
            work_dir.mkdir(parents=True, exist_ok=True)
            try:
                prediction, result = run_careamics(noisy, settings, args.careamics_python, work_dir)
            except RuntimeError as error:
                print(error, file=sys.stderr)
                return 1
        result.psnr_db = psnr_db(prediction, clean)
        results.append(result)

    print_table(psnr_db(noisy, clean), results, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
