"""Loading typed configs from YAML files, with every validation problem in one message."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from pixelwise.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def describe_validation_error(error: ValidationError) -> str:
    """Render pydantic's errors as ``field.path: message`` items joined by '; '."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


def validate_config(model_type: type[ModelT], data: object, source: str) -> ModelT:
    """Validate ``data`` as ``model_type``; a ConfigError names ``source`` and every problem."""
    try:
        return model_type.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{source}: {describe_validation_error(error)}") from None


def load_config(model_type: type[ModelT], path: str | Path) -> ModelT:
    """Read a YAML (or JSON) file with ``yaml.safe_load`` and validate it as ``model_type``.

    Relative paths inside the file are the caller's business; the file name is in every error.
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
    return validate_config(model_type, data, str(path))
