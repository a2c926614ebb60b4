"""Figures written atomically as PNG with matplotlib's non-interactive Agg backend."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from pixelwise.io.atomic import write_bytes_atomic


def save_section_figure(
    path: str | Path,
    section: np.ndarray,
    title: str,
    *,
    clip: float | None = None,
    cmap: str = "gray",
) -> Path:
    """Plot a seismic section (n_samples, n_traces) with a symmetric amplitude scale.

    ``clip`` sets the colour limits to ``[-clip, clip]``; by default the 99th percentile of
    the absolute amplitude, so that a few spikes do not wash out the image.
    """
    limit = float(clip if clip is not None else np.percentile(np.abs(section), 99)) or 1.0
    figure, axis = plt.subplots(figsize=(6, 5), dpi=100)
    image = axis.imshow(section, cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
    axis.set(title=title, xlabel="trace", ylabel="sample")
    figure.colorbar(image, ax=axis, shrink=0.8)
    return _save(figure, path)


def save_panels(path: str | Path, panels: Mapping[str, np.ndarray], *, clip: float) -> Path:
    """Side-by-side sections with one shared amplitude scale (e.g. noisy / denoised / removed)."""
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.5), dpi=100)
    for axis, (title, section) in zip(np.atleast_1d(axes), panels.items(), strict=True):
        axis.imshow(section, cmap="gray", vmin=-clip, vmax=clip, aspect="auto")
        axis.set(title=title, xlabel="trace")
    np.atleast_1d(axes)[0].set_ylabel("sample")
    return _save(figure, path)


def figure_to_png(figure: plt.Figure) -> bytes:
    """Render a matplotlib figure to PNG bytes with Agg, then close it.

    Rendering to memory never opens a window, whatever backend is active. The figure is
    closed because pyplot keeps every figure it created alive until then, so a report with
    many figures would otherwise hold them all.

    Examples
    --------
    >>> figure, axis = plt.subplots(figsize=(2, 1), dpi=50)
    >>> figure_to_png(figure)[:4]
    b'\\x89PNG'
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _save(figure: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    figure.tight_layout()
    write_bytes_atomic(path, figure_to_png(figure))
    return path
