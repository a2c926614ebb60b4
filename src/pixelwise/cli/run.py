"""``pixelwise run``: run a pipeline file (or a shipped example) on image files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pixelwise.pipeline import list_example_pipelines, load_pipeline

_PIPELINE_HELP = "pipeline file (YAML or JSON), or the name of a shipped example: " + ", ".join(
    list_example_pipelines()
)


def run_command(
    pipeline: Annotated[str, typer.Argument(help=_PIPELINE_HELP)],
    inputs: Annotated[list[Path], typer.Argument(help="image files, or folders of images")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="folder for outputs and manifest")],
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Run PIPELINE on each INPUT; write <stem>_<step> files and manifest.json to --out."""
    loaded = load_pipeline(pipeline)
    manifest = loaded.run_files(inputs, out_dir, progress=progress)
    written = sum(len(record.outputs) for record in manifest.inputs)
    Console().print(
        f"{loaded.name}: {len(manifest.inputs)} inputs, {written} files written to {out_dir} "
        "(see manifest.json)"
    )
