"""Cryo-EM pairs: discovery, per-micrograph standardisation, splits, and bad input."""

from __future__ import annotations

import gzip

import mrcfile
import numpy as np
import pytest

from pixelwise.apps.cryoem import micrographs
from pixelwise.apps.cryoem.micrographs import (
    MicrographSource,
    movie_halves,
    pairs_from_files,
    pairs_from_movies,
    split_pairs,
)
from pixelwise.data.config import PatchConfig
from pixelwise.errors import InputError
from pixelwise.io.mrc import MrcSource, write_mrc
from pixelwise.io.tiff import write_tiff
from pixelwise.methods.paired import paired_dataset


def _write_pairs(folder, count: int, shape=(40, 48), scale=1.0):
    rng = np.random.default_rng(0)
    for index in range(count):
        clean = rng.normal(100 * scale, 5 * scale, shape).astype(np.float32)
        write_mrc(folder / "noisy" / f"m{index}.mrc", clean + rng.normal(0, 10, shape))
        write_mrc(folder / "clean" / f"m{index}.mrc", clean)


def test_folders_pair_by_name_and_standardise_per_micrograph(tmp_path) -> None:
    _write_pairs(tmp_path, 3)
    pairs = pairs_from_files([tmp_path / "noisy"], [tmp_path / "clean"], "paired")
    assert [p.input.source.rsplit("/", 1)[-1] for p in pairs] == ["m0.mrc", "m1.mrc", "m2.mrc"]
    noisy, clean = pairs[0].training_sources()
    window = (slice(0, 40), slice(0, 48))
    x, y = noisy.read(window), clean.read(window)
    assert abs(x.mean()) < 1e-4 and x.std() == pytest.approx(1.0, abs=1e-4)
    # The clean target is mapped by the noisy input's statistics: same affine map.
    raw = pairs[0].target.whole()
    assert np.allclose(y, (raw - noisy.mean) / noisy.std, atol=1e-5)


def test_movie_halves_and_tiff_stacks(tmp_path) -> None:
    movie = np.random.default_rng(1).poisson(2.0, (5, 16, 20)).astype(np.uint16)
    write_tiff(tmp_path / "movie.tif", movie)
    odd, even = movie_halves(tmp_path / "movie.tif")
    assert np.array_equal(odd.whole(), movie[0::2].sum(0)) and odd.whole().dtype == np.float32
    assert np.array_equal(even.whole(), movie[1::2].sum(0))
    (pair,) = pairs_from_movies([tmp_path / "movie.tif"])
    assert pair.kind == "n2n"
    dataset = paired_dataset(
        *map(list, zip(pair.training_sources(), strict=True)),
        PatchConfig(patch_size=8),
        count=4,
        seed=0,
        augmentation=None,
    )
    sample = dataset[0]
    assert sample["input"].shape == (1, 8, 8) and sample["target"].shape == (1, 8, 8)


def test_split_is_seeded_and_by_micrograph() -> None:
    items = list(range(20))
    first = split_pairs(items, 0.1, 0.2, seed=4)
    assert first == split_pairs(items, 0.1, 0.2, seed=4)
    assert [len(first[k]) for k in ("train", "validation", "test")] == [14, 2, 4]
    assert sorted(first["train"] + first["validation"] + first["test"]) == items


