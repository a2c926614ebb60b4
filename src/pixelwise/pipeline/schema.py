"""The pipeline file format: what a pipeline YAML or JSON file may contain, and how it is parsed.

A pipeline file looks like::

    name: denoise-then-sharpen
    description: optional free text
    steps:
      - name: denoise            # optional, defaults to the node name
        node: bm3d
        params: {sigma: 0.05}
      - node: unsharp_mask       # takes the image of the closest previous image step
    outputs: [denoise, unsharp_mask.image]   # optional, default: the last step's outputs

Files are parsed with :func:`pixelwise.config.parse_yaml` (JSON is valid YAML; a safe loader),
so tags that would build Python objects are rejected rather than executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pixelwise.config import Lines, Location, line_prefix, parse_yaml, validation_problems
from pixelwise.errors import ConfigError

PIPELINE_INPUT = "input"
"""The name by which steps refer to the pipeline's own input image."""

STEP_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_-]*$"


class PipelineConfigError(ConfigError):
    """A pipeline file failed validation; ``problems`` lists every problem found."""

    def __init__(self, source: str | Path, problems: list[str]) -> None:
        self.source = str(source)
        self.problems = list(problems)
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        listed = " ".join(f"({number}) {problem}" for number, problem in enumerate(problems, 1))
        super().__init__(f"{self.source}: {count}: {listed}")


class StepSpec(BaseModel):
    """One step: a node, its parameters, and where its inputs come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=STEP_NAME_PATTERN,
        description="unique step name (letters, digits, '_' and '-'); defaults to the node name",
    )
    node: str = Field(min_length=1, description="registered node name")
    params: dict[str, Any] = Field(default_factory=dict, description="node parameters")
    inputs: dict[str, str] = Field(
        default_factory=dict,
        description="node input name -> 'step', 'step.output' or 'input'",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" not in data and isinstance(data.get("node"), str):
            return {**data, "name": data["node"]}
        return data


class PipelineSpec(BaseModel):
    """A whole pipeline file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    steps: list[StepSpec] = Field(min_length=1)
    outputs: list[str] | None = Field(
        default=None, description="'step' or 'step.output' entries to write; default: last step"
    )


def _location(loc: Location) -> str:
    """``('steps', 2, 'params')`` -> ``"step 3: params"``; other locations joined with dots."""
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        rest = _location(loc[2:])
        return f"step {loc[1] + 1}" + (f": {rest}" if rest else "")
    return ".".join(str(part) for part in loc)


def pipeline_problems(error: ValidationError, lines: Lines) -> list[str]:
    """One line per problem in ``error``, led by its line in the file (if known) and step."""
    return validation_problems(
        error, lambda loc: (line_prefix(lines, loc) + _location(loc)).removesuffix(": ")
    )


def read_pipeline_file(path: str | Path) -> tuple[Any, bytes, Lines]:
    """Read and parse the pipeline file at ``path``; return the data, raw bytes and lines."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: pipeline file not found") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read pipeline file: {error.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: pipeline file is not UTF-8 text") from None
    data, lines = parse_yaml(text, path)
    return data, raw, lines
