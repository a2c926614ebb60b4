"""The catalog of example pipelines shipped in ``examples/``, and pipeline name resolution."""

from __future__ import annotations

import difflib
from pathlib import Path

from pixelwise.errors import ConfigError

EXAMPLES_DIR = Path(__file__).with_name("examples")


def list_example_pipelines() -> list[str]:
    """Names of the shipped example pipelines (file stems), sorted."""
    return sorted(path.stem for path in EXAMPLES_DIR.glob("*.yaml"))


def example_pipeline_path(name: str) -> Path:
    """Path of the shipped example pipeline ``name`` (with or without ``.yaml``)."""
    stem = name.removesuffix(".yaml")
    examples = list_example_pipelines()
    if stem not in examples:
        close = difflib.get_close_matches(stem, examples, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"unknown example pipeline '{name}'{hint} (examples: {', '.join(examples)})"
        )
    return EXAMPLES_DIR / f"{stem}.yaml"


def resolve_pipeline_path(pipeline: str | Path) -> Path:
    """An existing pipeline file, else the shipped example of that name, else a ConfigError."""
    path = Path(pipeline)
    if path.is_file():
        return path
    if str(pipeline).removesuffix(".yaml") in list_example_pipelines():
        return example_pipeline_path(str(pipeline))
    raise ConfigError(
        f"{path}: no such pipeline file, nor a shipped example "
        f"({', '.join(list_example_pipelines())})"
    )
