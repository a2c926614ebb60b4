"""Every registered node gives the same result whatever the dtype and memory layout of its input.

The node base class converts inputs at the edge, so a node must not care whether its image
arrives as uint8, uint16, float64, Fortran-ordered, negatively strided, a channel slice or a
step slice. Each layout is built from the same uint8 values, so that all of them convert to
exactly the canonical float32 image; outputs are compared against the output for that
canonical image. Nodes are collected from the registry, so new nodes are covered as they land.

The slow nodes (about a second a call whatever the image size) run through
:class:`RepeatCache`: the float32 reference and the first layout are computed, and a later
call whose converted inputs are bit-identical to an earlier one's (same values, dtype, shape
and strides) gets a copy of that output. Every layout's output is still checked and compared;
a conversion that changed a single bit, the dtype or the memory layout would miss the cache
and be computed. What the cache skips is recomputing a deterministic node on the very input
it has just processed, which the first layout already checks.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelwise.models import build_model, save_weights
from pixelwise.nodes import Kind, Node, node_classes
from pixelwise.nodes.base import as_image
from pixelwise.nodes.psf import gaussian_psf

NODES = node_classes()
IMAGE_NODES = [name for name, cls in NODES.items() if Kind.IMAGE in cls.inputs.values()]
SOURCE_NODES = [name for name in NODES if name not in IMAGE_NODES]

# Parameters for a fast run on a tiny image, or for a setting that is not the identity.
PARAMS: dict[str, dict[str, Any]] = {
    "crop": {"top": 3, "left": 2, "height": 9, "width": 11},
    "resize": {"scale": 0.7},
    "gamma": {"gamma": 2.2},
    "richardson_lucy": {"iterations": 5},
    "compare_denoisers": {"methods": ["gaussian"]},
    "compare_denoisers_reference": {"methods": ["gaussian", "median"]},
    "deep_image_prior": {"iterations": 3, "base_channels": 4, "levels": 2},
    "noise2void": {
        "epochs": 1,
        "patches_per_epoch": 4,
        "batch_size": 4,
        "patch_size": 16,
        "base_channels": 4,
    },
}
# Tiny networks for the nodes that load a weights file; files are written once per session.
TINY_NETWORKS: dict[str, dict[str, Any]] = {
    "dncnn": {"name": "dncnn", "depth": 3, "features": 4},
    "scunet": {
        "name": "scunet",
        "dim": 8,
        "head_dim": 4,
        "levels": 2,
        "blocks": 1,
        "window_size": 4,
    },
    "restore": {"name": "drunet", "widths": [4, 4, 4, 4], "blocks": 2},
    "dpir": {"name": "drunet", "widths": [4, 4, 4, 4], "blocks": 2},
    "upscale": {"name": "srvgg_compact", "scale": 2, "features": 4, "convs": 1},
}
# Nodes taking about a second per call even on 16x16 (bm3d's fixed cost, training): they get
# one example instead of three, a gray one if they are per-channel, and a RepeatCache.
SLOW_NODES = {
    "bm3d",
    "bm3d_color",
    "bm3d_deblur",
    "deep_image_prior",
    "noise2void",
    "auto_denoise",
}
SIZES = st.integers(16, 32)
# Nodes that score whole 96x96 patches (NIQE) get images of at least that size.
PATCH_NODES = {"niqe", "compare_denoisers"}
PATCH_SIZES = st.integers(96, 112)
OUTPUT_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weights")


def node_params(name: str, channels: int, weights_dir: Path) -> dict[str, Any]:
    """The test parameters of node ``name`` fed ``channels``-channel images."""
    params = dict(PARAMS.get(name, {}))
    if name in TINY_NETWORKS:
        path = weights_dir / f"{name}-{channels}.safetensors"
        if not path.exists():
            save_weights(path, build_model({**TINY_NETWORKS[name], "in_channels": channels}))
        params["weights"] = path
    return params


def canonical(quantised: np.ndarray) -> np.ndarray:
    """The C-contiguous float32 image the edge conversion makes of uint8 values."""
    return quantised.astype(np.float32) / np.float32(255)


def channel_slice(quantised: np.ndarray) -> np.ndarray:
    """The image as a channel slice of a larger array: ``rgba[..., :3]`` or ``stack[..., 1]``."""
    image = canonical(quantised)
    if image.ndim == 3:
        return np.concatenate([image, np.ones_like(image[..., :1])], axis=-1)[..., :3]
    return np.stack([np.zeros_like(image), image, np.ones_like(image)], axis=-1)[..., 1]


def step_slice(quantised: np.ndarray) -> np.ndarray:
    """The image as every other pixel of an array twice its size."""
    image = canonical(quantised)
    larger = np.zeros((2 * image.shape[0], 2 * image.shape[1], *image.shape[2:]), image.dtype)
    larger[::2, ::2] = image
    return larger[::2, ::2]


LAYOUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "uint8": lambda quantised: quantised,
    "uint16": lambda quantised: quantised.astype(np.uint16) * 257,
    "float64": lambda quantised: canonical(quantised).astype(np.float64),
    "fortran": lambda quantised: np.asfortranarray(canonical(quantised)),
    "negative_strides": lambda quantised: canonical(quantised)[::-1, ::-1].copy()[::-1, ::-1],
    "channel_slice": channel_slice,
    "step_slice": step_slice,
}
STRIDED_LAYOUTS = ("fortran", "negative_strides", "channel_slice", "step_slice")


def quantised_image(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 test image: smooth shading, an edge and mild noise, in every channel."""
    rows, cols = np.indices(shape[:2]) / max(shape[:2])
    phases = rng.uniform(0, 2 * np.pi, shape[2:] or (1,))
    shading = 0.5 + 0.3 * np.sin(4 * rows[..., None] + 3 * cols[..., None] + phases)
    edge = 0.2 * (cols > 0.5)[..., None]
    image = shading + edge + rng.normal(0, 0.05, shading.shape)
    return np.round(255 * np.clip(image, 0, 1)).astype(np.uint8).reshape(shape)


