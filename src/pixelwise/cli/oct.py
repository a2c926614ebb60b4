"""``pixelwise oct``: retinal layer segmentation (ILM/BM) of OCT B-scans.

Heavy modules (torch, the app) are imported inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="OCT retinal layer segmentation: 3-class U-Net, sub-pixel ILM/BM rows per column.",
    no_args_is_help=True,
)
console = Console(highlight=False)


@app.command("simulate")
def simulate_command(
    output: Annotated[Path, typer.Argument(help="HDF5 file to write")],
    count: Annotated[int, typer.Option(help="number of B-scans")] = 16,
    seed: Annotated[int, typer.Option()] = 0,
    height: Annotated[int, typer.Option()] = 496,
    width: Annotated[int, typer.Option()] = 768,
    drusen: Annotated[float, typer.Option(help="probability of drusen per scan")] = 0.3,
    fluid: Annotated[float, typer.Option(help="probability of a fluid pocket per scan")] = 0.0,
) -> None:
    """Write synthetic B-scans with exact ILM/BM rows in the HDF5 layout."""
    from pixelwise.apps.oct.layout import write_oct
    from pixelwise.apps.oct.phantom import PhantomConfig, simulate
    from pixelwise.config import validate_config

    phantom = validate_config(
        PhantomConfig,
        {
            "height": height,
            "width": width,
            "drusen_probability": drusen,
            "fluid_probability": fluid,
        },
        "simulate options",
    )
    write_oct(output, simulate(phantom, count, seed))
    console.print(f"wrote {count} B-scans ({height} x {width}) to {output}")


@app.command("convert")
def convert_command(
    inputs: Annotated[
        list[Path], typer.Argument(help=".mat/.vol/.e2e/.xml/.h5 files or image folders")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="HDF5 file to write")],
    layers: Annotated[
        str | None, typer.Option(help="Duke .mat layer array, e.g. manualLayers2")
    ] = None,
    index_base: Annotated[
        int, typer.Option(help="first row number in .mat annotations (MATLAB: 1)")
    ] = 1,
    annotated_only: Annotated[bool, typer.Option(help="keep only annotated B-scans")] = False,
    scale_axial: Annotated[
        float | None, typer.Option(help="µm per row, if the file lacks it")
    ] = None,
    scale_lateral: Annotated[float | None, typer.Option(help="µm per column")] = None,
) -> None:
    """Convert OCT inputs (stacked when several) into one HDF5 file of the native layout."""
    from pixelwise.apps.oct import convert
    from pixelwise.apps.oct.layout import OctData, stack, write_oct

    parts = []
    for path in inputs:
        options = (
            {"layers": layers, "index_base": index_base} if path.suffix.lower() == ".mat" else {}
        )
        parts.append(convert.read_any(path, **options))
    data = stack(parts, str(output)) if len(parts) > 1 else parts[0]
    if annotated_only:
        data = convert.annotated_only(data)
    data = OctData(
        data.bscans,
        data.boundaries,
        scale_axial if scale_axial is not None else data.scale_axial_um,
        scale_lateral if scale_lateral is not None else data.scale_lateral_um,
        data.names,
        ", ".join(str(path) for path in inputs),
    )
    write_oct(output, data)
    annotated = "no boundaries" if data.boundaries is None else "with ILM/BM boundaries"
    console.print(f"wrote {data.shape[0]} B-scans {data.shape[1:]} {annotated} to {output}")


@app.command("train")
def train_command(
    data: Annotated[
        list[Path] | None, typer.Argument(help="training HDF5 files (layout with /boundaries)")
    ] = None,
    profile: Annotated[str | None, typer.Option(help="cpu, gpu-4gb or gpu-80gb")] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML run config instead of a profile")
    ] = None,
    output_dir: Annotated[Path | None, typer.Option("--output-dir", "-o")] = None,
    validation: Annotated[list[Path] | None, typer.Option(help="held-out HDF5 files")] = None,
    epochs: Annotated[int | None, typer.Option(help="override trainer.epochs")] = None,
    resume: Annotated[Path | None, typer.Option(help="continue from this checkpoint")] = None,
) -> None:
    """Train the 3-class U-Net; checkpoints go to the output folder."""
    from pixelwise.apps.oct.config import run_config
    from pixelwise.apps.oct.train import train
    from pixelwise.engine import RichProgress, TrainingInterrupted
    from pixelwise.signals import terminate_as_interrupt

    overrides: dict = {}
    if data:
        overrides["data"] = {"train": [str(p.resolve()) for p in data]}
    if validation:
        overrides.setdefault("data", {})["validation"] = [str(p.resolve()) for p in validation]
    if output_dir is not None:
        overrides["output_dir"] = str(output_dir.resolve())
    if epochs is not None:
        overrides["trainer"] = {"epochs": epochs}
    if profile is None and config is None:
        profile = "cpu"
    run = run_config(profile=profile, config=config, overrides=overrides)
    try:
        with terminate_as_interrupt():
            result = train(run, progress=RichProgress(), resume=resume)
    except TrainingInterrupted as interrupted:
        Console(stderr=True, highlight=False).print(f"interrupted: {interrupted}")
        raise typer.Exit(130) from None
    if result.last_checkpoint is None:
        return
    console.print(f"trained {len(result.history)} epochs at precision {result.precision}")
    console.print("last: " + json.dumps(result.history[-1]))
    console.print(f"checkpoints: {result.last_checkpoint} (best: {result.best_checkpoint})")


@app.command("predict")
def predict_command(
    input_path: Annotated[
        Path, typer.Argument(metavar="IN", help="HDF5, .mat, .vol/.e2e/.xml, image or folder")
    ],
    output_path: Annotated[Path, typer.Argument(metavar="OUT", help="HDF5 output")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", "-c")],
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
) -> None:
    """Segment B-scans: OUT mirrors IN and adds masks, confidence, ILM/BM rows and a summary."""
    from pixelwise.apps.oct.predict import predict_file
    from pixelwise.signals import terminate_as_interrupt

    with terminate_as_interrupt():
        summary = predict_file(input_path, output_path, checkpoint, device=device)
    console.print(
        f"wrote {output_path}: {len(summary['scans'])} B-scans, mean confidence "
        f"{summary['mean_confidence']:.3f}"
    )


@app.command("evaluate")
def evaluate_command(
    input_path: Annotated[
        Path, typer.Argument(metavar="IN", help="prediction HDF5 (or annotated HDF5 with -c)")
    ],
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o")],
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", "-c")] = None,
    device: Annotated[str, typer.Option()] = "auto",
) -> None:
    """Dice per class, boundary errors (px, µm) and an HTML report with overlays."""
    from pixelwise.apps.oct.evaluate import evaluate_file

    metrics = evaluate_file(input_path, output_dir, checkpoint=checkpoint, device=device)
    console.print(
        f"retina Dice {metrics['dice_retina']:.4f}, ILM MAE {metrics['ilm_mae_px']:.3f} px, "
        f"BM MAE {metrics['bm_mae_px']:.3f} px; report: {output_dir / 'report.html'}"
    )


@app.command("demo")
def demo_command(
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o")] = Path("runs/oct-demo"),
    epochs: Annotated[int | None, typer.Option(help="override the demo's epoch count")] = None,
) -> None:
    """Simulate phantoms, train on the CPU for minutes, predict and evaluate held-out scans."""
    from pixelwise.apps.oct.demo import OctDemoConfig, run_demo
    from pixelwise.config import validate_config
    from pixelwise.engine import RichProgress

    config = validate_config(OctDemoConfig, {"epochs": epochs} if epochs else {}, "demo options")
    metrics = run_demo(output_dir, config, progress=RichProgress())
    base = metrics["baseline"]
    console.print(
        f"held-out: retina Dice {metrics['dice_retina']:.4f} "
        f"(classical {base['dice_retina']:.4f}), "
        f"ILM MAE {metrics['ilm_mae_px']:.3f} px ({base['ilm_mae_px']:.3f}), "
        f"BM MAE {metrics['bm_mae_px']:.3f} px ({base['bm_mae_px']:.3f}); "
        f"{metrics['train_seconds']:.0f} s of training"
    )
    console.print(f"outputs in {output_dir}: report.html, metrics.json, predictions.h5")
