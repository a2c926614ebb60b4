"""The learned seismic path on prepared sections: bad traces hidden, robust levels, gating.

Combines robust trace detection with blind-spot training: traces flagged as noise (and dead
traces) are hidden from the network's input and kept out of its loss, so a network trained
with ``mixed`` masking rebuilds them from their neighbours while it denoises every other
trace from its own samples. When the good traces carry almost no random noise (estimated
from the finest wavelet scale), they are kept as they are and only the flagged traces are
replaced: a blind-spot network would otherwise smooth clean data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
from skimage.restoration import estimate_sigma
from torch import nn

from pixelwise.apps.seismic.amplitude import PreparedSection
from pixelwise.apps.seismic.classical import lateral_median
from pixelwise.engine import InferenceSettings
from pixelwise.io.sources import ArraySource, InMemorySource
from pixelwise.methods import predict_normalized

#: Random noise (in robust-scale units) below which good traces are kept unchanged.
CLEAN_NOISE_LEVEL = 0.05
KeepClean = Literal["auto", "always", "never"]


def median_filled(prepared: PreparedSection) -> PreparedSection:
    """``prepared`` with its flagged traces replaced by the lateral median of good traces.

    The result has no flagged traces left: the network sees (and learns from) the edited
    traces, as after classical trace editing.
    """
    if not prepared.flagged.any():
        return prepared
    values = lateral_median(prepared.values, prepared.flagged, ~prepared.bad)
    return replace(prepared, values=values, flagged=np.zeros_like(prepared.flagged))


def for_network(prepared: PreparedSection, fill: Literal["hide", "median"]) -> PreparedSection:
    """``prepared`` as the network takes it: flagged traces hidden, or median-filled."""
    return median_filled(prepared) if fill == "median" else prepared


def training_sources(
    sections: Sequence[PreparedSection], name: str = "section"
) -> tuple[list[ArraySource], list[ArraySource]]:
    """In-memory image and ``valid`` mask sources of prepared sections, for ``fit_noise2void``."""
    images: list[ArraySource] = [
        InMemorySource(s.values, f"{name} {k}") for k, s in enumerate(sections)
    ]
    masks: list[ArraySource] = [
        InMemorySource(s.valid_mask(), f"{name} {k} mask") for k, s in enumerate(sections)
    ]
    return images, masks


def residual_noise(prepared: PreparedSection) -> float:
    """Estimated std of white noise on the good traces, in robust-scale units."""
    good = ~prepared.bad
    if good.sum() < 2:
        return float("inf")
    return float(estimate_sigma(prepared.values[:, good].astype(np.float64)))


def predict_ensemble(
    model: nn.Module,
    values: np.ndarray,
    *,
    inference: InferenceSettings | None = None,
    flips: bool = False,
    device: str = "auto",
) -> np.ndarray:
    """The network's prediction of ``values`` (float32 ``(H, W)``), optionally flip-averaged.

    With ``flips``, the mean over the four time/trace flips (each undone): blind-spot
    estimates of independent flips have partly independent errors, so their mean is better
    at four times the cost.
    """
    if not flips:
        return predict_normalized(model, values, None, inference=inference, device=device)
    total = np.zeros(values.shape, dtype=np.float64)
    for axes in ((), (0,), (1,), (0, 1)):
        flipped = np.flip(values, axes) if axes else values
        prediction = predict_normalized(
            model, np.ascontiguousarray(flipped), None, inference=inference, device=device
        )
        total += np.flip(prediction, axes) if axes else prediction
    return (total / 4).astype(np.float32)


def denoise_prepared(
    model: nn.Module,
    prepared: PreparedSection,
    *,
    inference: InferenceSettings | None = None,
    keep_clean: KeepClean = "auto",
    interpolate_dead: bool = False,
    flips: bool = False,
    device: str = "auto",
    seed: int = 0,
) -> np.ndarray:
    """Denoise a prepared section; float32 ``(n_samples, n_traces)`` in the input's units.

    Bad traces are filled with unit Gaussian noise, as hidden traces are in training
    (:func:`pixelwise.masking.hide_traces`), drawn from ``(seed, trace index)`` so a block of
    a file gets the same fill as the whole file. Flagged traces get the network's
    prediction; dead traces stay exactly zero unless ``interpolate_dead``. Good traces get
    the prediction, or keep their samples when ``keep_clean`` is ``"always"`` or, with
    ``"auto"``, when :func:`residual_noise` is below :data:`CLEAN_NOISE_LEVEL` (decided per
    block when a file is streamed). ``flips`` averages over flips (:func:`predict_ensemble`).
    """
    network_input = prepared.values.copy()
    n_samples = network_input.shape[0]
    for column in np.flatnonzero(prepared.bad):
        rng = np.random.default_rng([seed, int(prepared.traces[column])])
        network_input[:, column] = rng.standard_normal(n_samples, dtype=np.float32)
    prediction = predict_ensemble(
        model, network_input, inference=inference, flips=flips, device=device
    )
    keep = keep_clean == "always" or (
        keep_clean == "auto" and residual_noise(prepared) < CLEAN_NOISE_LEVEL
    )
    if keep:
        prediction = np.where(prepared.bad, prediction, prepared.values)
    result = prepared.restore(prediction)
    if not interpolate_dead:
        result[:, prepared.dead] = 0.0
    return result
