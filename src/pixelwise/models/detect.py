"""Load published restorer weights: read the file, detect the architecture, rebuild the network.

Weight files of the official releases (KAIR's DRUNet, SCUNet, DnCNN, FDnCNN, FFDNet;
megvii's NAFNet; xinntao's RRDBNet and SRVGGNetCompact, as Real-ESRGAN ships them;
JingyunLiang's SwinIR, every variant; swz30's Restormer) are read from local disk only,
never downloaded:

* ``.safetensors`` with :mod:`safetensors` (never runs code); a pixelwise file (written by
  :func:`pixelwise.models.save_weights`) rebuilds from its stored config;
* ``.pth``, ``.pt``, ``.ckpt``, ``.bin`` with ``torch.load(weights_only=True)``: a pickle
  that holds code or objects other than tensors and containers is refused;
* ``params_ema`` (preferred), ``params``, ``state_dict`` and ``model`` wrappers are
  unwrapped and a ``module.`` prefix (DataParallel) is removed.

The architecture and its hyper-parameters (widths, block counts, scale, channels) are read
from the state dict's keys and shapes, like ComfyUI's loader library spandrel does. KAIR's
SCUNet and DnCNN files are renamed into :class:`~pixelwise.models.SCUNet` and
:class:`~pixelwise.models.DnCNN` (the same networks under other key names); the others load
into :mod:`pixelwise.models.restorers` unchanged. A file that matches no architecture raises
:class:`~pixelwise.errors.CheckpointError` naming the file and the closest architecture.

Examples
--------
>>> import torch, tempfile, pathlib
>>> from pixelwise.models.restorers import DRUNet, DRUNetConfig
>>> net = DRUNet(DRUNetConfig(in_channels=1, widths=(4, 8, 16, 32), blocks=2))
>>> path = pathlib.Path(tempfile.mkdtemp()) / "drunet_gray.pth"
>>> torch.save(net.state_dict(), path)
>>> loaded = load_restorer(path)
>>> loaded.architecture.title, loaded.model.config.widths, loaded.in_channels
('DRUNet', (4, 8, 16, 32), 1)
"""

from __future__ import annotations

import difflib
import json
import math
import pickle
import re
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel
from safetensors import SafetensorError, safe_open
from torch import Tensor, nn

from pixelwise.errors import CheckpointError, ConfigError
from pixelwise.models.dncnn import DnCNNConfig
from pixelwise.models.registry import (
    build_model,
    load_matching_state,
    parse_model_config,
    size_multiple_of,
)
from pixelwise.models.restorers import (
    DRUNetConfig,
    FFDNetConfig,
    NAFNetConfig,
    RestormerConfig,
    RRDBNetConfig,
    SRVGGNetCompactConfig,
    SwinIRConfig,
)
from pixelwise.models.scunet import SCUNetConfig
from pixelwise.models.weights import CONFIG_KEY

StateDict = dict[str, Tensor]
#: Wrappers unwrapped, in order of preference (BasicSR stores the EMA weights separately).
WRAPPERS = ("params_ema", "params", "state_dict", "model")
SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")


@dataclass(frozen=True)
class Architecture:
    """What pixelwise knows about one published architecture."""

    name: str  #: the registry name of the config it detects to
    title: str  #: the paper's name for it
    task: str  #: "denoise", "restore" (denoise/deblur/JPEG per weights) or "upscale"
    licence: str  #: licence of the official code whose key layout we follow
    #: Whether float16 keeps its activations in range (bf16 is always allowed on CUDA).
    half_safe: bool = True
    signature: tuple[str, ...] = field(default_factory=tuple)  #: key patterns it needs


