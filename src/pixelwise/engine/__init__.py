"""The training engine: fit/evaluate loops, optimisers and schedules, precision, checkpoints,
seeding, progress, data-parallel training and sliding-window inference.

The engine trains any ``nn.Module`` that carries a pydantic ``config``; it never imports the
models package.
"""

from pixelwise.engine.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from pixelwise.engine.config import InferenceSettings, TrainerConfig
from pixelwise.engine.inference import predict_array, sliding_window_inference
from pixelwise.engine.loaders import make_loader
from pixelwise.engine.precision import PrecisionPolicy, cpu_capability
from pixelwise.engine.progress import ProgressReporter, RichProgress, SilentProgress
from pixelwise.engine.seeding import seed_everything
from pixelwise.engine.trainer import (
    FitResult,
    Trainer,
    TrainingInterrupted,
    TrainingTask,
    resolve_device,
)

__all__ = [
    "Checkpoint",
    "FitResult",
    "InferenceSettings",
    "PrecisionPolicy",
    "ProgressReporter",
    "RichProgress",
    "SilentProgress",
    "Trainer",
    "TrainerConfig",
    "TrainingInterrupted",
    "TrainingTask",
    "cpu_capability",
    "load_checkpoint",
    "make_loader",
    "predict_array",
    "resolve_device",
    "save_checkpoint",
    "seed_everything",
    "sliding_window_inference",
]