def auxiliary_input(kind: Kind, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
    """A valid input of a non-image kind for a node fed images of ``shape``."""
    if kind is Kind.KERNEL:
        return gaussian_psf(1.0)
    if kind is Kind.MASK:
        return rng.random(shape[:2]) > 0.5
    if kind is Kind.SCALAR:
        return 0.5
    if kind is Kind.FIELD:  # non-negative, image-sized: also a valid noise spectrum
        return rng.random(shape[:2]).astype(np.float32)
    if kind is Kind.TABLE:
        return {"value": 0.5}
    pytest.fail(f"the layout test has no data for a {kind.value} input yet")


def check_output(kind: Kind, value: Any, where: str) -> None:
    """Assert ``value`` is in the canonical form of ``kind`` and finite."""
    if kind is Kind.TABLE:
        assert isinstance(value, dict) and value, f"{where}: empty or not a dict"
        assert all(isinstance(item, float) for item in value.values()), where
        assert np.isfinite(list(value.values())).all(), f"{where}: non-finite {value}"
        return
    if kind is Kind.SCALAR:
        assert isinstance(value, float) and np.isfinite(value), f"{where}: {value!r}"
        return
    assert isinstance(value, np.ndarray), f"{where}: got {type(value).__name__}"
    assert value.flags.c_contiguous, f"{where}: not C-contiguous"
    if kind is Kind.MASK:
        assert value.dtype == bool and value.ndim == 2, f"{where}: {value.dtype} {value.shape}"
        return
    assert value.dtype == np.float32, f"{where}: dtype {value.dtype}"
    assert np.isfinite(value).all(), f"{where}: non-finite values"
    if kind is Kind.KERNEL:
        assert value.ndim == 2, f"{where}: kernel shape {value.shape}"
        assert value.sum() == pytest.approx(1.0, abs=1e-5), f"{where}: kernel sum {value.sum()}"
    else:
        assert value.ndim == 2 or (value.ndim == 3 and 1 <= value.shape[2] <= 4), (
            f"{where}: image shape {value.shape}"
        )


def assert_same_output(kind: Kind, value: Any, expected: Any, where: str) -> None:
    if kind is Kind.TABLE:
        assert value.keys() == expected.keys(), where
        assert value == pytest.approx(expected, rel=OUTPUT_TOLERANCE["rtol"]), where
    elif kind is Kind.SCALAR:
        assert value == pytest.approx(expected, rel=OUTPUT_TOLERANCE["rtol"]), where
    else:
        assert value.shape == expected.shape, f"{where}: {value.shape} != {expected.shape}"
        np.testing.assert_allclose(value, expected, **OUTPUT_TOLERANCE, err_msg=where)


def _fingerprint(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.strides, value.tobytes())
    return repr(value)


class RepeatCache:
    """Wraps a node's ``process``: bit-identical inputs seen twice already reuse the output.

    The first repeat of an input is still computed (so the node's determinism is checked
    once); later repeats get a deep copy of the stored output.
    """

    def __init__(self, process: Callable[..., Any]) -> None:
        self.process = process
        self.outputs: dict[Any, Any] = {}
        self.repeat_computed = False

    def __call__(self, **inputs: Any) -> Any:
        key = tuple((name, _fingerprint(value)) for name, value in sorted(inputs.items()))
        if key in self.outputs:
            if self.repeat_computed:
                return copy.deepcopy(self.outputs[key])
            self.repeat_computed = True
        self.outputs[key] = self.process(**inputs)
        return copy.deepcopy(self.outputs[key])


def run_checked(node: Node, inputs: dict[str, Any], where: str) -> dict[str, Any]:
    """Run ``node``; check it left its inputs alone and made fresh outputs of declared forms."""
    originals = {key: np.copy(value) for key, value in inputs.items()}
    outputs = node.run(inputs)
    for key, value in inputs.items():
        np.testing.assert_array_equal(value, originals[key], err_msg=f"{where}: {key} modified")
    assert outputs.keys() == node.outputs.keys(), where
    for key, kind in node.outputs.items():
        check_output(kind, outputs[key], f"{where}, output {key}")
        if isinstance(outputs[key], np.ndarray):
            shared = [k for k, value in inputs.items() if np.shares_memory(outputs[key], value)]
            assert not shared, f"{where}: output {key} shares memory with input {shared}"
    return outputs


def check_layouts(
    name: str, data: st.DataObject, colours: st.SearchStrategy[bool], weights_dir: Path
) -> None:
    """Feed node ``name`` one drawn image in every layout; compare with the float32 output."""
    cls = NODES[name]
    sizes = PATCH_SIZES if name in PATCH_NODES else SIZES
    height = data.draw(sizes, label="height")
    width = data.draw(sizes, label="width")
    colour = {"gray": False, "rgb": True}.get(cls.channels)
    if colour is None:
        colour = data.draw(colours, label="colour")
    shape = (height, width, 3) if colour else (height, width)
    node = cls(**node_params(name, 3 if colour else 1, weights_dir))
    if name in SLOW_NODES:
        node.process = RepeatCache(node.process)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    images, others = {}, {}
    for key, kind in cls.inputs.items():
        if kind is Kind.IMAGE:
            images[key] = quantised_image(rng, shape)
        else:
            others[key] = auxiliary_input(kind, shape, rng)

    reference = {key: canonical(image) for key, image in images.items()}
    expected = run_checked(node, {**others, **reference}, f"{name} with float32 input")
    for layout, make in LAYOUTS.items():
        where = f"{name} with {layout} input"
        outputs = run_checked(node, {**others, **{k: make(v) for k, v in images.items()}}, where)
        for key, kind in cls.outputs.items():
            assert_same_output(kind, outputs[key], expected[key], f"{where}, output {key}")


@pytest.mark.parametrize("name", [name for name in IMAGE_NODES if name not in SLOW_NODES])
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_every_layout_gives_the_canonical_output(
    name: str, data: st.DataObject, weights_dir: Path
) -> None:
    check_layouts(name, data, st.booleans(), weights_dir)


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in IMAGE_NODES if name in SLOW_NODES])
@settings(max_examples=1, deadline=None)
@given(data=st.data())
def test_every_layout_gives_the_canonical_output_slow_nodes(
    name: str, data: st.DataObject, weights_dir: Path
) -> None:
    # The base class applies per-channel nodes to each channel; the fast nodes cover that.
    per_channel = NODES[name].channels == "per_channel"
    check_layouts(name, data, st.just(False) if per_channel else st.booleans(), weights_dir)


