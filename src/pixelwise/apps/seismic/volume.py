"""3-D cubes denoised as a volume: each inline with its neighbouring inlines as channels (2.5-D).

Butting a cube's inlines together wastes its third dimension: a trace's best predictors
after its own samples are the traces at the same crossline on the inlines beside it. In
``volume`` geometry each inline is a section whose network input stacks the ``context``
inlines on either side as extra channels (reflected at the cube's faces); only the centre
inline is blind-spot masked and predicted (``target_channel`` in
:func:`pixelwise.methods.n2v.fit_noise2void`), since the neighbours' noise is independent of
its own. Amplitude statistics are those of the whole cube; bad traces of neighbouring
inlines are filled with noise as the centre's are (:func:`~.learned.filled_bad_traces`).
Denoising streams one inline at a time, reading ``2 * context + 1`` inlines.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelwise.apps.seismic.amplitude import (
    PreparedSection,
    SectionStats,
    prepare_traces,
    section_statistics,
)
from pixelwise.apps.seismic.config import SectionConfig
from pixelwise.apps.seismic.geometry import read_traces
from pixelwise.apps.seismic.learned import filled_bad_traces, for_network
from pixelwise.errors import InputError
from pixelwise.io.segy import header_values
from pixelwise.io.sources import ArraySource


@dataclass(frozen=True)
class VolumeGrid:
    """File trace indices of a regular cube, int64 ``(n_inlines, n_crosslines)``.

    Rows are inlines in ascending order, columns crosslines in ascending order.
    """

    traces: np.ndarray

    @property
    def n_inlines(self) -> int:
        return int(self.traces.shape[0])

    def positions(self, inline: int) -> np.ndarray:
        """Where inline ``inline``'s traces sit in the cube's trace order (inline-major)."""
        width = self.traces.shape[1]
        return np.arange(inline * width, (inline + 1) * width)


def volume_grid(path: str | Path, n_traces: int, settings: SectionConfig) -> VolumeGrid:
    """Read the inline/crossline headers of ``path`` into a :class:`VolumeGrid`.

    Raises :class:`InputError` unless every (inline, crossline) pair of the cube's extent
    holds exactly one trace: a cube with holes or an irregular outline is denoised per
    ``inline`` instead.
    """
    inline = header_values(path, settings.inline_byte)
    crossline = header_values(path, settings.crossline_byte)
    inlines, row = np.unique(inline, return_inverse=True)
    crosslines, column = np.unique(crossline, return_inverse=True)
    grid = np.full((len(inlines), len(crosslines)), -1, dtype=np.int64)
    grid[row, column] = np.arange(n_traces)
    if len(inlines) < 2 or grid.size != n_traces or (grid < 0).any():
        raise InputError(
            path,
            f"geometry 'volume' needs a regular cube with at least 2 inlines, one trace per "
            f"(inline, crossline); found {n_traces} traces on {len(inlines)} inlines x "
            f"{len(crosslines)} crosslines (bytes {settings.inline_byte}/"
            f"{settings.crossline_byte}); use geometry 'inline'",
        )
    return VolumeGrid(grid)


def neighbours(inline: int, n_inlines: int, context: int) -> list[int]:
    """The ``context`` inlines before and after ``inline``; never ``inline`` itself.

    Past a face of the cube the inline as far on the other side is used (then the nearest
    other one): the centre's own noise must never reach the network through its context.

    >>> neighbours(0, 5, 2), neighbours(1, 5, 2), neighbours(0, 2, 2)
    ([2, 1, 1, 2], [3, 0, 2, 3], [1, 1, 1, 1])
    """
    chosen = []
    for offset in [*range(-context, 0), *range(1, context + 1)]:
        index = inline + offset
        if not 0 <= index < n_inlines:
            index = inline - offset
        if not 0 <= index < n_inlines:
            index = min(max(index, 0), n_inlines - 1)
            if index == inline:
                index += 1 if index == 0 else -1
        chosen.append(index)
    return chosen


def inline_context(sections: list[PreparedSection]) -> np.ndarray:
    """Float32 ``(len(sections), n_samples, n_traces)``: neighbour inlines, bad traces filled."""
    return np.stack([filled_bad_traces(section) for section in sections])


@dataclass(frozen=True)
class VolumeInline:
    """One inline of a cube: file trace indices, samples as read, network-ready form.

    ``prepared`` is the inline normalised by the cube's statistics (and its flagged traces
    hidden or median-filled); ``context`` its neighbours (:func:`inline_context`).
    """

    indices: np.ndarray
    values: np.ndarray
    prepared: PreparedSection
    context: np.ndarray

    def network_input(self) -> np.ndarray:
        """Float32 ``(2k + 1, n_samples, n_crosslines)`` for training: the inline in the middle.

        Its bad traces are left as they are: training hides them (``valid`` mask).
        """
        half = len(self.context) // 2
        centre = self.prepared.values[None]
        return np.concatenate([self.context[:half], centre, self.context[half:]])


def cube_statistics(source: ArraySource, grid: VolumeGrid, settings: SectionConfig) -> SectionStats:
    """Robust statistics of the whole cube (one streamed pass, inline-major trace order)."""
    order = grid.traces.ravel()
    return section_statistics(
        lambda positions: read_traces(source, order[positions]),
        order.size,
        flag_noise=settings.flag_noisy_traces,
        balance_traces=settings.balance_traces,
        block=settings.block_traces,
    )


def volume_inlines(
    source: ArraySource, grid: VolumeGrid, stats: SectionStats, settings: SectionConfig
) -> Iterator[VolumeInline]:
    """Every inline of the cube in turn, normalised by the cube's ``stats``, with context.

    At most ``2 * settings.context + 1`` inlines (as read and prepared) are held at a time,
    and each is read from the file once.
    """

    @functools.lru_cache(maxsize=2 * settings.context + 1)
    def loaded(inline: int) -> tuple[np.ndarray, PreparedSection]:
        values = read_traces(source, grid.traces[inline])
        section = prepare_traces(values, stats, grid.positions(inline))
        return values, for_network(section, settings.flagged_fill)

    for inline in range(grid.n_inlines):
        others = [loaded(j)[1] for j in neighbours(inline, grid.n_inlines, settings.context)]
        values, prepared = loaded(inline)
        yield VolumeInline(grid.traces[inline], values, prepared, inline_context(others))
