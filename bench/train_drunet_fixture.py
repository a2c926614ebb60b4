"""Train the small grey DRUNet that tests/test_restorers_numbers.py runs DPIR with.

A DRUNet learns to denoise every noise level from the noise-level map it is given; DPIR uses
it at levels falling from 49/255 down to the image's own, so the prior must be good over the
whole range, near-identity at the low end included. That takes minutes of CPU, more than a
test may spend, so the weights are trained here once and committed (float16 safetensors in
KAIR's key layout, about 240 KB), and the test loads them through auto-detection.

Training data: grey skimage images (not ``camera``, which the test restores), random 48x48
crops with flips and rotations, Gaussian noise of a level drawn per crop from [0.5, 50]/255
(the range DRUNet is trained on in the DPIR paper), log-uniformly rather than uniformly:
DPIR's schedule visits the levels log-uniformly, and a uniform draw leaves the low levels,
where the prior must pass details through untouched, almost untrained (a first run so
trained lost 13 dB at sigma 2). L1 loss, Adam with a cosine schedule.

Usage (about 5 minutes of one CPU core)::

    OMP_NUM_THREADS=1 .venv/bin/python bench/train_drunet_fixture.py [--steps 4000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from skimage import color, data

from pixelwise.io.atomic import atomic_path
from pixelwise.models.restorers import DRUNet, DRUNetConfig

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "drunet_tiny_gray.safetensors"
CONFIG = DRUNetConfig(in_channels=1, widths=(12, 16, 24, 32), blocks=2)
#: Noise levels trained on (0..1 units): log-uniform between these.
LOWEST, HIGHEST = 0.5 / 255, 50 / 255


def training_images() -> list[torch.Tensor]:
    """Grey float32 images in [0, 1]: every skimage sample except the test's camera."""
    rgb = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.hubble_deep_field()]
    grey = [data.coins(), data.moon(), data.text(), data.brick(), data.grass(), data.gravel()]
    grey += [data.page(), data.clock(), data.horse().astype(np.uint8) * 255]
    images = [color.rgb2gray(image) for image in rgb] + [image / 255 for image in grey]
    return [torch.from_numpy(np.asarray(image, dtype=np.float32)) for image in images]


def batch(
    images: list[torch.Tensor], size: int, count: int, generator: torch.Generator
) -> torch.Tensor:
    crops = []
    for index in torch.randint(len(images), (count,), generator=generator).tolist():
        image = images[index]
        row = int(torch.randint(image.shape[0] - size + 1, (1,), generator=generator))
        col = int(torch.randint(image.shape[1] - size + 1, (1,), generator=generator))
        crop = image[row : row + size, col : col + size]
        if torch.rand(1, generator=generator) < 0.5:
            crop = crop.flip(1)
        crops.append(crop.rot90(int(torch.randint(4, (1,), generator=generator))))
    return torch.stack(crops)[:, None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    images = training_images()
    model = DRUNet(CONFIG)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, args.steps, eta_min=1e-5)
    start = time.process_time()
    running = 0.0
    for step in range(1, args.steps + 1):
        clean = batch(images, args.size, args.batch, generator)
        sigma = LOWEST * (HIGHEST / LOWEST) ** torch.rand(args.batch, generator=generator)
        noisy = clean + sigma.view(-1, 1, 1, 1) * torch.randn(clean.shape, generator=generator)
        loss = torch.nn.functional.l1_loss(model(noisy, sigma), clean)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        running += loss.item()
        if step % 250 == 0:
            print(f"step {step}: L1 {running / 250:.4f} ({time.process_time() - start:.0f} s CPU)")
            running = 0.0
    tensors = {key: value.half().contiguous() for key, value in model.state_dict().items()}
    with atomic_path(args.out) as tmp:
        save_file(tensors, tmp, metadata={"trained_by": "bench/train_drunet_fixture.py"})
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
