"""Write tests/data/spandrel_keys.json: official key layouts and outputs, built by spandrel.

Run in the bench-only venv (``bash bench/setup_spandrel_venv.sh`` first)::

    bench/.venv-spandrel/bin/python bench/spandrel_keys.py

For every case the network is built with spandrel's own class (spandrel 0.4.2, MIT, the
model library ComfyUI loads upscale models with) and the fixture records:

* ``keys``: every state-dict key with its shape, as the official weight files hold them;
* for the small cases, ``check``: the output of spandrel's network on a seeded input with
  seeded random weights (``random_state`` below), so that the test can prove pixelwise's
  networks compute the same function, not only carry the same names.

RRDBNet: spandrel's class keeps the old ESRGAN layout (``model.0``, ...) and converts BasicSR
files on load. The case therefore builds the BasicSR layout with pixelwise's class, has
spandrel's loader detect and load it, and records the hyper-parameters spandrel detected
and its output. FFDNet has no spandrel class and is not covered here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from spandrel import ModelLoader
from spandrel.architectures.Compact import Compact as SRVGGNetCompact
from spandrel.architectures.DnCNN import DnCNN
from spandrel.architectures.DRUNet import DRUNet
from spandrel.architectures.NAFNet import NAFNet
from spandrel.architectures.SCUNet import SCUNet

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "spandrel_keys.json"
SEED = 1234


def random_state(shapes: dict[str, list[int]], seed: int = SEED) -> dict[str, torch.Tensor]:
    """Seeded weights for a key layout: N(0, 0.1) drawn key by key in sorted key order."""
    generator = torch.Generator().manual_seed(seed)
    return {key: 0.1 * torch.randn(shapes[key], generator=generator) for key in sorted(shapes)}


def random_input(channels: int, size: int, seed: int = SEED) -> torch.Tensor:
    return torch.rand((1, channels, size, size), generator=torch.Generator().manual_seed(seed))


def shapes_of(model: torch.nn.Module) -> dict[str, list[int]]:
    return {key: list(value.shape) for key, value in model.state_dict().items()}


def summary(output: torch.Tensor) -> dict[str, Any]:
    flat = output.flatten()
    picks = torch.linspace(0, flat.numel() - 1, 32).long()
    return {
        "shape": list(output.shape),
        "mean": flat.mean().item(),
        "std": flat.std().item(),
        "values": [round(v, 7) for v in flat[picks].tolist()],
    }


def case(model: torch.nn.Module, **extra: Any) -> dict[str, Any]:
    return {"keys": shapes_of(model), **extra}


@torch.no_grad()
def checked(model: torch.nn.Module, channels: int, size: int, sigma: float | None) -> dict:
    shapes = shapes_of(model)
    model.load_state_dict(random_state(shapes))
    model.eval()
    x = random_input(channels, size)
    inputs = x if sigma is None else torch.cat([x, torch.full_like(x[:, :1], sigma)], 1)
    return {"keys": shapes, "check": {"size": size, "sigma": sigma, **summary(model(inputs))}}


def main() -> None:
    cases: dict[str, Any] = {
        "drunet_color": case(DRUNet(in_nc=4, out_nc=3, nc=[64, 128, 256, 512], nb=4)),
        "drunet_small": checked(DRUNet(in_nc=2, out_nc=1, nc=[8, 16, 32, 64], nb=2), 1, 24, 0.1),
        "scunet_color": case(SCUNet(in_nc=3, config=[4] * 7, dim=64)),
        "scunet_small": checked(SCUNet(in_nc=3, config=[1] * 7, dim=64), 3, 128, None),
        "dncnn_gray": case(DnCNN(in_nc=1, out_nc=1, nc=64, nb=17, act_mode="R")),
        "dncnn_small": checked(DnCNN(in_nc=3, out_nc=3, nc=8, nb=4, act_mode="R"), 3, 24, None),
        "fdncnn_small": checked(
            DnCNN(in_nc=2, out_nc=1, nc=8, nb=4, act_mode="R", mode="FDnCNN"), 1, 24, 0.1
        ),
        "nafnet_sidd_width32": case(
            NAFNet(
                img_channel=3,
                width=32,
                middle_blk_num=12,
                enc_blk_nums=[2, 2, 4, 8],
                dec_blk_nums=[2, 2, 2, 2],
            )
        ),
        "nafnet_small": checked(
            NAFNet(
                img_channel=3, width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 2]
            ),
            3,
            24,
            None,
        ),
        "compact_general_x4v3": case(
            SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4)
        ),
        "compact_small": checked(
            SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2),
            3,
            16,
            None,
        ),
    }
    # RRDBNet: BasicSR layout from pixelwise, detected and loaded by spandrel's loader.
    sys.path.insert(0, str(FIXTURE.parents[2] / "src"))
    from pixelwise.models.restorers import RRDBNet, RRDBNetConfig

    for name, config in {
        "rrdbnet_small_x2": RRDBNetConfig(scale=2, features=8, blocks=2, growth=32),
        "rrdbnet_small_x4": RRDBNetConfig(scale=4, features=8, blocks=1, growth=32),
    }.items():
        shapes = shapes_of(RRDBNet(config))
        descriptor = ModelLoader().load_from_state_dict(random_state(shapes))
        hyper = descriptor.model.hyperparameters
        x = random_input(3, 16)
        with torch.no_grad():
            output = descriptor.model.eval()(x)
        cases[name] = {
            "keys": shapes,
            "spandrel_detected": {
                "architecture": descriptor.architecture.id,
                "scale": descriptor.scale,
                "num_filters": hyper["num_filters"],
                "num_blocks": hyper["num_blocks"],
            },
            "check": {"size": 16, "sigma": None, **summary(output)},
        }
    import spandrel

    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    payload = {"spandrel_version": spandrel.__version__, "torch": torch.__version__, "cases": cases}
    FIXTURE.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size / 1024:.0f} KiB, {len(cases)} cases)")


if __name__ == "__main__":
    main()
