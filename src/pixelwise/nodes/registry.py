"""The node registry: one name, one node class.

Node modules register their classes with :func:`register` at import time;
:mod:`pixelwise.nodes` imports every node module so that the registry is complete as soon as
the package is imported.
"""

from __future__ import annotations

import difflib
from typing import Any, TypeVar

from pixelwise.errors import ConfigError
from pixelwise.nodes.base import Node

N = TypeVar("N", bound=Node[Any])

_REGISTRY: dict[str, type[Node[Any]]] = {}


def register(cls: type[N]) -> type[N]:
    """Class decorator adding ``cls`` to the registry under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise RuntimeError(f"two nodes are named '{cls.name}'")
    _REGISTRY[cls.name] = cls
    return cls


def get_node_class(name: str) -> type[Node[Any]]:
    """Return the node class called ``name``; an unknown name raises :class:`ConfigError`."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigError(f"unknown node '{name}'{hint}") from None


def create_node(name: str, **params: object) -> Node[Any]:
    """Instantiate the node ``name`` with validated ``params``."""
    return get_node_class(name)(**params)


def node_classes() -> dict[str, type[Node[Any]]]:
    """All registered nodes, keyed by name, sorted by (category, name)."""
    return dict(sorted(_REGISTRY.items(), key=lambda item: (item[1].category, item[0])))
