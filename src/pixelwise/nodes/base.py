"""The node interface every restoration-studio node implements.

A node is a small, stateless processing step with typed parameters (a pydantic model),
declared input and output *kinds*, and a ``process`` method working on canonical arrays.
All conversion happens here, at the edge, so that node bodies never see a uint8,
Fortran-ordered, negative-strided or channel-sliced array:

* images become C-contiguous float32, HxW or HxWxC (C in 1..4). Integer inputs are scaled
  by their dtype's maximum, floats are kept as they are (nominal range [0, 1]; noisy images
  may leave it), booleans map to {0, 1};
* masks become C-contiguous bool HxW;
* kernels (PSFs) become C-contiguous float32 HxW, normalised to sum 1;
* tables are ``dict[str, float]``; scalars are ``float``.

The ``channels`` policy of a node says how it treats colour:
``"any"`` (the node handles both), ``"gray"`` (2-D only), ``"rgb"`` (HxWx3 only) or
``"per_channel"`` (the node is written for 2-D and is applied to each channel in turn).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from pixelwise.config import describe_validation_error
from pixelwise.errors import ConfigError, InputError
from pixelwise.io.images import to_float_image

ChannelPolicy = Literal["any", "gray", "rgb", "per_channel"]


class Kind(str, Enum):
    """What flows along a pipeline edge."""

    IMAGE = "image"
    MASK = "mask"
    KERNEL = "kernel"
    TABLE = "table"
    SCALAR = "scalar"


class NodeParams(BaseModel):
    """Base of every node's parameter model: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def as_image(value: Any, name: str = "image", *, copy: bool = True) -> np.ndarray:
    """Convert any array-like image to a C-contiguous float32 array, HxW or HxWxC.

    With ``copy`` (used for node inputs) the result never shares memory with ``value``, so a
    node can neither modify the caller's data nor hand it back as its output; node outputs,
    already the node's own arrays, are checked without a copy. Raises :class:`InputError`
    naming ``name`` for an empty array, a wrong number of dimensions or channels, a
    non-numeric dtype, or NaN/Inf.
    """
    array = to_float_image(np.asarray(value), name, copy=copy)
    if array.size == 0:
        raise InputError(name, f"image is empty (shape {array.shape})")
    if array.ndim not in (2, 3):
        raise InputError(name, f"expected an HxW or HxWxC image, got shape {array.shape}")
    if array.ndim == 3 and not 1 <= array.shape[2] <= 4:
        raise InputError(
            name, f"expected 1 to 4 channels in the last axis, got shape {array.shape}"
        )
    return array


