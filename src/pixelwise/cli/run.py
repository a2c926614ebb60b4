"""``pixelwise run``: run a pipeline file (or a shipped example) on image files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pixelwise.cli.messages import print_line
from pixelwise.pipeline import list_example_pipelines, load_pipeline
from pixelwise.pipeline.manifest import MANIFEST_NAME
from pixelwise.signals import Interrupted

_PIPELINE_HELP = "pipeline file (YAML or JSON), or the name of a shipped example: " + ", ".join(
    list_example_pipelines()
)
_KEEP_GOING_HELP = (
    "continue past inputs that fail, record each failure in the manifest, and exit with "
    "status 1 at the end if any failed"
)


def run_command(
    pipeline: Annotated[str, typer.Argument(help=_PIPELINE_HELP)],
    inputs: Annotated[list[Path], typer.Argument(help="image files, or folders of images")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="folder for outputs and manifest")],
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    keep_going: Annotated[bool, typer.Option("--keep-going", help=_KEEP_GOING_HELP)] = False,
) -> None:
    """Run PIPELINE on each INPUT; write <stem>_<step> files and manifest.json to --out.

    Outputs never overwrite an input or a file that pixelwise did not write (such a run is
    refused before anything is written); reruns into the same folder add to its manifest.
    """
    loaded = load_pipeline(pipeline)
    try:
        run = loaded.run_files(inputs, out_dir, progress=progress, keep_going=keep_going)
    except Interrupted as interrupt:
        print_line("error", str(interrupt))
        raise SystemExit(128 + interrupt.signum) from None
    manifest = out_dir / MANIFEST_NAME
    written = sum(len(record.outputs) for record in run.inputs)
    Console(highlight=False).print(
        f"{loaded.name}: {len(run.inputs)} inputs, {written} files written to {out_dir} "
        f"(see {MANIFEST_NAME})",
        markup=False,
        soft_wrap=True,
    )
    notes = sum(len(record.notes) for record in run.inputs)
    notes += sum(len(failure.notes) for failure in run.failures)
    if notes:
        print_line("note", f"{manifest}: {notes} library warnings recorded there")
    if run.failures:
        for failure in run.failures:
            print_line("failed", failure.error)
        total = len(run.inputs) + len(run.failures)
        print_line(
            "error", f"{manifest}: {len(run.failures)} of {total} inputs failed (reasons there)"
        )
        raise typer.Exit(1)
