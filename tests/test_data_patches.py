"""The data layer: patch specs, aligned multi-field datasets, augmentations, statistics."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pixelwise.data import (
    Augmentation,
    DataField,
    FieldKind,
    Layout,
    Normalization,
    PatchDataset,
    PatchStream,
    estimate_normalization,
)
from pixelwise.errors import ConfigError, InputError
from pixelwise.io.sources import InMemorySource

HEIGHT, WIDTH = 48, 40


def ramp(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Values that encode their position: value = row * width + col."""
    return np.arange(height * width, dtype=np.float32).reshape(height, width)


def image_field(*arrays: np.ndarray, layout: str = "hw", name: str = "image") -> DataField:
    sources = [InMemorySource(a, source=f"{name}{i}.npy") for i, a in enumerate(arrays)]
    return DataField(name, sources, FieldKind.IMAGE, Layout(layout))


def unflip(patch: np.ndarray) -> tuple[np.ndarray, tuple[bool, bool]]:
    """Undo the flips of a ramp patch; also return which axes were flipped."""
    flipped = (bool(patch[1, 0] < patch[0, 0]), bool(patch[0, 1] < patch[0, 0]))
    if flipped[0]:
        patch = patch[::-1]
    if flipped[1]:
        patch = patch[:, ::-1]
    return patch, flipped


def test_patches_are_windows_of_the_source() -> None:
    data = ramp()
    dataset = PatchDataset([image_field(data)], (16, 12), 20, seed=0)
    assert len(dataset) == 20
    for sample in dataset:
        patch = sample["image"]
        assert patch.dtype == torch.float32 and patch.shape == (1, 16, 12)
        row0, col0 = divmod(int(patch.min()), WIDTH)
        np.testing.assert_array_equal(patch[0].numpy(), data[row0 : row0 + 16, col0 : col0 + 12])


def test_flip_augmentation_never_transposes() -> None:
    data = ramp()
    dataset = PatchDataset([image_field(data)], 16, 64, augmentation=Augmentation(flips="hw"))
    seen = set()
    for sample in dataset:
        window, flipped = unflip(sample["image"][0].numpy())
        seen.add(flipped)
        # a transpose would make neighbouring columns differ by WIDTH instead of 1
        row0, col0 = divmod(int(window[0, 0]), WIDTH)
        np.testing.assert_array_equal(window, data[row0 : row0 + 16, col0 : col0 + 16])
    assert seen == {(False, False), (False, True), (True, False), (True, True)}


def loader_values(dataset, num_workers: int = 0) -> torch.Tensor:
    loader = DataLoader(dataset, batch_size=4, num_workers=num_workers)
    return torch.cat([batch["image"] for batch in loader])


def test_patches_depend_only_on_seed_epoch_and_index() -> None:
    field = image_field(ramp())
    dataset = PatchDataset([field], 8, 12, seed=5, augmentation=Augmentation(flips="hw"))
    first = loader_values(dataset)
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002 - the global RNG must not matter
    assert torch.equal(loader_values(dataset, num_workers=2), first)
    assert not torch.equal(loader_values(PatchDataset([field], 8, 12, seed=6)), first)
    dataset.set_epoch(1)
    assert not torch.equal(loader_values(dataset), first)
    dataset.set_epoch(0)
    assert torch.equal(loader_values(dataset), first)


def test_one_spec_reads_aligned_noisy_and_clean_stacks() -> None:
    rng = np.random.default_rng(0)
    clean = rng.random((3, 32, 40)).astype(np.float32)
    noisy = clean + 10.0  # aligned: noisy - clean is 10 everywhere
    dataset = PatchDataset(
        [
            image_field(noisy, layout="nhw", name="noisy"),
            image_field(clean, layout="nhw", name="clean"),
        ],
        16,
        24,
        augmentation=Augmentation(flips="hw", rotate90=True),
    )
    for sample in dataset:
        torch.testing.assert_close(sample["noisy"] - sample["clean"], torch.full((1, 16, 16), 10.0))
    with pytest.raises(InputError, match=r"clean0\.npy: does not line up with noisy0\.npy"):
        PatchDataset(
            [
                image_field(noisy, layout="nhw", name="noisy"),
                image_field(clean[:, :30], layout="nhw", name="clean"),
            ],
            8,
            4,
        )


