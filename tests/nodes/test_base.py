"""The node base class: typed parameters from the generic argument, and the edge conversion
of the label-map and field kinds (images keep their integer-scaling rule)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from pydantic import Field

from pixelwise.errors import InputError
from pixelwise.nodes import Kind, Node, NodeParams, node_classes
from pixelwise.nodes.base import P
from pixelwise.nodes.denoise import GaussianDenoise, GaussianParams

# --- typed parameters -----------------------------------------------------------------------


class _StrengthParams(NodeParams):
    strength: float = Field(1.0, gt=0)


class _Strength(Node[_StrengthParams]):
    name = "_test_strength"
    category = "test"
    description = "Multiply by strength."

    def process(self, image: np.ndarray) -> np.ndarray:
        return image * self.params.strength


class _Generic(Node[P]):
    """A base that leaves the parameter model to its subclasses."""

    category = "test"


class _FromGeneric(_Generic[_StrengthParams]):
    name = "_test_from_generic"
    description = "Identity."

    def process(self, image: np.ndarray) -> np.ndarray:
        return image


class _Inherited(_Strength):
    name = "_test_inherited"


def test_params_come_from_the_type_argument() -> None:
    assert GaussianDenoise.Params is GaussianParams
    assert _Strength.Params is _StrengthParams
    assert _FromGeneric.Params is _StrengthParams
    assert _Inherited.Params is _StrengthParams
    node = _Strength(strength=2.0)
    assert isinstance(node.params, _StrengthParams)
    assert node.params.strength == 2.0


def test_every_registered_node_builds_its_parameter_model() -> None:
    for name, cls in node_classes().items():
        assert issubclass(cls.Params, NodeParams), name
        if all(not field.is_required() for field in cls.Params.model_fields.values()):
            assert type(cls().params) is cls.Params, name  # pretrained nodes need weights


def test_a_params_attribute_in_the_class_body_is_refused() -> None:
    with pytest.raises(TypeError, match=r"_Twice\(Node\[\.\.\.\]\), not as a Params attribute"):

        class _Twice(Node[_StrengthParams]):
            Params = _StrengthParams

            def process(self, image: np.ndarray) -> np.ndarray:
                return image


def test_a_node_without_a_parameter_model_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Node\[NodeParams\] for none"):

        class _Bare(Node):  # type: ignore[type-arg]
            def process(self, image: np.ndarray) -> np.ndarray:
                return image


def test_a_type_argument_that_is_not_a_parameter_model_is_refused() -> None:
    with pytest.raises(TypeError, match="must be a NodeParams subclass"):

        class _Wrong(Node[int]):  # type: ignore[type-var]
            def process(self, image: np.ndarray) -> np.ndarray:
                return image


# --- label maps and fields ------------------------------------------------------------------


class _Labels(Node[NodeParams]):
    name = "_test_labels"
    category = "test"
    description = "Pass a label map through."
    inputs: ClassVar[dict[str, Kind]] = {"labels": Kind.LABELS}
    outputs: ClassVar[dict[str, Kind]] = {"labels": Kind.LABELS}

    def process(self, labels: np.ndarray) -> np.ndarray:
        return labels


class _Field(Node[NodeParams]):
    name = "_test_field"
    category = "test"
    description = "Pass a field through."
    inputs: ClassVar[dict[str, Kind]] = {"field": Kind.FIELD}
    outputs: ClassVar[dict[str, Kind]] = {"field": Kind.FIELD}

    def process(self, field: np.ndarray) -> np.ndarray:
        return field


class _FieldWithHoles(_Field):
    """NaN marks a missing depth value; it is passed through."""

    name = "_test_field_with_holes"
    allow_nan = True


class _ImageAndField(Node[NodeParams]):
    name = "_test_image_and_field"
    category = "test"
    description = "Weight a gray image per channel by the field's first channel."
    inputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE, "field": Kind.FIELD}
    channels = "per_channel"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def process(self, image: np.ndarray, field: np.ndarray) -> np.ndarray:
        self.seen.append((image.shape, field.shape))
        return image * field[..., 0]


def test_a_uint8_label_map_passes_unchanged() -> None:
    labels = np.random.default_rng(0).integers(0, 9, (12, 10), dtype=np.uint8)
    result = _Labels()(np.asfortranarray(labels))
    assert result.dtype == np.int32
    assert result.flags.c_contiguous
    np.testing.assert_array_equal(result, labels)  # not divided by 255


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        (np.array([[0, 1], [1, 0]], dtype=bool), np.int32),
        (np.array([[-1, 3], [7, 2]], dtype=np.int16), np.int32),
        (np.array([[0.0, 3.0], [-2.0, 5.0]]), np.int32),
        (np.array([[0, 2**40], [1, 2]], dtype=np.int64), np.int64),
        (np.array([[[0], [4]], [[2], [1]]], dtype=np.uint16), np.int32),  # HxWx1 is HxW
    ],
)
def test_label_maps_keep_their_values(value: np.ndarray, dtype: type) -> None:
    result = _Labels()(value)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, value.reshape(value.shape[:2]))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.array([[0.0, 0.5], [1.0, 2.0]]), "non-integer values"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN or infinite"),
        (np.zeros((4, 4, 3), dtype=np.uint8), r"HxW label map, got shape \(4, 4, 3\)"),
        (np.zeros((0, 4), dtype=np.uint8), "non-empty HxW label map"),
        (np.array([["a", "b"]]), "expected integer labels, got dtype <U1"),
        (np.array([[0, 2**63]], dtype=np.uint64), "exceed the int64 range"),
    ],
)
def test_bad_label_maps_are_one_clear_input_error(value: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=rf"_test_labels\.labels: .*{message}"):
        _Labels()(value)


def test_a_seven_channel_depth_field_is_accepted_unscaled() -> None:
    depth = np.random.default_rng(0).uniform(0.5, 80.0, (9, 11, 7))  # metres, float64
    result = _Field()(depth)
    assert result.dtype == np.float32
    assert result.flags.c_contiguous
    assert result.shape == (9, 11, 7)
    np.testing.assert_allclose(result, depth, rtol=1e-6)
    millimetres = np.array([[1200, 65535], [0, 7]], dtype=np.uint16)
    np.testing.assert_array_equal(_Field()(millimetres), millimetres)  # not divided by 65535


def test_a_field_input_is_a_copy_and_an_output_is_not_copied_again() -> None:
    depth = np.ones((4, 5, 2), np.float32)
    node = _Field()
    result = node.run({"field": depth})["field"]
    assert not np.shares_memory(result, depth)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.array([[1.0, np.nan]]), "NaN values, which this node does not accept"),
        (np.array([[1.0, np.inf]]), "infinite values"),
        (np.array([[1.0, 1e300]]), "infinite values"),  # beyond float32
        (np.zeros((2, 2, 2, 2)), r"HxW or HxWxC field, got shape \(2, 2, 2, 2\)"),
        (np.zeros((2, 2), dtype=complex), "numeric field, got dtype complex128"),
    ],
)
def test_bad_fields_are_one_clear_input_error(value: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=rf"_test_field\.field: .*{message}"):
        _Field()(value)


def test_a_node_allowing_nan_takes_and_returns_missing_values() -> None:
    depth = np.array([[1.0, np.nan], [2.0, 3.0]])
    np.testing.assert_array_equal(_FieldWithHoles()(depth), depth.astype(np.float32))
    with pytest.raises(InputError, match="infinite values"):
        _FieldWithHoles()(np.array([[1.0, np.inf]]))


def test_outputs_are_checked_as_their_kind() -> None:
    class _MakesNan(_Field):
        name = "_test_makes_nan"

        def process(self, field: np.ndarray) -> np.ndarray:
            return np.full_like(field, np.nan)

    with pytest.raises(InputError, match=r"_test_makes_nan output 'field': .*NaN"):
        _MakesNan()(np.zeros((2, 2)))


def test_per_channel_nodes_split_images_but_hand_fields_over_whole() -> None:
    image = np.random.default_rng(0).random((6, 5, 3)).astype(np.float32)
    field = np.full((6, 5, 7), 2.0)
    node = _ImageAndField()
    np.testing.assert_allclose(node(image, field), 2 * image)
    assert node.seen == [((6, 5), (6, 5, 7))] * 3


def test_images_keep_the_integer_scaling_and_the_channel_limit() -> None:
    class _Image(Node[NodeParams]):
        name = "_test_image"
        category = "test"
        description = "Identity."

        def process(self, image: np.ndarray) -> np.ndarray:
            return image

    image = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    np.testing.assert_allclose(_Image()(image), image / 255, rtol=1e-6)
    with pytest.raises(InputError, match=r"_test_image\.image: expected 1 to 4 channels"):
        _Image()(np.zeros((4, 4, 7)))


@pytest.mark.parametrize(
    ("target", "source", "accepted"),
    [
        (Kind.FIELD, Kind.IMAGE, True),
        (Kind.LABELS, Kind.MASK, True),
        (Kind.IMAGE, Kind.FIELD, False),
        (Kind.IMAGE, Kind.LABELS, False),
        (Kind.MASK, Kind.LABELS, False),
        (Kind.LABELS, Kind.IMAGE, False),
        (Kind.KERNEL, Kind.KERNEL, True),
    ],
)
def test_kinds_accept_only_lossless_widenings(target: Kind, source: Kind, accepted: bool) -> None:
    assert target.accepts(source) is accepted


# --- finiteness scans -----------------------------------------------------------------------


class _Bounded(Node[NodeParams]):
    """Claims ``preserves_finite`` but breaks it, to show which outputs are scanned."""

    name = "_test_bounded"
    category = "test"
    description = "Returns NaN where the input is 1."
    modifies_input = False
    preserves_finite = True

    def process(self, image: np.ndarray) -> np.ndarray:
        return np.where(image == 1, np.float32(np.nan), image)


def test_finite_preserving_nodes_scan_inputs_and_skip_the_output_scan() -> None:
    """The edge scans a preserves_finite node's inputs only (the one pass the fast nodes can
    afford: bench/nodes.py), unless an input is so large that the node's gain could overflow."""
    with pytest.raises(InputError, match=r"_test_bounded\.image: image contains NaN"):
        _Bounded()(np.array([[0.5, np.nan]], np.float32))
    assert np.isnan(_Bounded()(np.array([[0.5, 1.0]], np.float32))).any()  # not rescanned
    huge = np.array([[1.0, 1e31]], np.float32)
    with pytest.raises(InputError, match=r"_test_bounded output 'image': image contains NaN"):
        _Bounded()(huge)


def test_gaussian_refuses_infinite_input_and_never_aliases_it() -> None:
    image = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    node = GaussianDenoise()
    assert not np.shares_memory(node(image), image)
    image[2, 3] = -np.inf
    with pytest.raises(InputError, match=r"gaussian\.image: image contains NaN or infinite"):
        node(image)
