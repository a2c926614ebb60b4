"""``pixelwise nodes``: browse the restoration studio's processing nodes."""

from __future__ import annotations

import inspect
import json
from itertools import groupby
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pixelwise.nodes import Node, get_node_class, node_classes

app = typer.Typer(
    help="Browse the restoration studio's processing nodes and their parameters.",
    no_args_is_help=True,
)

CHANNEL_POLICIES = {
    "any": "grayscale and colour images",
    "gray": "grayscale (HxW) images only; an HxWx1 image is squeezed",
    "rgb": "RGB (HxWx3) images only",
    "per_channel": "written for grayscale; colour images are processed one channel at a time",
}


# JSON-schema bound -> (symbol with the bound left of x, symbol with the bound right of x)
_LOWER_BOUNDS = {"exclusiveMinimum": ("<", ">"), "minimum": ("≤", "≥")}
_UPPER_BOUNDS = {"exclusiveMaximum": "<", "maximum": "≤"}


def _type_name(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " | ".join(_type_name(option) for option in schema["anyOf"])
    if "enum" in schema:
        return "choice"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"list[{_type_name(schema.get('items', {}))}]"
    return str(schema.get("type", "any"))


def _range(schema: dict[str, Any]) -> str:
    """The allowed values of a parameter, e.g. ``0 < x ≤ 10`` or ``one of 'a', 'b'``."""
    for option in schema.get("anyOf", []):
        if text := _range(option):
            return text
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(value) for value in schema["enum"])
    lower = next(((schema[key], ops) for key, ops in _LOWER_BOUNDS.items() if key in schema), None)
    upper = next(((schema[key], op) for key, op in _UPPER_BOUNDS.items() if key in schema), None)
    if lower and upper:
        return f"{lower[0]} {lower[1][0]} x {upper[1]} {upper[0]}"
    if lower:
        return f"x {lower[1][1]} {lower[0]}"
    return f"x {upper[1]} {upper[0]}" if upper else ""


def _default(schema: dict[str, Any]) -> str:
    """The default as written in a pipeline file (JSON/YAML), or ``required``."""
    return json.dumps(schema["default"]) if "default" in schema else "required"


def _parameter_summary(cls: type[Node]) -> str:
    parameters = cls.describe()["parameters"]
    if not parameters:
        return "-"
    lines = []
    for name, schema in parameters.items():
        allowed = _range(schema)
        lines.append(f"{name}={_default(schema)}" + (f" ({allowed})" if allowed else ""))
    return "\n".join(lines)


@app.command("list")
def list_nodes() -> None:
    """List every node, grouped by category, with its parameters and their defaults."""
    console = Console()
    classes = node_classes().values()
    for category, members in groupby(classes, key=lambda cls: cls.category):
        table = Table(title=f"[bold]{category}[/]", title_justify="left", expand=True)
        table.add_column("node", style="cyan", no_wrap=True)
        table.add_column("description", ratio=3)
        table.add_column("parameters (default, range)", ratio=2)
        for cls in members:
            table.add_row(cls.name, cls.description, _parameter_summary(cls))
        console.print(table)


@app.command("show")
def show_node(
    name: Annotated[str, typer.Argument(help="node name, as in `pixelwise nodes list`")],
) -> None:
    """Show a node's documentation: inputs, outputs, channel policy and parameters."""
    cls = get_node_class(name)
    info = cls.describe()
    console = Console()
    console.print(f"[bold cyan]{cls.name}[/]  (category {cls.category}, version {cls.version})")
    console.print(cls.description)
    docstring = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    if docstring and docstring != cls.description:
        console.print(f"\n{docstring}")
    ports = Table(title="inputs and outputs", title_justify="left")
    for column in ("direction", "name", "kind"):
        ports.add_column(column)
    for direction in ("inputs", "outputs"):
        for port, kind in info[direction].items():
            ports.add_row(direction[:-1], port, kind)
    console.print(ports)
    console.print(f"channels: {cls.channels} ({CHANNEL_POLICIES[cls.channels]})")
    if not info["parameters"]:
        console.print("parameters: none")
        return
    parameters = Table(title="parameters", title_justify="left")
    for column in ("name", "type", "default", "range", "description"):
        parameters.add_column(column)
    for param, schema in info["parameters"].items():
        parameters.add_row(
            param,
            _type_name(schema),
            _default(schema),
            _range(schema),
            schema.get("description", ""),
        )
    console.print(parameters)
