"""Networks and the registry that rebuilds them from their config."""

from pixelwise.models.dncnn import DnCNN, DnCNNConfig
from pixelwise.models.registry import ModelConfig, build_model, parse_model_config
from pixelwise.models.scunet import SCUNet, SCUNetConfig
from pixelwise.models.unet import UNet, UNetConfig
from pixelwise.models.weights import load_weights, save_weights

__all__ = [
    "DnCNN",
    "DnCNNConfig",
    "ModelConfig",
    "SCUNet",
    "SCUNetConfig",
    "UNet",
    "UNetConfig",
    "build_model",
    "load_weights",
    "parse_model_config",
    "save_weights",
]
