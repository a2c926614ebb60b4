"""Benchmarks of pixelwise bokeh: renderer throughput, Gated DeltaNet chunked vs naive,
BokehNet inference speed and peak memory at 720p and 1080p (CPU; CUDA when present), and the
depth gap: how far the render from BokehNet's predicted depth stays below the render from the
true depth on held-out synthetic scenes, after training as long as the headline test and longer.

Run: ``.venv/bin/python bench/bokeh.py [--quick] [--device cpu|cuda] [--threads N]``. Prints
tables; the last one holds the numbers to set against BokehFlow's claim (1.8 GB of GPU
memory at 1080p, 23 FPS at 720p on a 4 GB-class GPU). CPU times are CPU seconds of the
process (``time.process_time``), so a loaded machine does not inflate them. CPU peak memory
is the resident set size of a fresh subprocess per resolution (``ru_maxrss``); CUDA peak is
``torch.cuda.max_memory_allocated``. The gap section trains one run per
``--train-scenes`` x ``--epochs`` (``--depth-weight``, ``--learning-rate``, ``--warmup-steps``,
``--seed``, ``--batch-size``, ``--single-frame`` change the demo's run) and scores its last and
its best weights.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from tempfile import TemporaryDirectory

import torch
import torch.nn.functional as F
import yaml

from pixelwise.apps.bokeh.config import BokehConfig
from pixelwise.apps.bokeh.demo import DEMO_SCENES, demo_config
from pixelwise.apps.bokeh.evaluate import evaluate_model
from pixelwise.apps.bokeh.network import BokehNetConfig
from pixelwise.apps.bokeh.render import render_bokeh
from pixelwise.apps.bokeh.scenes import SyntheticBokehDataset
from pixelwise.apps.bokeh.train import load_bokeh_model, train
from pixelwise.engine import TrainerConfig
from pixelwise.models import build_model
from pixelwise.models.gated_delta import gated_delta_chunked, gated_delta_recurrent

SIZES = {"0.5 MP": (500, 1000), "2 MP": (1125, 1778)}
VIDEO = {"720p": (720, 1280), "1080p": (1080, 1920)}


def scene(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A textured image and a depth map from 1.2 m (bottom) to 12 m (top) with a near box."""
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, height, width, generator=generator)
    rows = torch.linspace(12.0, 1.2, height).reshape(1, 1, height, 1)
    depth = rows.expand(1, 1, height, width).clone()
    depth[..., height // 3 : height // 2, width // 3 : width // 2] = 1.5
    return image.to(device), depth.to(device)


def timed(function, repeats: int = 1) -> float:  # type: ignore[no-untyped-def]
    """Seconds per call after one warm-up call: CPU seconds of this process on CPU (steady
    on a shared machine; equal to wall time with one thread on an idle one), wall seconds
    with synchronisation on CUDA."""
    cuda = torch.cuda.is_available()
    clock = time.perf_counter if cuda else time.process_time
    function()
    if cuda:
        torch.cuda.synchronize()
    start = clock()
    for _ in range(repeats):
        function()
    if cuda:
        torch.cuda.synchronize()
    return (clock() - start) / repeats


def bench_renderer(device: torch.device, quick: bool) -> None:
    print("\nRenderer (50 mm, focus 2 m, full frame, depth 1.2-12 m), megapixels/s")
    print(f"{'size':>8} {'f-number':>9} {'seconds':>9} {'MP/s':>8}")
    for name, (height, width) in SIZES.items():
        image, depth = scene(height, width, device)
        for f_number in (1.4, 2.8, 8.0) if not quick else (2.8,):
            with torch.inference_mode():
                seconds = timed(
                    lambda image=image, depth=depth, n=f_number: render_bokeh(
                        image, depth, f_number=n, focal_length_mm=50, focus_m=2.0
                    )
                )
            print(f"{name:>8} {f_number:>9} {seconds:>9.2f} {height * width / 1e6 / seconds:>8.3f}")


def bench_gdn(device: torch.device, quick: bool) -> None:
    print("\nGated delta rule, B=1, 2 heads, d_k = d_v = 16, forward, tokens/s")
    print(f"{'tokens':>7} {'chunked':>12} {'naive':>12} {'speed-up':>9} {'max |diff|':>11}")
    for length in (1024, 4096, 16384) if not quick else (1024, 4096):
        g = torch.Generator().manual_seed(0)
        q = F.normalize(torch.randn(1, 2, length, 16, generator=g), dim=-1).to(device)
        k = F.normalize(torch.randn(1, 2, length, 16, generator=g), dim=-1).to(device)
        v = torch.randn(1, 2, length, 16, generator=g).to(device)
        a = (-0.05 * torch.rand(1, 2, length, generator=g)).to(device)
        b = torch.rand(1, 2, length, generator=g).to(device)
        with torch.inference_mode():
            fast = timed(lambda: gated_delta_chunked(q, k, v, a, b), repeats=3)  # noqa: B023
            slow = timed(lambda: gated_delta_recurrent(q, k, v, a, b))  # noqa: B023
            diff = (
                (gated_delta_chunked(q, k, v, a, b)[0] - gated_delta_recurrent(q, k, v, a, b)[0])
                .abs()
                .max()
            )
        print(
            f"{length:>7} {length / fast:>12,.0f} {length / slow:>12,.0f} "
            f"{slow / fast:>8.1f}x {float(diff):>11.1e}"
        )


def model_run(resolution: str, device_name: str) -> dict[str, float]:
    """Inference of the default BokehNet at one resolution (run in a fresh process)."""
    device = torch.device(device_name)
    height, width = VIDEO[resolution]
    torch.manual_seed(0)
    model = build_model(BokehNetConfig()).to(device).eval()
    image, _ = scene(height, width, device)
    camera = torch.tensor([[1.8, 50.0, 2.0, 36.0]], device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        state = model(image, camera)["states"]  # a video frame: one after the first
        seconds = timed(lambda: model(image, camera, state))
    peak = (
        torch.cuda.max_memory_allocated() / 2**30
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    return {
        "seconds": seconds,
        "fps": 1 / seconds,
        "peak_gib": peak,
        "state_kib": state.scans.numel() * 4 / 1024,
        "memory_mib": (state.inverse_depth.numel() + state.image.numel()) * 4 / 2**20,
    }


def bench_model(device: torch.device, quick: bool) -> None:
    config = BokehNetConfig()
    print(
        f"\nBokehNet inference (default config: dim {config.dim}, {config.blocks} blocks, "
        f"stride {config.stride}; untrained weights)"
    )
    print(
        f"{'device':>6} {'frame':>6} {'s/frame':>8} {'FPS':>7} {'peak GiB':>9} "
        f"{'state KiB':>10} {'memory MiB':>11}"
    )
    for resolution in VIDEO if not quick else ("720p",):
        out = subprocess.run(
            [sys.executable, __file__, "--model-run", resolution, "--device", device.type,
             "--threads", str(torch.get_num_threads())],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{device.type:>6} {resolution:>6} {row['seconds']:>8.2f} {row['fps']:>7.2f} "
            f"{row['peak_gib']:>9.2f} {row['state_kib']:>10.0f} {row['memory_mib']:>11.1f}"
        )
    print("BokehFlow's claim: 23 FPS at 720p and 1.8 GB at 1080p on a 4 GB-class GPU.")


def gap_config(folder: Path, args: argparse.Namespace, epochs: int, scenes: int) -> BokehConfig:
    """The demo's training run with the gap options of the command line applied."""
    config = demo_config(folder, epochs=epochs, validation_count=args.validation_scenes)
    assert config.synthetic is not None
    trainer = config.trainer.model_dump()
    if args.warmup_steps is not None:
        trainer["scheduler"]["warmup_steps"] = args.warmup_steps
    trainer_overrides = {"learning_rate": args.learning_rate, "seed": args.seed}
    trainer |= {name: value for name, value in trainer_overrides.items() if value is not None}
    overrides = {"batch_size": args.batch_size, "depth_weight": args.depth_weight}
    model = {
        name: yaml.safe_load(value)
        for name, value in (setting.split("=", 1) for setting in args.model)
    }
    return config.model_copy(
        update={
            "synthetic": config.synthetic.model_copy(update={"train_count": scenes}),
            "model": BokehNetConfig.model_validate(config.model.model_dump() | model),
            "trainer": TrainerConfig.model_validate(trainer),
            "clips": None if args.single_frame else config.clips,
            **{name: value for name, value in overrides.items() if value is not None},
        }
    )


def bench_depth_gap(device: torch.device, args: argparse.Namespace) -> None:
    """Train the demo's BokehNet for each (training scenes, epochs) of ``args`` and score the
    last weights and the best on validation (``best.pt``) on the held-out scenes."""
    held_out = SyntheticBokehDataset(DEMO_SCENES, args.held_out, seed=2_000_000)
    shown = gap_config(Path("unused"), args, epochs=1, scenes=1)
    print(
        f"\nDepth gap: PSNR (dB) vs the layered target on {args.held_out} held-out demo scenes "
        f"(batch {shown.batch_size}, lr {shown.trainer.learning_rate:g}, depth weight "
        f"{shown.depth_weight:g}, seed {shown.trainer.seed}, "
        f"warmup {shown.trainer.scheduler.warmup_steps} steps, "
        f"{'single frames' if args.single_frame else 'clips'}, "
        f"model {' '.join(args.model) or 'as the demo'}, "
        f"{args.validation_scenes} validation scenes)"
    )
    header = ("scenes", "epochs", "weights", "CPU min", "identity", "output", "render", "true")
    widths = (6, 6, 9, 7, 8, 7, 7, 7, 5)
    print(" ".join(f"{n:>{w}}" for n, w in zip((*header, "gap"), widths, strict=True)))
    epochs_list = (8,) if args.quick else args.epochs
    for scenes, epochs in itertools.product(args.train_scenes, epochs_list):
        kept = None if args.keep is None else str(args.keep / f"{scenes}x{epochs}")
        with TemporaryDirectory() if kept is None else nullcontext(kept) as folder:
            start = time.process_time()
            run = train(gap_config(Path(folder), args, epochs, scenes))
            minutes = (time.process_time() - start) / 60
            history = [row for row in run.result.history if "val_psnr" in row]
            best_epoch = max(history, key=lambda row: row["val_psnr"])["epoch"] if history else 0
            models = {"last": run.model}
            if run.result.best_checkpoint is not None:
                models[f"best@{best_epoch}"] = load_bokeh_model(run.result.best_checkpoint)
            for name, model in models.items():
                items = (held_out[index] for index in range(len(held_out)))
                row = evaluate_model(model, items, device=device)["all"]
                true, render = row["psnr_render_true_depth"], row["psnr_render"]
                print(
                    f"{scenes:>6} {epochs:>6} {name:>9} {minutes:>7.1f} "
                    f"{row['psnr_identity']:>8.2f} {row['psnr_output']:>7.2f} {render:>7.2f} "
                    f"{true:>7.2f} {true - render:>5.2f}",
                    flush=True,
                )
    print("Issue 10 asks for a gap of at most 1 dB; the headline test trains 8 epochs.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model-run", choices=list(VIDEO))
    parser.add_argument("--only", choices=["renderer", "gdn", "model", "gap"])
    gap = parser.add_argument_group("depth gap", "the training runs of the gap section")
    gap.add_argument("--epochs", type=int, nargs="+", default=[8, 32], help="one run each")
    gap.add_argument(
        "--train-scenes", type=int, nargs="+", default=[192], help="one run each (demo: 192)"
    )
    gap.add_argument("--batch-size", type=int, help="default: the demo's")
    gap.add_argument("--learning-rate", type=float, help="default: the demo's")
    gap.add_argument("--depth-weight", type=float, help="default: the demo's")
    gap.add_argument("--seed", type=int, help="trainer seed (default: the demo's)")
    gap.add_argument("--warmup-steps", type=int, help="linear LR warmup (default: the demo's)")
    gap.add_argument(
        "--model", nargs="+", default=[], metavar="FIELD=VALUE", help="BokehNet config fields"
    )
    gap.add_argument("--single-frame", action="store_true", help="no two-frame clips")
    gap.add_argument("--validation-scenes", type=int, default=16, help="choose best.pt on")
    gap.add_argument(
        "--held-out", type=int, default=256, help="held-out scenes scored (32: gap off by ≤0.5 dB)"
    )
    gap.add_argument("--keep", type=Path, help="keep each run's checkpoints under this folder")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.model_run:
        print(json.dumps(model_run(args.model_run, args.device)))
        return
    device = torch.device(args.device)
    print(f"device {device}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    benches = (
        ("renderer", bench_renderer),
        ("gdn", bench_gdn),
        ("model", bench_model),
        ("gap", lambda device, _: bench_depth_gap(device, args)),
    )
    for name, bench in benches:
        if args.only in (None, name):
            bench(device, args.quick)


if __name__ == "__main__":
    main()
