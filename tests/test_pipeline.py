"""Tests for pixelwise.pipeline: validation, wiring, ordering, running, files and manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import skimage.data
from pydantic import Field
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio

import pixelwise
from pixelwise.errors import ConfigError, InputError
from pixelwise.io.images import read_image, read_raw_image, write_image
from pixelwise.nodes import Kind, Node, NodeParams, registry
from pixelwise.pipeline import (
    Manifest,
    Pipeline,
    PipelineConfigError,
    Port,
    example_pipeline_path,
    list_example_pipelines,
    load_pipeline,
)
from pixelwise.pipeline.graph import INPUT_PORT
from pixelwise.pipeline.outputs import ImageFormat, image_format_for

# --- test-only nodes, registered per test by _register_test_nodes ------------------------


class _ScaleParams(NodeParams):
    factor: float = Field(2.0, gt=0, le=10)
    offset: float = 0.0


class _Scale(Node[_ScaleParams]):
    """Multiply by ``factor``, then add ``offset``."""

    name = "_test_scale"
    category = "test"
    description = "Scale an image."

    def process(self, image):
        return image * self.params.factor + self.params.offset


class _Mean(Node[NodeParams]):
    name = "_test_mean"
    category = "test"
    description = "Mean of an image, as a table."
    outputs: ClassVar[dict[str, Kind]] = {"table": Kind.TABLE}

    def process(self, image):
        return {"mean": float(image.mean())}


class _BoxParams(NodeParams):
    size: int = Field(3, ge=1)


class _Box(Node[_BoxParams]):
    name = "_test_box"
    category = "test"
    description = "A box kernel."
    inputs: ClassVar[dict[str, Kind]] = {}
    outputs: ClassVar[dict[str, Kind]] = {"kernel": Kind.KERNEL}

    def process(self):
        return np.ones((self.params.size, self.params.size))


class _KernelCount(Node[NodeParams]):
    name = "_test_kernel_count"
    category = "test"
    description = "Multiply an image by the number of kernel taps."
    inputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE, "kernel": Kind.KERNEL}

    def process(self, image, kernel):
        return image * kernel.size


class _Add(Node[NodeParams]):
    name = "_test_add"
    category = "test"
    description = "Add two images."
    inputs: ClassVar[dict[str, Kind]] = {"image": Kind.IMAGE, "other": Kind.IMAGE}

    def process(self, image, other):
        return image + other


class _Split(Node[NodeParams]):
    name = "_test_split"
    category = "test"
    description = "An image, its inverse and a threshold mask."
    outputs: ClassVar[dict[str, Kind]] = {
        "image": Kind.IMAGE,
        "inverse": Kind.IMAGE,
        "mask": Kind.MASK,
    }

    def process(self, image):
        return {"image": image, "inverse": 1 - image, "mask": image > 0.5}


class _FailIfBrightParams(NodeParams):
    limit: float = 0.5


class _FailIfBright(Node[_FailIfBrightParams]):
    name = "_test_fail_if_bright"
    category = "test"
    description = "Pass an image through, refusing bright ones."

    def process(self, image):
        if image.mean() > self.params.limit:
            raise InputError("image", "too bright")
        return image


class _FirstTwoChannels(Node[NodeParams]):
    name = "_test_first_two_channels"
    category = "test"
    description = "Keep the first two channels of a colour image."

    def process(self, image):
        return image[..., :2] if image.ndim == 3 else image


TEST_NODES = (_Scale, _Mean, _Box, _KernelCount, _Add, _Split, _FailIfBright, _FirstTwoChannels)


@pytest.fixture(autouse=True)
def _register_test_nodes(monkeypatch):
    """Register the test-only nodes for one test, then restore the registry.

    Registering per test keeps them out of test modules that enumerate every node.
    """
    for cls in TEST_NODES:
        monkeypatch.setitem(registry._REGISTRY, cls.name, cls)


def _build(*steps: dict, outputs: list[str] | None = None) -> Pipeline:
    data: dict = {"name": "test", "steps": list(steps)}
    if outputs is not None:
        data["outputs"] = outputs
    return Pipeline.from_dict(data, source="test.yaml")


def _problems(data: dict) -> list[str]:
    with pytest.raises(PipelineConfigError) as caught:
        Pipeline.from_dict(data, source="bad.yaml")
    assert str(caught.value).startswith("bad.yaml: ")
    return caught.value.problems


IMAGE = np.full((4, 5), 0.1, dtype=np.float32)

# --- wiring and order ----------------------------------------------------------------------


def test_linear_chain_needs_no_wiring():
    pipeline = _build(
        {"node": "_test_scale"}, {"name": "again", "node": "_test_scale", "params": {"factor": 3}}
    )
    assert pipeline.steps[0].sources == {"image": INPUT_PORT}
    assert pipeline.steps[1].sources == {"image": Port("_test_scale", "image")}
    results = pipeline.run(IMAGE)
    assert set(results) == {"_test_scale.image", "again.image"}
    np.testing.assert_allclose(results["again.image"], IMAGE * 6, rtol=1e-6)


def test_auto_wiring_skips_steps_without_an_image_output():
    pipeline = _build(
        {"name": "double", "node": "_test_scale"},
        {"name": "stats", "node": "_test_mean"},
        {"name": "box", "node": "_test_box"},
        {"name": "count", "node": "_test_kernel_count", "inputs": {"kernel": "box"}},
    )
    sources = {step.name: step.sources for step in pipeline.steps}
    assert sources["stats"] == {"image": Port("double", "image")}
    assert sources["count"] == {"image": Port("double", "image"), "kernel": Port("box", "kernel")}
    results = pipeline.run(IMAGE)
    np.testing.assert_allclose(results["count.image"], IMAGE * 2 * 9, rtol=1e-6)
    assert results["stats.table"] == pytest.approx({"mean": 0.2})


def test_dag_runs_dependencies_first_whatever_the_file_order():
    pipeline = _build(
        {"name": "total", "node": "_test_add", "inputs": {"image": "left", "other": "right.image"}},
        {"name": "left", "node": "_test_scale", "inputs": {"image": "input"}},
        {
            "name": "right",
            "node": "_test_scale",
            "params": {"factor": 3},
            "inputs": {"image": "input"},
        },
    )
    assert [step.name for step in pipeline.steps] == ["left", "right", "total"]
    np.testing.assert_allclose(pipeline.run(IMAGE)["total.image"], IMAGE * 5, rtol=1e-6)


def test_bare_step_reference_picks_the_output_of_the_wanted_kind():
    pipeline = _build(
        {"name": "split", "node": "_test_split"},
        {"name": "sum", "node": "_test_add", "inputs": {"other": "split.inverse"}},
        {"name": "stats", "node": "_test_mean", "inputs": {"image": "sum"}},
    )
    np.testing.assert_allclose(pipeline.run(IMAGE)["sum.image"], np.ones_like(IMAGE))
    assert pipeline.graph.outputs == (Port("stats", "table"),)


@pytest.mark.parametrize(
    "steps",
    [
        [
            {"name": "a", "node": "_test_scale", "inputs": {"image": "b"}},
            {"name": "b", "node": "_test_scale", "inputs": {"image": "a"}},
        ],
        [{"name": "a", "node": "_test_scale", "inputs": {"image": "a.image"}}],
    ],
)
def test_cycles_are_reported(steps):
    problems = _problems({"name": "loop", "steps": steps})
    assert len(problems) == 1
    assert problems[0].startswith("steps form a cycle: a -> ")


# --- validation ----------------------------------------------------------------------------

SCALE = {"name": "a", "node": "_test_scale"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"name": "t", "steps": [{"node": "_test_scal"}]},
            "step '_test_scal': unknown node '_test_scal'; did you mean '_test_scale'",
        ),
        (
            {"name": "t", "steps": [{**SCALE, "params": {"factr": 2}}]},
            "step 'a' (_test_scale): unknown parameter 'factr'; did you mean 'factor'?",
        ),
        (
            {"name": "t", "steps": [{**SCALE, "params": {"factor": -1}}]},
            "step 'a' (_test_scale): parameter 'factor': Input should be greater than 0",
        ),
        (
            {"name": "t", "steps": [{**SCALE, "params": {"factor": "big"}}]},
            "step 'a' (_test_scale): parameter 'factor': Input should be a valid number",
        ),
        (
            {"name": "t", "steps": [SCALE, {"node": "_test_mean"}, SCALE]},
            "duplicate step name 'a' (steps 1 and 3)",
        ),
        (
            {"name": "t", "steps": [{"name": "input", "node": "_test_scale"}]},
            "step 1: the name 'input' is reserved",
        ),
        (
            {"name": "t", "steps": [{**SCALE, "inputs": {"image": "nowhere"}}]},
            "step 'a' (_test_scale) input 'image': unknown step 'nowhere'",
        ),
        (
            {
                "name": "t",
                "steps": [
                    SCALE,
                    {"node": "_test_scale", "name": "b", "inputs": {"image": "a.nope"}},
                ],
            },
            "step 'b' (_test_scale) input 'image': step 'a' has no output 'nope' (outputs: image)",
        ),
        (
            {"name": "t", "steps": [{**SCALE, "inputs": {"imag": "input"}}]},
            "node '_test_scale' has no input 'imag'; did you mean 'image'?",
        ),
        (
            {
                "name": "t",
                "steps": [{"name": "m", "node": "_test_mean"}, {**SCALE, "inputs": {"image": "m"}}],
            },
            "input 'image' takes kind 'image' but 'm.table' is of kind 'table'",
        ),
        (
            {"name": "t", "steps": [{"name": "k", "node": "_test_kernel_count"}]},
            "step 'k' (_test_kernel_count): input 'kernel' (kernel) is not wired",
        ),
        (
            {
                "name": "t",
                "steps": [
                    {"name": "s", "node": "_test_split"},
                    {"node": "_test_add", "inputs": {"other": "s"}},
                ],
            },
            "step 's' has several outputs (image, inverse, mask); write 's.<output>'",
        ),
        (
            {"name": "t", "steps": [SCALE], "outputs": ["a", "zzz.image"]},
            "outputs entry 'zzz.image': unknown step 'zzz'",
        ),
        ({"name": "t", "stepz": [SCALE]}, "stepz: unknown field"),
        ({"name": "t", "steps": []}, "steps: List should have at least 1 item"),
        ({"steps": [SCALE]}, "name: required field is missing"),
        (
            {"name": "t", "steps": [{"node": "_test_scale", "parms": {}}]},
            "step 1: parms: unknown field",
        ),
        (
            {"name": "t", "steps": [{"name": "a.b", "node": "_test_scale"}]},
            "step 1: name: String should match pattern",
        ),
    ],
)
def test_each_kind_of_problem_is_reported(data, expected):
    assert expected in " | ".join(_problems(data))


def test_every_problem_is_listed_in_one_message():
    data = {
        "name": "many",
        "steps": [
            {"name": "typo", "node": "_test_scale", "parms": {}},
            {"name": "a", "node": "_test_scael"},
            {"name": "b", "node": "_test_scale", "params": {"factr": 1}},
            {"name": "c", "node": "_test_scale", "inputs": {"image": "typo"}},
            {"name": "c", "node": "_test_scale", "inputs": {"image": "ghost"}},
        ],
    }
    with pytest.raises(ConfigError) as caught:
        Pipeline.from_dict(data, source="many.yaml")
    message = str(caught.value)
    assert message.startswith("many.yaml: 4 problems: (1) step 1: parms: unknown field")
    for fragment in [
        "unknown node '_test_scael'",
        "unknown parameter 'factr'",
        "duplicate step name 'c'",
    ]:
        assert fragment in message
    assert "\n" not in message
    assert "typo" not in message.split("(1)")[1].split("(2)")[1]  # a broken step is not "unknown"


def test_yaml_python_tags_are_rejected_not_executed(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.yaml"
    path.write_text(
        f"name: evil\nsteps:\n  - node: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"evil\.yaml: invalid YAML: line 3, column 11: could not determine a constructor",
    ):
        Pipeline.from_file(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed\n", r"p\.yaml: invalid YAML: line 2"),
        ("- just\n- a list\n", r"p\.yaml: 1 problem: \(1\) expected a mapping .* got a list"),
        ("", "got an empty file"),
    ],
)
def test_malformed_files(tmp_path, text, message):
    (tmp_path / "p.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        Pipeline.from_file(tmp_path / "p.yaml")


def test_missing_pipeline_file(tmp_path):
    with pytest.raises(ConfigError, match="no such pipeline file, nor a shipped example"):
        load_pipeline(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="pipeline file not found"):
        Pipeline.from_file(tmp_path / "nope.yaml")


def test_json_pipeline_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"name": "j", "steps": [{"node": "_test_scale"}]}))
    pipeline = load_pipeline(path)
    assert pipeline.name == "j"
    assert pipeline.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_step_failure_names_the_step():
    pipeline = _build({"name": "guard", "node": "_test_fail_if_bright", "params": {"limit": 0.0}})
    with pytest.raises(
        InputError, match=r"step 'guard' \(_test_fail_if_bright\): image: too bright"
    ):
        pipeline.run(IMAGE)


# --- files and manifest -------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_files_writes_outputs_and_manifest(tmp_path):
    inputs = tmp_path / "in"
    photo = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8)
    write_image(inputs / "photo.png", photo)
    science = np.linspace(0, 3, 48, dtype=np.float32).reshape(6, 8)  # float data beyond [0, 1]
    write_image(inputs / "science.tif", science)
    (inputs / "notes.txt").write_text("not an image")
    pipeline_file = tmp_path / "p.yaml"
    pipeline_file.write_text(
        "name: halve\nsteps:\n  - {name: half, node: _test_scale, params: {factor: 0.5}}\n"
        "  - {name: stats, node: _test_mean}\noutputs: [half, stats]\n"
    )
    out = tmp_path / "out"

    run = load_pipeline(pipeline_file).run_files([inputs], out, progress=False)

    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "photo_half.png",
        "photo_stats.json",
        "science_half.tif",
        "science_stats.json",
    ]
    assert read_raw_image(out / "photo_half.png").dtype == np.uint8
    np.testing.assert_allclose(
        read_image(out / "photo_half.png"), read_image(inputs / "photo.png") / 2, atol=1 / 255
    )
    np.testing.assert_array_equal(read_image(out / "science_half.tif"), science / 2)
    assert json.loads((out / "science_stats.json").read_text()) == pytest.approx({"mean": 0.75})

    on_disk = json.loads((out / "manifest.json").read_text())
    assert Manifest.model_validate(on_disk).runs == [run]
    (record,) = on_disk["runs"]
    assert record["pipeline"] == "halve"
    assert record["pipeline_file"] == str(pipeline_file.resolve())
    assert record["pipeline_sha256"] == _sha256(pipeline_file)
    assert record["pixelwise_version"] == pixelwise.__version__
    assert (record["status"], record["error"]) == ("completed", None)
    assert record["seconds"] >= 0
    half, stats = record["steps"]
    assert half["name"] == "half"
    assert half["node"] == "_test_scale"
    assert half["node_version"] == "1"
    assert half["params"] == {"factor": 0.5, "offset": 0.0}
    assert stats["params"] == {}
    assert half["seconds"] >= 0
    photo_record, science_record = record["inputs"]
    assert photo_record["path"] == str((inputs / "photo.png").resolve())
    assert photo_record["sha256"] == _sha256(inputs / "photo.png")
    assert (photo_record["shape"], photo_record["dtype"]) == ([6, 8], "uint8")
    assert (science_record["shape"], science_record["dtype"]) == ([6, 8], "float32")
    assert science_record["outputs"] == {
        "half.image": "science_half.tif",
        "stats.table": "science_stats.json",
    }
    assert set(science_record["seconds"]) == {"half", "stats"}
    assert on_disk["files"]["science_half.tif"] == {
        "run": 1,
        "input": str((inputs / "science.tif").resolve()),
        "output": "half.image",
    }


def test_a_failing_step_leaves_nothing_for_that_input(tmp_path):
    inputs = tmp_path / "in"
    for name, level in [("a", 0.2), ("b", 0.9), ("c", 0.2)]:
        write_image(inputs / f"{name}.png", np.full((4, 4), level))
    pipeline = _build(
        {"name": "scaled", "node": "_test_scale", "params": {"factor": 1.0}},
        {"name": "guard", "node": "_test_fail_if_bright"},
        outputs=["scaled", "guard"],
    )
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"b\.png: step 'guard' .*too bright"):
        pipeline.run_files(inputs, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["a_guard.png", "a_scaled.png", "manifest.json"]
    (run,) = json.loads((out / "manifest.json").read_text())["runs"]
    assert [Path(record["path"]).name for record in run["inputs"]] == ["a.png"]
    assert run["status"] == "failed"
    reason = "step 'guard' (_test_fail_if_bright): image: too bright"
    assert run["error"] == f"{inputs / 'b.png'}: {reason}"  # the file named once
    assert [record["error"] for record in run["failures"]] == [run["error"]]
    assert run["unprocessed"] == [str((inputs / "c.png").resolve())]


def test_a_failing_write_removes_the_outputs_already_written_for_that_input(tmp_path):
    inputs = tmp_path / "in"
    write_image(inputs / "a_gray.png", np.full((4, 4), 0.5))
    write_image(inputs / "b_rgb.png", np.full((4, 4, 3), 0.5))
    pipeline = _build(
        {"name": "stats", "node": "_test_mean"},
        {"name": "two", "node": "_test_first_two_channels"},
        outputs=["stats", "two"],
    )
    out = tmp_path / "out"
    with pytest.raises(InputError, match="cannot store 2-channel images"):
        pipeline.run_files(inputs, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [
        "a_gray_stats.json",
        "a_gray_two.png",
        "manifest.json",
    ]


def test_multi_output_and_kernel_files(tmp_path):
    write_image(tmp_path / "x.png", np.linspace(0, 1, 16).reshape(4, 4))
    pipeline = _build(
        {"name": "split", "node": "_test_split"},
        {"name": "box", "node": "_test_box", "params": {"size": 2}},
        outputs=["split", "box"],
    )
    run = pipeline.run_files(tmp_path / "x.png", tmp_path / "out", progress=False)
    assert run.inputs[0].outputs == {
        "split.image": "x_split_image.png",
        "split.inverse": "x_split_inverse.png",
        "split.mask": "x_split_mask.png",
        "box.kernel": "x_box.tif",
    }
    assert set(np.unique(read_raw_image(tmp_path / "out" / "x_split_mask.png"))) == {0, 255}
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "x_box.tif"), np.full((2, 2), 0.25))


@pytest.mark.parametrize(
    ("suffix", "dtype", "expected"),
    [
        (".png", np.uint8, ImageFormat(".png", 8)),
        (".JPG", np.uint8, ImageFormat(".png", 8)),
        (".png", np.uint16, ImageFormat(".png", 16)),
        (".tif", np.uint8, ImageFormat(".tif", 8)),
        (".tiff", np.uint16, ImageFormat(".tif", 16)),
        (".tif", np.float32, ImageFormat(".tif", 32)),
        (".npy", np.uint8, ImageFormat(".npy", 32)),
    ],
)
def test_output_format_follows_the_input(suffix, dtype, expected):
    assert image_format_for(suffix, np.dtype(dtype)) == expected


def test_inputs_with_the_same_stem_are_refused_before_running(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((2, 2)))
    write_image(tmp_path / "a.tif", np.zeros((2, 2)))
    with pytest.raises(InputError, match="same name stem"):
        _build({"node": "_test_scale"}).run_files(tmp_path, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


# --- shipped examples (real nodes) ---------------------------------------------------------

EXAMPLES = ["analyse", "denoise_deblur_sharpen", "photo_finish"]


def test_examples_are_shipped():
    assert list_example_pipelines() == EXAMPLES
    assert example_pipeline_path("photo_finish.yaml") == example_pipeline_path("photo_finish")
    with pytest.raises(ConfigError, match="did you mean 'photo_finish'"):
        example_pipeline_path("photo_finnish")


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_validate(name):
    pipeline = load_pipeline(name)
    assert pipeline.name == name
    assert pipeline.description


def _camera_crop() -> np.ndarray:
    return skimage.data.camera()[160:256, 200:296].astype(np.float32) / 255


def test_denoise_deblur_sharpen_example_improves_psnr():
    clean = _camera_crop()
    rng = np.random.default_rng(0)
    degraded = ndimage.gaussian_filter(clean, 1.5) + rng.normal(0, 0.08, clean.shape)
    pipeline = load_pipeline("denoise_deblur_sharpen")
    deblur = next(step for step in pipeline.steps if step.name == "deblur")
    assert deblur.sources == {"image": Port("denoise", "image"), "kernel": Port("psf", "kernel")}
    results = pipeline.run(degraded.astype(np.float32))

    def psnr(key: str) -> float:
        return peak_signal_noise_ratio(clean, np.clip(results[key], 0, 1), data_range=1)

    before = peak_signal_noise_ratio(clean, degraded, data_range=1)
    assert psnr("denoise.image") > before + 2
    assert psnr("deblur.image") > psnr("denoise.image")
    assert psnr("sharpen.image") > before + 2


def test_photo_finish_example_adds_a_seeded_vignette():
    image = skimage.data.astronaut()[100:164, 180:244].astype(np.float32) / 255
    pipeline = load_pipeline("photo_finish")
    first, second = pipeline.run(image), pipeline.run(image)
    finished = first["vignette.image"]
    assert finished.shape == image.shape
    np.testing.assert_array_equal(finished, second["vignette.image"])  # seeded grain
    grainy = first["film_grain.image"]
    corner, centre = np.s_[:8, :8], np.s_[28:36, 28:36]
    kept_in_corner = finished[corner].mean() / grainy[corner].mean()
    assert kept_in_corner < 0.9 * finished[centre].mean() / grainy[centre].mean()


def test_analyse_example_measures_and_denoises(tmp_path):
    clean = _camera_crop()
    noisy = clean + np.random.default_rng(1).normal(0, 0.05, clean.shape)
    write_image(tmp_path / "noisy.tif", noisy.astype(np.float32))
    run = load_pipeline("analyse").run_files(
        tmp_path / "noisy.tif", tmp_path / "out", progress=False
    )
    assert run.inputs[0].outputs == {
        "noise.table": "noisy_noise.json",
        "sharpness.table": "noisy_sharpness.json",
        "denoised.image": "noisy_denoised.tif",
        "residual_noise.table": "noisy_residual_noise.json",
    }
    noise = json.loads((tmp_path / "out" / "noisy_noise.json").read_text())
    residual = json.loads((tmp_path / "out" / "noisy_residual_noise.json").read_text())
    assert noise["sigma"] == pytest.approx(0.05, rel=0.2)
    assert residual["sigma"] < noise["sigma"] / 2
    denoised = read_image(tmp_path / "out" / "noisy_denoised.tif")
    assert peak_signal_noise_ratio(clean, denoised, data_range=1) > peak_signal_noise_ratio(
        clean, noisy, data_range=1
    )