@pytest.mark.parametrize("problem", ["count", "size", "empty", "nan", "truncated", "exposure"])
def test_bad_input_is_one_line_naming_the_file(tmp_path, problem) -> None:
    _write_pairs(tmp_path, 2)
    noisy, clean = tmp_path / "noisy", tmp_path / "clean"
    culprit = None
    if problem == "count":
        (clean / "m1.mrc").unlink()
        culprit = str(clean)
    elif problem == "size":
        write_mrc(clean / "m1.mrc", np.zeros((40, 40), np.float32))
        culprit = "m1.mrc"
    elif problem == "empty":
        for file in clean.iterdir():
            file.unlink()
        culprit = str(clean)
    elif problem == "nan":
        bad = np.ones((40, 48), np.float32)
        bad[3, 4] = np.nan
        np.save(tmp_path / "nan.npy", bad)
        noisy, clean = tmp_path / "nan.npy", clean / "m0.mrc"
        culprit = "nan.npy"
    elif problem == "truncated":
        data = (noisy / "m0.mrc").read_bytes()
        (noisy / "m0.mrc").write_bytes(data[: len(data) - 100])
        culprit = "m0.mrc"
    elif problem == "exposure":
        write_mrc(tmp_path / "odd.mrc", np.ones((40, 48), np.float32))
        write_mrc(tmp_path / "even.mrc", np.ones((48, 40), np.float32))
        noisy, clean = tmp_path / "odd.mrc", tmp_path / "even.mrc"
        culprit = "even.mrc"
    kind = "n2n" if problem == "exposure" else "paired"
    with pytest.raises(InputError) as caught:
        pairs_from_files([noisy], [clean], kind)
    message = str(caught.value)
    assert "\n" not in message and culprit in message


def test_compressed_mrc_reads(tmp_path) -> None:
    image = np.arange(12.0, dtype=np.float32).reshape(3, 4) + 1
    write_mrc(tmp_path / "a.mrc", image)
    (tmp_path / "a.mrc.gz").write_bytes(gzip.compress((tmp_path / "a.mrc").read_bytes()))
    (pair,) = pairs_from_files([tmp_path / "a.mrc.gz"], [tmp_path / "a.mrc"], "paired")
    assert np.array_equal(pair.input.whole(), image)


def test_statistics_equal_the_whole_array_mean_and_std(tmp_path, monkeypatch) -> None:
    rng = np.random.default_rng(3)
    image = rng.normal(40.0, 6.0, (300, 257)).astype(np.float32)
    stack = rng.poisson(3.0, (4, 300, 257)).astype(np.uint16)
    write_mrc(tmp_path / "image.mrc", image)
    write_mrc(tmp_path / "movie.mrcs", stack, stack=True)
    # Slabs of a few rows (the last one shorter): each read and dropped from the map alone.
    monkeypatch.setattr(micrographs, "_SLAB_PIXELS", 1000)
    for source, expected in [
        (MicrographSource(MrcSource(tmp_path / "image.mrc")), image.astype(np.float64)),
        (MicrographSource(MrcSource(tmp_path / "movie.mrcs"), (1, 3)), stack[[1, 3]].sum(0)),
    ]:
        mean, std = source.statistics()
        assert mean == pytest.approx(float(np.mean(expected)), rel=1e-12)
        assert std == pytest.approx(float(np.std(expected)), rel=1e-9)


def test_sweeps_over_a_large_mrc_leave_no_file_pages_resident(tmp_path, resident_file_mb) -> None:
    # 196 MB on disk, written slab by slab and in the page cache: the case where every page
    # a memory map touches becomes resident at once. Opening validates every pixel and the
    # statistics read every pixel again; without dropping pages after each read, the open
    # map would hold all 196 MB. 32 MB allows for the interpreter's own libraries paging in.
    size = 7168
    path = tmp_path / "large.mrc"
    with mrcfile.new_mmap(path, shape=(size, size), mrc_mode=2) as mrc:
        for start in range(0, size, 1024):
            mrc.data[start : start + 1024] = np.arange(start, start + 1024)[:, None] % 251
    before = resident_file_mb()
    micrograph = MicrographSource(MrcSource(path))
    mean, _ = micrograph.statistics()
    grown = resident_file_mb() - before
    micrograph.close()
    assert mean == pytest.approx(float(np.mean(np.arange(size) % 251)), rel=1e-9)
    assert grown < 32, f"{grown:.0f} MB of the mapped file stayed resident"
