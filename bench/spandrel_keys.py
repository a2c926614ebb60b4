"""Write tests/data/spandrel_keys.json: official key layouts and outputs, built by spandrel.

Run in the bench-only venv (``bash bench/setup_spandrel_venv.sh`` first)::

    bench/.venv-spandrel/bin/python bench/spandrel_keys.py

For every case the network is built with spandrel's own class (spandrel 0.4.2, MIT, the
model library ComfyUI loads upscale models with; Restormer from spandrel-extra-arches
0.2.0, the same authors' package for non-commercially licensed architectures), with the
hyper-parameters of the official releases, and the fixture records:

* ``keys_zlib``: every state-dict key with its shape, as the official weight files hold
  them (a JSON object ``{key: shape}``, zlib-compressed and base64-encoded to keep the
  fixture small: SwinIR alone has ~600 keys per model);
* for the small cases, ``check``: the output of spandrel's network on a seeded input with
  seeded random weights (``random_state`` below), so that the test can prove pixelwise's
  networks compute the same function, not only carry the same names. SwinIR's buffers
  (``relative_position_index``, ``attn_mask``) are not drawn: each side keeps the values
  its own class computes, so the outputs also agree only if those buffers do.

RRDBNet: spandrel's class keeps the old ESRGAN layout (``model.0``, ...) and converts BasicSR
files on load. The case therefore builds the BasicSR layout with pixelwise's class, has
spandrel's loader detect and load it, and records the hyper-parameters spandrel detected
and its output. FFDNet has no spandrel class: it is assembled here from the KAIR building
blocks spandrel vendors (``sequential``, ``conv``, ``pixel_unshuffle``) exactly as KAIR's
``network_ffdnet.FFDNet`` assembles them, and run as KAIR's forward runs it.
"""

from __future__ import annotations

import base64
import json
import sys
import zlib
from pathlib import Path
from typing import Any

import torch
from spandrel import ModelLoader
from spandrel.architectures.__arch_helpers.dpir_basic_block import (
    conv,
    pixel_unshuffle,
    sequential,
)
from spandrel.architectures.Compact import Compact as SRVGGNetCompact
from spandrel.architectures.DnCNN import DnCNN
from spandrel.architectures.DRUNet import DRUNet
from spandrel.architectures.NAFNet import NAFNet
from spandrel.architectures.SCUNet import SCUNet
from spandrel.architectures.SwinIR import SwinIR
from spandrel_extra_arches.architectures.Restormer import Restormer

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "spandrel_keys.json"
SEED = 1234


#: Buffers computed by the architecture itself, not drawn by ``random_state``.
COMPUTED_BUFFERS = ("relative_position_index", "attn_mask")


def random_state(shapes: dict[str, list[int]], seed: int = SEED) -> dict[str, torch.Tensor]:
    """Seeded weights for a key layout: N(0, 0.1) drawn key by key in sorted key order."""
    generator = torch.Generator().manual_seed(seed)
    return {
        key: 0.1 * torch.randn(shapes[key], generator=generator)
        for key in sorted(shapes)
        if key.rsplit(".", 1)[-1] not in COMPUTED_BUFFERS
    }


def encode_keys(shapes: dict[str, list[int]]) -> str:
    return base64.b64encode(zlib.compress(json.dumps(shapes).encode(), 9)).decode()


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
    return {"keys_zlib": encode_keys(shapes_of(model)), **extra}


@torch.no_grad()
def checked(
    model: torch.nn.Module, channels: int, size: int, sigma: float | None, **extra: Any
) -> dict:
    shapes = shapes_of(model)
    model.load_state_dict({**model.state_dict(), **random_state(shapes)})
    model.eval()
    x = random_input(channels, size)
    inputs = x if sigma is None else torch.cat([x, torch.full_like(x[:, :1], sigma)], 1)
    output = model(inputs)
    return {
        "keys_zlib": encode_keys(shapes),
        "check": {"size": size, "sigma": sigma, **summary(output)},
        **extra,
    }


class KairFFDNet(torch.nn.Module):
    """KAIR's FFDNet (network_ffdnet.py) from KAIR's blocks: the official key layout."""

    def __init__(self, in_nc: int, nc: int, nb: int) -> None:
        super().__init__()
        head = conv(in_nc * 4 + 1, nc, mode="CR", bias=True)
        body = [conv(nc, nc, mode="CR", bias=True) for _ in range(nb - 2)]
        tail = conv(nc, in_nc * 4, mode="C", bias=True)
        self.model = sequential(head, *body, tail)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # ``x`` is the image with its noise-level map appended (the convention of checked()).
        image, sigma = x[:, :-1], x[:, -1:]
        height, width = image.shape[-2:]
        image = torch.nn.ReplicationPad2d((0, width % 2, 0, height % 2))(image)
        image = pixel_unshuffle(image, 2)
        level = sigma[..., :1, :1].repeat(1, 1, *image.shape[-2:])
        out = torch.nn.functional.pixel_shuffle(self.model(torch.cat([image, level], 1)), 2)
        return out[..., :height, :width]


