"""The restoration studio's processing nodes and their registry.

Importing this package imports every node module, so the registry is complete.
"""

from pixelwise.nodes import (  # noqa: F401  (imported to register their nodes)
    analysis,
    color,
    compare,
    deblur,
    denoise,
    effects,
    frequency,
    geometry,
    grain,
    learned,
    psf,
    quality,
    restore,
    sharpen,
    tone,
)
from pixelwise.nodes.base import Kind, Node, NodeParams
from pixelwise.nodes.registry import create_node, get_node_class, node_classes, register

__all__ = [
    "Kind",
    "Node",
    "NodeParams",
    "create_node",
    "get_node_class",
    "node_classes",
    "register",
]
