"""Building blocks shared by the pixelwise networks."""

from __future__ import annotations

from torch import nn

_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU, "silu": nn.SiLU}


def make_norm(kind: str, channels: int) -> nn.Module:
    """GroupNorm (default: safe under autocast and with batch size 1), BatchNorm, or identity."""
    if kind == "group":
        groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm '{kind}'")


def make_activation(kind: str) -> nn.Module:
    """An activation module by name (relu, leaky_relu, gelu, silu)."""
    try:
        return _ACTIVATIONS[kind]()
    except KeyError:
        raise ValueError(f"unknown activation '{kind}'") from None


class ConvBlock(nn.Sequential):
    """Two (3x3 conv -> norm -> activation) layers; keeps the spatial size."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, activation: str) -> None:
        bias = norm == "none"
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias),
            make_norm(norm, out_channels),
            make_activation(activation),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=bias),
            make_norm(norm, out_channels),
            make_activation(activation),
        )


def init_weights(module: nn.Module) -> None:
    """Xavier-normal weights and zero biases for every conv layer; unit/zero affine norms."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_normal_(layer.weight)
            if layer.bias is not None:
                nn.init.constant_(layer.bias, 0.0)
        elif isinstance(layer, (nn.GroupNorm, nn.BatchNorm2d)):
            nn.init.constant_(layer.weight, 1.0)
            nn.init.constant_(layer.bias, 0.0)
