"""Self-describing checkpoints.

A checkpoint is one ``torch.save`` file holding only tensors, numbers, strings and containers,
so it loads with ``torch.load(weights_only=True)`` (no pickled code runs). It carries the model
config (enough to rebuild the exact network with no other file), the application config, the
learned state that is not a weight (normalisation statistics, say) beside that config rather
than inside it, the weights, the state of task-owned modules, optimiser/scheduler/scaler
state, the epoch and step, metrics, the precision in force and the versions that wrote it.
Files are written atomically: a crash never leaves a truncated checkpoint under the final name.
A SHA-256 checksum of the contents is stored with them, so a damaged file (a flipped bit in
a weight) is refused rather than loaded with different numbers.

The engine never imports the models package: rebuilding a network from ``model_config`` is
:func:`pixelwise.models.restore_model`'s job.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import pixelwise
from pixelwise.errors import CheckpointError
from pixelwise.io.atomic import atomic_path

FORMAT = "pixelwise-checkpoint/1"

#: JSON-encoded fields and the type each must decode to.
_JSON_FIELDS: dict[str, tuple[type, str]] = {
    "model_config": (dict, ""),
    "app_config": (dict, ""),
    "learned_state": (dict, "{}"),
    "history": (list, "[]"),
}


#: Every field of a checkpoint file; ``checksum`` (SHA-256 of the others) is absent from files
#: written before it existed, which load unverified.
_KEYS = frozenset(
    {
        "format",
        "app",
        *_JSON_FIELDS,
        "state_dict",
        "task_state",
        "epoch",
        "step",
        "metrics",
        "precision",
        "optimizer_state",
        "scheduler_state",
        "scaler_state",
        "versions",
        "checksum",
    }
)


@dataclass
class Checkpoint:
    """The content of a checkpoint file."""

    app: str
    model_config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    app_config: dict[str, Any] = field(default_factory=dict)
    learned_state: dict[str, Any] = field(default_factory=dict)
    task_state: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    epoch: int = 0
    step: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    precision: str = "32"
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None
    scaler_state: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    source: str = "<memory>"


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` atomically and return the path."""
    payload = {
        "format": FORMAT,
        "app": checkpoint.app,
        "model_config": json.dumps(checkpoint.model_config),
        "app_config": json.dumps(checkpoint.app_config),
        "learned_state": json.dumps(checkpoint.learned_state),
        "state_dict": {key: value.detach().cpu() for key, value in checkpoint.state_dict.items()},
        "task_state": {
            name: {key: value.detach().cpu() for key, value in state.items()}
            for name, state in checkpoint.task_state.items()
        },
        "epoch": checkpoint.epoch,
        "step": checkpoint.step,
        "metrics": {key: float(value) for key, value in checkpoint.metrics.items()},
        "history": json.dumps(checkpoint.history),
        "precision": checkpoint.precision,
        "optimizer_state": checkpoint.optimizer_state,
        "scheduler_state": checkpoint.scheduler_state,
        "scaler_state": checkpoint.scaler_state,
        "versions": {"pixelwise": pixelwise.__version__, "torch": str(torch.__version__)},
    }
    payload["checksum"] = _checksum(payload)
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def _digest(value: Any, hasher: Any) -> None:
    """Feed ``value`` (tensors, containers, numbers, strings) into ``hasher``, exactly."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().cpu().contiguous().reshape(-1)
        hasher.update(f"tensor {value.dtype} {tuple(value.shape)}:".encode())
        hasher.update(flat.view(torch.uint8).numpy())
    elif isinstance(value, dict):
        hasher.update(f"dict {len(value)}:".encode())
        for key in sorted(value, key=repr):
            _digest(key, hasher)
            _digest(value[key], hasher)
    elif isinstance(value, (list, tuple)):
        hasher.update(f"list {len(value)}:".encode())
        for item in value:
            _digest(item, hasher)
    else:
        hasher.update(f"{type(value).__name__} {value!r};".encode())


def _checksum(payload: dict[str, Any]) -> str:
    """SHA-256 of everything in ``payload`` but the checksum itself."""
    hasher = hashlib.sha256()
    _digest({key: value for key, value in payload.items() if key != "checksum"}, hasher)
    return hasher.hexdigest()


def _read_payload(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile) as error:
        text = str(error).strip()
        if isinstance(error, EOFError) or "central directory" in text or "truncated" in text:
            raise CheckpointError(f"{path}: checkpoint is truncated or corrupt") from None
        reason = text.splitlines()[0] if text else type(error).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    except (ValueError, OSError) as error:
        raise CheckpointError(
            f"{path}: checkpoint is truncated or corrupt ({type(error).__name__})"
        ) from None
    except Exception as error:  # weights_only refusal raises pickle.UnpicklingError and friends
        raise CheckpointError(
            f"{path}: not a pixelwise checkpoint ({type(error).__name__}); files that need "
            "pickled code to load are refused"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a pixelwise checkpoint (expected format '{FORMAT}')")
    return payload


def _decoded(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """Check every field's presence and type; decode the JSON ones."""
    problems = []
    fields: dict[str, Any] = {}
    for key, (kind, default) in _JSON_FIELDS.items():
        try:
            value = json.loads(payload.get(key, default))
        except (TypeError, json.JSONDecodeError):
            problems.append(f"'{key}' is missing or not valid JSON")
            continue
        if not isinstance(value, kind):
            problems.append(f"'{key}' must be a JSON {'object' if kind is dict else 'list'}")
        fields[key] = value
    if not isinstance(payload.get("app"), str):
        problems.append("'app' is missing or not a string")
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        problems.append("'state_dict' must map names to tensors")
    elif broken := [
        key
        for key, value in state.items()
        if value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]:
        listed = ", ".join(broken[:3]) + (f" and {len(broken) - 3} more" if len(broken) > 3 else "")
        problems.append(f"weights contain NaN or Inf values ({listed})")
    for key in ("epoch", "step"):
        if not isinstance(payload.get(key, 0), int) or payload.get(key, 0) < 0:
            problems.append(f"'{key}' must be a non-negative integer")
    metrics = payload.get("metrics", {})
    if not isinstance(metrics, dict) or not all(
        isinstance(value, (int, float)) for value in metrics.values()
    ):
        problems.append("'metrics' must map names to numbers")
    if unknown := sorted(str(key) for key in payload if key not in _KEYS):
        problems.append(f"unknown fields {', '.join(unknown)}")
    if not problems and "checksum" in payload and payload["checksum"] != _checksum(payload):
        problems.append("its contents do not match the checksum written with them")
    if problems:
        raise CheckpointError(f"{path}: damaged checkpoint: " + "; ".join(problems))
    return fields


