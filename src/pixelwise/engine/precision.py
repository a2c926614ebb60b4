"""Mixed-precision policy: which autocast dtype, and whether a GradScaler is needed.

* ``"32"``: full precision everywhere.
* ``"bf16-mixed"``: bfloat16 autocast, on CUDA (if the GPU supports bf16) and on CPU.
  bf16 has float32's exponent range, so no loss scaling is needed.
* ``"16-mixed"``: float16 autocast with a GradScaler, CUDA only; float16 on CPU is slow and
  unsupported for many ops, so asking for it there is a configuration error.

BatchNorm under float16 autocast keeps running statistics that overflow or drift; pixelwise
models default to GroupNorm, and ``16-mixed`` with a BatchNorm model is rejected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from pixelwise.errors import ConfigError

Precision = Literal["32", "bf16-mixed", "16-mixed"]


@dataclass(frozen=True)
class PrecisionPolicy:
    """Resolved precision for one device."""

    device_type: str
    dtype: torch.dtype | None

    @classmethod
    def resolve(
        cls, precision: Precision, device: torch.device, model: nn.Module
    ) -> PrecisionPolicy:
        """Check ``precision`` against the device and model, raising ConfigError when unsafe."""
        if precision == "32":
            return cls(device.type, None)
        if precision == "bf16-mixed":
            if device.type == "cuda" and not torch.cuda.is_bf16_supported():
                raise ConfigError(
                    "precision 'bf16-mixed' is not supported by this GPU; use '32' or '16-mixed'"
                )
            return cls(device.type, torch.bfloat16)
        if device.type != "cuda":
            raise ConfigError(
                f"precision '16-mixed' needs a CUDA device, got '{device.type}'; "
                "use 'bf16-mixed' or '32'"
            )
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            raise ConfigError(
                "precision '16-mixed' with BatchNorm layers is unsafe; "
                "use norm 'group' or precision '32'"
            )
        return cls(device.type, torch.float16)

    @property
    def needs_scaler(self) -> bool:
        """float16 gradients underflow without loss scaling."""
        return self.dtype is torch.float16

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Autocast context for the forward pass (a no-op at full precision)."""
        if self.dtype is None:
            yield
        else:
            with torch.autocast(device_type=self.device_type, dtype=self.dtype):
                yield
