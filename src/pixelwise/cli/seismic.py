"""``pixelwise seismic``: train, denoise and demo for seismic blind-spot denoising.

Heavy modules (torch, the app) are imported inside the commands so that ``pixelwise --help``
and the other command groups start quickly.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Self-supervised (Noise2Void) denoising of seismic sections.", no_args_is_help=True
)
console = Console(highlight=False)


@contextlib.contextmanager
def _notes() -> Iterator[None]:
    """Print the warnings raised inside (segyio's, SEG-Y and seismic notes) as 'note:' lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            yield
        finally:
            errors = Console(stderr=True, highlight=False)
            for message in dict.fromkeys(str(w.message) for w in caught):
                errors.print(f"note: {message}", markup=False, soft_wrap=True)


@contextlib.contextmanager
def _output_folder(folder: Path) -> Iterator[None]:
    """Check the demo's ``folder`` before it starts and hold it for the block.

    A file of that name, a read-only folder or a folder that another run is writing to is
    refused at once (:func:`~pixelwise.io.atomic.locked_folder`). Under torchrun only the
    main process (rank 0) locks it.
    """
    import os

    from pixelwise.io.atomic import locked_folder

    if os.environ.get("RANK", "0") != "0":
        yield
        return
    with locked_folder(folder):
        yield


@contextlib.contextmanager
def _nothing_written(path: Path) -> Iterator[None]:
    """Name the output that Ctrl-C or SIGTERM left unwritten (no temporary file remains)."""
    from pixelwise.signals import Interrupted

    try:
        yield
    except Interrupted as interrupted:
        raise Interrupted(
            interrupted.signum,
            f"{path}: interrupted by {interrupted.signal_name}; nothing was written",
        ) from None


def _refuse_unwritable(path: Path) -> None:
    """Refuse before any work an output file whose folder cannot be created or written."""
    import os

    from pixelwise.errors import OutputError

    existing = next(folder for folder in path.parents if folder.exists())
    if not existing.is_dir():
        raise OutputError(existing, f"is not a folder, so {path} cannot be written")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(existing, "cannot write in this folder (read-only or not permitted)")


@app.command("train")
def train_command(
    config: Annotated[Path, typer.Argument(help="YAML run config (see README)")],
    resume: Annotated[Path | None, typer.Option(help="continue from this checkpoint")] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a config field: --set trainer.epochs=20"),
    ] = None,
) -> None:
    """Train a denoiser on noisy SEG-Y/npy sections; checkpoints go to the config's output_dir."""
    from pixelwise.apps.seismic import SeismicConfig, train
    from pixelwise.engine import RichProgress, TrainingInterrupted
    from pixelwise.signals import terminate_as_interrupt

    run_config = SeismicConfig.from_yaml(config, overrides or [])
    try:
        with terminate_as_interrupt(), _notes():  # Trainer.fit checks output_dir first
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
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", "-c", help="trained checkpoint (learned)")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    method: Annotated[
        str,
        typer.Option(help="learned, bandpass, fk, median, wavelet, trace_edit or chain"),
    ] = "learned",
    geometry: Annotated[
        str | None,
        typer.Option(help="file, inline, crossline, gather or volume (default: the checkpoint's)"),
    ] = None,
    gather_byte: Annotated[int, typer.Option(help="trace-header byte of the gather key")] = 9,
    dt: Annotated[
        float | None, typer.Option(help="sample interval in seconds (default: SEG-Y header)")
    ] = None,
    transpose: Annotated[
        bool, typer.Option("--transpose", help="the .npy is stored (n_traces, n_samples)")
    ] = False,
    sample_format: Annotated[
        int | None, typer.Option(help="SEG-Y sample format code of OUT (default: IN's)")
    ] = None,
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
    _refuse_unwritable(output_path)
    from rich.progress import Progress

    from pixelwise.apps.seismic.config import SectionConfig
    from pixelwise.apps.seismic.denoise import load_denoiser

    sections = None
    if geometry is not None:
        base = load_denoiser(checkpoint)[1].sections if checkpoint else SectionConfig()
        sections = base.model_copy(update={"geometry": geometry, "gather_byte": gather_byte})
        sections = SectionConfig.model_validate(sections.model_dump())
    errors = Console(stderr=True, highlight=False)
    with (
        _nothing_written(output_path),
        terminate_as_interrupt(),
        _notes(),
        Progress(console=errors, transient=True, disable=not errors.is_terminal) as bar,
    ):
        task = bar.add_task("denoising traces", total=None)
        denoise_file(
            input_path,
            output_path,
            checkpoint,
            device=device,
            method=method,
            sections=sections,
            dt=dt,
            transpose=transpose,
            sample_format=sample_format,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            return_result=False,
        )
    console.print(f"wrote {output_path}")


@app.command("demo")
def demo_command(
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o")] = Path("runs/seismic-demo"),
    epochs: Annotated[int | None, typer.Option(help="override the demo's epoch count")] = None,
    masking: Annotated[
        str, typer.Option(help="mixed (the default recipe), tracewise or random")
    ] = "mixed",
) -> None:
    """Synthesise a noisy section, train briefly, denoise, and write figures and metrics."""
    from pixelwise.apps.seismic.demo import DemoConfig, run_demo
    from pixelwise.config import validate_config
    from pixelwise.engine import RichProgress

    overrides = {"masking": masking} | ({"epochs": epochs} if epochs is not None else {})
    config = validate_config(DemoConfig, overrides, "demo options")
    with _output_folder(output_dir), _notes():
        metrics = run_demo(output_dir, config, progress=RichProgress())
    console.print(
        f"SNR {metrics['snr_noisy_db']:.2f} dB -> {metrics['snr_denoised_db']:.2f} dB "
        f"(+{metrics['snr_gain_db']:.2f} dB) in {metrics['train_seconds']:.0f} s of training"
    )
    console.print(
        f"best classical baseline: {metrics['best_classical']} at "
        f"{metrics['snr_best_classical_db']:.2f} dB"
    )
    console.print(
        f"outputs in {output_dir}: denoised.sgy, before_after.png, difference.png, metrics.json"
    )
