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
import pywt
from torch import nn

from pixelwise.apps.seismic.amplitude import PreparedSection
from pixelwise.apps.seismic.classical import lateral_median
from pixelwise.engine import InferenceSettings
from pixelwise.io.sources import ArraySource, InMemorySource
from pixelwise.methods import predict_normalized

#: Random noise (in robust-scale units) below which good traces are kept unchanged. The
#: estimate is the top time octave's level, where seismic signal is weak: on the real bench
#: sections it is 0.02 (Volve) and 0.34 (F3, broadband) clean, 0.62-0.68 with white noise
#: of half the signal's std; the threshold lies between.
CLEAN_NOISE_LEVEL = 0.45
#: Wavelet of the noise estimate: long and smooth, so that little signal leaks into the top
#: octave.
NOISE_WAVELET = "sym8"
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


def for_network(
    prepared: PreparedSection, fill: Literal["auto", "hide", "median", "blend"]
) -> PreparedSection:
    """``prepared`` as the network takes it: flagged traces hidden, or median-filled.

    ``auto`` is resolved in training (:func:`pixelwise.apps.seismic.train.resolve_fill`);
    here it hides, as ``blend`` does.
    """
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
    """Estimated std of white noise on the good traces, in robust-scale units.

    The median absolute finest-scale wavelet coefficient along time / 0.6745 (Donoho's
    estimate), taken per trace, along time only: laterally incoherent geology (F3) would
    pass for noise in a 2-D estimate.
    """
    good = ~prepared.bad
    if good.sum() < 1 or prepared.values.shape[0] < 4:
        return float("inf")
    detail = pywt.dwt(prepared.values[:, good].astype(np.float64), NOISE_WAVELET, axis=0)[1]
    return float(np.median(np.abs(detail)) / 0.6745)


def predict_ensemble(
    model: nn.Module,
    values: np.ndarray,
    *,
    inference: InferenceSettings | None = None,
    flips: bool = False,
    device: str = "auto",
) -> np.ndarray:
    """A one-channel network's prediction of ``values``, optionally flip-averaged.

    ``values`` is float32 ``(H, W)``, or ``(C, H, W)`` for a network that takes context
    channels (neighbouring inlines); the result is float32 ``(H, W)``. With ``flips``, the
    mean over the four time/trace flips (each undone): blind-spot estimates of independent
    flips have partly independent errors, so their mean is better at four times the cost.
    """
    shape = values.shape[-2:]
    flip_sets: tuple[tuple[int, ...], ...] = ((), (0,), (1,), (0, 1)) if flips else ((),)
    total = np.zeros(shape, dtype=np.float64)
    for flipped_axes in flip_sets:  # axes of the (H, W) image
        axes = tuple(values.ndim - 2 + axis for axis in flipped_axes)
        flipped = np.ascontiguousarray(np.flip(values, axes)) if axes else values
        prediction = predict_normalized(model, flipped, None, inference=inference, device=device)
        total += np.flip(prediction.reshape(shape), flipped_axes)
    return (total / len(flip_sets)).astype(np.float32)


def filled_bad_traces(prepared: PreparedSection, seed: int = 0) -> np.ndarray:
    """``prepared.values`` with every bad trace replaced by unit Gaussian noise.

    This is what the network sees of a trace it must not use (as
    :func:`pixelwise.masking.hide_traces` shows hidden traces in training); the noise is drawn
    from ``(seed, trace index)``, so a block of a file gets the same fill as the whole file.
    """
    values = prepared.values.copy()
    for column in np.flatnonzero(prepared.bad):
        rng = np.random.default_rng([seed, int(prepared.traces[column])])
        values[:, column] = rng.standard_normal(values.shape[0], dtype=np.float32)
    return values


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
    context: np.ndarray | None = None,
    blend_median: bool = False,
) -> np.ndarray:
    """Denoise a prepared section; float32 ``(n_samples, n_traces)`` in the input's units.

    Bad traces are filled with unit Gaussian noise (:func:`filled_bad_traces`). Flagged
    traces get the network's
    prediction; dead traces stay exactly zero unless ``interpolate_dead``. Good traces get
    the prediction, or keep their samples when ``keep_clean`` is ``"always"`` or, with
    ``"auto"``, when :func:`residual_noise` is below :data:`CLEAN_NOISE_LEVEL` (decided per
    block when a file is streamed). ``flips`` averages over flips (:func:`predict_ensemble`).
    With ``blend_median``, a flagged trace is the mean of the network's rebuilt trace and the
    lateral median of good neighbours (trace editing): their errors are partly independent,
    so the mean beats both (Volve inline, trace-wise noise: +0.9 dB over the network alone).
    ``context`` (float32 ``(2k, n_samples, n_traces)``, the k inlines before and the k after,
    bad traces filled: :func:`pixelwise.apps.seismic.volume.inline_context`) is stacked
    around the section for a network trained in ``volume`` geometry.
    """
    network_input = filled_bad_traces(prepared, seed)
    if context is not None:
        half = len(context) // 2
        network_input = np.concatenate([context[:half], network_input[None], context[half:]])
    prediction = predict_ensemble(
        model, network_input, inference=inference, flips=flips, device=device
    )
    keep = keep_clean == "always" or (
        keep_clean == "auto" and residual_noise(prepared) < CLEAN_NOISE_LEVEL
    )
    if blend_median and prepared.flagged.any():
        median = lateral_median(prepared.values, prepared.flagged, ~prepared.bad)
        flagged = prepared.flagged
        prediction[:, flagged] = 0.5 * (prediction[:, flagged] + median[:, flagged])
    if keep:
        prediction = np.where(prepared.bad, prediction, prepared.values)
    result = prepared.restore(prediction)
    if not interpolate_dead:
        result[:, prepared.dead] = 0.0
    return result
