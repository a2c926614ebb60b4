"""Fit the NIQE pristine model shipped in ``src/pixelwise/nodes/data/niqe_pristine.npz``.

The model is the mean and covariance of the 36 NIQE features of the sharpest 96x96 patches
(sharpness above 0.75 of each image's sharpest patch, as in Mittal et al. 2013) of the
photographs bundled with scikit-image whose licences allow redistribution (from each
function's docstring in ``skimage.data``):

* ``chelsea``: CC0 (Stefan van der Walt); ``rocket``: public domain (SpaceX);
* ``coins``: no known copyright restrictions (Brooklyn Museum);
* ``grass``, ``gravel``, ``brick``: CC0 (CC0Textures).

``camera``, ``astronaut`` and ``coffee`` are left out on purpose: the tests rank distortions
on them, so they must not be training data. The original NIQE model was fitted on 125
pristine photographs; this one is smaller but shippable, and its provenance travels inside
the file. The test suite refits it and checks the committed file is what this script writes.

Run from the repository root::

    python bench/niqe_pristine.py            # writes the model, prints scores and rankings
    python bench/niqe_pristine.py --check    # only compares a refit with the committed file
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from skimage import data, filters

from pixelwise.nodes.quality import MODEL_FILE, PristineModel, fit_pristine_model, niqe

PRISTINE = ("chelsea", "rocket", "coins", "grass", "gravel", "brick")
PATCH_SIZE = 96
SHARPNESS_FRACTION = 0.75
TARGET = Path(__file__).resolve().parents[1] / "src" / "pixelwise" / "nodes" / "data" / MODEL_FILE


def pristine_images() -> list[np.ndarray]:
    """The pristine photographs as float64 in [0, 1]."""
    return [getattr(data, name)() / 255.0 for name in PRISTINE]


def fit() -> PristineModel:
    """The pristine model, with its provenance recorded."""
    provenance = (
        "NIQE pristine model fitted by bench/niqe_pristine.py on skimage.data "
        f"{', '.join(PRISTINE)} (CC0 / public domain / no known copyright restrictions); "
        f"{PATCH_SIZE}px patches with "
        f"sharpness above {SHARPNESS_FRACTION} of each image's maximum."
    )
    return fit_pristine_model(pristine_images(), PATCH_SIZE, SHARPNESS_FRACTION, provenance)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file")
    args = parser.parse_args()
    model = fit()
    if args.check:
        stored = PristineModel.load(TARGET)
        same = np.allclose(stored.mean, model.mean) and np.allclose(
            stored.covariance, model.covariance
        )
        print("committed model matches a refit" if same else "committed model differs")
        return 0 if same else 1
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    model.save(TARGET)
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")
    print(f"{'image':<12}{'NIQE':>8}")
    for name in ("camera", "astronaut", "coffee", *PRISTINE):
        print(f"{name:<12}{niqe(getattr(data, name)() / 255.0, model):>8.3f}")
    print_rankings(model)
    return 0


def print_rankings(model: PristineModel) -> None:
    """NIQE of the held-out photographs under growing Gaussian blur and noise (seeded)."""
    blurs, noises = (0.0, 0.5, 1.0, 2.0, 4.0), (0, 5, 15, 30, 50)
    print(f"\n{'image':<12}" + "".join(f"{f'blur {b:g}':>10}" for b in blurs))
    for name in ("camera", "astronaut", "coffee"):
        image = getattr(data, name)() / 255.0
        axis = -1 if image.ndim == 3 else None
        scores = [
            niqe(filters.gaussian(image, b, channel_axis=axis) if b else image, model)
            for b in blurs
        ]
        print(f"{name:<12}" + "".join(f"{score:>10.2f}" for score in scores))
    print(f"\n{'image':<12}" + "".join(f"{f'noise {n}':>10}" for n in noises))
    for name in ("camera", "astronaut", "coffee"):
        image = getattr(data, name)() / 255.0
        rng = np.random.default_rng(0)
        scores = [
            niqe(np.clip(image + rng.normal(0, n / 255, image.shape), 0, 1), model) for n in noises
        ]
        print(f"{name:<12}" + "".join(f"{score:>10.2f}" for score in scores))


if __name__ == "__main__":
    sys.exit(main())
