"""An open model registry keyed by config: a stored config rebuilds the exact network.

Each architecture registers its module class and its pydantic config with
:func:`register_model`; the config's ``name`` field is the registry key, so a plain dict from
YAML, a checkpoint or a weights file finds its way back to the class. Anyone can register
a model (an application, a plugin, a test) without editing this file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from pydantic import BaseModel, ValidationError
from torch import nn

from pixelwise.config import describe_validation_error
from pixelwise.engine.checkpoint import Checkpoint, state_dict_differences
from pixelwise.errors import CheckpointError, ConfigError

#: Largest network :func:`build_model` builds (4 GiB of float32 weights): a config asking for
#: more is almost certainly a typo (``base_channels: 200000``) and would exhaust memory.
MAX_PARAMETERS = 1_000_000_000
#: The architecture of a config that has no ``name`` (configs written before names existed).
DEFAULT_ARCHITECTURE = "unet"

ModuleT = TypeVar("ModuleT", bound=nn.Module)
_REGISTRY: dict[str, tuple[type[BaseModel], Callable[[Any], nn.Module]]] = {}


def register_model(
    config_type: type[BaseModel],
) -> Callable[[type[ModuleT]], type[ModuleT]]:
    """Class decorator registering a module built as ``cls(config)`` under the config's name.

    Examples
    --------
    >>> from pydantic import BaseModel
    >>> class TinyConfig(BaseModel):
    ...     name: str = "tiny-doc"  # apps write Literal["tiny-doc"]
    >>> @register_model(TinyConfig)
    ... class Tiny(nn.Module):
    ...     def __init__(self, config: TinyConfig) -> None:
    ...         super().__init__()
    ...         self.config = config
    >>> type(build_model({"name": "tiny-doc"})).__name__
    'Tiny'
    """
    name = config_type.model_fields["name"].default
    if not isinstance(name, str):
        raise TypeError(f"{config_type.__name__} needs a 'name' field with a string default")

    def decorate(cls: type[ModuleT]) -> type[ModuleT]:
        if name in _REGISTRY and _REGISTRY[name][1] is not cls:
            raise ValueError(f"model name '{name}' is already registered")
        _REGISTRY[name] = (config_type, cls)
        return cls

    return decorate


def model_names() -> list[str]:
    """The registered architecture names, sorted."""
    return sorted(_REGISTRY)


def parse_model_config(data: Mapping[str, Any] | BaseModel) -> BaseModel:
    """Validate a plain dict (from YAML, a checkpoint, a weights file) into its model config."""
    if isinstance(data, BaseModel):
        return data
    name = data.get("name", DEFAULT_ARCHITECTURE)
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model '{name}'; registered models: {', '.join(model_names())}")
    try:
        return _REGISTRY[name][0].model_validate(dict(data))
    except ValidationError as error:
        raise ConfigError(f"model '{name}': {describe_validation_error(error)}") from None


def _name(config: BaseModel) -> str:
    """The registry key of a parsed config (every registered config has a ``name``)."""
    return str(getattr(config, "name", DEFAULT_ARCHITECTURE))


def size_multiple_of(model: nn.Module) -> int:
    """The multiple a model's spatial input sizes must be (its config's ``size_multiple``).

    Models whose config states none take any size: 1.

    Examples
    --------
    >>> size_multiple_of(nn.Conv2d(1, 1, 3))
    1
    """
    return int(getattr(getattr(model, "config", None), "size_multiple", 1))


def count_parameters(config: Mapping[str, Any] | BaseModel) -> int:
    """Parameters of the network ``config`` describes, counted without allocating it."""
    parsed = parse_model_config(config)
    with torch.device("meta"):
        model = _REGISTRY[_name(parsed)][1](parsed)
    return sum(parameter.numel() for parameter in model.parameters())


def build_model(
    config: Mapping[str, Any] | BaseModel, *, max_parameters: int = MAX_PARAMETERS
) -> nn.Module:
    """Instantiate the network a model config (or plain dict) describes, on the CPU.

    The size is checked first on torch's meta device, so an absurd config fails with the
    number instead of exhausting memory. Raises :class:`ConfigError`.
    """
    parsed = parse_model_config(config)
    parameters = count_parameters(parsed)
    if parameters > max_parameters:
        raise ConfigError(
            f"model '{_name(parsed)}' would have {parameters:,} parameters "
            f"({parameters * 4 / 2**30:,.1f} GiB in float32), more than the limit of "
            f"{max_parameters:,}; check its size fields"
        )
    return _REGISTRY[_name(parsed)][1](parsed)


def restore_model(checkpoint: Checkpoint) -> nn.Module:
    """Rebuild the network a checkpoint describes and load its weights (CPU, train mode).

    Raises :class:`CheckpointError` naming the file when the stored config is invalid or the
    weights do not fit it (saying which tensors differ).
    """
    try:
        model = build_model(checkpoint.model_config)
    except ConfigError as error:
        raise CheckpointError(f"{checkpoint.source}: stored model config: {error}") from None
    load_matching_state(model, checkpoint.state_dict, checkpoint.source)
    return model


def load_matching_state(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict(state)`` with a one-line error naming the differing tensors."""
    problem = state_dict_differences(model.state_dict(), dict(state))
    if problem is not None:
        raise CheckpointError(f"{source}: weights do not match the model config ({problem})")
    model.load_state_dict(state)
