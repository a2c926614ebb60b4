"""Networks and the open registry that rebuilds them from their config.

Importing this package registers the built-in architectures (``unet``, ``dncnn``,
``scunet``); :func:`register_model` adds more.
"""

from pixelwise.models.cnn3 import ThreeLayerCNN, ThreeLayerCNNConfig  # noqa: F401
from pixelwise.models.dncnn import DnCNN, DnCNNConfig
from pixelwise.models.registry import (
    build_model,
    count_parameters,
    load_matching_state,
    model_names,
    parse_model_config,
    register_model,
    restore_model,
    size_multiple_of,
)
from pixelwise.models.scunet import SCUNet, SCUNetConfig
from pixelwise.models.unet import UNet, UNetConfig
from pixelwise.models.weights import load_weights, save_weights

__all__ = [
    "DnCNN",
    "DnCNNConfig",
    "SCUNet",
    "SCUNetConfig",
    "UNet",
    "UNetConfig",
    "build_model",
    "count_parameters",
    "load_matching_state",
    "load_weights",
    "model_names",
    "parse_model_config",
    "register_model",
    "restore_model",
    "save_weights",
    "size_multiple_of",
]
