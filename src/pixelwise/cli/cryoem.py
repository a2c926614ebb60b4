"""``pixelwise cryoem``: simulate, train, denoise, evaluate, export, import and demo.

Heavy modules (torch, the app) are imported inside the commands so that ``pixelwise --help``
and the other command groups start quickly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pixelwise.cli.messages import print_line

app = typer.Typer(
    help="Cryo-EM micrograph denoising: paired or Noise2Noise (odd/even frames) training.",
    no_args_is_help=True,
)
console = Console(highlight=False)


@app.command("simulate")
def simulate_command(
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="data set folder")],
    count: Annotated[int, typer.Option("--count", "-n", help="micrographs")] = 8,
    size: Annotated[int, typer.Option(help="micrograph edge in pixels")] = 512,
    seed: Annotated[int, typer.Option(help="data-set seed")] = 0,
    dose: Annotated[float, typer.Option(help="total dose, e/Å²")] = 40.0,
    frames: Annotated[int, typer.Option(help="movie frames")] = 20,
    pixel_size: Annotated[float, typer.Option(help="Å per pixel")] = 1.0,
    voltage: Annotated[float, typer.Option(help="kV")] = 300.0,
    movies: Annotated[bool, typer.Option(help="write the movies too")] = True,
) -> None:
    """Simulate micrographs: noisy/, clean/, odd/, even/, movies/ (MRC) and STAR/CSV manifests."""
    from pixelwise.apps.cryoem.simulate import SimulationConfig, simulate_dataset
    from pixelwise.config import validate_config

    config = validate_config(
        SimulationConfig,
        {
            "shape": (size, size),
            "dose": dose,
            "frames": frames,
            "pixel_size": pixel_size,
            "voltage_kv": voltage,
        },
        "simulate options",
    )
    manifest = simulate_dataset(output_dir, config, count, seed=seed, movies=movies)
    console.print(f"wrote {count} micrographs into {output_dir} (manifest {manifest.name})")


@app.command("train")
def train_command(
    config: Annotated[Path, typer.Argument(help="YAML run config")],
    resume: Annotated[Path | None, typer.Option(help="continue from this checkpoint")] = None,
) -> None:
    """Train a denoiser; checkpoints (best.pt, last.pt) go to the config's output_dir."""
    from pixelwise.apps.cryoem.config import CryoConfig
    from pixelwise.apps.cryoem.train import train
    from pixelwise.engine import RichProgress, TrainingInterrupted
    from pixelwise.signals import terminate_as_interrupt

    run_config = CryoConfig.from_yaml(config)
    try:
        with terminate_as_interrupt():
            result = train(run_config, progress=RichProgress(), resume=resume)
    except TrainingInterrupted as interrupted:
        Console(stderr=True, highlight=False).print(f"interrupted: {interrupted}")
        raise typer.Exit(130) from None
    if result.last_checkpoint is None:  # a non-main torchrun process: rank 0 reports
        return
    console.print(
        f"trained {len(result.history)} epochs at precision {result.precision}; last: "
        + json.dumps(result.history[-1])
    )
    console.print(f"checkpoint: {result.last_checkpoint}")