ARCHITECTURES: dict[str, Architecture] = {
    arch.title: arch
    for arch in (
        Architecture(
            "drunet",
            "DRUNet",
            "denoise",
            "MIT (KAIR)",
            False,
            (
                "m_head.weight",
                "m_down#.#.res.#.weight",
                "m_body.#.res.#.weight",
                "m_up#.#.weight",
                "m_tail.weight",
            ),
        ),
        Architecture(
            "scunet",
            "SCUNet",
            "denoise",
            "Apache-2.0 (KAIR SCUNet)",
            False,
            (
                "m_head.#.weight",
                "m_down#.#.trans_block.msa.embedding_layer.weight",
                "m_down#.#.conv1_1.weight",
                "m_body.#.trans_block.ln1.weight",
                "m_tail.#.weight",
            ),
        ),
        Architecture(
            "dncnn", "DnCNN", "denoise", "MIT (KAIR)", True, ("model.#.weight", "model.#.bias")
        ),
        Architecture(
            "ffdnet", "FFDNet", "denoise", "MIT (KAIR)", True, ("model.#.weight", "model.#.bias")
        ),
        Architecture(
            "nafnet",
            "NAFNet",
            "restore",
            "MIT (megvii-research)",
            False,
            (
                "intro.weight",
                "encoders.#.#.conv1.weight",
                "encoders.#.#.sca.#.weight",
                "downs.#.weight",
                "ups.#.#.weight",
                "middle_blks.#.beta",
                "ending.weight",
            ),
        ),
        Architecture(
            "rrdbnet",
            "RRDBNet",
            "upscale",
            "BSD-3-Clause (Real-ESRGAN/BasicSR)",
            True,
            (
                "conv_first.weight",
                "body.#.rdb#.conv#.weight",
                "conv_body.weight",
                "conv_up#.weight",
                "conv_hr.weight",
                "conv_last.weight",
            ),
        ),
        Architecture(
            "srvgg_compact",
            "SRVGGNetCompact",
            "upscale",
            "BSD-3-Clause (Real-ESRGAN)",
            True,
            ("body.#.weight", "body.#.bias"),
        ),
        Architecture(
            "swinir",
            "SwinIR",
            "restore",
            "Apache-2.0 (JingyunLiang SwinIR)",
            False,
            (
                "conv_first.weight",
                "patch_embed.norm.weight",
                "layers.#.residual_group.blocks.#.attn.relative_position_bias_table",
                "layers.#.residual_group.blocks.#.mlp.fc#.weight",
                "layers.#.conv.weight",
                "conv_after_body.weight",
                "conv_last.weight",
            ),
        ),
        Architecture(
            "restormer",
            "Restormer",
            "restore",
            "NON-COMMERCIAL use only (swz30 Restormer code licence)",
            False,
            (
                "patch_embed.proj.weight",
                "encoder_level#.#.attn.temperature",
                "encoder_level#.#.ffn.project_in.weight",
                "down1_#.body.#.weight",
                "latent.#.attn.qkv.weight",
                "reduce_chan_level#.weight",
                "refinement.#.norm#.body.weight",
                "output.weight",
            ),
        ),
    )
}


@dataclass
class LoadedRestorer:
    """A network rebuilt from a weights file, in eval mode, and what the nodes need to run it."""

    model: nn.Module
    architecture: Architecture
    source: Path
    in_channels: int
    scale: int = 1
    #: The network's forward takes ``(image, sigma)``: a noise-level map input.
    takes_noise_level: bool = False

    @property
    def size_multiple(self) -> int:
        return size_multiple_of(self.model)

    def describe(self) -> str:
        """One line: architecture, channels, scale, parameters, licence."""
        parameters = sum(p.numel() for p in self.model.parameters())
        return (
            f"{self.architecture.title} ({self.in_channels} channels, x{self.scale}, "
            f"{parameters:,} parameters; code licence {self.architecture.licence}) "
            f"from {self.source.name}"
        )


