"""pixelwise cryoem against a tuned Gaussian blur and Topaz-Denoise on simulated micrographs.

Simulates held-out 1024² micrographs (300 kV, 1 Å/px, 40 e⁻/Å², seed 2; training data seed
1), trains the U-Net and the three-layer CNN (or takes ``--checkpoint``), denoises the test
set with each method and prints Pearson r against the clean image, PSNR (clean mapped to
[0, 1]) and CPU seconds per 1024² micrograph. Topaz runs in bench/.venv-topaz (GPLv3, its
own torch; build it with bench/setup_topaz_venv.sh) through ``topaz.commands.denoise`` with
its pretrained U-Net (``--arch unet``); inputs are float32 MRC. Without the venv, Topaz is
skipped with a message.

Usage: python bench/cryoem_vs_topaz.py [--test 4] [--train 16] [--epochs 20] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TOPAZ_PYTHON = HERE / ".venv-topaz" / "bin" / "python"
TOPAZ_RUNNER = """
import sys
from topaz.commands import denoise
parser = denoise.add_arguments()
denoise.main(parser.parse_args(sys.argv[1:]))
"""


def topaz_denoise(inputs: list[Path], output_dir: Path) -> float | None:
    """Denoise with Topaz's pretrained U-Net; return wall seconds, or None when unavailable."""
    if not TOPAZ_PYTHON.exists():
        print("Topaz skipped: bench/.venv-topaz is missing (bash bench/setup_topaz_venv.sh)")
        return None
    output_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(TOPAZ_PYTHON),
        "-c",
        TOPAZ_RUNNER,
        "--arch",
        "unet",
        "--device",
        "-1",
        "-o",
        str(output_dir),
        *map(str, inputs),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        print(f"Topaz skipped: it failed ({done.stderr.strip().splitlines()[-1:]})")
        return None
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=int, default=4)
    parser.add_argument("--train", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--checkpoint", type=Path, default=None, help="skip training: use this")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from scipy.ndimage import gaussian_filter

    from pixelwise.apps.cryoem.config import CryoConfig, CryoDataConfig
    from pixelwise.apps.cryoem.denoise import denoise_array, load_denoiser
    from pixelwise.apps.cryoem.evaluate import paired_scores, tune_gaussian
    from pixelwise.apps.cryoem.micrographs import pairs_from_files
    from pixelwise.apps.cryoem.simulate import SimulationConfig, simulate_dataset
    from pixelwise.apps.cryoem.train import train
    from pixelwise.engine import TrainerConfig
    from pixelwise.io.registry import read_array
    from pixelwise.models import ThreeLayerCNNConfig, UNetConfig

    out = args.out or Path(tempfile.mkdtemp(prefix="cryoem-vs-topaz-"))
    simulation = SimulationConfig(shape=(args.size, args.size))
    for part, count, seed in (("train", args.train, 1), ("val", 2, 3), ("test", args.test, 2)):
        if not (out / part / "micrographs.star").exists():
            simulate_dataset(out / part, simulation, count, seed=seed, movies=False)
    test = pairs_from_files([out / "test" / "noisy"], [out / "test" / "clean"], "paired")
    val = pairs_from_files([out / "val" / "noisy"], [out / "val" / "clean"], "paired")
    noisy = [p.input.whole() for p in test]
    clean = [p.target.whole() for p in test]
    sigma = tune_gaussian([p.input.whole() for p in val], [p.target.whole() for p in val])
    rows = []

    def score(label: str, outputs: list[np.ndarray], seconds: float | None) -> None:
        result = paired_scores(outputs, clean)
        per = seconds / len(outputs) * (1024**2 / noisy[0].size) if seconds else None
        rows.append((label, result["pearson_r"], result["psnr_db"], per))

    score("noisy input", noisy, None)
    started = time.perf_counter()
    score(
        f"gaussian (sigma {sigma:g})",
        [gaussian_filter(x, sigma) for x in noisy],
        time.perf_counter() - started,
    )
    checkpoints = {}
    if args.checkpoint is not None:
        checkpoints["pixelwise (given)"] = args.checkpoint
    else:
        for name, model in (
            ("pixelwise U-Net", UNetConfig(levels=3, base_channels=16)),
            ("pixelwise 3-layer CNN", ThreeLayerCNNConfig()),
        ):
            config = CryoConfig(
                data=CryoDataConfig(
                    input=[out / "train" / "noisy"],
                    target=[out / "train" / "clean"],
                    patch_size=96,
                    patches_per_epoch=1024,
                    batch_size=16,
                    validation_fraction=0.1,
                    test_fraction=0,
                ),
                model=model,
                trainer=TrainerConfig(epochs=args.epochs, learning_rate=2e-3),
                output_dir=out / name.split()[-1].lower().replace("-", ""),
            )
            checkpoints[name] = train(config).last_checkpoint
    for label, path in checkpoints.items():
        trained = load_denoiser(path)
        started = time.perf_counter()
        outputs = [denoise_array(trained, x, device="cpu") for x in noisy]
        score(label, outputs, time.perf_counter() - started)
    inputs = sorted((out / "test" / "noisy").glob("*.mrc"))
    seconds = topaz_denoise(inputs, out / "topaz")
    if seconds is not None:
        outputs = [read_array(out / "topaz" / path.name).astype(np.float32) for path in inputs]
        score("Topaz-Denoise (pretrained unet)", outputs, seconds)
    print(
        f"\n{len(test)} held-out {args.size}² micrographs; load average "
        f"{os.getloadavg()[0]:.1f}; torch threads {__import__('torch').get_num_threads()}"
    )
    print("| method | Pearson r | PSNR (dB, clean in [0,1]) | CPU s per 1024² |")
    print("| --- | --- | --- | --- |")
    for label, r, psnr, per in rows:
        print(f"| {label} | {r:.4f} | {psnr:.2f} | {'-' if per is None else f'{per:.2f}'} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