def as_mask(value: Any, name: str = "mask") -> np.ndarray:
    """Convert an array-like to a C-contiguous boolean HxW mask."""
    array = np.asarray(value)
    if array.ndim != 2 or array.size == 0:
        raise InputError(name, f"expected a non-empty HxW mask, got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise InputError(name, "mask contains NaN or infinite values")
    return np.ascontiguousarray(array != 0)


def as_kernel(value: Any, name: str = "kernel") -> np.ndarray:
    """Convert an array-like PSF to C-contiguous float32 HxW with unit sum."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2 or array.size == 0:
        raise InputError(name, f"expected a non-empty HxW kernel, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise InputError(name, "kernel contains NaN or infinite values")
    total = array.sum()
    if total <= 0:
        raise InputError(name, "kernel must have a positive sum")
    return np.ascontiguousarray(array / total, dtype=np.float32)


def as_table(value: Any, name: str = "table") -> dict[str, float]:
    """Convert a mapping of names to numbers into ``dict[str, float]``."""
    if not isinstance(value, dict):
        raise InputError(
            name, f"expected a table (mapping of names to numbers), got {type(value).__name__}"
        )
    return {str(key): float(item) for key, item in value.items()}


def as_scalar(value: Any, name: str = "scalar") -> float:
    """Convert a number-like to ``float``."""
    try:
        return float(value)
    except (TypeError, ValueError) as error:
        raise InputError(name, f"expected a number, got {value!r}") from error


_CONVERTERS = {
    Kind.IMAGE: as_image,
    Kind.MASK: as_mask,
    Kind.KERNEL: as_kernel,
    Kind.TABLE: as_table,
    Kind.SCALAR: as_scalar,
}


def convert(kind: Kind, value: Any, name: str) -> Any:
    """Convert ``value`` to the canonical form of ``kind`` (see module docstring)."""
    return _CONVERTERS[kind](value, name)


class Node(ABC):
    """One processing step. Subclasses set the class attributes and implement :meth:`process`.

    Call a node with its inputs, positionally in declaration order or by name::

        denoised = get_node("gaussian")(sigma=1.5)(noisy)

    A node with one output returns it directly; a node with several returns a dict.
    """

    name: ClassVar[str]
    category: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[NodeParams]] = NodeParams
    inputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE}
    outputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE}
    channels: ClassVar[ChannelPolicy] = "any"
    version: ClassVar[str] = "1"

    def __init__(self, **params: Any) -> None:
        try:
            self.params = self.Params(**params)
        except ValidationError as error:
            raise ConfigError(f"node '{self.name}': {describe_validation_error(error)}") from None

    @abstractmethod
    def process(self, **inputs: Any) -> Any:
        """Run on canonical inputs; return the output (or a dict of outputs, keyed as declared)."""

    def run(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Convert ``inputs`` at the edge, process them, and return the outputs by name."""
        missing = [key for key in self.inputs if key not in inputs]
        unknown = [key for key in inputs if key not in self.inputs]
        if missing or unknown:
            raise InputError(
                f"node '{self.name}'",
                f"expected inputs {list(self.inputs)}, missing {missing}, unexpected {unknown}",
            )
        converted = {
            key: convert(kind, inputs[key], f"{self.name}.{key}")
            for key, kind in self.inputs.items()
        }
        self._check_channels(converted)
        result = self._dispatch(converted)
        if len(self.outputs) == 1 and not (
            isinstance(result, dict) and result.keys() == self.outputs.keys()
        ):
            result = {next(iter(self.outputs)): result}
        return {
            key: as_image(result[key], f"{self.name} output '{key}'", copy=False)
            if kind is Kind.IMAGE
            else convert(kind, result[key], f"{self.name} output '{key}'")
            for key, kind in self.outputs.items()
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) > len(self.inputs):
            raise InputError(
                f"node '{self.name}'", f"takes {len(self.inputs)} inputs, got {len(args)}"
            )
        inputs = dict(zip(self.inputs, args, strict=False))
        inputs.update(kwargs)
        outputs = self.run(inputs)
        return next(iter(outputs.values())) if len(outputs) == 1 else outputs

    def _image_inputs(self, converted: dict[str, Any]) -> list[str]:
        return [key for key, kind in self.inputs.items() if kind is Kind.IMAGE and key in converted]

    def _check_channels(self, converted: dict[str, Any]) -> None:
        for key in self._image_inputs(converted):
            image = converted[key]
            if self.channels == "gray" and image.ndim == 3 and image.shape[2] != 1:
                raise InputError(
                    f"{self.name}.{key}",
                    f"this node takes a grayscale HxW image, got shape {image.shape}",
                )
            if self.channels == "rgb" and (image.ndim != 3 or image.shape[2] != 3):
                raise InputError(
                    f"{self.name}.{key}",
                    f"this node takes an RGB HxWx3 image, got shape {image.shape}",
                )
            if self.channels == "gray" and image.ndim == 3:
                converted[key] = np.ascontiguousarray(image[..., 0])

    def _dispatch(self, converted: dict[str, Any]) -> Any:
        image_keys = self._image_inputs(converted)
        colour = [key for key in image_keys if converted[key].ndim == 3]
        if self.channels != "per_channel" or not colour:
            return self.process(**converted)
        channel_count = converted[colour[0]].shape[2]
        per_channel = []
        for channel in range(channel_count):
            sliced = dict(converted)
            for key in colour:
                sliced[key] = np.ascontiguousarray(converted[key][..., channel])
            per_channel.append(self.process(**sliced))
        if isinstance(per_channel[0], dict):
            return {
                key: np.stack([item[key] for item in per_channel], axis=-1)
                if self.outputs[key] is Kind.IMAGE
                else per_channel[0][key]
                for key in self.outputs
            }
        return np.stack(per_channel, axis=-1)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """A plain description of the node: its kinds, channel policy and parameter schema."""
        return {
            "name": cls.name,
            "category": cls.category,
            "description": cls.description,
            "version": cls.version,
            "inputs": {key: kind.value for key, kind in cls.inputs.items()},
            "outputs": {key: kind.value for key, kind in cls.outputs.items()},
            "channels": cls.channels,
            "parameters": cls.Params.model_json_schema().get("properties", {}),
        }