@pytest.mark.parametrize("name", SOURCE_NODES)
def test_source_nodes_make_finite_reproducible_outputs(name: str) -> None:
    cls = NODES[name]
    node = cls(**PARAMS.get(name, {}))
    inputs = {
        key: auxiliary_input(kind, (16, 16), np.random.default_rng(0))
        for key, kind in cls.inputs.items()
    }
    first, second = node.run(inputs), node.run(inputs)
    for key, kind in cls.outputs.items():
        check_output(kind, first[key], f"{name} output {key}")
        assert_same_output(kind, second[key], first[key], f"{name} output {key}, second run")


@pytest.mark.parametrize("shape", [(16, 20), (16, 20, 3)])
def test_layouts_hold_the_same_values_in_the_intended_layout(shape: tuple[int, ...]) -> None:
    quantised = quantised_image(np.random.default_rng(0), shape)
    reference = canonical(quantised)
    for layout, make in LAYOUTS.items():
        array = make(quantised)
        assert array.shape == shape, layout
        np.testing.assert_array_equal(as_image(array), reference, err_msg=layout)
        if layout in STRIDED_LAYOUTS:
            assert not array.flags.c_contiguous, layout
    assert min(LAYOUTS["negative_strides"](quantised).strides[:2]) < 0


def test_parameter_tables_name_registered_nodes() -> None:
    stale = (set(PARAMS) | set(TINY_NETWORKS) | SLOW_NODES) - set(NODES)
    assert not stale, f"the test's node tables name unregistered nodes: {sorted(stale)}"
