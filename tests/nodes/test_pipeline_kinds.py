"""Label maps and fields in pipelines: kind checks when wiring, and the files written."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import tifffile
from pydantic import Field

from pixelwise.io.images import read_image, read_raw_image, write_image
from pixelwise.nodes import Kind, Node, NodeParams, registry
from pixelwise.pipeline import Pipeline, PipelineConfigError

CHANNELS = 7


class _ClassesParams(NodeParams):
    levels: int = Field(8, ge=1)
    offset: int = 0


class _Classes(Node[_ClassesParams]):
    """Quantise an image into ``levels`` classes numbered from ``offset``."""

    name = "_test_classes"
    category = "test"
    description = "Quantise into classes."
    outputs: ClassVar[dict[str, Kind]] = {"labels": Kind.LABELS}

    def process(self, image: np.ndarray) -> np.ndarray:
        return expected_classes(image, self.params.levels, self.params.offset)


class _Depth(Node[NodeParams]):
    """Stack k times a gray field for k = 1..CHANNELS."""

    name = "_test_depth"
    category = "test"
    description = "A multi-channel field."
    inputs: ClassVar[dict[str, Kind]] = {"field": Kind.FIELD}
    outputs: ClassVar[dict[str, Kind]] = {"field": Kind.FIELD}

    def process(self, field: np.ndarray) -> np.ndarray:
        return expected_depth(field)


class _Threshold(Node[NodeParams]):
    name = "_test_threshold"
    category = "test"
    description = "Pixels above one half."
    outputs: ClassVar[dict[str, Kind]] = {"mask": Kind.MASK}

    def process(self, image: np.ndarray) -> np.ndarray:
        return image > 0.5


class _CountLabels(Node[NodeParams]):
    name = "_test_count_labels"
    category = "test"
    description = "Number of distinct labels."
    inputs: ClassVar[dict[str, Kind]] = {"labels": Kind.LABELS}
    outputs: ClassVar[dict[str, Kind]] = {"table": Kind.TABLE}

    def process(self, labels: np.ndarray) -> dict[str, float]:
        return {"count": float(len(np.unique(labels)))}


class _Invert(Node[NodeParams]):
    name = "_test_invert"
    category = "test"
    description = "One minus the image."

    def process(self, image: np.ndarray) -> np.ndarray:
        return 1.0 - image


def expected_classes(image: np.ndarray, levels: int, offset: int) -> np.ndarray:
    return np.minimum(np.floor(image * levels), levels - 1).astype(np.int64) + offset


def expected_depth(field: np.ndarray) -> np.ndarray:
    return np.stack([k * field for k in range(1, CHANNELS + 1)], axis=-1)


@pytest.fixture(autouse=True)
def _register_test_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the test-only nodes for one test, keeping them out of the global registry."""
    for cls in (_Classes, _Depth, _Threshold, _CountLabels, _Invert):
        monkeypatch.setitem(registry._REGISTRY, cls.name, cls)


def _build(*steps: dict[str, Any], outputs: list[str] | None = None) -> Pipeline:
    data: dict[str, Any] = {"name": "kinds", "steps": list(steps)}
    if outputs is not None:
        data["outputs"] = outputs
    return Pipeline.from_dict(data)


def _gradient() -> np.ndarray:
    return np.linspace(0, 1, 20).reshape(4, 5)


def test_labels_and_a_seven_channel_field_flow_unscaled_through_a_pipeline() -> None:
    pipeline = _build(
        {"name": "classes", "node": "_test_classes"},
        {"name": "count", "node": "_test_count_labels", "inputs": {"labels": "classes"}},
        {"name": "depth", "node": "_test_depth", "inputs": {"field": "input"}},
        outputs=["classes", "count", "depth"],
    )
    image = _gradient()
    results = pipeline.run(image)
    np.testing.assert_array_equal(results["classes.labels"], expected_classes(image, 8, 0))
    assert results["classes.labels"].dtype == np.int32
    assert results["count.table"] == {"count": 8.0}
    assert results["depth.field"].shape == (4, 5, CHANNELS)
    np.testing.assert_allclose(results["depth.field"], expected_depth(image), rtol=1e-6)


def test_a_mask_feeds_a_label_input() -> None:
    pipeline = _build(
        {"name": "mask", "node": "_test_threshold"},
        {"name": "count", "node": "_test_count_labels", "inputs": {"labels": "mask"}},
    )
    assert pipeline.run(_gradient())["count.table"] == {"count": 2.0}


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        (
            [
                {"name": "classes", "node": "_test_classes"},
                {"name": "invert", "node": "_test_invert", "inputs": {"image": "classes"}},
            ],
            "input 'image' takes kind 'image' but 'classes.labels' is of kind 'labels'",
        ),
        (
            [
                {"name": "depth", "node": "_test_depth", "inputs": {"field": "input"}},
                {"name": "invert", "node": "_test_invert", "inputs": {"image": "depth"}},
            ],
            "input 'image' takes kind 'image' but 'depth.field' is of kind 'field'",
        ),
        (
            [{"name": "count", "node": "_test_count_labels", "inputs": {"labels": "input"}}],
            "input 'labels' takes kind 'labels' but 'input.image' is of kind 'image'",
        ),
    ],
)
def test_lossy_kind_conversions_are_refused_when_wiring(
    steps: list[dict[str, Any]], problem: str
) -> None:
    with pytest.raises(PipelineConfigError, match="1 problem") as caught:
        _build(*steps)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("offset", "name", "dtype"),
    [
        (0, "x_classes.png", np.uint8),
        (300, "x_classes.png", np.uint16),
        (70_000, "x_classes.npy", np.int32),
        (-5, "x_classes.npy", np.int32),
    ],
)
def test_label_files_hold_the_label_values(
    tmp_path: Path, offset: int, name: str, dtype: type
) -> None:
    write_image(tmp_path / "x.png", _gradient())
    pipeline = _build({"name": "classes", "node": "_test_classes", "params": {"offset": offset}})
    manifest = pipeline.run_files(tmp_path / "x.png", tmp_path / "out", progress=False)
    assert manifest.inputs[0].outputs == {"classes.labels": name}
    path = tmp_path / "out" / name
    written = np.load(path) if path.suffix == ".npy" else read_raw_image(path)
    assert written.dtype == dtype
    image = read_image(tmp_path / "x.png")  # as the pipeline reads it
    np.testing.assert_array_equal(written, expected_classes(image, 8, offset))


@pytest.mark.parametrize("suffix", [".png", ".npy"])
def test_field_files_are_float32_with_every_channel(tmp_path: Path, suffix: str) -> None:
    write_image(tmp_path / f"x{suffix}", _gradient())
    pipeline = _build(
        {"name": "depth", "node": "_test_depth", "inputs": {"field": "input"}},
        {"name": "classes", "node": "_test_classes"},
        outputs=["depth", "classes"],
    )
    manifest = pipeline.run_files(tmp_path / f"x{suffix}", tmp_path / "out", progress=False)
    field_name = "x_depth.npy" if suffix == ".npy" else "x_depth.tif"
    labels_name = "x_classes.npy" if suffix == ".npy" else "x_classes.png"
    assert manifest.inputs[0].outputs == {"depth.field": field_name, "classes.labels": labels_name}
    path = tmp_path / "out" / field_name
    written = np.load(path) if suffix == ".npy" else tifffile.imread(path)
    assert written.dtype == np.float32
    assert written.shape == (4, 5, CHANNELS)
    expected = expected_depth(read_image(tmp_path / f"x{suffix}"))
    np.testing.assert_allclose(written, expected, rtol=1e-6)
