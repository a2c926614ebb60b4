"""Model registry keyed by config: a checkpoint's stored config rebuilds the exact model."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError
from torch import nn

from pixelwise.errors import ConfigError
from pixelwise.models.unet import UNet, UNetConfig

# A discriminated union on ``name`` once a second architecture is registered.
ModelConfig = UNetConfig
_BUILDERS: dict[str, type[nn.Module]] = {"unet": UNet}
_ADAPTER: TypeAdapter[Any] = TypeAdapter(ModelConfig)


def parse_model_config(data: dict[str, Any]) -> Any:
    """Validate a plain dict (e.g. from YAML or a checkpoint) into the matching model config."""
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as error:
        raise ConfigError(
            f"invalid model config: {error.errors()[0]['msg']} ({data.get('name', '?')})"
        ) from None


def build_model(config: Any) -> nn.Module:
    """Instantiate the network described by ``config`` (a model config or a plain dict)."""
    if isinstance(config, dict):
        config = parse_model_config(config)
    return _BUILDERS[config.name](config)
