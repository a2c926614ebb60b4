"""The run manifest: what was run, on what, with which parameters, and what it wrote.

``manifest.json`` sits beside the outputs of :meth:`Pipeline.run_files` so that any output
can be traced back to its input (by SHA-256), the pipeline file (by SHA-256), the pixelwise
version and every step's node version and fully resolved parameters.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from pixelwise.io.atomic import write_text_atomic

MANIFEST_NAME = "manifest.json"


class StepRecord(BaseModel):
    """One step: its node, node version, parameters with defaults filled in, and time spent."""

    name: str
    node: str
    node_version: str
    params: dict[str, Any]
    seconds: float = Field(0.0, description="total over every input processed")


class InputRecord(BaseModel):
    """One processed input file and the outputs written for it."""

    path: str
    sha256: str
    shape: list[int]
    dtype: str
    outputs: dict[str, str] = Field(description="'step.output' -> file name in the output folder")
    seconds: dict[str, float] = Field(description="step name -> seconds spent on this input")


class Manifest(BaseModel):
    """Everything needed to reproduce or audit one :meth:`Pipeline.run_files` call."""

    pipeline: str
    pipeline_file: str | None
    pipeline_sha256: str | None
    pixelwise_version: str
    steps: list[StepRecord]
    inputs: list[InputRecord] = Field(default_factory=list)
    error: str | None = Field(None, description="why the run stopped early, if it did")

    def write(self, out_dir: str | Path) -> Path:
        """Write ``out_dir/manifest.json`` atomically and return its path."""
        target = Path(out_dir) / MANIFEST_NAME
        write_text_atomic(target, self.model_dump_json(indent=2) + "\n")
        return target


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's contents, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
