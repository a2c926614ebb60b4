"""Typed configs: one YAML loader, one validation-error formatter, one path rule.

Every app's config is a frozen pydantic model composed of sections (data / model / trainer /
app). Fields typed :data:`RelativePath` are resolved against the folder of the file they
were read from, by :func:`load_config`, so a run file can be moved together with its data.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError, ValidationInfo

from pixelwise.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)

#: Validation-context key holding the folder that relative paths are resolved against.
BASE_DIR = "base_dir"


def _resolve_against_base(path: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get(BASE_DIR)
    return path if path.is_absolute() or base is None else Path(base) / path


#: A path that, in a config file, is relative to that file's folder.
RelativePath = Annotated[Path, AfterValidator(_resolve_against_base)]


Location = tuple[int | str, ...]
"""Where a problem is, as pydantic reports it: field names and list indices."""

_PLAIN_MESSAGES = {"extra_forbidden": "unknown field", "missing": "required field is missing"}


def _dotted(location: Location) -> str:
    return ".".join(str(part) for part in location) or "(top level)"


def validation_problems(
    error: ValidationError, locate: Callable[[Location], str] = _dotted
) -> list[str]:
    """One ``where: message`` line per problem in ``error``.

    ``locate`` renders a location (default: dotted field path); an empty result leaves the
    message alone.
    """
    problems = []
    for item in error.errors():
        where = locate(tuple(item["loc"]))
        message = _PLAIN_MESSAGES.get(item["type"], item["msg"])
        problems.append(f"{where}: {message}" if where else message)
    return problems


def describe_validation_error(error: ValidationError) -> str:
    """Render pydantic's errors as ``field.path: message`` items joined by '; '."""
    return "; ".join(validation_problems(error))


def validate_config(
    model_type: type[ModelT], data: object, source: str, base_dir: Path | None = None
) -> ModelT:
    """Validate ``data`` as ``model_type``; a ConfigError names ``source`` and every problem.

    :data:`RelativePath` fields are resolved against ``base_dir`` when it is given.
    """
    context: dict[str, Any] = {BASE_DIR: base_dir} if base_dir is not None else {}
    try:
        return model_type.model_validate(data, context=context)
    except ValidationError as error:
        raise ConfigError(f"{source}: {describe_validation_error(error)}") from None


def load_config(model_type: type[ModelT], path: str | Path) -> ModelT:
    """Read a YAML (or JSON) file with ``yaml.safe_load`` and validate it as ``model_type``.

    :data:`RelativePath` fields are resolved against the file's folder; the file name is in
    every error.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML ({reason})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return validate_config(model_type, data, str(path), base_dir=path.parent)
