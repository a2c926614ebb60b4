"""The training engine: fit/evaluate loops, precision, checkpoints, seeding, progress, inference."""

from pixelwise.engine.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from pixelwise.engine.config import TrainerConfig
from pixelwise.engine.inference import predict_array, predict_tensor
from pixelwise.engine.loaders import make_loader
from pixelwise.engine.progress import ProgressReporter, RichProgress, SilentProgress
from pixelwise.engine.trainer import FitResult, Trainer, TrainingTask

__all__ = [
    "Checkpoint",
    "FitResult",
    "ProgressReporter",
    "RichProgress",
    "SilentProgress",
    "Trainer",
    "TrainerConfig",
    "TrainingTask",
    "load_checkpoint",
    "make_loader",
    "predict_array",
    "predict_tensor",
    "save_checkpoint",
]