def test_labels_and_boundary_rows_follow_the_window_and_the_flip() -> None:
    height, width = 40, 30
    rows = np.stack([np.linspace(5, 9, width), np.linspace(25, 30, width)]).astype(np.float32)
    rows[0, 3] = np.nan  # a column without annotation
    grid = np.arange(height)[:, None]
    labels = (grid >= rows[0]).astype(np.int64) + (grid >= rows[1]).astype(np.int64)
    labels[:, 3] = (grid[:, 0] >= rows[1, 3]).astype(np.int64) + 1 * (grid[:, 0] >= 0)
    image = labels.astype(np.float32) * 100 + np.arange(width)[None]  # encodes the column
    fields = [
        image_field(image),
        DataField("labels", [InMemorySource(labels.astype(np.uint8))], FieldKind.LABELS),
        DataField("rows", [InMemorySource(rows)], FieldKind.ROWS, Layout("bw")),
    ]
    dataset = PatchDataset(fields, (32, 16), 32, augmentation=Augmentation(flips="w"))
    for sample in dataset:
        assert sample["labels"].dtype == torch.int64 and sample["labels"].shape == (32, 16)
        assert sample["rows"].shape == (2, 16)
        columns = sample["image"][0, 0].long() % 100  # which source column each one is
        for j, column in enumerate(columns.tolist()):
            expected = rows[:, column]
            got = sample["rows"][:, j].numpy()
            # rows count from the window's top: labels change exactly there
            top = round(float(expected[1] - got[1]))
            np.testing.assert_array_equal(
                sample["labels"][:, j].numpy(), labels[top : top + 32, column]
            )
            np.testing.assert_allclose(got[1], expected[1] - top, rtol=0, atol=1e-5)
            assert np.isnan(got[0]) == np.isnan(expected[0])
    with pytest.raises(ConfigError, match="boundary rows"):
        PatchDataset(fields, (32, 16), 4, augmentation=Augmentation(flips="hw"))


def test_uint8_labels_are_not_rescaled_and_fields_keep_their_values() -> None:
    labels = np.array([[0, 3], [8, 1]], dtype=np.uint8)
    depth = np.array([[1.5, 2.0], [30.0, 4.0]], dtype=np.float32)
    dataset = PatchDataset(
        [
            DataField("labels", [InMemorySource(labels)], FieldKind.LABELS),
            DataField("depth", [InMemorySource(depth)], FieldKind.FIELD),
        ],
        None,
    )
    sample = dataset[0]
    assert sample["labels"].tolist() == [[0, 3], [8, 1]]
    assert sample["depth"][0].tolist() == depth.tolist()


def test_whole_items_enumerate_every_stack_entry_in_order() -> None:
    stack = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    single = np.full((4, 5), -1.0, dtype=np.float32)
    dataset = PatchDataset(
        [
            DataField(
                "image", [InMemorySource(stack), InMemorySource(single[None])], layout=Layout("nhw")
            )
        ],
        None,
    )
    assert len(dataset) == 4
    np.testing.assert_array_equal(dataset[1]["image"][0].numpy(), stack[1])
    np.testing.assert_array_equal(dataset[3]["image"][0].numpy(), single)


def test_channels_last_images_come_out_channels_first() -> None:
    rgb = np.random.default_rng(0).random((20, 24, 3)).astype(np.float32)
    dataset = PatchDataset([image_field(rgb, layout="hwc")], 8, 4)
    patch = dataset[0]["image"]
    assert patch.shape == (3, 8, 8)
    row0 = int(np.argwhere(np.isclose(rgb[..., 0], float(patch[0, 0, 0])))[0][0])
    col0 = int(np.argwhere(np.isclose(rgb[..., 0], float(patch[0, 0, 0])))[0][1])
    np.testing.assert_allclose(
        patch.numpy(), rgb[row0 : row0 + 8, col0 : col0 + 8].transpose(2, 0, 1)
    )


