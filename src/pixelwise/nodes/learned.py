"""Learned nodes: Noise2Void, Deep Image Prior and pretrained CNN denoisers loaded from local files.

* ``noise2void`` and ``deep_image_prior`` train a small U-Net on the input image itself (no
  clean data, no downloads) through the engine's :class:`~pixelwise.engine.Trainer`, at float32
  and without BatchNorm, from weights and data drawn from the ``seed`` parameter: the same
  image and parameters give the same output.
* ``dncnn`` and ``scunet`` run a network rebuilt from a safetensors weights file written by
  :func:`pixelwise.models.save_weights`; nothing is ever downloaded.

Networks run on CUDA when it is available, else on the CPU; inference runs under
``model.eval()`` and ``torch.inference_mode()``. The training functions are public so that
callers (and tests) can inspect the training history and the trained network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from skimage.restoration import estimate_sigma
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from pixelwise.data import Normalization
from pixelwise.data.config import PatchConfig
from pixelwise.engine import (
    Trainer,
    TrainerConfig,
    make_loader,
    resolve_device,
    sliding_window_inference,
)
from pixelwise.errors import InputError, TrainingError
from pixelwise.io.sources import InMemorySource
from pixelwise.methods import (
    MaskingConfig,
    Noise2VoidRun,
    fit_noise2void,
    predict_normalized,
    seeded_model,
)
from pixelwise.models import UNet, UNetConfig, load_weights
from pixelwise.nodes.base import Node, NodeParams
from pixelwise.nodes.registry import register

#: Channels of Deep Image Prior's fixed random code (as in the paper's denoising setup).
DIP_CODE_CHANNELS = 32
#: Deep Image Prior checks its stopping rule (and records a history entry) every so many steps.
DIP_STEPS_PER_CHECK = 10
#: Deep Image Prior's code is uniform noise in ``[0, DIP_CODE_SCALE)`` (the paper's 1/10).
DIP_CODE_SCALE = 0.1


def _to_batch(image: np.ndarray, device: torch.device) -> Tensor:
    """float32 HxW or HxWxC -> (1, C, H, W) on ``device``."""
    channels_last = image if image.ndim == 3 else image[..., None]
    return torch.from_numpy(np.ascontiguousarray(channels_last.transpose(2, 0, 1)))[None].to(device)


def _to_image(batch: Tensor, like: np.ndarray) -> np.ndarray:
    """(1, C, H, W) -> float32 array of ``like``'s shape (HxW or HxWxC) on the CPU."""
    return batch[0].permute(1, 2, 0).float().cpu().numpy().reshape(like.shape)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# --------------------------------------------------------------------------------------------
# Noise2Void


