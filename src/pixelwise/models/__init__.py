"""Networks and the registry that rebuilds them from their config."""

from pixelwise.models.registry import ModelConfig, build_model, parse_model_config
from pixelwise.models.unet import UNet, UNetConfig

__all__ = ["ModelConfig", "UNet", "UNetConfig", "build_model", "parse_model_config"]
