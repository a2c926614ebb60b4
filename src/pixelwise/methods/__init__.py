"""Training recipes, each written once: build the task, fit it, predict with the
normalisation undone. Used by the apps, the studio's nodes and the benches."""

from pixelwise.methods.common import (
    TrainedModel,
    load_trained,
    predict_normalized,
    seeded_model,
)
from pixelwise.methods.n2v import MaskingConfig, Noise2VoidRun, Noise2VoidTask, fit_noise2void
from pixelwise.methods.paired import PairedRun, PairedTask, fit_paired  # noqa: F401
from pixelwise.methods.segmentation import SegmentationTask, fit_segmentation

__all__ = [
    "MaskingConfig",
    "Noise2VoidRun",
    "Noise2VoidTask",
    "SegmentationTask",
    "TrainedModel",
    "fit_noise2void",
    "fit_segmentation",
    "load_trained",
    "predict_normalized",
    "seeded_model",
]
