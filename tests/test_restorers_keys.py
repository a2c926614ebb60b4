"""Key-for-key and output-for-output agreement with spandrel's builds of the official networks.

The fixture ``tests/data/spandrel_keys.json`` is written by ``bench/spandrel_keys.py`` in a
bench-only venv holding spandrel 0.4.2 (see ``bench/setup_spandrel_venv.sh``): each case
lists the state-dict keys and shapes of a network built by spandrel's class, and the small
cases the output of that network on a seeded input with seeded random weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pixelwise.models.detect import build_restorer, detect_architecture

FIXTURE = json.loads((Path(__file__).parent / "data" / "spandrel_keys.json").read_text())
CASES = FIXTURE["cases"]
SEED = 1234


def random_state(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """The same seeded weights as bench/spandrel_keys.py draws."""
    generator = torch.Generator().manual_seed(SEED)
    return {key: 0.1 * torch.randn(shapes[key], generator=generator) for key in sorted(shapes)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_detected_network_has_exactly_the_official_keys_and_shapes(name: str) -> None:
    shapes = CASES[name]["keys"]
    meta = {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}
    config, rename = detect_architecture(meta, name)
    with torch.device("meta"):
        from pixelwise.models import build_model

        model = build_model(config)
    ours = {key: list(value.shape) for key, value in model.state_dict().items()}
    theirs = {key: list(value.shape) for key, value in rename(meta).items()}
    assert ours == theirs
    assert len(ours) == len(shapes)


@pytest.mark.parametrize("name", sorted(n for n in CASES if "check" in CASES[n]))
def test_random_official_weights_load_and_compute_what_spandrel_computes(name: str) -> None:
    case = CASES[name]
    check = case["check"]
    loaded = build_restorer(random_state(case["keys"]), name)
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
