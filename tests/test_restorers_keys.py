"""Key-for-key and output-for-output agreement with spandrel's builds of the official networks.

The fixture ``tests/data/spandrel_keys.json`` is written by ``bench/spandrel_keys.py`` in a
bench-only venv holding spandrel 0.4.2 (see ``bench/setup_spandrel_venv.sh``): each case
lists the state-dict keys and shapes of a network built by spandrel's class (zlib-compressed
JSON), and the small cases the output of that network on a seeded input with seeded random
weights. Computed buffers (SwinIR's position indices and shift masks) are not drawn: each
side uses its own, so outputs agree only if those buffers agree too.
"""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import pytest
import torch

from pixelwise.models import build_model
from pixelwise.models.detect import build_restorer, detect_architecture

FIXTURE = json.loads((Path(__file__).parent / "data" / "spandrel_keys.json").read_text())
CASES = FIXTURE["cases"]
SEED = 1234
COMPUTED_BUFFERS = ("relative_position_index", "attn_mask")


def official_shapes(name: str) -> dict[str, list[int]]:
    return json.loads(zlib.decompress(base64.b64decode(CASES[name]["keys_zlib"])))


def random_state(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """The same seeded weights as bench/spandrel_keys.py draws, and our computed buffers."""
    generator = torch.Generator().manual_seed(SEED)
    drawn = {
        key: 0.1 * torch.randn(shapes[key], generator=generator)
        for key in sorted(shapes)
        if key.rsplit(".", 1)[-1] not in COMPUTED_BUFFERS
    }
    if len(drawn) == len(shapes):
        return drawn
    meta = {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}
    own = build_model(detect_architecture(meta)[0]).state_dict()
    return {**{key: own[key] for key in shapes if key not in drawn}, **drawn}


def test_the_fixture_covers_every_official_variant() -> None:
    expected = {"swinir_classical_x2_s48w8", "swinir_lightweight_x4_s64w8", "swinir_real_x4_m"}
    expected |= {"swinir_real_x4_l_3conv", "swinir_color_dn_s128w8", "swinir_jpeg_car_s126w7"}
    expected |= {"restormer_motion_deblur", "restormer_gaussian_gray_dn", "restormer_dual_pixel"}
    expected |= {"ffdnet_gray", "ffdnet_small_odd", "swinir_small_real_x4", "restormer_small"}
    assert expected <= set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_detected_network_has_exactly_the_official_keys_and_shapes(name: str) -> None:
    shapes = official_shapes(name)
    meta = {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}
    config, rename = detect_architecture(meta, name)
    with torch.device("meta"):
        model = build_model(config)
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    theirs = {key: list(value.shape) for key, value in rename(meta).items()}
    assert ours == theirs
    assert len(ours) == len(shapes)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("swinir_classical_x4_s64w8", {"scale": 4, "upsampler": "pixelshuffle", "img_size": 64}),
        ("swinir_lightweight_x4_s64w8", {"embed_dim": 60, "upsampler": "pixelshuffledirect"}),
        ("swinir_real_x4_l_3conv", {"depths": (6,) * 9, "resi_connection": "3conv"}),
        ("swinir_color_jpeg_car_s126w7", {"window_size": 7, "img_range": 255.0}),
        ("swinir_gray_dn_s128w8", {"in_channels": 1, "img_range": 1.0, "scale": 1}),
        ("restormer_motion_deblur", {"ffn_expansion": 2.66, "norm": "with_bias"}),
        ("restormer_gaussian_gray_dn", {"in_channels": 1, "norm": "bias_free"}),
        ("restormer_dual_pixel", {"in_channels": 6, "out_channels": 3, "dual_pixel": True}),
    ],
)
def test_hyper_parameters_are_read_from_the_official_shapes(name: str, expected: dict) -> None:
    meta = {key: torch.empty(s, device="meta") for key, s in official_shapes(name).items()}
    config = detect_architecture(meta, name)[0]
    assert {key: getattr(config, key) for key in expected} == expected


@pytest.mark.parametrize("name", sorted(n for n in CASES if "check" in CASES[n]))
def test_random_official_weights_load_and_compute_what_spandrel_computes(name: str) -> None:
    case = CASES[name]
    check = case["check"]
    loaded = build_restorer(random_state(official_shapes(name)), name)
    if "spandrel_detected" in case:
        assert loaded.scale == case["spandrel_detected"]["scale"]
    x = torch.rand(
        (1, loaded.in_channels, check["size"], check["size"]),
        generator=torch.Generator().manual_seed(SEED),
    )
    with torch.no_grad():
        output = loaded.model(x, check["sigma"]) if loaded.takes_noise_level else loaded.model(x)
    assert list(output.shape) == check["shape"]
    flat = output.flatten()
    picks = torch.linspace(0, flat.numel() - 1, 32).long()
    torch.testing.assert_close(flat[picks], torch.tensor(check["values"]), atol=2e-5, rtol=1e-4)
    assert flat.mean().item() == pytest.approx(check["mean"], rel=1e-4, abs=1e-6)