class Noise2VoidParams(NodeParams):
    """Training and network settings of the ``noise2void`` node."""

    epochs: int = Field(24, ge=1, le=10_000, description="Training epochs.")
    patches_per_epoch: int = Field(
        128, ge=1, le=1_000_000, description="Random patches drawn per epoch."
    )
    patch_size: int = Field(
        32, ge=4, le=512, description="Patch side; shrunk to fit images smaller than it."
    )
    batch_size: int = Field(16, ge=1, le=1024, description="Patches per optimiser step.")
    base_channels: int = Field(16, ge=1, le=256, description="U-Net channels at full resolution.")
    levels: int = Field(2, ge=1, le=5, description="U-Net resolution levels.")
    learning_rate: float = Field(2e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    active_fraction: float = Field(
        0.02, gt=0.0, le=0.25, description="Share of blind-spot pixels per patch."
    )
    radius: int = Field(
        2, ge=1, le=16, description="Neighbourhood radius of the blind-spot replacements."
    )
    seed: int = Field(0, ge=0, description="Seed of the initial weights, patches and masks.")

    @model_validator(mode="after")
    def _check_patch_size(self) -> Noise2VoidParams:
        multiple = 2 ** (self.levels - 1)
        if self.patch_size % multiple:
            raise ValueError(
                f"patch_size must be a multiple of 2**(levels - 1) = {multiple}, "
                f"got {self.patch_size}"
            )
        return self


def _normalization(image: np.ndarray, source: str) -> Normalization:
    """Mean and std of a float32 image; a constant image has nothing to learn from."""
    mean, std = float(image.mean()), float(image.std())
    if std == 0.0:
        raise InputError(source, "image is constant; there is no noise to learn from")
    return Normalization(mean=mean, std=std)


def train_noise2void(
    image: np.ndarray, params: Noise2VoidParams, source: str = "noise2void.image"
) -> Noise2VoidRun:
    """Train a U-Net with Noise2Void on random patches of one HxW float32 image.

    Runs the shared recipe (:func:`pixelwise.methods.fit_noise2void`) with random masking on
    patches normalised by the image's mean and std. Patches larger than the image are shrunk
    to the largest multiple of the U-Net's size multiple that fits. The run's
    ``result.history[i]["train_loss"]`` is epoch ``i``'s mean masked MSE.
    """
    config = UNetConfig(levels=params.levels, base_channels=params.base_channels, norm="none")
    multiple = config.size_multiple
    patch = min(params.patch_size, *image.shape) // multiple * multiple
    if patch == 0:
        raise InputError(
            source, f"image of shape {image.shape} is smaller than the U-Net's {multiple} pixels"
        )
    return fit_noise2void(
        [InMemorySource(image, source=source)],
        data=PatchConfig(
            patch_size=patch,
            patches_per_epoch=params.patches_per_epoch,
            validation_patches=0,
            batch_size=params.batch_size,
        ),
        model=config,
        masking=MaskingConfig(
            strategy="random", active_fraction=params.active_fraction, radius=params.radius
        ),
        trainer=TrainerConfig(
            epochs=params.epochs,
            learning_rate=params.learning_rate,
            precision="32",
            seed=params.seed,
        ),
        normalization=_normalization(image, source),
    )


@register
class Noise2Void(Node[Noise2VoidParams]):
    """Self-supervised blind-spot denoising trained on the input image alone (Krull et al., 2019).

    Colour images are denoised channel by channel, each channel training its own U-Net:
    Noise2Void needs noise independent between pixels, not between channels, and the patch
    dataset serves single-channel patches. A constant channel is returned unchanged.
    """

    name = "noise2void"
    category = "learned"
    description = "Noise2Void: trains a small U-Net on the image itself to remove pixel noise."
    channels = "per_channel"

    def process(self, image: np.ndarray) -> np.ndarray:
        if image.std() == 0.0:
            return image.copy()
        run = train_noise2void(image, self.params, source=f"{self.name}.image")
        return predict_normalized(run.model, image, run.normalization, device=_device_of(run.model))


# --------------------------------------------------------------------------------------------
# Deep Image Prior


class DeepImagePriorParams(NodeParams):
    """Fitting and network settings of the ``deep_image_prior`` node."""

    iterations: int = Field(
        1500, ge=1, le=100_000, description="Most optimiser steps (one per iteration)."
    )
    learning_rate: float = Field(1e-2, gt=0.0, le=1.0, description="Adam learning rate.")
    sigma: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="Noise standard deviation for the stopping rule; estimated when unset.",
    )
    input_noise: float = Field(
        1 / 30, ge=0.0, le=1.0, description="Std of the Gaussian perturbation of the code."
    )
    average_decay: float = Field(
        0.9,
        ge=0.0,
        lt=1.0,
        description="Weight of the past in the running average of outputs (the paper's 0.99 "
        "suits fits of thousands of steps; 0.9 forgets the random start within ~50 steps).",
    )
    seed: int = Field(0, ge=0, description="Seed of the code, initial weights and perturbations.")
    base_channels: int = Field(8, ge=1, le=256, description="U-Net channels at full resolution.")
    levels: int = Field(5, ge=1, le=6, description="U-Net resolution levels.")