def test_normalization_is_applied_to_image_fields_only() -> None:
    field = image_field(ramp())
    plain = PatchDataset([field], 8, 4, seed=1)
    scaled = PatchDataset(
        [field], 8, 4, seed=1, normalization={"image": Normalization(mean=100.0, std=4.0)}
    )
    assert torch.allclose(scaled[2]["image"], (plain[2]["image"] - 100.0) / 4.0)
    labels = DataField("labels", [InMemorySource(np.zeros((48, 40), np.uint8))], FieldKind.LABELS)
    with pytest.raises(ConfigError, match="not an image field"):
        PatchDataset([field, labels], 8, 4, normalization={"labels": Normalization(mean=0, std=1)})


def test_patch_larger_than_a_source_names_the_file() -> None:
    with pytest.raises(InputError, match=r"image0\.npy: patch size"):
        PatchDataset([image_field(ramp())], (16, 64), 10)


def test_a_stream_yields_the_dataset_patches_sharded_across_workers() -> None:
    dataset = PatchDataset([image_field(ramp())], 8, 10, seed=2)
    stream = PatchStream(dataset, limit=10)
    with pytest.raises(TypeError):
        len(stream)
    expected = torch.stack([dataset.sample(0, i)["image"] for i in range(10)])
    streamed = torch.cat([batch["image"] for batch in DataLoader(stream, batch_size=5)])
    assert torch.equal(streamed, expected)
    two_workers = DataLoader(stream, batch_size=1, num_workers=2)
    seen = sorted(float(batch["image"].sum()) for batch in two_workers)
    assert seen == sorted(float(patch.sum()) for patch in expected)


def _memmapped_pair(tmp_path: Path, side: int) -> list[DataField]:
    fields = []
    for name, value in (("noisy", 1.0), ("clean", 2.0)):
        path = tmp_path / f"{name}{side}.npy"
        array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(2, side, side))
        array[:] = value
        array.flush()
        del array
        mapped = np.load(path, mmap_mode="r")
        fields.append(
            DataField(name, [InMemorySource(mapped, source=str(path))], layout=Layout("nhw"))
        )
    return fields


def _peak_while_sampling(fields: list[DataField]) -> int:
    tracemalloc.start()
    dataset = PatchDataset(fields, 64, 16, seed=0)
    samples = [dataset[i] for i in range(len(dataset))]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert all(float(s["clean"].mean() - s["noisy"].mean()) == 1.0 for s in samples)
    return peak


def test_paired_patches_stream_from_memmaps_in_memory_independent_of_file_size(
    tmp_path: Path,
) -> None:
    small = _peak_while_sampling(_memmapped_pair(tmp_path, 512))
    large = _peak_while_sampling(_memmapped_pair(tmp_path, 2048))  # 16x the bytes on disk
    file_size = (tmp_path / "noisy2048.npy").stat().st_size
    assert large < file_size / 16
    assert large < 2 * small + 256 * 1024


def test_estimate_normalization_matches_the_data() -> None:
    data = np.random.default_rng(0).normal(3.0, 2.0, (256, 256)).astype(np.float32)
    stats = estimate_normalization([InMemorySource(data)], Layout("hw"), windows=32, window=32)
    assert stats.mean == pytest.approx(3.0, abs=0.05)
    assert stats.std == pytest.approx(2.0, rel=0.03)


def test_estimate_normalization_is_exact_when_windows_cover_the_source() -> None:
    data = np.random.default_rng(1).normal(-1.0, 5.0, (12, 9)).astype(np.float32)
    stats = estimate_normalization([InMemorySource(data)], Layout("hw"), windows=5, window=64)
    assert stats.mean == pytest.approx(data.mean(), rel=1e-6)
    assert stats.std == pytest.approx(data.std(), rel=1e-6)


def test_estimate_normalization_rejects_constant_data() -> None:
    flat = InMemorySource(np.zeros((16, 16)), source="flat.npy")
    with pytest.raises(InputError, match=r"flat\.npy: .*constant"):
        estimate_normalization([flat], Layout("hw"))


@pytest.mark.parametrize("letters", ["", "hwx", "hhw", "nc"])
def test_bad_layouts_are_refused(letters: str) -> None:
    with pytest.raises(ConfigError, match="layout"):
        Layout(letters)
