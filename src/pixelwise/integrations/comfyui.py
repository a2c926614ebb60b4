"""A ComfyUI node pack generated from the pixelwise node registry: every node, no twins.

Each registered node becomes one ComfyUI node class, built here from what the node declares:

* ``INPUT_TYPES``: one widget per parameter from its pydantic field: ``INT``/``FLOAT`` with
  default, min, max and step, ``BOOLEAN``, a combo list for ``Literal`` choices, ``STRING``
  (paths, free text, and lists and mappings as JSON). An optional number (``None`` =
  automatic) is a widget whose value ``-1`` means automatic when the field cannot be negative,
  else a ``STRING`` where empty means automatic. Image inputs are ``IMAGE``, masks ``MASK``; PSF
  kernels travel as ``PIXELWISE_KERNEL``, label maps and fields as ``PIXELWISE_LABELS`` /
  ``PIXELWISE_FIELD`` (which also accept ``MASK`` / ``IMAGE``);
* ``RETURN_TYPES``/``RETURN_NAMES`` from its outputs: tables become a JSON ``STRING``, scalars
  a ``FLOAT``; ``CATEGORY`` is ``pixelwise/<category>``;
* nodes with a ``weights`` file parameter also take an optional ``PIXELWISE_MODEL`` input,
  the output of the pack's one loader node (``Load Restorer (pixelwise)``), so that one
  loaded network feeds several nodes, as ComfyUI's upscale-model loader does; a relative
  weights path is looked up in ComfyUI's ``upscale_models`` folder.

Conversions at the edge: a ComfyUI ``IMAGE`` is a float32 tensor [B, H, W, C] in 0..1 and a
``MASK`` [B, H, W]. Batches run image by image; an image whose channels are all equal is
handed to the node as grey (HxW), and grey results are returned as three channels. Values
are not clipped (a noisy image may leave 0..1; ComfyUI's save and preview nodes clip).

Install: copy the repository's ``comfyui/`` folder into ``ComfyUI/custom_nodes/`` with
pixelwise installed in ComfyUI's Python, or install from the registry (``[tool.comfy]`` in
pyproject.toml).

Examples
--------
>>> from pixelwise.integrations.comfyui import NODE_CLASS_MAPPINGS
>>> gaussian = NODE_CLASS_MAPPINGS["pixelwise_gaussian"]
>>> gaussian.INPUT_TYPES()["required"]["sigma"][0], gaussian.RETURN_TYPES, gaussian.CATEGORY
('FLOAT', ('IMAGE',), 'pixelwise/denoise')
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelwise.nodes import Kind, Node, node_classes
from pixelwise.nodes.restore import torch_device

LOGGER = logging.getLogger("pixelwise.comfyui")
PREFIX = "pixelwise_"
MODEL_TYPE = "PIXELWISE_MODEL"
#: The parameter name that marks a weights file (and gets the optional model input).
WEIGHTS_PARAM = "weights"
#: "Automatic" value of optional numbers whose field cannot be negative.
AUTO = -1
INT_LIMIT = 2**53 - 1  # the largest integer a JavaScript number holds exactly
FLOAT_LIMIT = 1e9

INPUT_TYPES: dict[Kind, str] = {
    Kind.IMAGE: "IMAGE",
    Kind.MASK: "MASK",
    Kind.KERNEL: "PIXELWISE_KERNEL",
    Kind.TABLE: "STRING",
    Kind.SCALAR: "FLOAT",
    Kind.LABELS: "PIXELWISE_LABELS,MASK",
    Kind.FIELD: "PIXELWISE_FIELD,IMAGE",
}
OUTPUT_TYPES: dict[Kind, str] = {
    Kind.IMAGE: "IMAGE",
    Kind.MASK: "MASK",
    Kind.KERNEL: "PIXELWISE_KERNEL",
    Kind.TABLE: "STRING",
    Kind.SCALAR: "FLOAT",
    Kind.LABELS: "PIXELWISE_LABELS",
    Kind.FIELD: "PIXELWISE_FIELD",
}
#: Rec. 601 luma weights, for colour images given to grey-only nodes.
LUMINANCE = np.array([0.299, 0.587, 0.114], np.float32)
_ACRONYMS = {"psnr", "ssim", "tv", "bm3d", "psf", "rgb", "hsv", "clahe", "glcm", "dpir", "nl"}


def display_name(name: str) -> str:
    """``"tv_chambolle"`` -> ``"TV Chambolle (pixelwise)"``."""
    words = [w.upper() if w in _ACRONYMS else w.capitalize() for w in name.split("_")]
    return " ".join(words) + " (pixelwise)"


# --------------------------------------------------------------------------------------------
# Parameters <-> widgets


@dataclass(frozen=True)
class Widget:
    """How one parameter is shown in ComfyUI and converted back."""

    spec: tuple[Any, ...]  #: the INPUT_TYPES entry
    #: "value" (as is), "auto" (-1 means None), "text" (empty means None, else a number),
    #: "json" (a list), "path" (empty means unset)
    decode: str = "value"
    optional: bool = False


def _bounds(schema: dict[str, Any]) -> tuple[float | None, float | None]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    return low, high


def _number(schema: dict[str, Any], default: Any, tooltip: str) -> tuple[str, dict[str, Any]]:
    low, high = _bounds(schema)
    if schema["type"] == "integer":
        if "exclusiveMinimum" in schema:
            low = int(schema["exclusiveMinimum"]) + 1
        options: dict[str, Any] = {
            "default": int(default) if default is not None else int(low or 0),
            "min": int(low) if low is not None else -INT_LIMIT,
            "max": int(high) if high is not None else INT_LIMIT,
            "step": 1,
        }
        return "INT", {**options, "tooltip": tooltip}
    span = (high - low) if low is not None and high is not None else None
    step = 0.01 if span is None or span > 1 else 0.001
    options = {
        "default": float(default) if default is not None else float(low or 0.0),
        "min": float(low) if low is not None else -FLOAT_LIMIT,
        "max": float(high) if high is not None else FLOAT_LIMIT,
        "step": step,
        "round": False,
    }
    return "FLOAT", {**options, "tooltip": tooltip}


def widget_for(name: str, schema: dict[str, Any], required: bool) -> Widget:
    """The widget of one parameter from its JSON schema (see the module docstring)."""
    tooltip = schema.get("description", "")
    default = schema.get("default")
    if "enum" in schema:
        choices = list(schema["enum"])
        return Widget(
            (
                choices,
                {"default": default if default in choices else choices[0], "tooltip": tooltip},
            )
        )
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if options and len(options) < len(schema.get("anyOf", [])):
        inner = {**options[0], "description": tooltip}
        if inner.get("type") in ("integer", "number"):
            low, _ = _bounds(inner)
            if low is not None and low >= 0:
                widget_kind, spec = _number(inner, None, tooltip)
                spec.update(min=AUTO, default=AUTO if default is None else default)
                spec["tooltip"] = f"{tooltip} (-1: automatic)".strip()
                return Widget((widget_kind, spec), decode="auto")
        return Widget(
            (
                "STRING",
                {
                    "default": "" if default is None else json.dumps(default),
                    "tooltip": f"{tooltip} (empty: automatic)".strip(),
                },
            ),
            decode="text",
        )
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return Widget(_number(schema, default, tooltip))
    if kind == "boolean":
        return Widget(("BOOLEAN", {"default": bool(default), "tooltip": tooltip}))
    if kind in ("array", "object"):
        empty: list[Any] | dict[str, Any] = [] if kind == "array" else {}
        what = "list" if kind == "array" else "object"
        return Widget(
            (
                "STRING",
                {
                    "default": json.dumps(default if default is not None else empty),
                    "tooltip": f"{tooltip} (a JSON {what})".strip(),
                },
            ),
            decode="json",
        )
    if schema.get("format") == "path" or kind == "string":
        is_weights = name == WEIGHTS_PARAM
        return Widget(
            ("STRING", {"default": "" if default is None else str(default), "tooltip": tooltip}),
            decode="path" if schema.get("format") == "path" else "value",
            optional=is_weights,
        )
    raise TypeError(f"parameter '{name}': no ComfyUI widget for schema {schema}")


def node_widgets(cls: type[Node[Any]]) -> dict[str, Widget]:
    """The widgets of every parameter of ``cls``, in declaration order."""
    schema = cls.Params.model_json_schema()
    required = set(schema.get("required", []))
    return {
        name: widget_for(name, field, name in required)
        for name, field in schema.get("properties", {}).items()
    }


def decode(widget: Widget, value: Any, name: str) -> Any:
    """A widget value back to the parameter value pydantic validates."""
    if widget.decode == "auto":
        return None if value == AUTO else value
    if widget.decode in ("text", "json"):
        text = str(value).strip()
        if widget.decode == "text" and not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f"parameter '{name}': {text!r} is not valid JSON") from None
    return value


# --------------------------------------------------------------------------------------------
# Values at the edge


def _resolve_weights(value: str) -> str:
    """A weights path as given, or found in ComfyUI's ``upscale_models`` folder."""
    path = Path(value).expanduser()
    if path.is_absolute() or path.is_file():
        return str(path)
    try:
        import folder_paths  # type: ignore[import-not-found]

        found = folder_paths.get_full_path("upscale_models", value)
    except (ImportError, AttributeError, KeyError):
        found = None
    return found or str(path)


