"""BokehNet: depth from a 2-D Gated DeltaNet, depth of field from the thin-lens renderer.

    image ─ ConvStem (GroupNorm) ─ ScanBlock2d × n ─ depth head ─ coarse logit (stride)
      └─ full-resolution guide ─ convex upsampling + residual ─ depth (min ≤ D ≤ max)
                                                                   │
                 camera (f-number, focal length, focus, sensor) ─ render_bokeh ─ render
                                                                   │
                               [image, render, |CoC|, 2/N] ─ residual refinement ─ output

The network only predicts depth (camera independent) and a residual for what the renderer
cannot model; the optics are the differentiable renderer of :mod:`pixelwise.apps.bokeh`.
The depth head predicts inverse depth, the quantity the CoC is linear in, as
``1/D = 1/max + (1/min − 1/max) · sigmoid(raw)``: bounded by construction (no clamp whose
flat side stops gradients) and as sensitive at 30 m as at 1 m per pixel of blur. It is
predicted at the stem's stride and brought to full resolution by convex upsampling
(:func:`convex_upsample`): every pixel takes a softmax-weighted mix of the 3x3 neighbouring
coarse logits, the weights predicted from full-resolution image features plus a
joint-bilateral term (minus the squared distance of the pixel's guide key to each cell's
mean key), so depth edges follow image edges; a small full-resolution residual on the logit
then corrects what no neighbour holds. The sigmoid comes last, so the bounds always hold.
GroupNorm everywhere, so batch size 1 trains and evaluates like any other.

For video, a :class:`VideoState` carries two memories from frame to frame, neither needing
optical flow. The final per-direction states of every block (one tensor ``(blocks, 4, B,
heads, d_k, d_v)``) initialise the next frame's scans after a decay (configured, or learned
per block and direction): a global, content-keyed summary of the scene. And a per-pixel
memory of inverse depth: each frame's new estimate is blended into it with a learned gate
``g ∈ (0, 1)``, ``1/D_t = 1/D_{t−1} + g · (1/D̂_t − 1/D_{t−1})``, the gate predicted from the
frame's guide features and the log of how much the image and the estimate changed since the
previous frame. Where nothing moved the gate averages the estimates, so sensor noise stops
moving the blur; where the picture changed it opens and the new depth takes over. The
per-pixel memory is what steadies a static shot: the scan states are a few 8x8 matrices per
head and cannot hold per-pixel depth, while most depth flicker comes from the full-resolution
path they never reach.

The CoC in pixels depends on the width of the whole frame, so BokehNet always sees whole
frames (never sliding windows).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple, TypedDict

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor, nn

from pixelwise.apps.bokeh.lens import signed_coc_px
from pixelwise.apps.bokeh.render import RenderSettings, render_bokeh
from pixelwise.models.gated_delta import DIRECTIONS, ScanBlock2d
from pixelwise.models.registry import register_model

#: Columns of the per-sample camera tensor (B, 4).
CAMERA_FIELDS = ("f_number", "focal_length_mm", "focus_m", "sensor_width_mm")


class BokehNetConfig(BaseModel):
    """Size of BokehNet and the renderer it trains through."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["bokehnet"] = "bokehnet"
    dim: int = Field(32, ge=8, le=512, description="token width of the backbone")
    blocks: int = Field(2, ge=1, le=24)
    heads: int = Field(2, ge=1, le=32)
    head_dim: int = Field(16, ge=4, le=256)
    stride: Literal[2, 4, 8, 16] = Field(4, description="stem downsampling; tokens = H·W/stride²")
    min_depth_m: float = Field(0.1, gt=0, le=100)
    max_depth_m: float = Field(50.0, gt=0, le=10_000, description="depth clamp (also the lens')")
    refine_channels: int = Field(16, ge=0, le=256, description="0: no residual refinement")
    temporal_decay: float | None = Field(
        None, ge=0, le=1, description="state decay between video frames; null: learned"
    )
    render: RenderSettings = RenderSettings(layer_step_px=1.5, max_layers=48)

    @model_validator(mode="after")
    def _depth_range(self) -> BokehNetConfig:
        if self.min_depth_m >= self.max_depth_m:
            raise ValueError(f"min_depth_m {self.min_depth_m} must be below max_depth_m")
        return self

    @property
    def size_multiple(self) -> int:
        return self.stride


class VideoState(NamedTuple):
    """What one frame hands the next (see the module docstring)."""

    scans: Tensor  #: final scan states (blocks, 4, B, heads, d_k, d_v)
    inverse_depth: Tensor  #: (B, 1, H, W) in 1/m, the per-pixel depth memory
    image: Tensor  #: (B, 3, H, W) the frame, to tell motion from noise


class BokehOutput(TypedDict):
    """What :meth:`BokehNet.forward` returns."""

    output: Tensor  #: (B, 3, H, W) the render plus the learned residual
    render: Tensor  #: (B, 3, H, W) the classical render from the predicted depth
    depth: Tensor  #: (B, 1, H, W) predicted depth in metres
    states: VideoState  #: for the next frame


