"""Denoising seismic files section by section, learned or classical, streamed to the output.

A file is cut into sections (:mod:`pixelwise.apps.seismic.geometry`); each is read, denoised
and written to the same trace positions of the output before the next is read, so peak
memory depends on the largest section (or ``sections.block_traces``), not on the file.
A SEG-Y output from a SEG-Y input keeps every header byte and the trace order.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelwise.apps.seismic.amplitude import (
    PreparedSection,
    SectionStats,
    prepare_section,
    prepare_traces,
    robust_level,
    section_statistics,
)
from pixelwise.apps.seismic.classical import METHODS, classical_denoise, dead_traces
from pixelwise.apps.seismic.config import SectionConfig, SeismicConfig
from pixelwise.apps.seismic.geometry import blocks, open_traces, read_traces, trace_groups
from pixelwise.apps.seismic.learned import (
    CLEAN_NOISE_LEVEL,
    KeepClean,
    denoise_prepared,
    for_network,
    residual_noise,
)
from pixelwise.apps.seismic.train import AMPLITUDE_KEY, APP, SeismicNote
from pixelwise.apps.seismic.volume import cube_statistics, volume_grid, volume_inlines
from pixelwise.config import validate_config
from pixelwise.errors import CheckpointError, ConfigError, InputError
from pixelwise.io.atomic import atomic_path
from pixelwise.io.segy import (
    FORMAT_NAMES,
    UNSIGNED_FORMATS,
    SegyNote,
    SegyWriter,
    inspect_segy,
    read_segy,
    segy_writer,
    write_segy,
)
from pixelwise.io.sources import ArraySource
from pixelwise.methods import TrainedModel, load_trained, predict_normalized

SEGY_SUFFIXES = (".sgy", ".segy")
#: Lateral context (traces) read on each side of a block in ``file`` geometry.
BLOCK_OVERLAP = 64
#: A file whose robust amplitude scale differs from the training data's by more than this
#: factor gets a note (global normalisation only: robust normalisation adapts to it).
AMPLITUDE_RATIO_WARNING = 10.0
Progress = Callable[[int, int], None]


def load_denoiser(checkpoint: str | Path) -> tuple[TrainedModel, SeismicConfig]:
    """Rebuild the exact trained network, its statistics and its run config from a checkpoint."""
    trained = load_trained(checkpoint, app=APP)
    config = validate_config(
        SeismicConfig, trained.checkpoint.app_config, f"{checkpoint} (stored config)"
    )
    if trained.normalization is None:
        raise CheckpointError(f"{checkpoint}: the checkpoint lacks the training normalization")
    return trained, config


def denoise_section(
    trained: TrainedModel, config: SeismicConfig, section: np.ndarray, device: str = "auto"
) -> np.ndarray:
    """Denoise one section, float32 ``(n_samples, n_traces)`` -> float32 of the same shape.

    Any size works: the section is normalised (with the training statistics, or by its own
    robust level when the checkpoint was trained that way), edge-padded to the network's
    size multiple and, beyond ``config.inference.window``, processed in overlapping blended
    windows; the normalisation is undone on the output. Dead traces (all zero, or NaN
    anywhere) are kept out of the statistics and the network's context and come back as
    they were, unless ``sections.interpolate_dead``.
    """
    if section.ndim != 2:
        raise InputError(
            "section", f"expected a 2-D (n_samples, n_traces) array, got {section.shape}"
        )
    settings = config.sections
    if settings.geometry == "volume":
        raise ConfigError(
            "a volume model needs the neighbouring inlines: denoise the cube's file with "
            "denoise_file (pixelwise seismic denoise)"
        )
    dead = dead_traces(section)
    if settings.normalization == "robust":
        prepared = prepare_section(
            section, flag_noise=settings.flag_noisy_traces, balance_traces=settings.balance_traces
        )
        result = denoise_prepared(
            trained.model,
            for_network(prepared, settings.flagged_fill),
            inference=config.inference,
            keep_clean=settings.keep_clean,
            interpolate_dead=settings.interpolate_dead,
            flips=settings.flip_ensemble,
            blend_median=settings.flagged_fill == "blend",
            device=device,
        )
    else:
        mean = trained.normalization.mean if trained.normalization is not None else 0.0
        live = np.where(dead, np.float32(mean), section)
        result = predict_normalized(
            trained, live, trained.normalization, inference=config.inference, device=device
        )
    return pass_dead_traces(section, result, settings.interpolate_dead, dead)


def pass_dead_traces(
    section: np.ndarray,
    result: np.ndarray,
    interpolated: bool = False,
    dead: np.ndarray | None = None,
) -> np.ndarray:
    """``result`` with the dead traces of ``section`` exactly as they were (zeros, NaNs).

    With ``interpolated`` the network's estimate stays in them instead.

    >>> section = np.ones((3, 2), np.float32)
    >>> section[:, 1] = np.nan
    >>> pass_dead_traces(section, np.zeros((3, 2), np.float32))[0].tolist()
    [0.0, nan]
    """
    if not interpolated:
        dead = dead_traces(section) if dead is None else dead
        result[:, dead] = section[:, dead]
    return result


def _amplitude_note(name: str, section: np.ndarray, trained: TrainedModel) -> None:
    """Warn when ``section``'s amplitudes are far from the training data's."""
    live = section[:, ~dead_traces(section)]
    if live.size == 0 or trained.normalization is None:
        return
    stored = trained.checkpoint.learned_state.get(AMPLITUDE_KEY)
    reference = float(stored) if stored is not None else trained.normalization.std
    scale = robust_level(live)[1] if stored is not None else float(live.std())
    ratio = scale / reference if reference > 0 else float("inf")
    if not 1 / AMPLITUDE_RATIO_WARNING <= ratio <= AMPLITUDE_RATIO_WARNING:
        hint = (
            "robust per-section normalisation adapts to it"
            if stored is not None
            else "the model applies the training mean/std, so the result is likely poor; "
            "retrain with sections.normalization: robust"
        )
        warnings.warn(
            f"{name}: amplitude scale {scale:.3g} is {ratio:.3g} x the training data's "
            f"({reference:.3g}); {hint}",
            SeismicNote,
            stacklevel=3,
        )


@dataclass
class _Part:
    """One piece of a file to denoise: its file trace indices and samples, what to keep.

    ``stats`` (robust normalisation only) are the statistics of the whole section the part
    belongs to, and ``positions`` the part's traces within that section. An inline of a
    ``volume`` comes ``prepared`` already, with its neighbouring inlines as ``context``.
    """

    indices: np.ndarray
    values: np.ndarray
    keep: slice
    stats: SectionStats | None
    positions: np.ndarray
    prepared: PreparedSection | None = None
    context: np.ndarray | None = None
    keep_clean: KeepClean | None = None


def _read_positions(source: ArraySource, group: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The traces at ``positions`` of the section made of file traces ``group``."""
    return read_traces(source, group[positions])


