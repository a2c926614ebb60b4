"""The node interface every restoration-studio node implements.

A node is a small, stateless processing step with typed parameters (a pydantic model),
declared input and output *kinds*, and a ``process`` method working on canonical arrays.
All conversion happens here, at the edge, so that node bodies never see a uint8,
Fortran-ordered, negative-strided or channel-sliced array:

* images become C-contiguous float32, HxW or HxWxC (C in 1..4). Integer inputs are scaled
  by their dtype's maximum, floats are kept as they are (nominal range [0, 1]; noisy images
  may leave it), booleans map to {0, 1};
* label maps become C-contiguous int32 HxW (int64 when a label does not fit int32), never
  rescaled: a uint8 map of classes 0..8 stays 0..8. Booleans are labels 0 and 1, floats must
  hold whole numbers, an HxWx1 array is taken as HxW;
* fields (depth, disparity, flow, feature maps) become C-contiguous float32 HxW or HxWxC with
  any number of channels, never rescaled (integers keep their values). Infinite values are
  always refused; NaN is refused too unless the node sets ``allow_nan``, in which case NaN
  marks a missing value and the node's docstring says what it does with it;
* masks become C-contiguous bool HxW;
* kernels (PSFs) become C-contiguous float32 HxW, normalised to sum 1;
* tables are ``dict[str, float]``; scalars are ``float``.

A pipeline edge may also widen a value without loss (:meth:`Kind.accepts`): an image feeds a
field input, a mask feeds a label input.

The ``channels`` policy of a node says how it treats colour in its *image* inputs:
``"any"`` (the node handles both), ``"gray"`` (2-D only), ``"rgb"`` (HxWx3 only) or
``"per_channel"`` (the node is written for 2-D and is applied to each channel in turn).
Fields are handed over whole, whatever their channel count.

Parameters are declared once, as the type argument of :class:`Node`::

    class GaussianParams(NodeParams):
        sigma: float = 1.0

    class Gaussian(Node[GaussianParams]):
        def process(self, image): ...  # self.params is a GaussianParams

``Node.__init_subclass__`` reads the argument from the class's bases and stores it as the
``Params`` class attribute, which pipelines and the CLI use to validate and describe
parameters. Setting ``Params`` in a class body is an error (two sources of truth); a node
without parameters is a ``Node[NodeParams]``. A subclass may pass a type variable on
(``class _KernelNode(Node[P])``) and leave the choice to its own subclasses, or inherit a
concrete parent's parameters unchanged.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from enum import Enum
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast, get_args, get_origin

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
    LABELS = "labels"
    FIELD = "field"

    def accepts(self, source: Kind) -> bool:
        """Whether an input of this kind can be wired to an output of kind ``source``.

        Besides the same kind, an image feeds a field input (it is a float32 field with 1 to
        4 channels) and a mask a label input (labels 0 and 1): both convert without loss.
        """
        return source is self or (self, source) in _WIDENINGS


_WIDENINGS = frozenset({(Kind.FIELD, Kind.IMAGE), (Kind.LABELS, Kind.MASK)})


class NodeParams(BaseModel):
    """Base of every node's parameter model: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=NodeParams)


FINITE_PRESERVING_LIMIT = 1e30
"""Largest input magnitude up to which a ``preserves_finite`` node's outputs go unscanned: a
filter gain under 1e8 cannot overflow float32 (3.4e38) from there."""


def as_image(value: Any, name: str = "image", *, copy: bool = True) -> np.ndarray:
    """Convert any array-like image to a C-contiguous float32 array, HxW or HxWxC.

    With ``copy`` (used for node inputs) the result never shares memory with ``value``, so a
    node can neither modify the caller's data nor hand it back as its output; node outputs,
    already the node's own arrays, are checked without a copy. Raises :class:`InputError`
    naming ``name`` for an empty array, a wrong number of dimensions or channels, a
    non-numeric dtype, or NaN/Inf.
    """
    return _checked_image(value, name, copy=copy)[0]


def _checked_image(
    value: Any, name: str, *, copy: bool, scan: bool = True
) -> tuple[np.ndarray, float]:
    """:func:`as_image`, also returning the largest magnitude of the values.

    Without ``scan`` a float array is not searched for NaN/Inf (the caller knows it is finite)
    and the magnitude returned is inf.
    """
    array = np.asarray(value)
    magnitude = math.inf
    if np.issubdtype(array.dtype, np.floating):
        # One conversion pass, then the extremes instead of an isfinite mask: NaN propagates
        # through max and min and an infinity is one of them, so both are finite exactly when
        # every value is (two SIMD reductions: about half the cost of one pairwise sum).
        array = _canonical(array, np.float32, copy=copy)
        if scan and array.size:
            magnitude = max(abs(float(array.max())), abs(float(array.min())))
            if not math.isfinite(magnitude):
                raise InputError(name, "image contains NaN or infinite values")
    else:
        array = to_float_image(array, name, copy=copy)
        magnitude = 1.0  # integers scale into [-1, 1], booleans map to {0, 1}
    if array.size == 0:
        raise InputError(name, f"image is empty (shape {array.shape})")
    if array.ndim not in (2, 3):
        raise InputError(name, f"expected an HxW or HxWxC image, got shape {array.shape}")
    if array.ndim == 3 and not 1 <= array.shape[2] <= 4:
        raise InputError(
            name, f"expected 1 to 4 channels in the last axis, got shape {array.shape}"
        )
    return array, magnitude


