"""Typed configs: one YAML loader, one validation-error formatter, one path rule.

Every app's config is a frozen pydantic model composed of sections (data / model / trainer /
app). Fields typed :data:`RelativePath` are resolved against the folder of the file they
were read from, by :func:`load_config`, so a run file can be moved together with its data.
Errors name the file, and the line of every problem (:func:`line_numbers`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, PydanticUserError, ValidationError, ValidationInfo

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

Lines = dict[Location, int]
"""The 1-based line in a YAML file of each location that YAML gave a position."""


class ConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e12`` and ``1.5e-3`` as numbers.

    YAML 1.1 (PyYAML's default) wants a dot and a signed exponent (``1.0e+12``), so ``1e12``
    would be the string ``"1e12"`` and an integer field would refuse it as unparsable text
    rather than say how large it may be; YAML 1.2 reads it as a float, and so does this.
    """


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str, source: str | Path) -> tuple[Any, Lines]:
    """Parse YAML (or JSON) ``text`` read from ``source``; return the data and its lines.

    Parsing is safe (tags that would build Python objects are refused). Syntax errors
    become a ConfigError naming ``source``, the line and the column.

    >>> parse_yaml("patches_per_epoch: 1e12\\nlr: 1.0e-3\\n", "run.yaml")[0]
    {'patches_per_epoch': 1000000000000.0, 'lr': 0.001}
    """
    try:
        return yaml.load(text, Loader=ConfigLoader), line_numbers(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{source}: invalid YAML: {where}{error.problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {error}") from None


def line_numbers(text: str) -> Lines:
    """The line of every mapping value and list item in valid YAML ``text``, by location.

    >>> line_numbers("data:\\n  patch_size: 3\\n")[("data", "patch_size")]
    2
    """
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

    root = yaml.compose(text, Loader=ConfigLoader)
    if root is not None:
        visit(root, (), root.start_mark.line + 1)
    return lines


def line_prefix(lines: Lines, location: Location) -> str:
    """``"line N: "`` for the closest enclosing ``location`` with a known line, else ``""``."""
    for end in range(len(location), -1, -1):
        if location[:end] in lines:
            return f"line {lines[location[:end]]}: "
    return ""


_PLAIN_MESSAGES = {"extra_forbidden": "unknown field", "missing": "required field is missing"}

#: Errors of an integer field that are better said as "must be an integer <bounds>".
_INTEGER_ERRORS = {
    "int_type": "",
    "int_parsing": "",
    "int_parsing_size": "",
    "int_from_float": "",
    "finite_number": "",
    "less_than_equal": "maximum",
    "less_than": "exclusiveMaximum",
    "greater_than_equal": "minimum",
    "greater_than": "exclusiveMinimum",
}
_BOUND_SIGNS = {
    "minimum": "≥",
    "exclusiveMinimum": ">",
    "maximum": "≤",
    "exclusiveMaximum": "<",
}


def _dotted(location: Location) -> str:
    return ".".join(str(part) for part in location)


def _schema_at(node: Mapping[str, Any], location: Location, defs: Mapping[str, Any]) -> Any:
    """The JSON schema of the field at ``location`` below ``node``, or None if not found."""
    if "$ref" in node:
        node = defs.get(str(node["$ref"]).rsplit("/", 1)[-1], {})
    if not location:
        return node
    part, rest = location[0], location[1:]
    mapping = node.get("discriminator", {}).get("mapping", {})
    if part in mapping:
        return _schema_at({"$ref": mapping[part]}, rest, defs)
    for branch in node.get("anyOf", []) + node.get("oneOf", []):
        found = _schema_at(branch, location, defs)
        if found is not None:
            return found
    if isinstance(part, str) and part in node.get("properties", {}):
        return _schema_at(node["properties"][part], rest, defs)
    if isinstance(part, int) and "items" in node:
        return _schema_at(node["items"], rest, defs)
    return None


def _integer_message(model_type: type[BaseModel] | None, item: Any) -> str | None:
    """``"must be an integer ≤ 4096 (got 1e+09)"`` for a bad integer field, else None."""
    if model_type is None or item["type"] not in _INTEGER_ERRORS:
        return None
    try:
        schema = model_type.model_json_schema()
    except PydanticUserError:  # a field type without a JSON schema
        return None
    found = _schema_at(schema, tuple(item["loc"]), schema.get("$defs", {}))
    if not isinstance(found, Mapping):
        return None
    branches: list[Mapping[str, Any]] = found.get("anyOf", [found])
    field = next((branch for branch in branches if branch.get("type") == "integer"), None)
    if field is None:
        return None
    violated = _INTEGER_ERRORS[item["type"]]
    keys = [violated] if violated else list(_BOUND_SIGNS)
    bounds = " and ".join(f"{_BOUND_SIGNS[key]} {field[key]}" for key in keys if key in field)
    value = item["input"]
    shown = f"{value:g}" if isinstance(value, float) else repr(value)
    return f"must be an integer{' ' if bounds else ''}{bounds} (got {shown[:40]})"


def validation_problems(
    error: ValidationError,
    locate: Callable[[Location], str] = _dotted,
    model_type: type[BaseModel] | None = None,
) -> list[str]:
    """One ``where: message`` line per problem in ``error``.

    ``locate`` renders a location (default: dotted field path); an empty result leaves the
    message alone. With the ``model_type`` that was validated, a bad integer field says its
    bounds: ``"data.batch_size: must be an integer ≤ 65536 (got 1e+09)"``.
    """
    problems = []
    for item in error.errors():
        where = locate(tuple(item["loc"]))
        message = _integer_message(model_type, item) or _PLAIN_MESSAGES.get(
            item["type"], item["msg"].removeprefix("Value error, ")
        )
        problems.append(f"{where}: {message}" if where else message)
    return problems


def describe_validation_error(
    error: ValidationError,
    model_type: type[BaseModel] | None = None,
    lines: Lines | None = None,
) -> str:
    """Render pydantic's errors as ``[line N: ]field.path: message`` items joined by '; '.

    ``lines`` (from :func:`line_numbers`) adds the line of each problem in the file.
    """

    def locate(location: Location) -> str:
        where = _dotted(location)
        return line_prefix(lines, location) + where if lines and where else where

    return "; ".join(validation_problems(error, locate, model_type))


def validate_config(
    model_type: type[ModelT],
    data: object,
    source: str,
    base_dir: Path | None = None,
    lines: Lines | None = None,
) -> ModelT:
    """Validate ``data`` as ``model_type``; a ConfigError names ``source`` and every problem.

    :data:`RelativePath` fields are resolved against ``base_dir`` when it is given; ``lines``
    (the positions in ``source``, from :func:`line_numbers`) puts a line number on each problem.
    """
    context: dict[str, Any] = {BASE_DIR: base_dir} if base_dir is not None else {}
    try:
        return model_type.model_validate(data, context=context)
    except ValidationError as error:
        problems = describe_validation_error(error, model_type, lines)
        raise ConfigError(f"{source}: {problems}") from None


def load_config(model_type: type[ModelT], path: str | Path) -> ModelT:
    """Read a YAML (or JSON) file with :func:`parse_yaml` and validate it as ``model_type``.

    :data:`RelativePath` fields are resolved against the file's folder; the file name is in
    every error, and the line of each problem.

    Examples
    --------
    >>> import tempfile
    >>> from pydantic import BaseModel, Field
    >>> class Run(BaseModel):
    ...     epochs: int = Field(1, le=100)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "run.yaml"
    ...     _ = path.write_text("# my run\\nepochs: 1e21\\n")
    ...     try:
    ...         load_config(Run, path)
    ...     except ConfigError as error:
    ...         print(str(error).removeprefix(str(path)))
    : line 2: epochs: must be an integer ≤ 100 (got 1e+21)
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config file is not UTF-8 text") from None
    data, lines = parse_yaml(text, path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return validate_config(model_type, data, str(path), base_dir=path.parent, lines=lines)