@app.command("denoise")
def denoise_command(
    inputs: Annotated[list[Path], typer.Argument(metavar="IN...", help="MRC/TIFF/npy files")],
    output: Annotated[Path, typer.Option("--output", "-o", help="file, or folder for several")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", "-c", help="trained checkpoint")],
    patch_size: Annotated[
        int | None, typer.Option(help="inference window edge (memory); default 512")
    ] = None,
    dtype: Annotated[str, typer.Option(help="float32 or float16")] = "float32",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
) -> None:
    """Denoise micrographs or stacks of any size; MRC outputs keep the input header."""
    import time

    from pixelwise.apps.cryoem.denoise import denoise_files
    from pixelwise.engine import RichProgress
    from pixelwise.signals import terminate_as_interrupt

    started = time.perf_counter()

    def written_one(path: Path, done: int, total: int) -> None:
        console.print(f"[{done}/{total}] wrote {path} ({time.perf_counter() - started:.1f} s)")

    with terminate_as_interrupt():
        written = denoise_files(
            inputs,
            output,
            checkpoint,
            patch_size=patch_size,
            dtype=dtype,
            device=device,
            progress=RichProgress(),
            on_written=written_one,
        )
    console.print(f"denoised {len(written)} file(s)")


@app.command("evaluate")
def evaluate_command(
    checkpoints: Annotated[
        list[Path], typer.Option("--checkpoint", "-c", help="one or more checkpoints")
    ],
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="report folder")],
    input_path: Annotated[
        list[Path] | None, typer.Option("--input", help="test inputs (noisy or odd)")
    ] = None,
    target: Annotated[
        list[Path] | None, typer.Option("--target", help="test targets (clean or even)")
    ] = None,
    kind: Annotated[str, typer.Option(help="paired or n2n (for --input/--target)")] = "paired",
    patch_size: Annotated[int | None, typer.Option(help="inference window edge")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
) -> None:
    """Score checkpoints beside the noisy input and a tuned Gaussian; write report + JSON.

    Without --input/--target, the test and validation micrographs of the first checkpoint's
    own split are used.
    """
    from pixelwise.apps.cryoem.workflow import evaluate_checkpoints

    evaluation, report = evaluate_checkpoints(
        checkpoints,
        output_dir,
        inputs=input_path or [],
        targets=target or [],
        kind=kind,
        patch_size=patch_size,
        device=device,
    )
    for flag in evaluation.flags:
        print_line("note", f"red flag: {flag}")
    key = "pearson_r" if evaluation.has_clean else "split_half_r"
    for label, score in evaluation.scores.items():
        extra = f", PSNR {score['psnr_db']:.2f} dB" if evaluation.has_clean else ""
        console.print(f"{label}: r {score[key]:.4f}{extra}")
    console.print(f"report: {report}")


@app.command("export")
def export_command(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", "-c")],
    output: Annotated[Path, typer.Option("--output", "-o", help=".safetensors, .bin or .onnx")],
    layout: Annotated[str, typer.Option(help="raw: OIHW or HWIO")] = "OIHW",
    order: Annotated[str, typer.Option(help="raw: C or F element order")] = "C",
    dtype: Annotated[str, typer.Option(help="raw: float32, float16 or float64")] = "float32",
) -> None:
    """Export the network: safetensors, raw bytes with a layout sidecar, or ONNX."""
    from pixelwise.apps.cryoem.exchange import export_weights
    from pixelwise.errors import ConfigError

    if layout not in ("OIHW", "HWIO") or order not in ("C", "F"):
        raise ConfigError(f"layout must be OIHW or HWIO and order C or F, got {layout}, {order}")
    done = export_weights(
        checkpoint,
        output,
        layout="HWIO" if layout == "HWIO" else "OIHW",
        order="F" if order == "F" else "C",
        dtype=dtype,
    )
    console.print(json.dumps(done))


@app.command("import")
def import_command(
    weights: Annotated[Path, typer.Argument(help=".safetensors, or raw .bin with .bin.json")],
    output: Annotated[Path, typer.Option("--output", "-o", help="checkpoint to write")],
) -> None:
    """Import weights after the known-answer self-check; write a checkpoint denoise accepts."""
    from pixelwise.apps.cryoem.exchange import import_weights

    done = import_weights(weights, output)
    if done["flag"]:
        print_line("note", f"red flag: {done['flag']}")
    console.print(
        f"self-check passed; reference r = {done['reference_r']:.3f}; wrote {done['checkpoint']}"
    )


@app.command("demo")
def demo_command(
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o")] = Path("runs/cryoem-demo"),
    epochs: Annotated[int, typer.Option(help="training epochs (about 15 s each on 2 cores)")] = 12,
    size: Annotated[int, typer.Option(help="micrograph edge in pixels")] = 384,
) -> None:
    """Simulate, train a U-Net for a few minutes, denoise, evaluate and write the report."""
    from pixelwise.apps.cryoem.demo import DemoConfig, run_demo
    from pixelwise.config import validate_config
    from pixelwise.engine import RichProgress

    config = validate_config(DemoConfig, {"epochs": epochs, "size": size}, "demo options")
    summary = run_demo(output_dir, config, progress=RichProgress())
    for flag in summary["red_flags"]:
        print_line("note", f"red flag: {flag}")
    console.print(json.dumps({k: v for k, v in summary.items() if k != "red_flags"}, indent=2))