def _canonical(array: np.ndarray, dtype: type[np.generic], *, copy: bool) -> np.ndarray:
    """``array`` as C-contiguous ``dtype``: a new array with ``copy``, else only if needed."""
    if copy:
        return np.array(array, dtype=dtype, order="C")
    return np.ascontiguousarray(array, dtype=dtype)


def as_labels(value: Any, name: str = "labels", *, copy: bool = True) -> np.ndarray:
    """Convert an array-like label map to C-contiguous int32 HxW, without rescaling.

    Labels that do not fit int32 give int64. Booleans are labels 0 and 1; floats must be
    finite whole numbers; an HxWx1 array is taken as HxW. ``copy`` as for :func:`as_image`.
    Raises :class:`InputError` naming ``name`` for any other shape or dtype, fractional or
    non-finite values, or labels beyond int64.
    """
    array = np.asarray(value)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2 or array.size == 0:
        raise InputError(name, f"expected a non-empty HxW label map, got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InputError(name, "label map contains NaN or infinite values")
        if not (array == np.round(array)).all():
            raise InputError(name, "label map holds non-integer values; labels are whole numbers")
    elif array.dtype != bool and not np.issubdtype(array.dtype, np.integer):
        raise InputError(name, f"expected integer labels, got dtype {array.dtype}")
    low, high = array.min().item(), array.max().item()
    if low < -(2**63) or high >= 2**63:
        raise InputError(name, f"labels {low}..{high} exceed the int64 range")
    fits_int32 = low >= -(2**31) and high < 2**31
    return _canonical(array, np.int32 if fits_int32 else np.int64, copy=copy)


def as_field(
    value: Any, name: str = "field", *, copy: bool = True, allow_nan: bool = False
) -> np.ndarray:
    """Convert an array-like field to C-contiguous float32 HxW or HxWxC (any C), unscaled.

    Integer and boolean fields keep their values. Infinite values (including float64 values
    beyond float32's range) are refused, and NaN unless ``allow_nan``. ``copy`` as for
    :func:`as_image`. Problems raise :class:`InputError` naming ``name``.
    """
    array = np.asarray(value)
    numeric = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    if array.dtype != bool and not numeric:
        raise InputError(name, f"expected a numeric field, got dtype {array.dtype}")
    if array.ndim not in (2, 3) or array.size == 0:
        raise InputError(name, f"expected a non-empty HxW or HxWxC field, got shape {array.shape}")
    with np.errstate(over="ignore"):  # values beyond float32 become inf, refused below
        field = _canonical(array, np.float32, copy=copy)
    if np.isinf(field).any():
        raise InputError(name, "field contains infinite values (or values beyond float32)")
    if not allow_nan and np.isnan(field).any():
        raise InputError(name, "field contains NaN values, which this node does not accept")
    return field


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


# Converters whose result never shares memory with their input.
_FRESH_CONVERTERS = {
    Kind.MASK: as_mask,
    Kind.KERNEL: as_kernel,
    Kind.TABLE: as_table,
    Kind.SCALAR: as_scalar,
}


def convert(
    kind: Kind, value: Any, name: str, *, copy: bool = True, allow_nan: bool = False
) -> Any:
    """Convert ``value`` to the canonical form of ``kind`` (see module docstring).

    ``copy=False`` lets an image, label map or field already in canonical form through as it
    is; ``allow_nan`` applies to fields only.
    """
    if kind is Kind.IMAGE:
        return as_image(value, name, copy=copy)
    if kind is Kind.LABELS:
        return as_labels(value, name, copy=copy)
    if kind is Kind.FIELD:
        return as_field(value, name, copy=copy, allow_nan=allow_nan)
    return _FRESH_CONVERTERS[kind](value, name)


def _declared_params(cls: type) -> type[NodeParams] | TypeVar | None:
    """The type argument ``cls`` gives a node base class (``Node[X]``), or None if it gives none.

    The argument is a parameter model, or a type variable (``Node[P]``) for a generic base
    that leaves the choice to its subclasses.
    """
    for base in cls.__dict__.get("__orig_bases__", ()):
        origin = get_origin(base)
        if not (isinstance(origin, type) and issubclass(origin, Node)):
            continue
        (argument,) = get_args(base)
        if isinstance(argument, TypeVar):
            return argument
        if not (isinstance(argument, type) and issubclass(argument, NodeParams)):
            raise TypeError(
                f"{cls.__qualname__}: the type argument of {origin.__name__} must be a "
                f"NodeParams subclass, got {argument!r}"
            )
        return argument
    return None


class Node(ABC, Generic[P]):
    """One processing step with parameters of type ``P`` (see the module docstring).

    Subclasses set the class attributes and implement :meth:`process`. Call a node with its
    inputs, positionally in declaration order or by name::

        denoised = create_node("gaussian", sigma=1.5)(noisy)

    A node with one output returns it directly; a node with several returns a dict.
    """

    name: ClassVar[str]
    category: ClassVar[str]
    description: ClassVar[str]
    #: The parameter model, set from the type argument by ``__init_subclass__``.
    Params: ClassVar[type[NodeParams]]
    inputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE}
    outputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE}
    channels: ClassVar[ChannelPolicy] = "any"
    #: Whether field inputs and outputs may hold NaN (missing values).
    allow_nan: ClassVar[bool] = False
    #: Whether ``process`` may write into its image inputs. Nodes that set False get the
    #: caller's array itself when it is already canonical (no copy); an output that shares
    #: memory with an input is then copied, so callers never alias their data either way.
    modifies_input: ClassVar[bool] = True
    #: Whether ``process`` provably returns finite images from finite image inputs: a bounded
    #: filter (convex combinations, order statistics, interpolation, linear filters of modest
    #: gain). The edge then scans only the inputs for NaN/Inf, not the outputs again, as long
    #: as no image input exceeds FINITE_PRESERVING_LIMIT in magnitude.
    preserves_finite: ClassVar[bool] = False
    version: ClassVar[str] = "1"

    params: P

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Params" in cls.__dict__:
            raise TypeError(
                f"{cls.__qualname__}: give the parameter model as the type argument, "
                f"class {cls.__name__}(Node[...]), not as a Params attribute"
            )
        declared = _declared_params(cls)
        if isinstance(declared, type):
            cls.Params = declared
        elif declared is None and not hasattr(cls, "Params"):
            raise TypeError(
                f"{cls.__qualname__}: name the parameter model, as in "
                f"{cls.__bases__[0].__name__}[{cls.__name__}Params] (Node[NodeParams] for none)"
            )

    def __init__(self, **params: Any) -> None:
        try:
            # Params is the class P stands for (see __init_subclass__); a ClassVar cannot
            # say so to a type checker.
            self.params = cast(P, self.Params(**params))
        except ValidationError as error:
            raise ConfigError(f"node '{self.name}': {describe_validation_error(error)}") from None

    @abstractmethod
    def process(self, *args: Any, **inputs: Any) -> Any:
        """Run on canonical inputs, passed by name; return the output (or a dict by output).

        Subclasses name their inputs (``def process(self, image, kernel)``); ``*args`` is
        never passed, it only lets type checkers accept those narrower signatures.
        """

    def run(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Convert ``inputs`` at the edge, process them, and return the outputs by name."""
        missing = [key for key in self.inputs if key not in inputs]
        unknown = [key for key in inputs if key not in self.inputs]
        if missing or unknown:
            raise InputError(
                f"node '{self.name}'",
                f"expected inputs {list(self.inputs)}, missing {missing}, unexpected {unknown}",
            )
        copy_inputs = self.modifies_input
        converted: dict[str, Any] = {}
        largest = 0.0  # magnitude of the image inputs
        for key, kind in self.inputs.items():
            source = f"{self.name}.{key}"
            if kind is Kind.IMAGE:
                converted[key], magnitude = _checked_image(inputs[key], source, copy=copy_inputs)
                largest = max(largest, magnitude)
            else:
                converted[key] = convert(kind, inputs[key], source, allow_nan=self.allow_nan)
        scan_outputs = not (self.preserves_finite and largest <= FINITE_PRESERVING_LIMIT)
        self._check_channels(converted)
        result = self._dispatch(converted)
        if len(self.outputs) == 1 and not (
            isinstance(result, dict) and result.keys() == self.outputs.keys()
        ):
            result = {next(iter(self.outputs)): result}
        outputs = {
            key: self._convert_output(key, kind, result[key], scan=scan_outputs)
            for key, kind in self.outputs.items()
        }
        if not copy_inputs:
            shared = [value for value in converted.values() if isinstance(value, np.ndarray)]
            for key, value in outputs.items():
                if isinstance(value, np.ndarray) and any(
                    np.may_share_memory(value, item) for item in shared
                ):
                    outputs[key] = value.copy()
        return outputs

    def _convert_output(self, key: str, kind: Kind, value: Any, *, scan: bool) -> Any:
        """Check output ``key`` as its kind, without a copy; images are scanned only if ``scan``."""
        name = f"{self.name} output '{key}'"
        if kind is Kind.IMAGE:
            return _checked_image(value, name, copy=False, scan=scan)[0]
        return convert(kind, value, name, copy=False, allow_nan=self.allow_nan)

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
