"""``pixelwise seismic``: train, denoise and demo for seismic blind-spot denoising.

Heavy modules (torch, the app) are imported inside the commands so that ``pixelwise --help``
and the other command groups start quickly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Self-supervised (Noise2Void) denoising of seismic sections.", no_args_is_help=True
)
console = Console(highlight=False)


@app.command("train")
def train_command(
    config: Annotated[Path, typer.Argument(help="YAML run config (see README)")],
    resume: Annotated[Path | None, typer.Option(help="continue from this checkpoint")] = None,
) -> None:
    """Train a denoiser on noisy SEG-Y/npy sections; checkpoints go to the config's output_dir."""
    from pixelwise.apps.seismic import SeismicConfig, train
    from pixelwise.engine import RichProgress, TrainingInterrupted
    from pixelwise.signals import terminate_as_interrupt

    run_config = SeismicConfig.from_yaml(config)
    try:
        with terminate_as_interrupt():
            result = train(run_config, progress=RichProgress(), resume=resume)
    except TrainingInterrupted as interrupted:
        Console(stderr=True, highlight=False).print(f"interrupted: {interrupted}")
        raise typer.Exit(130) from None
    if result.last_checkpoint is None:  # a non-main torchrun process: rank 0 reports
        return
    last = result.history[-1]
    console.print(
        f"trained {len(result.history)} epochs at precision {result.precision}; last: "
        + json.dumps(last)
    )
    console.print(f"checkpoint: {result.last_checkpoint}")


@app.command("denoise")
def denoise_command(
    input_path: Annotated[Path, typer.Argument(metavar="IN", help="noisy .sgy/.segy/.npy")],
    output_path: Annotated[Path, typer.Argument(metavar="OUT", help="denoised .sgy/.segy/.npy")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", "-c", help="trained checkpoint")],
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="allow OUT to be IN (replaced atomically)")
    ] = False,
) -> None:
    """Denoise one section; a SEG-Y output keeps the input's headers."""
    from pixelwise.apps.seismic import denoise_file
    from pixelwise.errors import InputError
    from pixelwise.signals import terminate_as_interrupt

    if output_path.exists() and output_path.resolve() == input_path.resolve() and not overwrite:
        raise InputError(output_path, "is the input file; pass --overwrite to replace it")
    if output_path.is_dir():
        raise InputError(output_path, "is a directory; give the output file's name")
    with terminate_as_interrupt():
        denoise_file(input_path, output_path, checkpoint, device=device)
    console.print(f"wrote {output_path}")


@app.command("demo")
def demo_command(
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o")] = Path("runs/seismic-demo"),
    epochs: Annotated[int | None, typer.Option(help="override the demo's epoch count")] = None,
    masking: Annotated[str, typer.Option(help="tracewise or random")] = "tracewise",
) -> None:
    """Synthesise a noisy section, train briefly, denoise, and write figures and metrics."""
    from pixelwise.apps.seismic.demo import DemoConfig, run_demo
    from pixelwise.config import validate_config
    from pixelwise.engine import RichProgress

    overrides = {"masking": masking} | ({"epochs": epochs} if epochs is not None else {})
    config = validate_config(DemoConfig, overrides, "demo options")
    metrics = run_demo(output_dir, config, progress=RichProgress())
    console.print(
        f"SNR {metrics['snr_noisy_db']:.2f} dB -> {metrics['snr_denoised_db']:.2f} dB "
        f"(+{metrics['snr_gain_db']:.2f} dB) in {metrics['train_seconds']:.0f} s of training"
    )
    console.print(
        f"outputs in {output_dir}: denoised.sgy, before_after.png, difference.png, metrics.json"
    )
