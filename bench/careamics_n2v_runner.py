"""Train and apply CAREamics' Noise2Void on one image, for ``n2v_vs_careamics.py``.

Runs ONLY inside the bench venv made by ``bench/setup_careamics_venv.sh`` (it imports
careamics, which must never be a dependency of pixelwise)::

    bench/.venv-careamics/bin/python bench/careamics_n2v_runner.py \\
        --image noisy.npy --settings settings.json \\
        --prediction careamics.npy --timings careamics.json

``settings.json`` is the ``BenchSettings`` dataclass of ``n2v_vs_careamics.py`` as a JSON
object (keys in ``REQUIRED_KEYS``). The runner writes the prediction (float32, same shape as
the input) and a JSON with ``train_seconds``, ``predict_seconds`` (wall clock; the CPU time
of the process for the same spans in ``*_cpu_seconds``), the number of training
patches CAREamics actually drew per epoch, its optimiser steps, the parameter count and the
versions used.

What is timed: ``train_seconds`` runs from building the CAREamics configuration (before the
``CAREamist``, i.e. the Lightning trainer, is created) to the end of ``CAREamist.train``;
``predict_seconds`` is ``CAREamist.predict`` on the whole image. Interpreter start-up and
``import careamics`` (several seconds) are not counted, as pixelwise's imports are not.

How the runs are matched with pixelwise (API: careamics 0.3.5, ``create_advanced_n2v_config``
+ ``CAREamist.train(train_data=array, val_data=array)`` + ``CAREamist.predict``):

* Patches per epoch and epochs. CAREamics draws patches with its stratified patching:
  ``ceil(H * W / patch**2)`` per image per epoch (64 for 512x512 with 64x64 patches), at random
  positions in double-size regions tiling the image. To get ``patches_per_epoch`` patches, the
  same array is passed ``ceil(patches_per_epoch / per_image)`` times and, when that overshoots,
  ``num_steps`` (Lightning's ``limit_train_batches``) keeps ``patches_per_epoch / batch_size``
  batches (the bench makes ``patches_per_epoch`` a multiple of the batch size in that case).
  The runner reports what CAREamics really drew (batches seen x batch size).
* Validation. The same noisy image's top-left ``patch x patch`` crop is passed as
  ``val_data``, so no training region is held out (by default CAREamics would set 8 patches
  aside and never train on them) and CAREamics' per-epoch validation costs one patch.
  pixelwise runs no validation.
* Network. CAREamics ``depth = d`` (d poolings) against a pixelwise U-Net with
  ``levels = d + 1``; both ``num_channels_init`` / ``base_channels`` = ``base_channels``;
  batch norm on or off in both (CAREamics' default is on).
* Masking. ``masked_pixel_percentage = 100 * masked_fraction`` (both put one blind spot in each
  stratified grid cell of side ``1/sqrt(fraction)``), ``roi_size = 2 * radius + 1``.
* Optimisation. Adam, same learning rate, constant: StepLR with ``step_size = epochs`` (it
  never fires) against pixelwise's ``scheduler='none'``. Same batch size, same data loader
  worker count, same ``torch.set_num_threads``; input normalised by the image's mean/std in
  both; flips only (no 90-degree rotations) in both.
* Precision. ``precision`` "32" or "bf16-mixed" in both (pixelwise ``TrainerConfig.precision``,
  Lightning ``Trainer(precision="32-true" | "bf16-mixed")``).

Differences that remain (the APIs do not allow matching them):

* Architecture details: CAREamics upsamples bilinearly (no weights) where pixelwise uses a
  2x2 transposed convolution, and its bottleneck and decoder blocks are narrower (bottleneck
  ``c*2^(d-1) -> c*2^d -> c*2^(d-1)``; pixelwise's deepest block ends at ``c*2^d``), so
  CAREamics has fewer parameters and FLOPs (both counts are reported). With batch norm,
  CAREamics' convolutions keep their bias, pixelwise's drop it.
* Blind-spot replacement: CAREamics draws the row and column offsets independently from
  ``[-r, r] without 0`` (never the same row or column, clamped at the border); pixelwise draws
  uniformly among all other pixels of the ``(2r+1)^2`` window clipped to the patch.
* Flips: CAREamics flips one randomly chosen axis with p=0.5; pixelwise flips each axis
  independently with p=0.5.
* Patch positions: CAREamics' stratified sampling covers the image evenly each epoch;
  pixelwise draws uniform random positions.
* Initialisation: CAREamics keeps PyTorch's default init; pixelwise uses Xavier-normal.
* Prediction under "bf16-mixed": Lightning also autocasts ``predict`` to bfloat16;
  pixelwise's ``predict_array`` always predicts in float32.
* Engine: CAREamics runs Lightning (a sanity-check validation step, one validation patch per
  epoch, a CSV logger, a checkpoint every 10 epochs plus ``last.ckpt``, which ``predict``
  reloads from disk). This overhead is part of its measured time.
* Seeds: CAREamics needs a seed > 0, so it gets ``seed + 1``; the random streams of the two
  libraries differ anyway.
* torch version: this venv has torch 2.11 (CAREamics requires torch < 2.14 and
  torchvision <= 0.26), pixelwise's venv has torch 2.13.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REQUIRED_KEYS = (
    "patch_size",
    "patches_per_epoch",
    "epochs",
    "batch_size",
    "seed",
    "depth",
    "base_channels",
    "batch_norm",
    "learning_rate",
    "masked_fraction",
    "radius",
    "threads",
    "num_workers",
    "precision",
)


# pixelwise TrainerConfig.precision -> Lightning Trainer(precision=...)
LIGHTNING_PRECISION = {"32": "32-true", "bf16-mixed": "bf16-mixed"}


def load_settings(path: Path) -> dict[str, Any]:
    """Read the settings JSON and check that every key the runner uses is there."""
    settings = json.loads(path.read_text())
    missing = [key for key in REQUIRED_KEYS if key not in settings]
    if missing:
        raise SystemExit(f"{path}: settings lack {', '.join(missing)}")
    return settings


def stratified_patches_per_image(shape: tuple[int, int], patch_size: int) -> int:
    """Patches per epoch CAREamics' stratified patching draws from one 2-D image.

    Mirrors ``careamics.dataset.patching.StratifiedPatching`` (no excluded regions):
    ``ceil(prod(shape / patch_size))``; the runner checks it against the real dataset.
    """
    return math.ceil((shape[0] / patch_size) * (shape[1] / patch_size))


def plan_epoch(per_image: int, patches_per_epoch: int, batch_size: int) -> tuple[int, int | None]:
    """How many copies of the image to pass, and the batch limit per epoch (None: all)."""
    copies = math.ceil(patches_per_epoch / per_image)
    if copies * per_image == patches_per_epoch:
        return copies, None
    if patches_per_epoch % batch_size:
        raise SystemExit(
            f"patches_per_epoch={patches_per_epoch} is not a multiple of CAREamics' "
            f"{per_image} patches per image, so it must be a multiple of the batch size "
            f"({batch_size})"
        )
    return copies, patches_per_epoch // batch_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, required=True, help="noisy 2-D .npy image")
    parser.add_argument("--settings", type=Path, required=True, help="BenchSettings JSON")
    parser.add_argument("--prediction", type=Path, required=True, help="output .npy")
    parser.add_argument("--timings", type=Path, required=True, help="output JSON")
    parser.add_argument("--work-dir", type=Path, help="CAREamics' checkpoints/logs (temp dir)")
    args = parser.parse_args(argv)

    settings = load_settings(args.settings)
    threads = int(settings["threads"])
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))

    import torch
    from careamics import CAREamist
    from careamics import __version__ as careamics_version
    from careamics.config import create_advanced_n2v_config

    torch.set_num_threads(threads)
    image = np.load(args.image).astype(np.float32)
    if image.ndim != 2:
        raise SystemExit(f"{args.image}: expected a 2-D image, got shape {image.shape}")
    patch = int(settings["patch_size"])
    batch_size = int(settings["batch_size"])
    epochs = int(settings["epochs"])
    wanted = int(settings["patches_per_epoch"])
    per_image = stratified_patches_per_image(image.shape, patch)
    copies, num_steps = plan_epoch(per_image, wanted, batch_size)

    with tempfile.TemporaryDirectory(prefix="careamics-n2v-") as scratch:
        work_dir = args.work_dir or Path(scratch)
        started, started_cpu = time.perf_counter(), time.process_time()
        config = create_advanced_n2v_config(
            experiment_name="n2v_vs_pixelwise",
            data_type="array",
            axes="YX",
            patch_size=[patch, patch],
            batch_size=batch_size,
            num_epochs=epochs,
            num_steps=num_steps,
            augmentations=["x_flip", "y_flip"],
            roi_size=2 * int(settings["radius"]) + 1,
            masked_pixel_percentage=100.0 * float(settings["masked_fraction"]),
            num_workers=int(settings["num_workers"]),
            model_params={
                "depth": int(settings["depth"]),
                "num_channels_init": int(settings["base_channels"]),
                "use_batch_norm": bool(settings["batch_norm"]),
            },
            optimizer="Adam",
            optimizer_params={"lr": float(settings["learning_rate"])},
            lr_scheduler="StepLR",
            lr_scheduler_params={"step_size": epochs},
            trainer_params={
                "accelerator": "cpu",
                "devices": 1,
                "precision": LIGHTNING_PRECISION[settings["precision"]],
            },
            seed=int(settings["seed"]) + 1,
        )
        careamist = CAREamist(config, work_dir=work_dir, enable_progress_bar=False)
        careamist.train(train_data=[image] * copies, val_data=image[:patch, :patch].copy())
        train_seconds = time.perf_counter() - started
        train_cpu_seconds = time.process_time() - started_cpu

        started, started_cpu = time.perf_counter(), time.process_time()
        predictions, _ = careamist.predict(image, axes="YX", data_type="array")
        predict_seconds = time.perf_counter() - started
        predict_cpu_seconds = time.process_time() - started_cpu

    prediction = np.asarray(predictions[0], dtype=np.float32).squeeze()
    if prediction.shape != image.shape:
        raise SystemExit(f"prediction has shape {prediction.shape}, input {image.shape}")
    np.save(args.prediction, prediction)

    trainer = careamist.trainer
    batches_per_epoch = int(trainer.num_training_batches)
    dataset = careamist.train_datamodule.train_dataset  # type: ignore[union-attr]
    drawn = min(len(dataset), batches_per_epoch * batch_size)
    result = {
        "train_seconds": train_seconds,
        "predict_seconds": predict_seconds,
        "train_cpu_seconds": train_cpu_seconds,
        "predict_cpu_seconds": predict_cpu_seconds,
        "patches_per_epoch": drawn,
        "dataset_patches": len(dataset),
        "image_copies": copies,
        "batches_per_epoch": batches_per_epoch,
        "optimizer_steps": int(trainer.global_step),
        "epochs": int(trainer.current_epoch),
        "parameters": sum(p.numel() for p in careamist.model.model.parameters()),
        "careamics": careamics_version,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
    }
    args.timings.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