# --------------------------------------------------------------------------------------------
# Reading files


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def read_state_dict(path: str | Path) -> tuple[StateDict, dict[str, str]]:
    """The tensors of a weights file (unwrapped, ``module.`` removed) and its metadata.

    Raises :class:`CheckpointError` naming the file when it is missing, truncated, not a
    weights file, or a pickle that holds code (refused by ``weights_only``).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    if path.suffix.lower() == ".safetensors":
        try:
            with safe_open(path, framework="pt", device="cpu") as file:
                metadata = dict(file.metadata() or {})
                state = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118
        except (SafetensorError, OSError, ValueError) as error:
            raise CheckpointError(
                f"{path}: not a safetensors file, corrupt or truncated ({_first_line(error)})"
            ) from None
        return _clean(state, path), metadata
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: refused: the pickle holds code or objects other than tensors "
            f"(loaded with weights_only=True; {_first_line(error)}); convert it to "
            "safetensors with the software that wrote it"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise CheckpointError(
            f"{path}: not a PyTorch weights file, corrupt or truncated ({_first_line(error)})"
        ) from None
    return _clean(_unwrap(loaded, path), path), {}


def _unwrap(loaded: Any, path: Path) -> Mapping[str, Any]:
    while isinstance(loaded, Mapping):
        wrapper = next((key for key in WRAPPERS if isinstance(loaded.get(key), Mapping)), None)
        if wrapper is None:
            return loaded
        loaded = loaded[wrapper]
    raise CheckpointError(f"{path}: holds a {type(loaded).__name__}, not a state dict")


def _clean(state: Mapping[str, Any], path: Path) -> StateDict:
    tensors = {str(key): value for key, value in state.items() if isinstance(value, Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: holds no tensors (keys: {list(state)[:5]})")
    if all(key.startswith("module.") for key in tensors):
        tensors = {key.removeprefix("module."): value for key, value in tensors.items()}
    return tensors


# --------------------------------------------------------------------------------------------
# Detection


def _pattern(key: str) -> str:
    return re.sub(r"(?<=\.)\d+(?=\.|$)|(?<=[a-z_])\d+(?=\.)", "#", key)


def _count(state: Mapping[str, Tensor], template: str) -> int:
    """How many consecutive ``i`` (from 0) have ``template.format(i)`` in ``state``."""
    count = 0
    while template.format(count) in state:
        count += 1
    return count


def _indices(state: Mapping[str, Tensor], prefix: str) -> list[int]:
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    return sorted({int(m.group(1)) for key in state if (m := pattern.match(key))})


def _shape(state: Mapping[str, Tensor], key: str) -> tuple[int, ...]:
    return tuple(state[key].shape)


Renamer = Callable[[StateDict], StateDict]


def _identity(state: StateDict) -> StateDict:
    return state


def _detect_drunet(state: StateDict) -> tuple[BaseModel, Renamer]:
    head = _shape(state, "m_head.weight")
    widths = (
        head[0],
        _shape(state, "m_down2.0.res.0.weight")[0],
        _shape(state, "m_down3.0.res.0.weight")[0],
        _shape(state, "m_body.0.res.0.weight")[0],
    )
    config = DRUNetConfig(
        in_channels=head[1] - 1, widths=widths, blocks=_count(state, "m_body.{}.res.0.weight")
    )
    return config, _identity


def _detect_plain_cnn(state: StateDict) -> tuple[BaseModel, Renamer]:
    layers = _indices(state, "model")
    if any(key.endswith("running_mean") for key in state):
        raise ConfigError("BatchNorm layers are not folded into the convolutions (KAIR 'BR')")
    if layers != list(range(0, 2 * len(layers), 2)):
        raise ConfigError("convolutions are not at model.0, model.2, ... (KAIR 'R' layout)")
    first, last = _shape(state, "model.0.weight"), _shape(state, f"model.{layers[-1]}.weight")
    depth, features = len(layers), first[0]
    if first[1] == last[0]:
        config: BaseModel = DnCNNConfig(in_channels=first[1], depth=depth, features=features)

        def to_pixelwise(state: StateDict) -> StateDict:
            renamed = {}
            for key, value in state.items():
                _, index, kind = key.split(".")
                layer = int(index) // 2
                renamed[f"noise.{3 * layer - 1 if layer else 0}.{kind}"] = value
            return renamed

        return config, to_pixelwise
    if first[1] == last[0] + 1:
        variant = "ffdnet" if last[0] % 4 == 0 else "fdncnn"
        channels = last[0] // 4 if variant == "ffdnet" else last[0]
        return FFDNetConfig(
            variant=variant, in_channels=channels, depth=depth, features=features
        ), _identity
    raise ConfigError(f"model.0 takes {first[1]} channels and the last conv gives {last[0]}")


def _detect_nafnet(state: StateDict) -> tuple[BaseModel, Renamer]:
    levels = _count(state, "downs.{}.weight")
    config = NAFNetConfig(
        in_channels=_shape(state, "intro.weight")[1],
        width=_shape(state, "intro.weight")[0],
        encoder_blocks=tuple(
            _count(state, f"encoders.{i}.{{}}.conv1.weight") for i in range(levels)
        ),
        middle_blocks=_count(state, "middle_blks.{}.conv1.weight"),
        decoder_blocks=tuple(
            _count(state, f"decoders.{i}.{{}}.conv1.weight") for i in range(levels)
        ),
    )
    return config, _identity


def _detect_rrdbnet(state: StateDict) -> tuple[BaseModel, Renamer]:
    first, last = _shape(state, "conv_first.weight"), _shape(state, "conv_last.weight")
    ratio = first[1] // last[0]
    scales: dict[int, Literal[1, 2, 4]] = {1: 4, 4: 2, 16: 1}
    if ratio not in scales or first[1] % last[0]:
        raise ConfigError(f"conv_first takes {first[1]} channels for {last[0]} output channels")
    config = RRDBNetConfig(
        in_channels=last[0],
        scale=scales[ratio],
        features=first[0],
        blocks=_count(state, "body.{}.rdb1.conv1.weight"),
        growth=_shape(state, "body.0.rdb1.conv1.weight")[0],
    )
    return config, _identity


def _detect_compact(state: StateDict) -> tuple[BaseModel, Renamer]:
    indices = _indices(state, "body")
    if len(_shape(state, "body.1.weight")) != 1 or indices != list(range(len(indices))):
        raise ConfigError("body.1 is not a PReLU, or body layers are missing")
    first, last = _shape(state, "body.0.weight"), _shape(state, f"body.{indices[-1]}.weight")
    scale = math.isqrt(last[0] // first[1])
    if scale * scale * first[1] != last[0]:
        raise ConfigError(f"the last conv gives {last[0]} channels for {first[1]} input ones")
    config = SRVGGNetCompactConfig(
        in_channels=first[1], scale=scale, features=first[0], convs=(indices[-1] - 2) // 2
    )
    return config, _identity


def _detect_swinir(state: StateDict) -> tuple[BaseModel, Renamer]:
    embed, channels = _shape(state, "conv_first.weight")[:2]
    layers = len(_indices(state, "layers"))
    blocks = "layers.{}.residual_group.blocks"
    table = _shape(state, f"{blocks.format(0)}.0.attn.relative_position_bias_table")
    window = (math.isqrt(table[0]) + 1) // 2
    masks = [key for key in state if key.endswith(".attn_mask")]
    windows_per_side = math.isqrt(_shape(state, masks[0])[0]) if masks else 0
    if "conv_up1.weight" in state:
        upsampler, scale = (
            "nearest+conv",
            2 ** sum(f"conv_up{k}.weight" in state for k in (1, 2, 3)),
        )
    elif "conv_before_upsample.0.weight" in state:
        features = _shape(state, "conv_before_upsample.0.weight")[0]
        stages = [_shape(state, f"upsample.{i}.weight")[0] // features for i in _indices_of(state)]
        upsampler, scale = "pixelshuffle", 3 if stages == [9] else 2 ** len(stages)
    elif "upsample.0.weight" in state:
        upsampler = "pixelshuffledirect"
        scale = math.isqrt(_shape(state, "upsample.0.weight")[0] // channels)
    else:
        upsampler, scale = "none", 1
    config = SwinIRConfig(
        in_channels=channels,
        scale=scale,
        upsampler=upsampler,
        embed_dim=embed,
        depths=tuple(_count(state, blocks.format(i) + ".{}.norm1.weight") for i in range(layers)),
        heads=tuple(
            _shape(state, f"{blocks.format(i)}.0.attn.relative_position_bias_table")[1]
            for i in range(layers)
        ),
        window_size=window,
        mlp_ratio=_shape(state, f"{blocks.format(0)}.0.mlp.fc1.weight")[0] / embed,
        # Official files store the masks of their training patch size (spandrel's default
        # when they do not: 64).
        img_size=windows_per_side * window if masks else 64,
        # The official JPEG artefact models are the window-7 ones and run in 0..255.
        img_range=255.0 if window == 7 else 1.0,
        resi_connection="1conv" if "conv_after_body.weight" in state else "3conv",
        features=_shape(state, "conv_before_upsample.0.weight")[0]
        if "conv_before_upsample.0.weight" in state
        else 64,
    )
    return config, _identity


def _indices_of(state: StateDict) -> list[int]:
    """Indices of the convolutions in SwinIR's ``upsample`` stack (pixel shuffles between)."""
    return [i for i in _indices(state, "upsample") if f"upsample.{i}.weight" in state]