def to_array(kind: Kind, value: Any, index: int, channels: str) -> Any:
    """Item ``index`` of a ComfyUI batch as the pixelwise node wants it."""
    if kind in (Kind.IMAGE, Kind.FIELD, Kind.MASK, Kind.LABELS) and isinstance(value, torch.Tensor):
        item = value[min(index, value.shape[0] - 1)].detach().cpu().float().numpy()
        if kind is Kind.MASK or kind is Kind.LABELS:
            return item[..., 0] if item.ndim == 3 else item
        if kind is Kind.IMAGE and item.ndim == 3 and channels != "rgb":
            if item.shape[2] == 3 and (item == item[..., :1]).all():
                return np.ascontiguousarray(item[..., 0])
            if channels == "gray":
                LOGGER.warning("colour image given to a grey-only node: converted to luminance")
                return np.ascontiguousarray(item[..., :3] @ LUMINANCE)
        return item
    if kind is Kind.TABLE and isinstance(value, str):
        return json.loads(value)
    return value


def _batch_size(cls: type[Node[Any]], inputs: dict[str, Any]) -> int:
    sizes = {
        value.shape[0]
        for key, value in inputs.items()
        if isinstance(value, torch.Tensor) and cls.inputs[key] is not Kind.KERNEL
    }
    if len(sizes - {1}) > 1:
        raise ValueError(f"inputs have different batch sizes {sorted(sizes)}")
    return max(sizes, default=1)