def load_checkpoint(path: str | Path, app: str | None = None) -> Checkpoint:
    """Read a checkpoint with ``weights_only=True``; check it belongs to ``app`` if given.

    Raises :class:`CheckpointError` naming the file when it is missing, truncated or corrupt,
    not a pixelwise checkpoint, has missing, unknown or mistyped fields or non-finite weights,
    does not match its checksum, or was written by another application.
    """
    path = Path(path)
    payload = _read_payload(path)
    fields = _decoded(path, payload)
    if app is not None and payload["app"] != app:
        raise CheckpointError(
            f"{path}: checkpoint belongs to the '{payload['app']}' application, not '{app}'"
        )
    return Checkpoint(
        app=payload["app"],
        model_config=fields["model_config"],
        app_config=fields["app_config"],
        learned_state=fields["learned_state"],
        state_dict=payload["state_dict"],
        task_state=payload.get("task_state") or {},
        epoch=payload.get("epoch", 0),
        step=payload.get("step", 0),
        metrics=payload.get("metrics", {}),
        history=fields["history"],
        precision=str(payload.get("precision", "32")),
        optimizer_state=payload.get("optimizer_state"),
        scheduler_state=payload.get("scheduler_state"),
        scaler_state=payload.get("scaler_state"),
        versions=payload.get("versions", {}),
        source=str(path),
    )


def state_dict_differences(
    expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor], limit: int = 3
) -> str | None:
    """Describe how ``given`` differs from ``expected`` in keys and shapes, or None if it fits.

    For example ``"2 tensors differ: head.weight (1, 16, 1, 1) here vs (1, 32, 1, 1) in the
    file; missing decoders.1.conv.bias"`` — names and shapes, not torch's paragraph.
    """
    missing = [key for key in expected if key not in given]
    unexpected = [key for key in given if key not in expected]
    reshaped = [
        key
        for key in expected
        if key in given and tuple(expected[key].shape) != tuple(given[key].shape)
    ]
    if not (missing or unexpected or reshaped):
        return None
    parts = [
        f"{key} {tuple(expected[key].shape)} here vs {tuple(given[key].shape)} in the file"
        for key in reshaped[:limit]
    ]
    parts += [f"missing {key}" for key in missing[:limit]]
    parts += [f"unexpected {key}" for key in unexpected[:limit]]
    count = len(missing) + len(unexpected) + len(reshaped)
    return f"{count} tensor{'s' if count != 1 else ''} differ: " + "; ".join(parts)