def _expansion_factor(dims: list[int], hidden: list[int]) -> float:
    """The shortest decimal ``f`` with ``int(d * f) == h`` for every level (Restormer FFNs).

    The official code sizes each level's FFN as ``int(dim * 2.66)``: the ratio of one level's
    shapes is not the factor, but the factor is the simplest number giving all of them.
    """
    low = max(h / d for d, h in zip(dims, hidden, strict=True))
    high = min((h + 1) / d for d, h in zip(dims, hidden, strict=True))
    for decimals in range(1, 7):
        candidate = math.ceil(low * 10**decimals) / 10**decimals
        if candidate < high and all(
            int(d * candidate) == h for d, h in zip(dims, hidden, strict=True)
        ):
            return candidate
    raise ConfigError(f"no FFN expansion factor gives hidden sizes {hidden} for {dims}")


def _detect_restormer(state: StateDict) -> tuple[BaseModel, Renamer]:
    embed = _shape(state, "patch_embed.proj.weight")
    stages = ("encoder_level1", "encoder_level2", "encoder_level3", "latent")
    dims = [embed[0] * 2**level for level in range(4)]
    hidden = [_shape(state, f"{stage}.0.ffn.project_out.weight")[1] for stage in stages]
    blocks = tuple(_count(state, f"{stage}.{{}}.attn.temperature") for stage in stages)
    heads = tuple(_shape(state, f"{stage}.0.attn.temperature")[0] for stage in stages)
    config = RestormerConfig(
        in_channels=embed[1],
        out_channels=_shape(state, "output.weight")[0],
        dim=embed[0],
        blocks=blocks,
        refinement_blocks=_count(state, "refinement.{}.attn.temperature"),
        heads=heads,
        ffn_expansion=_expansion_factor(dims, hidden),
        bias="encoder_level1.0.attn.qkv.bias" in state,
        norm="with_bias" if "encoder_level1.0.norm1.body.bias" in state else "bias_free",
        dual_pixel="skip_conv.weight" in state,
    )
    return config, _identity