def _image_tensor(items: list[np.ndarray]) -> torch.Tensor:
    shaped = []
    for item in items:
        array = item if item.ndim == 3 else item[..., None]
        if array.shape[2] == 1:
            array = np.repeat(array, 3, axis=2)
        shaped.append(array)
    if len({a.shape for a in shaped}) > 1:
        raise ValueError(f"batch results differ in shape: {[a.shape for a in shaped]}")
    return torch.from_numpy(np.stack(shaped).astype(np.float32, copy=False))


def from_results(kind: Kind, items: list[Any]) -> Any:
    """One output over the batch as ComfyUI wants it."""
    if kind is Kind.IMAGE:
        return _image_tensor(items)
    if kind is Kind.MASK:
        return torch.from_numpy(np.stack(items).astype(np.float32))
    if kind is Kind.LABELS:
        return torch.from_numpy(np.stack(items).astype(np.int64))
    if kind is Kind.FIELD:
        return torch.from_numpy(np.stack([i if i.ndim == 3 else i[..., None] for i in items]))
    if kind is Kind.TABLE:
        return json.dumps(items[0] if len(items) == 1 else items)
    if kind is Kind.SCALAR:
        return float(np.mean(items))
    return items[0]  # kernels: the same for every item of a batch of source nodes


def _check_interrupt() -> None:
    try:
        import comfy.model_management as management

        management.throw_exception_if_processing_interrupted()
    except (ImportError, AttributeError):
        return


# --------------------------------------------------------------------------------------------
# The generated classes