def swinir(**options: Any) -> SwinIR:
    """spandrel's SwinIR with the official defaults of main_test_swinir.py."""
    defaults: dict[str, Any] = {
        "in_chans": 3,
        "upscale": 1,
        "img_size": 64,
        "window_size": 8,
        "img_range": 1.0,
        "depths": [6] * 6,
        "embed_dim": 180,
        "num_heads": [6] * 6,
        "mlp_ratio": 2,
        "upsampler": "",
        "resi_connection": "1conv",
    }
    return SwinIR(**{**defaults, **options})


def restormer(**options: Any) -> Restormer:
    """spandrel-extra-arches' Restormer with the official defaults (Deraining etc.)."""
    return Restormer(**options)


def transformer_cases() -> dict[str, Any]:
    """SwinIR's official variants (main_test_swinir.py) and Restormer's, plus small checks."""
    real_large = {"depths": [6] * 9, "embed_dim": 240, "num_heads": [8] * 9}
    small = {"embed_dim": 12, "depths": [2, 2], "num_heads": [2, 3], "window_size": 4}
    return {
        "swinir_classical_x2_s48w8": case(swinir(upscale=2, img_size=48, upsampler="pixelshuffle")),
        "swinir_classical_x4_s64w8": case(swinir(upscale=4, img_size=64, upsampler="pixelshuffle")),
        "swinir_lightweight_x4_s64w8": case(
            swinir(
                upscale=4,
                depths=[6] * 4,
                embed_dim=60,
                num_heads=[6] * 4,
                upsampler="pixelshuffledirect",
            )
        ),
        "swinir_real_x4_m": case(swinir(upscale=4, upsampler="nearest+conv")),
        "swinir_real_x4_l_3conv": case(
            swinir(upscale=4, upsampler="nearest+conv", resi_connection="3conv", **real_large)
        ),
        "swinir_gray_dn_s128w8": case(swinir(in_chans=1, img_size=128)),
        "swinir_color_dn_s128w8": case(swinir(img_size=128)),
        "swinir_jpeg_car_s126w7": case(
            swinir(in_chans=1, img_size=126, window_size=7, img_range=255.0)
        ),
        "swinir_color_jpeg_car_s126w7": case(swinir(img_size=126, window_size=7, img_range=255.0)),
        "swinir_small_color_dn": checked(swinir(img_size=16, **small), 3, 14, None),
        "swinir_small_jpeg_3conv": checked(
            swinir(
                in_chans=1,
                img_size=14,
                embed_dim=16,
                depths=[2],
                num_heads=[2],
                window_size=7,
                img_range=255.0,
                resi_connection="3conv",
            ),
            1,
            12,
            None,
        ),
        "swinir_small_classical_x3": checked(
            swinir(upscale=3, img_size=16, upsampler="pixelshuffle", **small), 3, 16, None
        ),
        "swinir_small_lightweight_x2": checked(
            swinir(in_chans=1, upscale=2, img_size=8, upsampler="pixelshuffledirect", **small),
            1,
            12,
            None,
        ),
        "swinir_small_real_x4": checked(
            swinir(upscale=4, img_size=16, upsampler="nearest+conv", **small), 3, 16, None
        ),
        "restormer_motion_deblur": case(restormer()),
        "restormer_gaussian_gray_dn": case(
            restormer(inp_channels=1, out_channels=1, LayerNorm_type="BiasFree")
        ),
        "restormer_dual_pixel": case(
            restormer(inp_channels=6, out_channels=3, dual_pixel_task=True)
        ),
        "restormer_small": checked(
            restormer(dim=8, num_blocks=[1, 2, 1, 1], num_refinement_blocks=1, heads=[1, 2, 2, 4]),
            3,
            24,
            None,
        ),
        "restormer_small_biasfree_dual": checked(
            restormer(
                inp_channels=6,
                out_channels=3,
                dim=8,
                num_blocks=[1, 1, 1, 1],
                num_refinement_blocks=2,
                heads=[2, 2, 4, 4],
                bias=True,
                LayerNorm_type="BiasFree",
                dual_pixel_task=True,
            ),
            6,
            16,
            None,
        ),
    }


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
        "ffdnet_gray": case(KairFFDNet(in_nc=1, nc=64, nb=15)),
        "ffdnet_color": case(KairFFDNet(in_nc=3, nc=96, nb=12)),
        "ffdnet_small_odd": checked(KairFFDNet(in_nc=3, nc=8, nb=4), 3, 23, 0.1),
        **transformer_cases(),
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
            "keys_zlib": encode_keys(shapes),
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