_SCUNET_BLOCK = (
    ("trans_block.ln1.", "swin.norm1."),
    ("trans_block.ln2.", "swin.norm2."),
    ("trans_block.msa.embedding_layer.", "swin.attention.qkv."),
    ("trans_block.msa.linear.", "swin.attention.proj."),
    ("trans_block.msa.relative_position_params", "swin.attention.position_bias"),
    ("trans_block.mlp.", "swin.mlp."),
    ("conv1_1.", "split."),
    ("conv1_2.", "fuse."),
    ("conv_block.", "conv."),
)


def _detect_scunet(state: StateDict) -> tuple[BaseModel, Renamer]:
    head = _shape(state, "m_head.0.weight")
    heads, span, _ = _shape(state, "m_down1.0.trans_block.msa.relative_position_params")
    blocks = _count(state, "m_body.{}.conv1_1.weight")
    counts = {_count(state, f"m_{stage}.{{}}.conv1_1.weight") for stage in ("down1", "down2")}
    if counts != {blocks}:
        raise ConfigError("stages of different lengths (pixelwise SCUNet needs equal stages)")
    config = SCUNetConfig(
        in_channels=head[1],
        dim=head[0],
        levels=4,
        blocks=blocks,
        head_dim=head[0] // 2 // heads,
        window_size=(span + 1) // 2,
    )

    def to_pixelwise(state: StateDict) -> StateDict:
        renamed = {"head.weight": state["m_head.0.weight"], "tail.weight": state["m_tail.0.weight"]}
        for key, value in state.items():
            match = re.match(r"m_(down|up|body)(\d?)\.(\d+)\.(.*)", key)
            if match is None:
                continue
            stage, level, index, rest = (
                match.group(1),
                match.group(2),
                int(match.group(3)),
                match.group(4),
            )
            if stage == "down" and index == blocks:
                renamed[f"downsamplers.{int(level) - 1}.{rest}"] = value
                continue
            if stage == "up" and index == 0:
                renamed[f"upsamplers.{3 - int(level)}.{rest}"] = value
                continue
            if stage == "body":
                prefix = f"bottleneck.{index}"
            elif stage == "down":
                prefix = f"encoders.{int(level) - 1}.{index}"
            else:
                prefix = f"decoders.{3 - int(level)}.{index - 1}"
            for official, ours in _SCUNET_BLOCK:
                if rest.startswith(official):
                    rest = ours + rest[len(official) :]
                    break
            if rest.endswith("position_bias"):
                # official (heads, 2w-1, 2w-1); pixelwise ((2w-1)**2, heads)
                value = value.permute(1, 2, 0).reshape(-1, value.shape[0])
            renamed[f"{prefix}.{rest}"] = value
        return renamed

    return config, to_pixelwise


