"""Amplitude handling: robust levels, trace balancing and bad-trace masks, streamed.

A checkpoint trained on one survey must work on another whose amplitudes differ by orders
of magnitude, and dead or noise-swamped traces must not bias the statistics. A section
(float32 ``(n_samples, n_traces)``, possibly a whole file read block by block) is therefore
normalised by robust statistics of its *good* traces only: dead traces (all zero) and traces
flagged as noise (:func:`pixelwise.apps.seismic.classical.flag_noisy_from_rms`) are
excluded. Statistics are computed in one streamed pass (:func:`section_statistics`), so a
block of a file is normalised exactly as the whole file would be. Optional trace balancing
divides every trace by its own robust scale; :meth:`PreparedSection.restore` undoes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from pixelwise.apps.seismic.classical import dead_traces, flag_noisy_from_rms

#: 1.4826 x MAD estimates the standard deviation of Gaussian data.
MAD_TO_STD = 1.4826
#: At most this many samples (whole traces, evenly spread) enter the median and MAD.
LEVEL_SAMPLES = 1 << 20


def robust_level(values: np.ndarray) -> tuple[float, float]:
    """``(median, 1.4826 x MAD)`` of ``values``; the scale falls back to the std, then to 1.

    >>> robust_level(np.array([0.0, 1.0, 2.0, 3.0, 100.0]))
    (2.0, 1.4826)
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return 0.0, 1.0
    center = float(np.median(values))
    scale = MAD_TO_STD * float(np.median(np.abs(values - center)))
    if not scale > 0:
        scale = float(values.std()) or 1.0
    return center, scale


@dataclass(frozen=True)
class SectionStats:
    """What normalising a section needs, per section and per trace.

    ``dead``, ``flagged`` (bool) and ``balance`` (float64, ones without balancing) are
    ``(n_traces,)``; ``center`` and ``scale`` are the robust level of the good traces.
    """

    center: float
    scale: float
    dead: np.ndarray
    flagged: np.ndarray
    balance: np.ndarray

    @property
    def bad(self) -> np.ndarray:
        """Traces the network must not see or learn from: dead or flagged."""
        return self.dead | self.flagged


def section_statistics(
    read: Callable[[np.ndarray], np.ndarray],
    n_traces: int,
    *,
    flag_noise: bool = True,
    balance_traces: bool = False,
    block: int = 4096,
) -> SectionStats:
    """Robust statistics of a section whose traces ``read(indices)`` returns, in one pass.

    ``read`` maps trace indices to float32 ``(n_samples, len(indices))``; it is called on
    blocks of at most ``block`` traces, so memory stays bounded. The median and MAD are taken
    over at most :data:`LEVEL_SAMPLES` samples of evenly spread good traces.
    """
    rms = np.zeros(n_traces)
    dead = np.zeros(n_traces, dtype=bool)
    trace_center = np.zeros(n_traces)
    trace_scale = np.ones(n_traces)
    n_samples = 0
    for indices in _blocks(n_traces, block):
        values = read(indices)
        n_samples = values.shape[0]
        dead[indices] = dead_traces(values)
        rms[indices] = np.sqrt(np.mean(np.square(values, dtype=np.float64), axis=0))
        if balance_traces:
            for offset, trace in enumerate(indices):
                if not dead[trace]:
                    trace_center[trace], trace_scale[trace] = robust_level(values[:, offset])
    flagged = flag_noisy_from_rms(rms, dead) if flag_noise else np.zeros(n_traces, dtype=bool)
    good = np.flatnonzero(~(dead | flagged))
    if good.size == 0:
        good = np.flatnonzero(~dead)
    step = max(1, len(good) * max(n_samples, 1) // LEVEL_SAMPLES)
    chosen = good[::step]
    center, scale = robust_level(
        np.concatenate([read(i).ravel() for i in _chunks(chosen, block)])
        if chosen.size
        else np.zeros(0)
    )
    balance = np.ones(n_traces)
    if balance_traces:
        balance = np.where(dead, 1.0, trace_scale / scale)
    return SectionStats(center, scale, dead, flagged, balance)


def _blocks(n_traces: int, block: int) -> Iterator[np.ndarray]:
    for start in range(0, n_traces, block):
        yield np.arange(start, min(start + block, n_traces))


def _chunks(indices: np.ndarray, block: int) -> Iterator[np.ndarray]:
    for start in range(0, len(indices), block):
        yield indices[start : start + block]


@dataclass(frozen=True)
class PreparedSection:
    """Traces normalised by their section's :class:`SectionStats`, and how to undo it.

    ``values`` is float32 ``(n_samples, n_traces)``: ``(section - center) / scale``, divided
    by the traces' ``balance``; dead traces are 0. ``traces`` are the traces' indices in the
    section (for block-independent fills); ``dead``/``flagged``/``balance`` are theirs.
    """

    values: np.ndarray
    center: float
    scale: float
    balance: np.ndarray
    dead: np.ndarray
    flagged: np.ndarray
    traces: np.ndarray

    @property
    def bad(self) -> np.ndarray:
        """Traces the network must not see or learn from: dead or flagged."""
        return self.dead | self.flagged

    def restore(self, values: np.ndarray) -> np.ndarray:
        """Undo the normalisation (and balancing) of ``values`` shaped like :attr:`values`."""
        restored = values.astype(np.float64) * self.balance * self.scale + self.center
        return restored.astype(np.float32)

    def valid_mask(self) -> np.ndarray:
        """Bool ``(n_samples, n_traces)``, False on every sample of a bad trace (a view)."""
        return np.broadcast_to(~self.bad, self.values.shape)


def prepare_traces(
    values: np.ndarray, stats: SectionStats, traces: np.ndarray | None = None
) -> PreparedSection:
    """Normalise ``values`` (the section's traces ``traces``, default all) by ``stats``."""
    traces = np.arange(values.shape[1]) if traces is None else np.asarray(traces)
    balance = stats.balance[traces]
    normalised = (np.asarray(values, dtype=np.float64) - stats.center) / stats.scale / balance
    dead = stats.dead[traces]
    normalised[:, dead] = 0.0
    return PreparedSection(
        normalised.astype(np.float32),
        stats.center,
        stats.scale,
        balance,
        dead,
        stats.flagged[traces],
        traces,
    )


def prepare_section(
    section: np.ndarray, *, flag_noise: bool = True, balance_traces: bool = False
) -> PreparedSection:
    """Normalise a whole in-memory ``section`` by the robust level of its good traces.

    >>> section = np.random.default_rng(0).normal(5.0, 2.0, (200, 30)).astype(np.float32)
    >>> section[:, 3] = 0
    >>> prepared = prepare_section(section)
    >>> bool(prepared.dead[3]), round(prepared.scale, 1)
    (True, 2.0)
    >>> restored = prepared.restore(prepared.values)
    >>> bool(np.abs(restored[:, 4:] - section[:, 4:]).max() < 1e-5)
    True
    """
    section = np.asarray(section, dtype=np.float32)
    stats = section_statistics(
        lambda indices: section[:, indices],
        section.shape[1],
        flag_noise=flag_noise,
        balance_traces=balance_traces,
    )
    return prepare_traces(section, stats)
