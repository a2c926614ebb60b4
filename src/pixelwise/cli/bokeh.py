"""``pixelwise bokeh``: physically based depth of field for photos and video.

``render`` needs no learning (RGB + depth or disparity, thin-lens camera settings);
``train``, ``evaluate`` and ``video`` use BokehNet, which predicts depth itself; ``demo``
renders scikit-image's Middlebury motorcycle and trains a small BokehNet on synthetic
scenes. Heavy modules are imported inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Depth of field: thin-lens rendering and BokehNet.", no_args_is_help=True)
console = Console(highlight=False)

FNumber = Annotated[float, typer.Option("--f-number", "-N", help="f-number, e.g. 1.8")]
Focal = Annotated[float, typer.Option("--focal-length", "-f", help="focal length in mm")]
Focus = Annotated[float, typer.Option("--focus", help="focus distance in metres")]
Sensor = Annotated[float, typer.Option("--sensor-width", help="sensor width in mm")]


def _camera(f_number: float, focal_length: float, focus: float, sensor_width: float):  # type: ignore[no-untyped-def]
    from pixelwise.apps.bokeh.lens import Camera
    from pixelwise.config import validate_config

    return validate_config(
        Camera,
        {
            "f_number": f_number,
            "focal_length_mm": focal_length,
            "focus_m": focus,
            "sensor_width_mm": sensor_width,
        },
        "camera options",
    )


@app.command("render")
def render_command(
    image: Annotated[Path, typer.Argument(help="sharp RGB photograph (PNG, JPEG, TIFF)")],
    depth: Annotated[
        Path, typer.Option("--depth", "-d", help="depth (.npy/.exr/.png/.tif) in metres")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="rendered image")],
    f_number: FNumber = 1.8,
    focal_length: Focal = 50.0,
    focus: Focus = 2.0,
    sensor_width: Sensor = 36.0,
    depth_scale: Annotated[
        float | None, typer.Option(help="metres per stored unit (default: 0.001 for integer files)")
    ] = None,
    disparity: Annotated[
        bool, typer.Option("--disparity", help="DEPTH holds disparity in pixels")
    ] = False,
    baseline_mm: Annotated[
        float | None, typer.Option(help="stereo baseline (with --disparity)")
    ] = None,
    focal_px: Annotated[
        float | None, typer.Option(help="focal length in pixels (with --disparity)")
    ] = None,
    doffs: Annotated[
        float, typer.Option(help="disparity offset in pixels (Middlebury doffs)")
    ] = 0.0,
    highlight_gain: Annotated[
        float, typer.Option(help="expand clipped highlights to this (1: off)")
    ] = 3.0,
    layer_step: Annotated[float, typer.Option(help="CoC step between depth layers, pixels")] = 1.0,
) -> None:
    """Render thin-lens depth of field for IMAGE with metric depth (or disparity)."""
    from pixelwise.apps.bokeh.depth import read_depth
    from pixelwise.apps.bokeh.photo import render_file
    from pixelwise.apps.bokeh.render import RenderSettings
    from pixelwise.config import validate_config
    from pixelwise.engine import RichProgress
    from pixelwise.signals import terminate_as_interrupt

    camera = _camera(f_number, focal_length, focus, sensor_width)
    settings = validate_config(
        RenderSettings,
        {"highlight_gain": highlight_gain, "layer_step_px": layer_step},
        "render options",
    )
    metres = read_depth(
        depth,
        scale=depth_scale,
        disparity=disparity,
        baseline_mm=baseline_mm,
        focal_px=focal_px,
        doffs_px=doffs,
    )
    with terminate_as_interrupt():
        render_file(
            image, metres, output, camera, settings, depth_source=depth, progress=RichProgress()
        )
    console.print(f"wrote {output} (depth {metres.min():.3g}–{metres.max():.3g} m)")


@app.command("train")
def train_command(config: Annotated[Path, typer.Argument(help="YAML run config")]) -> None:
    """Train BokehNet (synthetic scenes or a RealBokeh folder); checkpoints go to output_dir."""
    from pixelwise.apps.bokeh.config import BokehConfig
    from pixelwise.apps.bokeh.train import train
    from pixelwise.engine import RichProgress, TrainingInterrupted
    from pixelwise.signals import terminate_as_interrupt

    run_config = BokehConfig.from_yaml(config)
    try:
        with terminate_as_interrupt():
            run = train(run_config, progress=RichProgress())
    except TrainingInterrupted as interrupted:
        Console(stderr=True, highlight=False).print(f"interrupted: {interrupted}")
        raise typer.Exit(130) from None
    console.print(f"last epoch: {json.dumps(run.result.history[-1])}")
    console.print(f"checkpoint: {run.result.last_checkpoint}")


@app.command("evaluate")
def evaluate_command(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", "-c")],
    report: Annotated[Path, typer.Option("--report", "-o", help="HTML report")] = Path(
        "bokeh-report.html"
    ),
    data: Annotated[
        Path | None, typer.Option(help="RealBokeh folder; default: synthetic scenes")
    ] = None,
    split: str = "test",
    size: Annotated[tuple[int, int] | None, typer.Option(help="resize to HEIGHT WIDTH")] = None,
    scenes: Annotated[int, typer.Option(help="held-out synthetic scenes")] = 32,
) -> None:
    """PSNR/SSIM per f-number against the identity baseline, and an HTML report with crops."""
    from pixelwise.apps.bokeh.config import BokehConfig, SyntheticData
    from pixelwise.apps.bokeh.evaluate import evaluate_model
    from pixelwise.apps.bokeh.realbokeh import RealBokehDataset
    from pixelwise.apps.bokeh.scenes import SyntheticBokehDataset
    from pixelwise.apps.bokeh.train import APP, load_bokeh_model
    from pixelwise.engine import load_checkpoint

    model = load_bokeh_model(checkpoint)
    dataset: RealBokehDataset | SyntheticBokehDataset
    if data is not None:
        dataset = RealBokehDataset(data, split, size)
    else:
        config = BokehConfig.model_validate(load_checkpoint(checkpoint, APP).app_config)
        synthetic = config.synthetic or SyntheticData()
        depth = config.model.max_depth_m
        dataset = SyntheticBokehDataset(synthetic.scenes, scenes, seed=2_000_000, max_depth_m=depth)
    items = (dataset[index] for index in range(len(dataset)))
    table = evaluate_model(model, items, report_path=report)
    for row, values in table.items():
        console.print(f"{row}: " + "  ".join(f"{k}={v:.4g}" for k, v in values.items()))
    console.print(f"report: {report}")


@app.command("video")
def video_command(
    source: Annotated[Path, typer.Argument(help="video file or folder of frames")],
    output: Annotated[Path, typer.Option("--output", "-o", help="video file or folder")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", "-c")],
    f_number: FNumber = 1.8,
    focal_length: Focal = 50.0,
    focus: Focus = 2.0,
    sensor_width: Sensor = 36.0,
    propagate: Annotated[
        bool, typer.Option(help="carry the scan states and the depth memory frame to frame")
    ] = True,
) -> None:
    """Render depth of field on every frame with BokehNet (state carried between frames, so
    the blur of a still shot does not flicker)."""
    from pixelwise.apps.bokeh.inference import render_frames
    from pixelwise.apps.bokeh.train import load_bokeh_model
    from pixelwise.apps.bokeh.video import read_frames, video_rate, write_frames
    from pixelwise.signals import terminate_as_interrupt

    camera = _camera(f_number, focal_length, focus, sensor_width)
    model = load_bokeh_model(checkpoint)
    with terminate_as_interrupt():
        count = write_frames(
            output,
            render_frames(model, read_frames(source), camera, propagate=propagate),
            fps=video_rate(source),
        )
    console.print(f"wrote {count} frames to {output}")


@app.command("demo")
def demo_command(
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o")] = Path("runs/bokeh-demo"),
    epochs: Annotated[int, typer.Option(help="BokehNet training epochs on synthetic scenes")] = 8,
) -> None:
    """Render the Middlebury motorcycle at several f-numbers, train a small BokehNet, report."""
    from pixelwise.apps.bokeh.demo import run_demo
    from pixelwise.engine import RichProgress

    metrics = run_demo(output_dir, epochs=epochs, progress=RichProgress())
    console.print(json.dumps(metrics, indent=2))
    console.print(f"outputs in {output_dir}")