_DETECTORS: tuple[
    tuple[str, tuple[str, ...], Callable[[StateDict], tuple[BaseModel, Renamer]]], ...
] = (
    (
        "DRUNet",
        ("m_head.weight", "m_down1.0.res.0.weight", "m_body.0.res.0.weight"),
        _detect_drunet,
    ),
    (
        "SCUNet",
        ("m_head.0.weight", "m_down1.0.trans_block.msa.relative_position_params"),
        _detect_scunet,
    ),
    ("NAFNet", ("intro.weight", "ending.weight", "encoders.0.0.conv1.weight"), _detect_nafnet),
    (
        "SwinIR",
        (
            "conv_first.weight",
            "layers.0.residual_group.blocks.0.norm1.weight",
            "layers.0.residual_group.blocks.0.attn.relative_position_bias_table",
        ),
        _detect_swinir,
    ),
    (
        "Restormer",
        (
            "patch_embed.proj.weight",
            "encoder_level1.0.attn.temperature",
            "latent.0.attn.qkv.weight",
        ),
        _detect_restormer,
    ),
    (
        "RRDBNet",
        ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_last.weight"),
        _detect_rrdbnet,
    ),
    ("SRVGGNetCompact", ("body.0.weight", "body.1.weight"), _detect_compact),
    ("DnCNN", ("model.0.weight", "model.0.bias"), _detect_plain_cnn),
)


