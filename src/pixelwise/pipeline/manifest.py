"""The run manifest: what was run, on what, with which parameters, and what it wrote.

``manifest.json`` sits beside the outputs of :meth:`Pipeline.run_files` so that any output
can be traced back to its input (by SHA-256), the pipeline file (by SHA-256), the pixelwise
version and every step's node version and fully resolved parameters.

A folder may receive several runs: ``runs`` lists every one in order, each with its own
inputs, outputs, failures, parameters and timings, and ``files`` maps every output file the
folder holds from pixelwise to the run, input and step output that last wrote it (an output
rewritten by a later run belongs to that run). A run's ``status`` is ``running`` while it
works (a manifest left so belongs to a process that was killed), then ``completed``,
``completed_with_failures`` (``--keep-going``), ``failed`` or ``interrupted`` (with the
``signal``); ``unprocessed`` lists the inputs a stopped run did not get to.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, computed_field, model_validator

from pixelwise.config import validation_problems
from pixelwise.errors import InputError, OutputError
from pixelwise.io.atomic import describe_os_error, write_text_atomic

MANIFEST_NAME = "manifest.json"

RunStatus = Literal["running", "completed", "completed_with_failures", "failed", "interrupted"]


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
    notes: list[str] = Field(
        default_factory=list, description="warnings the libraries raised on this input"
    )


class FailureRecord(BaseModel):
    """One input that failed: why (one line), and the warnings raised before it failed."""

    path: str
    error: str
    notes: list[str] = Field(default_factory=list)


class RunRecord(BaseModel):
    """Everything needed to reproduce or audit one :meth:`Pipeline.run_files` call."""

    pipeline: str
    pipeline_file: str | None
    pipeline_sha256: str | None
    pixelwise_version: str
    status: RunStatus
    signal: str | None = Field(None, description="the signal that interrupted the run")
    error: str | None = Field(None, description="why the run stopped early, if it did")
    started: str | None = Field(None, description="UTC, ISO 8601; absent in old manifests")
    finished: str | None = None
    seconds: float | None = Field(None, description="wall-clock duration of the whole run")
    steps: list[StepRecord]
    inputs: list[InputRecord] = Field(default_factory=list)
    failures: list[FailureRecord] = Field(default_factory=list)
    unprocessed: list[str] = Field(
        default_factory=list, description="inputs not reached because the run stopped"
    )


class OutputRecord(BaseModel):
    """Which run (1-based position in ``runs``), input and step output wrote a file."""

    run: int
    input: str
    output: str


class Manifest(BaseModel):
    """Every pixelwise run into one output folder, and which of them wrote each file there."""

    runs: list[RunRecord] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _single_run_format(cls, data: Any) -> Any:
        """Read a manifest of the earlier format, which described one run, as a list of one."""
        if isinstance(data, dict) and "runs" not in data and "steps" in data:
            status = "completed" if data.get("error") is None else "failed"
            return {"runs": [{**data, "status": status}]}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def files(self) -> dict[str, OutputRecord]:
        """File name -> the run, input and output that wrote it last."""
        files = {}
        for number, run in enumerate(self.runs, 1):
            for record in run.inputs:
                for output, name in record.outputs.items():
                    files[name] = OutputRecord(run=number, input=record.path, output=output)
        return files

    @classmethod
    def read(cls, out_dir: str | Path) -> Manifest:
        """The manifest in ``out_dir``, or an empty one if there is none.

        Raises :class:`~pixelwise.errors.OutputError` if ``manifest.json`` cannot be read or
        is not a pixelwise manifest: it is never replaced by a new one.
        """
        path = Path(out_dir) / MANIFEST_NAME
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls()
        except OSError as error:
            raise OutputError(path, f"cannot read: {describe_os_error(error)}") from None
        try:
            return cls.model_validate_json(raw)
        except ValidationError as error:
            problem = validation_problems(error)[0]
            raise OutputError(
                path,
                f"is not a pixelwise manifest ({problem}); move it away or write to another folder",
            ) from None

    def write(self, out_dir: str | Path) -> Path:
        """Write ``out_dir/manifest.json`` atomically and return its path."""
        target = Path(out_dir) / MANIFEST_NAME
        write_text_atomic(target, self.model_dump_json(indent=2) + "\n")
        return target


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's contents, read in chunks; InputError if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as error:
        raise InputError(path, f"cannot read: {describe_os_error(error)}") from None
    return digest.hexdigest()
