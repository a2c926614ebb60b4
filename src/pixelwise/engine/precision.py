"""Mixed-precision policy: which autocast dtype, and whether a GradScaler is needed.

* ``"auto"`` (the default): ``bf16-mixed`` where the hardware computes bfloat16 natively — a
  CUDA GPU with bf16 support, or a CPU with AVX512-BF16 or AMX tiles — and ``"32"``
  otherwise. On a CPU without native bf16 (AVX2 only, say), torch emulates bf16 matrix
  products and autocast makes training several times *slower* than float32.
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

Precision = Literal["auto", "32", "bf16-mixed", "16-mixed"]


def _cpu_bf16_units() -> list[str]:
    """The bf16 units this CPU has, as torch probes them: ``avx512_bf16`` and/or ``amx``."""
    probes = (("avx512_bf16", "_is_avx512_bf16_supported"), ("amx", "_is_amx_tile_supported"))
    return [name for name, probe in probes if getattr(torch.cpu, probe, lambda: False)()]


def cpu_capability() -> str:
    """The CPU's vector capability as torch dispatches it, plus its bf16 units.

    For example ``"AVX512 +avx512_bf16 +amx"``; benchmarks print it so that timings from
    different machines can be read side by side.
    """
    units = (f"+{unit}" for unit in _cpu_bf16_units())
    return " ".join([torch.backends.cpu.get_cpu_capability(), *units])


def has_native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 in hardware (so autocast to bf16 pays off)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return device.type == "cpu" and bool(_cpu_bf16_units())


@dataclass(frozen=True)
class PrecisionPolicy:
    """Resolved precision for one device."""

    device_type: str
    dtype: torch.dtype | None
    requested: Precision = "32"

    @property
    def name(self) -> str:
        """The precision in force: ``"32"``, ``"bf16-mixed"`` or ``"16-mixed"``."""
        return {None: "32", torch.bfloat16: "bf16-mixed", torch.float16: "16-mixed"}[self.dtype]

    def describe(self) -> str:
        """One line for the log, e.g. ``precision bf16-mixed (auto: native bf16 on cpu)``."""
        if self.requested != "auto":
            return f"precision {self.name}"
        reason = "native bf16" if self.dtype is not None else "no native bf16"
        return f"precision {self.name} (auto: {reason} on {self.device_type})"

    @classmethod
    def resolve(
        cls, precision: Precision, device: torch.device, model: nn.Module
    ) -> PrecisionPolicy:
        """Check ``precision`` against the device and model, raising ConfigError when unsafe."""
        if precision == "auto":
            dtype = torch.bfloat16 if has_native_bf16(device) else None
            return cls(device.type, dtype, "auto")
        if precision == "32":
            return cls(device.type, None, precision)
        if precision == "bf16-mixed":
            if device.type == "cuda" and not torch.cuda.is_bf16_supported():
                raise ConfigError(
                    "precision 'bf16-mixed' is not supported by this GPU; use '32' or '16-mixed'"
                )
            return cls(device.type, torch.bfloat16, precision)
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
        return cls(device.type, torch.float16, precision)

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