def _parts(
    path: Path, source: ArraySource, settings: SectionConfig, robust: bool
) -> Iterator[_Part]:
    """Every part of a file, section by section (in blocks for ``file`` geometry)."""
    if robust and settings.geometry == "volume":
        grid = volume_grid(path, source.shape[1], settings)
        cube = cube_statistics(source, grid, settings)
        keep_clean = settings.keep_clean
        if keep_clean == "auto":  # once per cube: one inline is too few traces to tell
            levels = [
                residual_noise(i.prepared) for i in volume_inlines(source, grid, cube, settings)
            ]
            keep_clean = "always" if np.median(levels) < CLEAN_NOISE_LEVEL else "never"
        for inline in volume_inlines(source, grid, cube, settings):
            yield _Part(
                inline.indices,
                inline.values,
                slice(0, len(inline.indices)),
                cube,
                inline.prepared.traces,
                inline.prepared,
                inline.context,
                keep_clean,
            )
        return
    for group in trace_groups(path, source.shape[1], settings):
        stats = (
            section_statistics(
                functools.partial(_read_positions, source, group),
                len(group),
                flag_noise=settings.flag_noisy_traces,
                balance_traces=settings.balance_traces,
                block=settings.block_traces,
            )
            if robust
            else None
        )
        if settings.geometry == "file":
            for read, keep in blocks(len(group), settings.block_traces, BLOCK_OVERLAP):
                positions = np.arange(read.start, read.stop)
                yield _Part(group[read], read_traces(source, group[read]), keep, stats, positions)
        else:
            positions = np.arange(len(group))
            yield _Part(group, read_traces(source, group), slice(0, len(group)), stats, positions)