class ComfyNode:
    """Base of the generated classes: the execution at the edge (see the module docstring)."""

    NODE: type[Node[Any]]
    WIDGETS: dict[str, Widget]
    FUNCTION = "run"

    def run(self, **kwargs: Any) -> tuple[Any, ...]:
        cls = self.NODE
        handle = kwargs.pop("model", None)
        params = {}
        for name, widget in self.WIDGETS.items():
            if name not in kwargs:
                continue
            value = decode(widget, kwargs.pop(name), name)
            if widget.decode == "path":
                if name == WEIGHTS_PARAM and isinstance(handle, LoadedModel):
                    value = str(handle.path)
                elif value == "":
                    continue
                else:
                    value = _resolve_weights(value)
            params[name] = value
        node = cls(**params)
        inputs = {key: kwargs[key] for key in cls.inputs}
        results: dict[str, list[Any]] = {key: [] for key in cls.outputs}
        for index in range(_batch_size(cls, inputs)):
            _check_interrupt()
            item = {
                key: to_array(kind, inputs[key], index, cls.channels)
                for key, kind in cls.inputs.items()
            }
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                outputs = node.run(item)
            for warning in caught:
                LOGGER.warning("%s: %s", cls.name, warning.message)
            for key, value in outputs.items():
                results[key].append(value)
        return tuple(from_results(kind, results[key]) for key, kind in cls.outputs.items())


def comfy_class(cls: type[Node[Any]]) -> type[ComfyNode]:
    """The ComfyUI node class of pixelwise node ``cls``."""
    widgets = node_widgets(cls)
    required: dict[str, Any] = {
        # Scalars and tables travel as FLOAT and STRING, which ComfyUI would show as widgets.
        key: (INPUT_TYPES[kind], {"forceInput": True})
        if kind in (Kind.SCALAR, Kind.TABLE)
        else (INPUT_TYPES[kind],)
        for key, kind in cls.inputs.items()
    }
    optional: dict[str, Any] = {}
    for name, widget in widgets.items():
        (optional if widget.optional else required)[name] = widget.spec
    if WEIGHTS_PARAM in widgets:
        optional["model"] = (MODEL_TYPE, {"tooltip": "A network from 'Load Restorer'."})

    def input_types(_cls: type) -> dict[str, Any]:
        types: dict[str, Any] = {"required": dict(required)}
        if optional:
            types["optional"] = dict(optional)
        return types

    attributes = {
        "NODE": cls,
        "WIDGETS": widgets,
        "INPUT_TYPES": classmethod(input_types),
        "RETURN_TYPES": tuple(OUTPUT_TYPES[kind] for kind in cls.outputs.values()),
        "RETURN_NAMES": tuple(cls.outputs),
        "CATEGORY": f"pixelwise/{cls.category}",
        "DESCRIPTION": cls.description,
        "__doc__": cls.__doc__,
        "__module__": __name__,
    }
    return type(f"Pixelwise_{cls.name}", (ComfyNode,), attributes)


@dataclass(frozen=True)
class LoadedModel:
    """What flows along a ``PIXELWISE_MODEL`` edge: a file whose network is loaded and cached."""

    path: Path
    summary: str


class LoadRestorer:
    """Load a restorer once (cached) for several pixelwise nodes; outputs ``PIXELWISE_MODEL``."""

    CATEGORY = "pixelwise/learned"
    DESCRIPTION = "Load published restorer weights (architecture detected from the file)."
    RETURN_TYPES = (MODEL_TYPE, "STRING")
    RETURN_NAMES = ("model", "summary")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        tooltip = "Weights file: a path, or a name in ComfyUI's models/upscale_models."
        return {"required": {WEIGHTS_PARAM: ("STRING", {"default": "", "tooltip": tooltip})}}

    def load(self, weights: str) -> tuple[LoadedModel, str]:
        from pixelwise.models.detect import load_restorer

        path = Path(_resolve_weights(weights))
        summary = load_restorer(path, torch_device()).describe()
        return LoadedModel(path, summary), summary


def build_pack() -> tuple[dict[str, type], dict[str, str]]:
    """``NODE_CLASS_MAPPINGS`` and ``NODE_DISPLAY_NAME_MAPPINGS`` for the current registry."""
    classes: dict[str, type] = {
        f"{PREFIX}{name}": comfy_class(cls) for name, cls in node_classes().items()
    }
    names = {f"{PREFIX}{name}": display_name(name) for name in node_classes()}
    classes[f"{PREFIX}load_restorer"] = LoadRestorer
    names[f"{PREFIX}load_restorer"] = "Load Restorer (pixelwise)"
    return classes, names


NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = build_pack()
