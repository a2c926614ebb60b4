"""Tests for ``pixelwise nodes list|show`` and ``pixelwise run``, through the CLI entry point."""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
import pytest
import skimage.data
from pydantic import Field

from pixelwise.io.images import read_image, write_image
from pixelwise.nodes import Node, NodeParams, node_classes, registry
from pixelwise.pipeline import list_example_pipelines


class _DemoParams(NodeParams):
    strength: float = Field(0.5, ge=0, le=1, description="How much to brighten.")
    mode: Literal["add", "blend"] = "add"


class _Demo(Node[_DemoParams]):
    """Brighten an image by ``strength``.

    Exists so that the CLI tests know every field of one node's documentation.
    """

    name = "_test_cli_demo"
    category = "test"
    description = "A demonstration node."
    channels = "per_channel"

    def process(self, image):
        return image + self.params.strength


@pytest.fixture(autouse=True)
def _demo_node_and_wide_terminal(monkeypatch):
    """Register the demo node for each test only, and give rich a wide terminal."""
    monkeypatch.setitem(registry._REGISTRY, _Demo.name, _Demo)
    monkeypatch.setenv("COLUMNS", "200")


def test_nodes_list_shows_every_category_node_and_parameter_summary(cli):
    code, out, _ = cli("nodes", "list")
    assert code == 0
    for cls in node_classes().values():
        assert cls.category in out
        assert cls.name in out
    assert "strength=0.5 (0 ≤ x ≤ 1)" in out
    assert 'mode="add" (one of "add", "blend")' in out


def test_nodes_show_gives_full_documentation(cli):
    code, out, _ = cli("nodes", "show", "_test_cli_demo")
    assert code == 0
    assert "_test_cli_demo  (category test, version 1)" in out
    assert "A demonstration node." in out
    assert "Exists so that the CLI tests know" in out
    assert "per_channel (written for grayscale" in out
    rows = [" ".join(line.replace("│", " ").split()) for line in out.splitlines()]
    assert "input image image" in rows
    assert "output image image" in rows
    assert "strength number 0.5 0 ≤ x ≤ 1 How much to brighten." in rows
    assert 'mode choice "add" one of "add", "blend"' in rows


def test_nodes_show_lists_a_real_nodes_parameters(cli):
    code, out, _ = cli("nodes", "show", "bm3d")
    assert code == 0
    assert "parameters" in out
    assert "sigma" in out


def test_unknown_node_exits_2_with_one_line(cli):
    code, out, err = cli("nodes", "show", "bm4d")
    assert code == 2
    assert out == ""
    assert err.startswith("error: unknown node 'bm4d'; did you mean 'bm3d'")
    assert err.count("\n") == 1


def test_run_help_mentions_the_shipped_examples(cli):
    code, out, _ = cli("run", "--help")
    assert code == 0
    for name in list_example_pipelines():
        assert name in out


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    write_image(folder / "camera.png", skimage.data.camera()[200:248, 200:264])
    write_image(folder / "astronaut.png", skimage.data.astronaut()[100:148, 180:244])
    return folder


def test_run_a_pipeline_file_end_to_end(tmp_path, photos, cli):
    pipeline = tmp_path / "brighten.yaml"
    pipeline.write_text(
        "name: brighten\nsteps:\n  - {node: _test_cli_demo, params: {strength: 0.25}}\n"
    )
    out_dir = tmp_path / "out"
    code, out, err = cli("run", str(pipeline), str(photos), "-o", str(out_dir))
    assert code == 0, err
    assert "brighten: 2 inputs, 2 files written" in out
    (run,) = json.loads((out_dir / "manifest.json").read_text())["runs"]
    assert [record["outputs"] for record in run["inputs"]] == [
        {"_test_cli_demo.image": "astronaut__test_cli_demo.png"},
        {"_test_cli_demo.image": "camera__test_cli_demo.png"},
    ]
    expected = np.clip(read_image(photos / "camera.png") + 0.25, 0, 1)
    np.testing.assert_allclose(
        read_image(out_dir / "camera__test_cli_demo.png"), expected, atol=1 / 255
    )


def test_run_a_shipped_example_by_name(tmp_path, photos, cli):
    out_dir = tmp_path / "out"
    code, _, err = cli(
        "run", "photo_finish", str(photos / "astronaut.png"), "-o", str(out_dir), "--no-progress"
    )
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["astronaut_vignette.png", "manifest.json"]
    assert read_image(out_dir / "astronaut_vignette.png").shape == (48, 64, 3)


@pytest.mark.parametrize(
    ("pipeline_text", "inputs", "message"),
    [
        (
            "name: x\nsteps:\n  - {node: _test_cli_demo, params: {strength: 5}}\n",
            ["camera.png"],
            "1 problem: (1) line 3: step '_test_cli_demo' (_test_cli_demo): parameter 'strength'",
        ),
        (
            "name: x\nsteps:\n  - {node: _test_cli_demo}\n",
            ["missing.png"],
            "missing.png: file not found",
        ),
    ],
)
def test_run_errors_exit_2_with_one_line(tmp_path, photos, cli, pipeline_text, inputs, message):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(pipeline_text)
    argv = [
        "run",
        str(pipeline),
        *[str(photos / name) for name in inputs],
        "-o",
        str(tmp_path / "out"),
    ]
    code, _, err = cli(*argv)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()