class _ArrayWriter:
    """The ``.npy`` twin of :class:`pixelwise.io.segy.SegyWriter`: traces into an array.

    With ``path``, the array is a ``.npy`` memory map there; else it is in memory.
    """

    def __init__(self, path: Path | None, shape: tuple[int, int]) -> None:
        self.array = (
            np.lib.format.open_memmap(path, "w+", np.float32, shape)
            if path is not None
            else np.zeros(shape, np.float32)
        )

    def write(self, indices: np.ndarray, data: np.ndarray) -> None:
        self.array[:, indices] = data

    def close(self) -> None:
        if isinstance(self.array, np.memmap):
            self.array.flush()
        del self.array


@contextlib.contextmanager
def _writer(
    input_path: Path,
    output_path: Path,
    shape: tuple[int, int],
    dt: float | None,
    sample_format: int | None,
) -> Iterator[_ArrayWriter | SegyWriter]:
    """Where denoised traces go: a ``.npy`` memory map, or a SEG-Y like the input."""
    suffix = output_path.suffix.lower()
    if suffix == ".npy":
        with atomic_path(output_path) as tmp:
            npy = _ArrayWriter(tmp, shape)
            yield npy
            npy.close()
    elif input_path.suffix.lower() in SEGY_SUFFIXES:
        native = inspect_segy(input_path).sample_format
        if sample_format is None and native in UNSIGNED_FORMATS:
            warnings.warn(
                f"{input_path}: samples are {FORMAT_NAMES[native]}s (format {native}), which "
                "cannot hold signed, fractional denoised values; writing 4-byte IEEE float "
                f"(format 5); pass --sample-format {native} to keep the input's format",
                SegyNote,
                stacklevel=3,
            )
            sample_format = 5
        with segy_writer(input_path, output_path, sample_format) as writer:
            yield writer
    else:  # a new SEG-Y without a template: minimal headers, written at the end
        memory = _ArrayWriter(None, shape)
        yield memory
        samples = np.where(np.isnan(memory.array), np.float32(0), memory.array)
        write_segy(output_path, samples, sample_interval_us=round((dt or 0.004) * 1e6))


def _nan_traces(output_path: Path, values: np.ndarray) -> np.ndarray:
    """Bool ``(n_traces,)``: the traces of ``values`` holding NaN, when they go to SEG-Y.

    SEG-Y sample formats have no NaN (IBM float and integers cannot hold one), so a NaN
    dead trace is written as zeros, the SEG-Y convention for a dead trace; ``.npy`` keeps it.
    """
    if output_path.suffix.lower() not in SEGY_SUFFIXES:
        return np.zeros(values.shape[1], dtype=bool)
    return np.isnan(values).any(axis=0)


class TransposedSource:
    """A 2-D source stored as (n_traces, n_samples), served as (n_samples, n_traces)."""

    def __init__(self, source: ArraySource) -> None:
        self.inner = source
        self.source = source.source
        self.shape: tuple[int, ...] = (source.shape[1], source.shape[0])
        self.dtype = source.dtype

    def read(self, window: tuple[slice, ...]) -> np.ndarray:
        rows, traces = window
        return np.ascontiguousarray(self.inner.read((traces, rows)).T)

    def close(self) -> None:
        self.inner.close()


def _axis_note(path: Path, shape: tuple[int, ...]) -> None:
    """Warn when a ``.npy`` section looks stored as (n_traces, n_samples)."""
    n_samples, n_traces = shape[0], shape[1]
    if n_samples < 64 and n_traces > 8 * n_samples:
        warnings.warn(
            f"{path}: read as {n_samples} samples x {n_traces} traces (rows are time); traces "
            "this short beside so many look transposed; pass --transpose if rows are traces",
            SeismicNote,
            stacklevel=3,
        )


