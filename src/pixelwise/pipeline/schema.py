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

Files are parsed with ``yaml.safe_load`` (JSON is valid YAML), so tags that would build
Python objects are rejected rather than executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pixelwise.config import Location, validation_problems
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


Lines = dict[Location, int]
"""The 1-based line in the pipeline file of each location that YAML gave a position."""


def line_numbers(text: str) -> Lines:
    """The line of every mapping value and list item in valid YAML ``text``, by location."""
    lines: Lines = {}
    seen: set[int] = set()  # aliases can make the node graph cyclic

    def visit(node: yaml.Node, location: Location, line: int) -> None:
        lines.setdefault(location, line)
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    visit(value, (*location, key.value), key.start_mark.line + 1)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                visit(item, (*location, index), item.start_mark.line + 1)

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        visit(root, (), root.start_mark.line + 1)
    return lines


def line_prefix(lines: Lines, location: Location) -> str:
    """``"line N: "`` for the closest enclosing ``location`` with a known line, else ``""``."""
    for end in range(len(location), -1, -1):
        if location[:end] in lines:
            return f"line {lines[location[:end]]}: "
    return ""


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


def parse_pipeline_text(text: str, source: str | Path) -> tuple[Any, Lines]:
    """Parse YAML or JSON ``text`` with ``yaml.safe_load``; return the data and its lines.

    Syntax errors become a ConfigError with the line and column.
    """
    try:
        return yaml.safe_load(text), line_numbers(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{source}: invalid YAML: {where}{error.problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {error}") from None


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
    data, lines = parse_pipeline_text(text, path)
    return data, raw, lines
