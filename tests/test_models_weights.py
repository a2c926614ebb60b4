"""DnCNN and SCUNet, the open model registry, and safetensors weights files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
import torch
from pydantic import BaseModel
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from pixelwise.errors import CheckpointError, ConfigError
from pixelwise.models import (
    DnCNN,
    DnCNNConfig,
    SCUNet,
    SCUNetConfig,
    UNetConfig,
    build_model,
    count_parameters,
    load_weights,
    model_names,
    parse_model_config,
    register_model,
    save_weights,
)
from pixelwise.models.scunet import WindowAttention
from pixelwise.models.weights import CONFIG_KEY

TINY_CONFIGS = [
    UNetConfig(levels=2, base_channels=4),
    DnCNNConfig(depth=4, features=8, norm="batch"),  # BatchNorm: buffers travel too
    SCUNetConfig(in_channels=3, dim=8, levels=2, blocks=2, head_dim=4, window_size=4),
]


def seeded(config: BaseModel, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(config)


def test_the_registry_builds_the_architecture_named():
    assert isinstance(build_model({"name": "dncnn", "depth": 3}), DnCNN)
    assert isinstance(build_model({"name": "scunet", "dim": 8, "head_dim": 4}), SCUNet)
    assert parse_model_config({"levels": 2}) == UNetConfig(levels=2)  # no name: a U-Net
    with pytest.raises(ConfigError, match=r"unknown model 'resnet'; registered models: .*unet"):
        parse_model_config({"name": "resnet"})
    with pytest.raises(ConfigError, match="multiple of head_dim"):
        parse_model_config({"name": "scunet", "dim": 16, "head_dim": 3})


class ScaleConfig(BaseModel):
    name: Literal["test-scale"] = "test-scale"
    factor: float = 2.0


@register_model(ScaleConfig)
class Scale(nn.Module):
    """A model registered from outside the models package, as an app or plugin would."""

    def __init__(self, config: ScaleConfig) -> None:
        super().__init__()
        self.config = config
        self.weight = nn.Parameter(torch.tensor(config.factor))


def test_the_registry_is_open_to_models_defined_elsewhere(tmp_path: Path):
    model = build_model({"name": "test-scale", "factor": 3.0})
    assert isinstance(model, Scale) and float(model.weight) == 3.0
    assert "test-scale" in model_names()
    save_weights(tmp_path / "scale.safetensors", model)
    assert float(load_weights(tmp_path / "scale.safetensors").weight) == 3.0
    with pytest.raises(ValueError, match="already registered"):
        register_model(ScaleConfig)(DnCNN)


def test_absurd_sizes_are_refused_before_allocating():
    assert count_parameters(UNetConfig(levels=2, base_channels=4)) == sum(
        p.numel() for p in build_model(UNetConfig(levels=2, base_channels=4)).parameters()
    )
    with pytest.raises(ConfigError, match=r"parameters .* GiB in float32"):
        build_model({"name": "unet", "levels": 7, "base_channels": 1024})


def test_dncnn_learns_the_noise_and_subtracts_it():
    model = DnCNN(DnCNNConfig(depth=3, features=4))
    x = torch.rand(2, 1, 9, 11)
    with torch.no_grad():
        predicted_noise = model.noise(x)
        assert torch.equal(model(x), x - predicted_noise)
        model.noise[-1].weight.zero_()
        model.noise[-1].bias.zero_()
    assert torch.equal(model(x), x)  # no predicted noise: the input comes back
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 3


def test_scunet_keeps_odd_sizes_and_every_parameter_gets_a_gradient():
    model = seeded(TINY_CONFIGS[2])
    x = torch.rand(2, 3, 13, 19, requires_grad=True)
    output = model(x)
    assert output.shape == x.shape
    output.square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def changed_pixels(shift: int, row: int, col: int) -> set[tuple[int, int]]:
    """Output pixels of an 8x8 window attention (window 4) that move when (row, col) changes."""
    torch.manual_seed(0)
    attention = WindowAttention(dim=8, head_dim=4, window_size=4)
    x = torch.rand(1, 8, 8, 8)
    changed = x.clone()
    changed[0, row, col] += 1.0
    with torch.no_grad():
        difference = (attention(changed, shift) - attention(x, shift)).abs().sum(-1)[0]
    return {(int(r), int(c)) for r, c in torch.nonzero(difference > 1e-6)}


def square(rows: range, cols: range) -> set[tuple[int, int]]:
    return {(r, c) for r in rows for c in cols}


def test_window_attention_mixes_inside_regular_and_shifted_windows_only():
    # Regular windows: pixel (3, 3) talks to its own 4x4 window only.
    assert changed_pixels(0, 3, 3) == square(range(4), range(4))
    # Shifted by 2: the window around (3, 3) straddles the regular windows' borders.
    assert changed_pixels(2, 3, 3) == square(range(2, 6), range(2, 6))
    # The cyclic shift wraps (1, 1) next to the far border; the mask keeps them apart.
    assert changed_pixels(2, 1, 1) == square(range(2), range(2))


@pytest.mark.parametrize("config", TINY_CONFIGS, ids=lambda config: config.name)
def test_weights_round_trip_gives_identical_outputs(tmp_path: Path, config: BaseModel):
    model = seeded(config)
    if isinstance(model, DnCNN):  # give BatchNorm non-trivial running statistics
        model.train()(torch.rand(4, 1, 16, 16))
    path = save_weights(tmp_path / "model.safetensors", model)
    loaded = load_weights(path)
    assert type(loaded) is type(model) and loaded.config == config
    x = torch.rand(1, config.in_channels, 16, 16)
    model.eval()
    loaded.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temporary left


def test_weights_file_holds_state_dict_tensors_and_config_json(tmp_path: Path):
    model = seeded(DnCNNConfig(in_channels=3, depth=3, features=8))
    path = save_weights(tmp_path / "dncnn.safetensors", model)
    with safe_open(path, framework="pt") as file:
        assert json.loads(file.metadata()[CONFIG_KEY]) == model.config.model_dump()
        assert set(file.keys()) == set(model.state_dict())
        first_conv = file.get_tensor("noise.0.weight")
    assert first_conv.shape == (8, 3, 3, 3)  # OIHW, as in the module
    assert torch.equal(first_conv, model.noise[0].weight.detach())


def test_save_weights_needs_a_described_model(tmp_path: Path):
    with pytest.raises(TypeError, match="no pydantic 'config'"):
        save_weights(tmp_path / "conv.safetensors", nn.Conv2d(1, 1, 3))
    assert list(tmp_path.iterdir()) == []


def test_load_weights_errors_name_the_file(tmp_path: Path):
    good = save_weights(tmp_path / "good.safetensors", seeded(DnCNNConfig(depth=3, features=4)))
    data = good.read_bytes()

    with pytest.raises(CheckpointError, match=r"missing\.safetensors: weights file not found"):
        load_weights(tmp_path / "missing.safetensors")

    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.safetensors: not a safetensors"):
        load_weights(truncated)

    pickle_file = tmp_path / "torch.pt"
    torch.save({"weight": torch.zeros(2)}, pickle_file)
    with pytest.raises(CheckpointError, match=r"torch\.pt: not a safetensors weights file"):
        load_weights(pickle_file)

    bare = tmp_path / "bare.safetensors"
    save_file({"weight": torch.zeros(2)}, bare)
    with pytest.raises(CheckpointError, match=r"bare\.safetensors: no model config"):
        load_weights(bare)

    def rewrite(name: str, config: object) -> Path:
        path = tmp_path / name
        save_file(load_file(good), path, metadata={CONFIG_KEY: json.dumps(config)})
        return path

    unknown = rewrite("unknown.safetensors", {"name": "resnet"})
    with pytest.raises(CheckpointError, match=r"unknown\.safetensors: invalid model config"):
        load_weights(unknown)

    wider = rewrite("wider.safetensors", {"name": "dncnn", "depth": 3, "features": 8})
    differs = r"wider\.safetensors: weights do not match.*noise\.0\.weight \(8, 1, 3, 3\) here vs"
    with pytest.raises(CheckpointError, match=differs):
        load_weights(wider)

    deeper = rewrite("deeper.safetensors", {"name": "dncnn", "depth": 4, "features": 4})
    with pytest.raises(
        CheckpointError, match=r"deeper\.safetensors: weights do not match.*(missing|unexpected) "
    ):
        load_weights(deeper)

    with pytest.raises(CheckpointError, match=r"good\.safetensors: holds a 'dncnn' model"):
        load_weights(good, architecture="scunet")