def _log_change(now: Tensor, before: Tensor, scale: float) -> Tensor:
    """log of the channel-mean absolute change over a 3x3 box, ``scale`` the unit: sensor
    noise and motion edges land orders of magnitude apart at unit-size inputs."""
    change = F.avg_pool2d((now - before).abs().mean(dim=1, keepdim=True), 3, 1, 1)
    return torch.log(change / scale + 1e-3)


def _initial_logit(config: BokehNetConfig) -> float:
    """The raw head output of depth ``sqrt(min · max)`` (2.2 m by default), where the
    untrained head starts: the inverse of the head's sigmoid."""
    near, far = 1.0 / config.min_depth_m, 1.0 / config.max_depth_m
    fraction = (math.sqrt(near * far) - far) / (near - far)
    return math.log(fraction / (1.0 - fraction))


def _norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with the largest group count up to 8 that divides ``channels``."""
    groups = max(g for g in range(1, 9) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class ConvStem(nn.Module):
    """Strided 3x3 convolutions with GroupNorm and GELU down to ``stride``."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width, current = max(16, channels // 2), 3
        while stride > 1:
            out = channels if stride == 2 else width
            layers += [nn.Conv2d(current, out, 3, stride=2, padding=1), _norm(out), nn.GELU()]
            current, stride = out, stride // 2
        layers += [nn.Conv2d(current, channels, 3, padding=1), _norm(channels), nn.GELU()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def convex_upsample(coarse: Tensor, weights: Tensor, stride: int) -> Tensor:
    """Full-resolution values as convex combinations of the 3x3 coarse neighbours (RAFT-style).

    ``coarse`` (B, C, h, w), ``weights`` (B, 9, h·stride, w·stride) non-negative and summing to
    one over the 9 neighbours of the coarse cell each pixel lies in (edge cells repeat).
    Every output lies within its neighbours' range, so bounds of ``coarse`` hold by
    construction, and weights predicted from full-resolution features put edges where the
    image has them, not on the coarse grid.

    Examples
    --------
    >>> coarse = torch.tensor([[[[1.0, 5.0]]]])
    >>> weights = torch.zeros(1, 9, 2, 4)
    >>> weights[:, 4] = 1.0  # every pixel copies its own cell
    >>> convex_upsample(coarse, weights, 2)[0, 0].tolist()
    [[1.0, 1.0, 5.0, 5.0], [1.0, 1.0, 5.0, 5.0]]
    """
    return (_neighbours(coarse, stride) * weights[:, None]).sum(dim=2)


def _neighbours(coarse: Tensor, stride: int) -> Tensor:
    """(B, C, h, w) -> (B, C, 9, h·stride, w·stride): every pixel's 3x3 coarse neighbours."""
    batch, channels, height, width = coarse.shape
    neighbours = F.unfold(F.pad(coarse, (1, 1, 1, 1), mode="replicate"), 3)
    neighbours = neighbours.reshape(batch, channels, 9, height, width)
    return neighbours.repeat_interleave(stride, dim=-2).repeat_interleave(stride, dim=-1)


@register_model(BokehNetConfig)
class BokehNet(nn.Module):
    """Predict depth, render depth of field, refine. See the module docstring."""

    def __init__(self, config: BokehNetConfig) -> None:
        super().__init__()
        self.config = config
        self.stem = ConvStem(config.dim, config.stride)
        self.blocks = nn.ModuleList(
            ScanBlock2d(config.dim, config.heads, config.head_dim) for _ in range(config.blocks)
        )
        self.skip = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), _norm(16), nn.GELU(),
            nn.Conv2d(16, 16, 3, padding=1), _norm(16), nn.GELU(),
        )  # fmt: skip
        inverse_depth = nn.Conv2d(32, 1, 1)
        nn.init.constant_(inverse_depth.bias, _initial_logit(config))  # type: ignore[arg-type]
        self.depth_head = nn.Sequential(
            nn.Conv2d(config.dim, 32, 3, padding=1), _norm(32), nn.GELU(), inverse_depth
        )
        self.guide_key = nn.Conv2d(16, 8, 1)
        mask = nn.Conv2d(32, 9, 1)
        nn.init.zeros_(mask.weight)  # starts from the joint-bilateral weights alone
        nn.init.zeros_(mask.bias)  # type: ignore[arg-type]
        self.upsample_mask = nn.Sequential(
            nn.Conv2d(config.dim + 16, 32, 3, padding=1), _norm(32), nn.GELU(), mask
        )
        residual = nn.Conv2d(16, 1, 3, padding=1)
        nn.init.zeros_(residual.weight)  # starts as the upsampled coarse depth
        nn.init.zeros_(residual.bias)  # type: ignore[arg-type]
        self.depth_refine = nn.Sequential(
            nn.Conv2d(17, 16, 3, padding=1), _norm(16), nn.GELU(),
            nn.Conv2d(16, 16, 3, padding=1), _norm(16), nn.GELU(),
            residual,
        )  # fmt: skip
        gate = nn.Conv2d(16, 1, 1)
        nn.init.constant_(gate.bias, 2.0)  # type: ignore[arg-type]  # starts mostly open
        self.depth_gate = nn.Sequential(nn.Conv2d(18, 16, 3, padding=1), nn.GELU(), gate)
        self.temporal_logit = nn.Parameter(
            torch.zeros(config.blocks, len(DIRECTIONS)), requires_grad=config.temporal_decay is None
        )
        self.refine: nn.Sequential | None = None
        if config.refine_channels:
            width = config.refine_channels
            last = nn.Conv2d(width, 3, 3, padding=1)
            nn.init.zeros_(last.weight)  # the output starts as the classical render
            nn.init.zeros_(last.bias)  # type: ignore[arg-type]
            self.refine = nn.Sequential(
                nn.Conv2d(8, width, 3, padding=1), _norm(width), nn.GELU(),
                nn.Conv2d(width, width, 3, padding=1), _norm(width), nn.GELU(),
                last,
            )  # fmt: skip

    def carry(self, states: Tensor) -> Tensor:
        """Decay the final scan states of one frame into the initial states of the next."""
        decay = (
            torch.sigmoid(self.temporal_logit)
            if self.config.temporal_decay is None
            else torch.full_like(self.temporal_logit, self.config.temporal_decay)
        )
        return states * decay.reshape(*decay.shape, 1, 1, 1, 1).to(states.dtype)

    def predict_depth(
        self, image: Tensor, previous: VideoState | None = None
    ) -> tuple[Tensor, VideoState]:
        """Depth (B, 1, H, W) in metres and the state for the next frame.

        ``previous`` is the previous frame's state (None: the first frame of a shot).
        """
        height, width = image.shape[-2:]
        stride = self.config.stride
        if height % stride or width % stride:
            raise ValueError(f"image size {height}x{width} must be a multiple of {stride}")
        features = self.stem(image * 2 - 1)
        initial = self.carry(previous.scans) if previous is not None else None
        finals = []
        for index, block in enumerate(self.blocks):
            features, final = block(features, None if initial is None else initial[index])
            finals.append(final)
        coarse = self.depth_head(features)
        upsampled = F.interpolate(
            features, size=(height, width), mode="bilinear", align_corners=False
        )
        guide = self.skip(image * 2 - 1)
        logits = self.upsample_mask(torch.cat([upsampled, guide], dim=1))
        # Joint-bilateral term: a pixel leans to the neighbouring cells that look like it.
        key = self.guide_key(guide)
        cells = _neighbours(F.avg_pool2d(key, stride), stride)
        logits = logits - (key[:, :, None] - cells).square().sum(dim=1)
        raw = convex_upsample(coarse, logits.softmax(dim=1), stride)
        raw = raw + self.depth_refine(torch.cat([guide, raw], dim=1))
        near, far = 1.0 / self.config.min_depth_m, 1.0 / self.config.max_depth_m
        inverse = far + (near - far) * torch.sigmoid(raw)
        if previous is not None:
            cues = [
                guide,
                _log_change(image, previous.image, 0.01),
                _log_change(inverse, previous.inverse_depth, 0.01 * (near - far)),
            ]
            gate = torch.sigmoid(self.depth_gate(torch.cat(cues, dim=1)))
            inverse = previous.inverse_depth + gate * (inverse - previous.inverse_depth)
        return 1.0 / inverse, VideoState(torch.stack(finals), inverse, image)

    def forward(
        self, image: Tensor, camera: Tensor, previous: VideoState | None = None
    ) -> BokehOutput:
        """Render ``image`` (B, 3, H, W) sRGB in [0, 1] for ``camera`` (B, 4) (see
        :data:`CAMERA_FIELDS`), continuing from ``previous`` (None: a still or a shot's
        first frame)."""
        depth, states = self.predict_depth(image, previous)
        lens = {
            "f_number": camera[:, 0],
            "focal_length_mm": camera[:, 1],
            "focus_m": camera[:, 2],
            "sensor_width_mm": camera[:, 3],
            "max_depth_m": self.config.max_depth_m,
        }
        render = render_bokeh(image, depth, settings=self.config.render, **lens)  # type: ignore[arg-type]
        output = render
        if self.refine is not None:
            coc = signed_coc_px(depth, **lens).abs() / 16.0  # type: ignore[arg-type]
            aperture = (2.0 / camera[:, 0]).reshape(-1, 1, 1, 1).expand_as(coc)
            inputs = torch.cat([image, render, coc, aperture], dim=1)
            output = render + self.refine(inputs * 2 - 1)
        return {"output": output, "render": render, "depth": depth, "states": states}