def _closest(state: StateDict) -> str:
    """The architecture whose key patterns the state dict shares most, as a phrase."""
    patterns = {_pattern(key) for key in state}
    scores = {
        title: sum(p in patterns for p in arch.signature) / len(arch.signature)
        for title, arch in ARCHITECTURES.items()
    }
    title = max(scores, key=lambda name: scores[name])
    if scores[title] == 0:
        close = difflib.get_close_matches(
            min(state), [s for a in ARCHITECTURES.values() for s in a.signature], n=1, cutoff=0
        )
        hint = f"; its first key '{min(state)}' looks most like {close[0]!r}" if close else ""
        return f"it resembles none of them{hint}"
    return f"closest: {title}, {scores[title]:.0%} of its key patterns present"


def detect_architecture(
    state: StateDict, source: str = "<state dict>"
) -> tuple[BaseModel, Renamer]:
    """The config of the network ``state`` belongs to, and the key renaming it needs.

    Raises :class:`CheckpointError` naming ``source`` and the closest architecture when the
    keys match no known architecture, or match one with inconsistent shapes.
    """
    for title, required, detect in _DETECTORS:
        if all(key in state for key in required):
            try:
                return detect(state)
            except (ConfigError, KeyError, ValueError) as error:
                reason = _first_line(error)
                raise CheckpointError(
                    f"{source}: looks like {title} but cannot be read as one ({reason})"
                ) from None
    known = ", ".join(ARCHITECTURES)
    raise CheckpointError(
        f"{source}: not a known restorer architecture ({len(state)} tensors, first key "
        f"'{min(state)}'); known: {known}; {_closest(state)}"
    )


def _architecture_of(config: BaseModel) -> Architecture:
    name = getattr(config, "name", "")
    if name == "ffdnet":
        return ARCHITECTURES["FFDNet"]
    for arch in ARCHITECTURES.values():
        if arch.name == name:
            return arch
    raise CheckpointError(f"model '{name}' is not a restorer architecture")


def build_restorer(
    state: StateDict, source: str | Path = "<state dict>", metadata: Mapping[str, str] | None = None
) -> LoadedRestorer:
    """Detect, rebuild and load the network of ``state``; returned in eval mode on the CPU."""
    source = Path(source)
    if metadata and CONFIG_KEY in metadata:
        try:
            config: BaseModel = parse_model_config(json.loads(metadata[CONFIG_KEY]))
        except (ValueError, ConfigError) as error:
            raise CheckpointError(f"{source}: invalid model config ({error})") from None
        renamer: Renamer = _identity
    else:
        config, renamer = detect_architecture(state, str(source))
    try:
        model = build_model(config)
    except ConfigError as error:
        raise CheckpointError(f"{source}: detected config is invalid ({error})") from None
    load_matching_state(model, renamer(state), str(source))
    model.eval()
    return LoadedRestorer(
        model=model,
        architecture=_architecture_of(config),
        source=source,
        in_channels=int(getattr(config, "in_channels", 3)),
        scale=int(getattr(config, "scale", 1)),
        takes_noise_level=bool(getattr(model, "takes_noise_level", False)),
    )


# --------------------------------------------------------------------------------------------
# Cached loading


_CACHE: OrderedDict[tuple[str, int, int, str], LoadedRestorer] = OrderedDict()
_CACHE_LOCK = threading.Lock()
#: Loaded networks kept between calls (nodes re-running on new images reuse them).
CACHE_SIZE = 4


def load_restorer(path: str | Path, device: str | torch.device = "cpu") -> LoadedRestorer:
    """Load (or reuse) the restorer in ``path`` on ``device``; see the module docstring.

    Networks are cached by file (path, size and modification time) and device, so several
    nodes using one file, and repeated runs, load it once; an edited file is reloaded.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, str(torch.device(device)))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    state, metadata = read_state_dict(path)
    loaded = build_restorer(state, path, metadata)
    loaded.model.to(device)
    with _CACHE_LOCK:
        _CACHE[key] = loaded
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return loaded


def clear_restorer_cache() -> None:
    """Forget every cached network (frees their memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()
