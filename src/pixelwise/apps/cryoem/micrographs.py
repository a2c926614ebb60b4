"""Micrograph pairs for training and evaluation, read lazily from MRC, TIFF and .npy files.

Two kinds of pairs train the same denoiser:

* ``paired``: (noisy, clean) micrographs;
* ``n2n``: two independent noisy halves of one exposure, the odd and even frame sums of a
  movie (summed here, window by window, from the memory-mapped movie) or given as files.

Pairs come from folders (files matched by name), lists of files or stacks (matched by
position, every entry of an ``(N, Y, X)`` stack a micrograph), or a manifest (CSV or RELION
STAR). Nothing is loaded whole: a :class:`MicrographSource` reads windows of one micrograph,
summing frames on the fly, so patches are drawn from arbitrarily large data sets in constant
memory.

Standardisation is per micrograph: each input is mapped to zero mean and unit variance by
its own statistics (measured exactly, in bounded slabs). A paired target is mapped by its
input's statistics, so the network learns the clean image in the input's units, and
denoising undoes the input's own map; an ``n2n`` target (another noisy half) by its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pixelwise.errors import InputError
from pixelwise.io.registry import open_source
from pixelwise.io.sources import ArraySource, Window, check_window

#: File endings read as micrographs (case-insensitive).
MICROGRAPH_SUFFIXES = (".mrc", ".mrcs", ".mrc.gz", ".mrc.bz2", ".tif", ".tiff", ".npy")
#: Rows of a micrograph scanned at once when measuring statistics.
_SLAB_PIXELS = 1 << 22

PairKind = Literal["paired", "n2n"]


class MicrographSource:
    """One micrograph ``(Y, X)`` float32 of a file: the whole image, a stack entry, or a sum.

    ``entries`` selects the stack entries (or movie frames) summed into the micrograph; None
    for a 2-D file. ``mean`` and ``std``, when given, standardise what :meth:`read` returns.

    Examples
    --------
    >>> from pixelwise.io.sources import InMemorySource
    >>> movie = InMemorySource(np.arange(24.0).reshape(3, 2, 4), source="movie")
    >>> odd = MicrographSource(movie, entries=(0, 2))
    >>> odd.shape, odd.read((slice(0, 1), slice(0, 2))).tolist()
    ((2, 4), [[16.0, 18.0]])
    """

    def __init__(
        self,
        source: ArraySource,
        entries: tuple[int, ...] | None = None,
        *,
        mean: float = 0.0,
        std: float = 1.0,
        label: str | None = None,
    ) -> None:
        shape = tuple(source.shape)
        if entries is None and len(shape) != 2:
            raise InputError(source.source, f"expected a (Y, X) micrograph, got shape {shape}")
        if entries is not None and (len(shape) != 3 or not entries):
            raise InputError(source.source, f"expected an (N, Y, X) stack, got shape {shape}")
        if entries is not None and not all(0 <= entry < shape[0] for entry in entries):
            raise InputError(source.source, f"entries {entries} outside the stack of {shape[0]}")
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            raise InputError(source.source, f"invalid statistics mean {mean}, std {std}")
        self.base = source
        self.entries = entries
        self.mean = float(mean)
        self.std = float(std)
        self.shape: tuple[int, ...] = shape[-2:]
        self.dtype = np.dtype(np.float32)
        if label is None:
            label = source.source
            if entries is not None:
                label += f"[{entries[0]}]" if len(entries) == 1 else f"[{_describe(entries)}]"
        self.source = label

    def raw(self, window: Window) -> np.ndarray:
        """The window in the file's units (summed over ``entries``), float32 ``(h, w)``."""
        window = check_window(self, window)
        if self.entries is None:
            return np.asarray(self.base.read(window), dtype=np.float32)
        first, last = min(self.entries), max(self.entries)
        block = self.base.read((slice(first, last + 1), *window))
        picked = block[[entry - first for entry in self.entries]]
        return picked.sum(axis=0, dtype=np.float64).astype(np.float32)

    def read(self, window: Window) -> np.ndarray:
        """The window standardised by ``(mean, std)``, float32 ``(h, w)``."""
        return ((self.raw(window) - np.float32(self.mean)) / np.float32(self.std)).astype(
            np.float32
        )

    def whole(self) -> np.ndarray:
        """The whole micrograph in the file's units, float32 ``(Y, X)``."""
        return self.raw(tuple(slice(0, size) for size in self.shape))

    def statistics(self) -> tuple[float, float]:
        """Exact ``(mean, std)`` of the micrograph in the file's units, read in slabs."""
        height, width = self.shape
        rows = max(1, _SLAB_PIXELS // (width * max(1, len(self.entries or (0,)))))
        total, total_sq, count = 0.0, 0.0, 0
        for start in range(0, height, rows):
            slab = self.raw((slice(start, min(start + rows, height)), slice(0, width)))
            values = slab.astype(np.float64)
            total += float(values.sum())
            total_sq += float(np.square(values).sum())
            count += values.size
        mean = total / count
        std = math.sqrt(max(total_sq / count - mean**2, 0.0))
        if std == 0:
            raise InputError(self.source, "micrograph is constant (std 0); cannot standardise")
        return mean, std

    def standardized(self, mean: float, std: float) -> MicrographSource:
        """This micrograph with :meth:`read` standardised by ``(mean, std)``."""
        return MicrographSource(self.base, self.entries, mean=mean, std=std, label=self.source)

    def close(self) -> None:
        self.base.close()


def _describe(entries: tuple[int, ...]) -> str:
    step = entries[1] - entries[0] if len(entries) > 1 else 1
    if list(entries) == list(range(entries[0], entries[-1] + 1, step)):
        return f"{entries[0]}:{entries[-1] + 1}:{step}"
    return ",".join(map(str, entries))


@dataclass(frozen=True)
class MicrographPair:
    """An aligned (input, target) pair of one exposure, in the files' units."""

    name: str
    input: MicrographSource
    target: MicrographSource
    kind: PairKind

    def training_sources(self) -> tuple[MicrographSource, MicrographSource]:
        """The pair standardised per micrograph (see the module docstring)."""
        mean, std = self.input.statistics()
        target_stats = (mean, std) if self.kind == "paired" else self.target.statistics()
        return self.input.standardized(mean, std), self.target.standardized(*target_stats)


def _is_micrograph(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and not name.startswith(".") and name.endswith(MICROGRAPH_SUFFIXES)


def list_micrographs(path: str | Path) -> list[Path]:
    """The micrograph files of a folder (sorted by name), or ``[path]`` for a file."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "not found")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if _is_micrograph(p))
    if not files:
        endings = ", ".join(MICROGRAPH_SUFFIXES)
        raise InputError(path, f"folder holds no micrographs ({endings})")
    return files


def _expand(paths: Sequence[str | Path]) -> list[Path]:
    return [file for path in paths for file in list_micrographs(path)]


def _entries_of(file: Path) -> list[MicrographSource]:
    """Every micrograph of a file: itself if 2-D, each entry of an (N, Y, X) stack."""
    source = open_source(file)
    shape = tuple(source.shape)
    if len(shape) == 2:
        return [MicrographSource(source)]
    if len(shape) == 3:
        return [MicrographSource(source, (index,)) for index in range(shape[0])]
    source.close()
    raise InputError(file, f"expected a (Y, X) micrograph or (N, Y, X) stack, got shape {shape}")


def movie_halves(file: str | Path) -> tuple[MicrographSource, MicrographSource]:
    """The odd and even frame sums (frames 1, 3, ... and 2, 4, ...) of an (F, Y, X) movie."""
    source = open_source(file)
    shape = tuple(source.shape)
    if len(shape) != 3 or shape[0] < 2:
        source.close()
        raise InputError(file, f"a movie needs (frames >= 2, Y, X), got shape {shape}")
    frames = range(shape[0])
    return MicrographSource(source, tuple(frames[0::2])), MicrographSource(
        source, tuple(frames[1::2])
    )


def _check_aligned(pair: MicrographPair) -> MicrographPair:
    if pair.input.shape != pair.target.shape:
        what = "halves come from different exposures" if pair.kind == "n2n" else "sizes differ"
        raise InputError(
            pair.target.source,
            f"shape {pair.target.shape} does not match {pair.input.source} "
            f"{pair.input.shape} ({what})",
        )
    return pair


def _pair_files(inputs: list[Path], targets: list[Path], roots: tuple[str, str]) -> list[tuple]:
    """Match files of two lists: by name when both come from folders, else by position."""
    if len(inputs) != len(targets):
        raise InputError(
            roots[1], f"{len(targets)} target files for {len(inputs)} input files in {roots[0]}"
        )
    by_name = {file.name: file for file in targets}
    if len(by_name) == len(targets) and {f.name for f in inputs} == set(by_name):
        return [(file, by_name[file.name]) for file in inputs]
    missing = next((f for f in inputs if f.name not in by_name), None)
    if Path(roots[0]).is_dir() and Path(roots[1]).is_dir() and missing is not None:
        raise InputError(missing, f"has no file of the same name in {roots[1]}")
    return list(zip(inputs, targets, strict=True))


def pairs_from_files(
    inputs: Sequence[str | Path], targets: Sequence[str | Path], kind: PairKind
) -> list[MicrographPair]:
    """Pairs from folders, files or stacks of inputs and targets (noisy/clean or odd/even)."""
    if not inputs or not targets:
        raise InputError("data", f"{kind} training needs both inputs and targets")
    roots = (str(inputs[0]), str(targets[0]))
    pairs = []
    for input_file, target_file in _pair_files(_expand(inputs), _expand(targets), roots):
        input_entries, target_entries = _entries_of(input_file), _entries_of(target_file)
        if len(input_entries) != len(target_entries):
            raise InputError(
                target_file,
                f"holds {len(target_entries)} micrographs, {input_file} holds {len(input_entries)}",
            )
        for a, b in zip(input_entries, target_entries, strict=True):
            pairs.append(_check_aligned(MicrographPair(a.source, a, b, kind)))
    return pairs


def pairs_from_movies(movies: Sequence[str | Path]) -> list[MicrographPair]:
    """Noise2Noise pairs (odd sum, even sum) of each movie file of the folders or files."""
    pairs = []
    for file in _expand(movies):
        odd, even = movie_halves(file)
        pairs.append(_check_aligned(MicrographPair(str(file), odd, even, "n2n")))
    return pairs


def _manifest_table(path: Path) -> dict[str, list[str]]:
    """Columns of a CSV or STAR manifest as lists of strings."""
    if path.suffix.lower() == ".star":
        import starfile

        try:
            data: Any = starfile.read(path, always_dict=True)
        except Exception as error:  # starfile raises plain Exceptions on bad syntax
            raise InputError(path, f"not a readable STAR file ({error})") from None
        table = next((block for block in data.values() if hasattr(block, "columns")), None)
        if table is None:
            raise InputError(path, "STAR file holds no loop table")
        return {str(c): [str(v) for v in table[c]] for c in table.columns}
    import csv

    with path.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    if not rows:
        raise InputError(path, "manifest has no rows")
    return {key: [row[key] or "" for row in rows] for key in rows[0] if key is not None}


#: Manifest column names accepted for each role (CSV names first, then STAR labels).
MANIFEST_COLUMNS = {
    "noisy": ("noisy", "rlnMicrographName"),
    "clean": ("clean", "pwCleanName"),
    "odd": ("odd", "pwOddName"),
    "even": ("even", "pwEvenName"),
    "movie": ("movie", "rlnMicrographMovieName"),
}


def pairs_from_manifest(path: str | Path, kind: PairKind) -> list[MicrographPair]:
    """Pairs listed in a CSV (``noisy,clean`` / ``odd,even`` / ``movie`` columns) or STAR file.

    Paths are relative to the manifest's folder. For ``n2n``, ``odd``/``even`` columns are
    used when present, else the movies' frames are split.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "manifest not found")
    table = _manifest_table(path)

    def column(role: str) -> list[Path] | None:
        name = next((n for n in MANIFEST_COLUMNS[role] if n in table), None)
        if name is None or not all(table[name]):
            return None
        return [(path.parent / value).resolve() for value in table[name]]

    wanted = ("noisy", "clean") if kind == "paired" else ("odd", "even")
    a, b = column(wanted[0]), column(wanted[1])
    if a is not None and b is not None:
        return pairs_from_files(a, b, kind)
    movies = column("movie") if kind == "n2n" else None
    if movies is not None:
        return pairs_from_movies(movies)
    names = " and ".join(wanted) + (" (or movie)" if kind == "n2n" else "")
    raise InputError(path, f"manifest needs {names} columns; has {', '.join(table)}")


def split_pairs(
    pairs: Sequence[MicrographPair], validation: float, test: float, seed: int
) -> dict[str, list[MicrographPair]]:
    """A seeded split by micrograph into ``train``, ``validation`` and ``test``.

    Each share is rounded, with at least one micrograph in validation and test when there
    are three or more, and at least one for training.

    >>> split = split_pairs(list("abcdefghij"), 0.1, 0.2, seed=0)  # doctest: +SKIP
    """
    count = len(pairs)
    order = np.random.default_rng([seed, 3]).permutation(count)
    n_val = max(round(validation * count), 1 if count >= 3 and validation > 0 else 0)
    n_test = max(round(test * count), 1 if count >= 3 and test > 0 else 0)
    if n_val + n_test >= count:
        n_val, n_test = min(n_val, max(count - 1, 0)), 0
    chosen = [pairs[i] for i in order]
    return {
        "validation": chosen[:n_val],
        "test": chosen[n_val : n_val + n_test],
        "train": chosen[n_val + n_test :],
    }
