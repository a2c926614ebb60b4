"""Training data: patch specs apart from reading them, aligned multi-field datasets,
kind-aware augmentations and learned normalisation statistics."""

from pixelwise.data.augment import Augmentation
from pixelwise.data.datasets import DataField, PatchDataset, PatchStream, Sample, shard_of
from pixelwise.data.normalization import Normalization, estimate_normalization
from pixelwise.data.specs import FieldKind, Layout, PatchSpec, read_field

__all__ = [
    "Augmentation",
    "DataField",
    "FieldKind",
    "Layout",
    "Normalization",
    "PatchDataset",
    "PatchSpec",
    "PatchStream",
    "Sample",
    "estimate_normalization",
    "read_field",
    "shard_of",
]