class DeepImagePriorTask:
    """Engine task fitting ``model(code + perturbation)`` to one noisy image with an MSE loss.

    Batches are ``(code, noisy)``, of shapes (1, DIP_CODE_CHANNELS, H', W') and (1, C, H, W)
    with ``H' >= H``, ``W' >= W`` (outputs are cropped). Every step updates ``average``, an
    exponential running average of the outputs, and ``average_mse``, its MSE to the noisy
    image. Training stops (:meth:`should_stop`) once ``average_mse`` falls below
    ``noise_variance``: the discrepancy principle, since an estimate closer to the noisy
    image than the noise level is fitting the noise.
    """

    def __init__(
        self, model: nn.Module, noise_variance: float, input_noise: float, average_decay: float
    ) -> None:
        self.model = model
        self.noise_variance = noise_variance
        self.input_noise = input_noise
        self.average_decay = average_decay
        self.average: Tensor | None = None
        self.average_mse = float("inf")

    def _output(self, code: Tensor, noisy: Tensor) -> Tensor:
        return self.model(code)[..., : noisy.shape[-2], : noisy.shape[-1]]

    def training_step(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        code, noisy = batch
        output = self._output(code + self.input_noise * torch.randn_like(code), noisy)
        with torch.no_grad():
            current = output.detach().float()
            if self.average is None:
                self.average = current
            else:
                self.average.mul_(self.average_decay).add_(current, alpha=1 - self.average_decay)
            self.average_mse = float(F.mse_loss(self.average, noisy))
        return F.mse_loss(output, noisy)

    def validation_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        """MSE of the unperturbed output to the noisy image (the engine's task protocol)."""
        code, noisy = batch
        return {"loss": F.mse_loss(self._output(code, noisy), noisy)}

    def should_stop(self, record: dict[str, float]) -> bool:
        return self.average_mse < self.noise_variance


@dataclass
class DeepImagePriorFit:
    """What :func:`fit_deep_image_prior` returns."""

    estimate: np.ndarray  #: running average of the outputs, float32, the image's shape
    history: list[dict[str, float]]  #: the engine's per-iteration records (``train_loss``)
    sigma: float  #: the noise level used by the stopping rule (given or estimated)


def deep_image_prior_model(params: DeepImagePriorParams, channels: int) -> UNet:
    """The U-Net mapping the code to a ``channels``-channel image, seeded by ``params.seed``.

    Leaky ReLU as in the paper. GroupNorm where the paper has BatchNorm: the batch is one
    image, and GroupNorm is safe under autocast. It lets the fit run at the paper's learning
    rate, where an unnormalised U-Net diverges.
    """
    config = UNetConfig(
        in_channels=DIP_CODE_CHANNELS,
        out_channels=channels,
        levels=params.levels,
        base_channels=params.base_channels,
        norm="group",
        activation="leaky_relu",
    )
    return cast(UNet, seeded_model(config, params.seed))


def deep_image_prior_code(shape: tuple[int, int], multiple: int, seed: int) -> Tensor:
    """Uniform code of shape (1, DIP_CODE_CHANNELS, H', W'): H, W rounded up to ``multiple``."""
    height, width = (-(-size // multiple) * multiple for size in shape)
    generator = torch.Generator().manual_seed(seed)
    return DIP_CODE_SCALE * torch.rand((1, DIP_CODE_CHANNELS, height, width), generator=generator)


def fit_deep_image_prior(
    model: UNet, image: np.ndarray, params: DeepImagePriorParams
) -> DeepImagePriorFit:
    """Fit ``model`` in place to a float32 HxW or HxWxC noisy image (Ulyanov et al., 2018).

    Runs at most ``params.iterations`` Adam steps and stops early by the discrepancy
    principle (see :class:`DeepImagePriorTask`) with ``params.sigma`` or, when unset, the
    noise level estimated by :func:`skimage.restoration.estimate_sigma`.
    """
    sigma = params.sigma
    if sigma is None:
        channel_axis = -1 if image.ndim == 3 else None
        sigma = float(estimate_sigma(image, average_sigmas=True, channel_axis=channel_axis))
    noisy = _to_batch(image, torch.device("cpu"))
    code = deep_image_prior_code(image.shape[:2], model.config.size_multiple, params.seed)
    task = DeepImagePriorTask(
        model,
        noise_variance=sigma**2,
        input_noise=params.input_noise,
        average_decay=params.average_decay,
    )
    trainer = Trainer(
        TrainerConfig(
            max_steps=params.iterations,
            steps_per_epoch=DIP_STEPS_PER_CHECK,
            learning_rate=params.learning_rate,
            scheduler="none",
            precision="32",
            seed=params.seed,
        )
    )
    result = trainer.fit(task, make_loader(TensorDataset(code, noisy), batch_size=1))
    if task.average is None:
        raise TrainingError("Deep Image Prior ran no optimiser step")
    return DeepImagePriorFit(_to_image(task.average, image), result.history, sigma)


@register
class DeepImagePrior(Node[DeepImagePriorParams]):
    """Deep Image Prior denoising (Ulyanov et al., 2018): a U-Net fitted to the noisy image.

    A randomly initialised U-Net maps a fixed random code to the image; it fits natural image
    structure long before it fits noise, so stopping early (discrepancy principle) and
    averaging the outputs along the way gives a denoised image. Colour images are fitted
    jointly (one network, C output channels).
    """

    name = "deep_image_prior"
    category = "learned"
    description = "Deep Image Prior: fits a U-Net to the image and stops before it fits noise."

    def process(self, image: np.ndarray) -> np.ndarray:
        channels = image.shape[2] if image.ndim == 3 else 1
        model = deep_image_prior_model(self.params, channels)
        return fit_deep_image_prior(model, image, self.params).estimate


# --------------------------------------------------------------------------------------------
# Pretrained denoisers


class PretrainedParams(NodeParams):
    """Weights file and tiling of a pretrained-network node."""

    weights: Path = Field(
        description="safetensors file written by pixelwise.models.save_weights (local only)."
    )
    tile_size: int = Field(
        512, ge=16, le=8192, description="Images larger than this are processed in tiles."
    )
    overlap: int = Field(32, ge=0, le=1024, description="Overlap of neighbouring tiles in pixels.")


class PretrainedDenoiser(Node[PretrainedParams]):
    """Runs the network of architecture ``architecture`` stored in ``params.weights``.

    The image must have as many channels as the network's ``in_channels`` (HxW for 1).
    """

    architecture: ClassVar[str]
    category = "learned"

    def process(self, image: np.ndarray) -> np.ndarray:
        path = self.params.weights
        model = load_weights(path, architecture=self.architecture)
        settings = cast(Any, model).config  # every registered model carries its config
        expected = settings.in_channels
        channels = image.shape[2] if image.ndim == 3 else 1
        if channels != expected:
            raise InputError(
                f"{self.name}.image",
                f"the weights in {path} take {expected}-channel images, got shape {image.shape}",
            )
        device = resolve_device("auto")
        model.to(device).eval()
        prediction = sliding_window_inference(
            model,
            _to_batch(image, device),
            window=self.params.tile_size,
            overlap=self.params.overlap,
            size_multiple=settings.size_multiple,
        )
        if not isinstance(prediction, Tensor):
            raise InputError(str(path), "the network must return one image tensor")
        return _to_image(prediction, image)


@register
class DnCNNDenoise(PretrainedDenoiser):
    """DnCNN (Zhang et al., 2017) from a local weights file."""

    name = "dncnn"
    description = "DnCNN: a pretrained residual CNN denoiser loaded from a local weights file."
    architecture = "dncnn"


@register
class SCUNetDenoise(PretrainedDenoiser):
    """SCUNet (Zhang et al., 2022) from a local weights file."""

    name = "scunet"
    description = "SCUNet: a pretrained Swin-Conv U-Net denoiser loaded from a local weights file."
    architecture = "scunet"