def denoise_file(
    input_path: str | Path,
    output_path: str | Path,
    checkpoint: str | Path | None = None,
    device: str = "auto",
    *,
    method: str = "learned",
    sections: SectionConfig | None = None,
    dt: float | None = None,
    transpose: bool = False,
    sample_format: int | None = None,
    progress: Progress | None = None,
    return_result: bool = True,
) -> np.ndarray | None:
    """Denoise ``input_path`` (.sgy/.segy/.npy) into ``output_path``, section by section.

    ``method`` is ``"learned"`` (needs ``checkpoint``) or a classical method of
    :data:`pixelwise.apps.seismic.classical.METHODS`. ``sections`` overrides the geometry
    (default: the checkpoint's, else one section in file order); ``dt`` (seconds) is the
    sample interval for classical filters and new SEG-Y files (default: the SEG-Y header's,
    else 4 ms); ``transpose`` reads a ``.npy`` stored as (n_traces, n_samples).
    ``progress(done, total)`` is called after every section, in traces. The output is
    written atomically; nothing is written if anything fails. Returns the denoised section
    (read back from the output) unless ``return_result`` is False.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    output_suffix = output_path.suffix.lower()
    if output_suffix not in (*SEGY_SUFFIXES, ".npy"):
        raise InputError(output_path, "unsupported output format; use .sgy, .segy or .npy")
    if method != "learned" and method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose learned, {', '.join(METHODS)}")
    trained: TrainedModel | None = None
    if method == "learned":
        if checkpoint is None:
            raise ConfigError("the learned method needs a checkpoint (--checkpoint)")
        trained, config = load_denoiser(checkpoint)
        # The normalisation is part of the model: only the checkpoint decides it.
        settings = (sections or config.sections).model_copy(
            update={"normalization": config.sections.normalization}
        )
        if settings.geometry == "auto":  # as in training (stored resolved in checkpoints)
            settings = settings.model_copy(update={"geometry": config.sections.geometry})
        if (settings.geometry == "volume") != (config.sections.geometry == "volume"):
            raise ConfigError(
                f"{checkpoint} was trained in geometry '{config.sections.geometry}'; a volume "
                "model (inlines with their neighbours as channels) denoises only in geometry "
                "'volume', and a 2-D model only in the others"
            )
        settings = settings.model_copy(update={"context": config.sections.context})
    else:
        settings = sections or SectionConfig()
        if settings.geometry == "auto":  # classical methods are 2-D: one section in file order
            settings = settings.model_copy(update={"geometry": "file"})
    is_segy = input_path.suffix.lower() in SEGY_SUFFIXES
    if transpose and is_segy:
        raise InputError(
            input_path, "a SEG-Y file has its own trace order; --transpose is for .npy"
        )
    source = open_traces(input_path)
    if transpose:
        source = TransposedSource(source)
    elif not is_segy:
        _axis_note(input_path, source.shape)
    if dt is None and is_segy:
        interval = inspect_segy(input_path).interval_us
        dt = interval * 1e-6 if interval else None
    shape = (int(source.shape[0]), int(source.shape[1]))
    robust = trained is not None and settings.normalization == "robust"

    def process(part: _Part) -> np.ndarray:
        if trained is None:
            return classical_denoise(part.values, method, dt or 0.004)
        _amplitude_note(str(input_path), part.values, trained)
        if part.stats is None:
            return denoise_section(trained, config, part.values, device=device)
        prepared = part.prepared or for_network(
            prepare_traces(part.values, part.stats, part.positions), settings.flagged_fill
        )
        result = denoise_prepared(
            trained.model,
            prepared,
            context=part.context,
            inference=config.inference,
            keep_clean=part.keep_clean or settings.keep_clean,
            interpolate_dead=settings.interpolate_dead,
            flips=settings.flip_ensemble,
            blend_median=settings.flagged_fill == "blend",
            device=device,
        )
        return pass_dead_traces(part.values, result, settings.interpolate_dead)

    done, interpolated, zeroed = 0, 0, 0
    try:
        with _writer(input_path, output_path, shape, dt, sample_format) as writer:
            for part in _parts(input_path, source, settings, robust):
                result = process(part)[:, part.keep]
                nan = _nan_traces(output_path, result)
                if nan.any():
                    result[:, nan] = np.where(np.isnan(result[:, nan]), 0, result[:, nan])
                    zeroed += int(nan.sum())
                writer.write(part.indices[part.keep], result)
                if trained is not None and settings.interpolate_dead:
                    interpolated += int(dead_traces(part.values[:, part.keep]).sum())
                done += part.keep.stop - part.keep.start
                if progress is not None:
                    progress(done, shape[1])
    finally:
        source.close()
    if zeroed:
        warnings.warn(
            f"{output_path}: {zeroed} traces with NaN samples were written with zeros there "
            "(SEG-Y has no NaN; zero traces are its dead traces)",
            SeismicNote,
            stacklevel=2,
        )
    if interpolated:
        warnings.warn(
            f"{output_path}: {interpolated} dead traces (all zero or NaN in {input_path}) were "
            "interpolated by the network; their samples are estimates, not recorded data",
            SeismicNote,
            stacklevel=2,
        )
    if not return_result:
        return None
    if output_suffix == ".npy":
        return np.load(output_path)
    return read_segy(output_path)
