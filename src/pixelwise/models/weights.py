"""Network weights as self-describing safetensors files.

A weights file holds the model's ``state_dict`` tensors under their state-dict keys, in the
module's own layouts and dtypes (convolutions OIHW, transposed convolutions IOHW, linear
layers (out, in)), and, in the safetensors metadata, the model config as JSON under
:data:`CONFIG_KEY`, which rebuilds the exact network with :func:`~pixelwise.models.build_model`.
Unlike a pickle, loading a safetensors file never runs code. Weights converted from another
project must be renamed to these keys and layouts first.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from pixelwise.errors import CheckpointError, ConfigError
from pixelwise.io.atomic import atomic_path
from pixelwise.models.registry import build_model, load_matching_state

CONFIG_KEY = "pixelwise.model_config"


def save_weights(path: str | Path, model: nn.Module) -> Path:
    """Write ``model``'s state dict and its ``config`` to ``path`` atomically; return the path.

    ``model`` must carry a pydantic ``config`` that :func:`build_model` accepts.
    """
    config = getattr(model, "config", None)
    if not isinstance(config, BaseModel):
        raise TypeError(f"{type(model).__name__} has no pydantic 'config'; cannot describe it")
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={CONFIG_KEY: config.model_dump_json()})
    return path


def load_weights(path: str | Path, architecture: str | None = None) -> nn.Module:
    """Rebuild the network stored in ``path`` (on the CPU, in train mode) with its weights.

    ``architecture``, if given, is the config ``name`` the file must hold (e.g. ``"dncnn"``).
    Raises :class:`CheckpointError` naming the file when it is missing, not a readable
    safetensors file, lacks or has an invalid model config, holds another architecture, or
    holds tensors whose keys or shapes do not match the config.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        with safe_open(path, framework="pt", device="cpu") as file:
            metadata = file.metadata() or {}
            # safe_open handles have keys() but are not iterable.
            tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path}: not a safetensors weights file, corrupt or truncated ({reason})"
        ) from None
    if CONFIG_KEY not in metadata:
        raise CheckpointError(
            f"{path}: no model config in the metadata (expected key '{CONFIG_KEY}', "
            "as written by pixelwise save_weights)"
        )
    try:
        config = json.loads(metadata[CONFIG_KEY])
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
        name = config.get("name", "unet")
        if architecture is not None and name != architecture:
            raise CheckpointError(
                f"{path}: holds a '{name}' model, expected a '{architecture}' model"
            )
        model = build_model(config)
    except (ValueError, ConfigError) as error:
        raise CheckpointError(f"{path}: invalid model config ({error})") from None
    load_matching_state(model, tensors, str(path))
    return model
