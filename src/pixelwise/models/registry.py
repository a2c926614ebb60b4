"""Model registry keyed by config: a checkpoint's stored config rebuilds the exact model."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Tag, TypeAdapter, ValidationError
from torch import nn

from pixelwise.errors import ConfigError
from pixelwise.models.dncnn import DnCNN, DnCNNConfig
from pixelwise.models.scunet import SCUNet, SCUNetConfig
from pixelwise.models.unet import UNet, UNetConfig


def _architecture(data: Any) -> str:
    """The union's tag: the config's ``name``; a config without one is a U-Net (the default)."""
    return data.get("name", "unet") if isinstance(data, dict) else getattr(data, "name", "unet")


# Every architecture's config, told apart by its ``name`` field.
ModelConfig = Annotated[
    Annotated[UNetConfig, Tag("unet")]
    | Annotated[DnCNNConfig, Tag("dncnn")]
    | Annotated[SCUNetConfig, Tag("scunet")],
    Discriminator(_architecture),
]
_BUILDERS: dict[str, type[nn.Module]] = {"unet": UNet, "dncnn": DnCNN, "scunet": SCUNet}
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
