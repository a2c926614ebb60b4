"""Weight exchange that cannot scramble: safetensors, raw binary with a layout sidecar, ONNX.

* **safetensors** (``.safetensors``): :func:`pixelwise.models.save_weights` — tensors under
  their state-dict names in torch's layouts, the model config in the metadata.
* **raw** (``.bin`` + ``.bin.json``): the bytes of every tensor, one after another, in a
  recorded layout: ``OIHW`` (torch's) or ``HWIO`` (TensorFlow's; every 4-D tensor permuted
  (2, 3, 1, 0)), ``C`` or ``F`` element order, a dtype, and each tensor's name, stored
  shape, offset and size, plus the model config. The file also carries a *probe*: a
  2-in/3-out convolution with known asymmetric 3x3 kernels, written in the same layout.
* **ONNX** (``.onnx``, export only): checked against the torch output with onnxruntime.

Every import runs a known-answer self-check: the probe is decoded with the declared layout
and applied to an impulse in each input channel; the response must reproduce the known
kernels exactly (a transposed, re-ordered or mislabelled file does not). For safetensors,
the same probe makes the round trip through the codec. Then the imported model denoises a
simulated reference micrograph: an output correlating negatively with its input is flagged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel
from torch import nn

from pixelwise.apps.cryoem.train import APP, PER_MICROGRAPH, STANDARDIZATION_KEY
from pixelwise.engine import Checkpoint, save_checkpoint
from pixelwise.errors import CheckpointError, InputError
from pixelwise.io.atomic import atomic_path, write_text_atomic
from pixelwise.models import (
    build_model,
    load_matching_state,
    load_weights,
    save_weights,
    size_multiple_of,
)

RAW_FORMAT = "pixelwise-raw-weights/1"
PROBE = "__probe__"
Layout = Literal["OIHW", "HWIO"]
Order = Literal["C", "F"]
_DTYPES = {"float32": np.float32, "float16": np.float16, "float64": np.float64}
_TO_HWIO = (2, 3, 1, 0)
_FROM_HWIO = (3, 2, 0, 1)


def probe_kernels() -> np.ndarray:
    """The known asymmetric kernels, float32 ``(3, 2, 3, 3)`` (out, in, h, w): all distinct.

    >>> kernels = probe_kernels()
    >>> len(np.unique(kernels)) == kernels.size
    True
    """
    return (np.arange(54, dtype=np.float32).reshape(3, 2, 3, 3) * 0.37 + 1.0) * np.where(
        np.arange(54).reshape(3, 2, 3, 3) % 3 == 0, -1.0, 1.0
    ).astype(np.float32)


def impulse_response(kernels: torch.Tensor) -> np.ndarray:
    """Apply ``kernels`` (O, I, 3, 3) to a unit impulse in each input channel.

    Returns ``(O, I, 3, 3)``: the 3x3 neighbourhood of the impulse, which for torch's
    cross-correlation is each kernel rotated by 180 degrees.
    """
    out_channels, in_channels = kernels.shape[:2]
    responses = np.zeros((out_channels, in_channels, 3, 3), np.float64)
    for channel in range(in_channels):
        impulse = torch.zeros(1, in_channels, 7, 7, dtype=torch.float64)
        impulse[0, channel, 3, 3] = 1.0
        output = F.conv2d(impulse, kernels.double(), padding=1)[0]
        responses[:, channel] = output[:, 2:5, 2:5].numpy()
    return responses


def check_probe(kernels: torch.Tensor, source: str) -> None:
    """Raise :class:`CheckpointError` unless ``kernels`` reproduce the known impulse response."""
    expected = impulse_response(torch.from_numpy(probe_kernels()))
    if tuple(kernels.shape) != expected.shape:
        raise CheckpointError(
            f"{source}: self-check failed: probe has shape {tuple(kernels.shape)}, "
            f"expected {expected.shape} (layout mislabelled?)"
        )
    found = impulse_response(kernels)
    tolerance = 1e-2 if kernels.dtype == torch.float16 else 1e-5
    if not np.allclose(found, expected, rtol=tolerance, atol=tolerance):
        raise CheckpointError(
            f"{source}: self-check failed: the known asymmetric kernel does not reproduce "
            "itself through this file's declared layout (weights would be scrambled); check "
            "the sidecar's layout and order"
        )


def _encode(tensor: torch.Tensor, layout: Layout, order: Order, dtype: str) -> np.ndarray:
    array = tensor.detach().cpu().numpy().astype(_DTYPES[dtype])
    if layout == "HWIO" and array.ndim == 4:
        array = array.transpose(_TO_HWIO)
    return array


def _decode(
    data: bytes, shape: tuple[int, ...], layout: Layout, order: Order, dtype: str
) -> torch.Tensor:
    array = np.frombuffer(data, dtype=np.dtype(_DTYPES[dtype]).newbyteorder("<")).reshape(
        shape, order=order
    )
    if layout == "HWIO" and array.ndim == 4:
        array = array.transpose(_FROM_HWIO)
    return torch.from_numpy(np.array(array, dtype=np.float32, order="C"))


def sidecar_of(path: str | Path) -> Path:
    """The JSON sidecar of a raw weights file: ``weights.bin`` -> ``weights.bin.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def export_raw(
    path: str | Path,
    model: nn.Module,
    *,
    layout: Layout = "OIHW",
    order: Order = "C",
    dtype: str = "float32",
) -> Path:
    """Write ``model``'s tensors and the probe as raw bytes plus the layout sidecar."""
    if layout not in ("OIHW", "HWIO") or order not in ("C", "F") or dtype not in _DTYPES:
        raise InputError(path, f"unsupported raw layout {layout}/{order}/{dtype}")
    tensors = {PROBE: torch.from_numpy(probe_kernels()), **model.state_dict()}
    entries, chunks, offset = [], [], 0
    for name, tensor in tensors.items():
        array = _encode(tensor, layout, order, dtype)
        data = array.astype(array.dtype.newbyteorder("<")).tobytes(order=order)
        entries.append(
            {"name": name, "shape": list(array.shape), "offset": offset, "nbytes": len(data)}
        )
        chunks.append(data)
        offset += len(data)
    sidecar = {
        "format": RAW_FORMAT,
        "layout": layout,
        "order": order,
        "dtype": dtype,
        "byteorder": "little",
        "layout_note": "HWIO: every 4-D tensor is torch's (O, I, H, W) permuted (2, 3, 1, 0)",
        "model_config": cast(BaseModel, model.config).model_dump(mode="json"),
        "tensors": entries,
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"".join(chunks))
    write_text_atomic(sidecar_of(path), json.dumps(sidecar, indent=2))
    return path


def _read_sidecar(path: Path) -> dict[str, Any]:
    sidecar = sidecar_of(path)
    if not sidecar.is_file():
        raise InputError(
            path,
            f"raw weights need their layout sidecar {sidecar.name} (layout, order, dtype, "
            "shapes); refusing to guess the layout",
        )
    try:
        meta = json.loads(sidecar.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(sidecar, f"not valid JSON ({error})") from None
    required = ("format", "layout", "order", "dtype", "model_config", "tensors")
    missing = [key for key in required if key not in meta]
    if missing or meta.get("format") != RAW_FORMAT:
        raise InputError(sidecar, f"not a {RAW_FORMAT} sidecar (missing {missing or 'format'})")
    if meta["layout"] not in ("OIHW", "HWIO") or meta["order"] not in ("C", "F"):
        raise InputError(sidecar, f"unknown layout {meta['layout']} / order {meta['order']}")
    if meta["dtype"] not in _DTYPES:
        raise InputError(sidecar, f"unsupported dtype {meta['dtype']}")
    return meta


def import_raw(path: str | Path) -> nn.Module:
    """Rebuild a model from raw weights and their sidecar, after the probe self-check."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    meta = _read_sidecar(path)
    data = path.read_bytes()
    itemsize = np.dtype(_DTYPES[meta["dtype"]]).itemsize
    declared = sum(int(entry["nbytes"]) for entry in meta["tensors"])
    if declared != len(data):
        raise InputError(
            path, f"holds {len(data)} bytes, its sidecar declares {declared}; sizes disagree"
        )
    tensors = {}
    for entry in meta["tensors"]:
        shape = tuple(int(n) for n in entry["shape"])
        start, size = int(entry["offset"]), int(entry["nbytes"])
        if size != int(np.prod(shape)) * itemsize or start + size > len(data):
            raise InputError(path, f"tensor {entry['name']}: shape {shape} and size disagree")
        chunk = data[start : start + size]
        tensors[entry["name"]] = _decode(chunk, shape, meta["layout"], meta["order"], meta["dtype"])
    if PROBE not in tensors:
        raise CheckpointError(f"{path}: no self-check probe in the file; refusing to import")
    check_probe(tensors.pop(PROBE), str(path))
    model = build_model(meta["model_config"])
    load_matching_state(model, tensors, str(path))
    return model


def export_onnx(path: str | Path, model: nn.Module, size: int = 64) -> float:
    """Export to ONNX (opset 17, dynamic Y/X) and return the max |onnxruntime - torch|."""
    import onnxruntime

    model = model.eval()
    multiple = size_multiple_of(model)
    size = -(-size // multiple) * multiple
    example = torch.randn(1, 1, size, size, generator=torch.Generator().manual_seed(0))
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            input_names=["micrograph"],
            output_names=["denoised"],
            dynamic_axes={"micrograph": {2: "y", 3: "x"}, "denoised": {2: "y", 3: "x"}},
            opset_version=17,
            dynamo=False,
        )
        session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        other = torch.randn(1, 1, 2 * size, size, generator=torch.Generator().manual_seed(1))
        difference = 0.0
        for probe in (example, other):
            (runtime,) = session.run(None, {"micrograph": probe.numpy()})
            with torch.inference_mode():
                reference = model(probe).numpy()
            difference = max(difference, float(np.abs(runtime - reference).max()))
        if difference > 1e-3:
            raise CheckpointError(
                f"{path}: ONNX output differs from torch by {difference:.2e}; not written"
            )
    return difference


def export_weights(
    checkpoint: str | Path,
    output: str | Path,
    *,
    layout: Layout = "OIHW",
    order: Order = "C",
    dtype: str = "float32",
) -> dict[str, Any]:
    """Export a cryo-EM checkpoint's network by the output's suffix; returns what was done."""
    from pixelwise.apps.cryoem.denoise import load_denoiser

    model = load_denoiser(checkpoint).model
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix == ".safetensors":
        save_weights(output, model)
        return {"format": "safetensors", "path": str(output)}
    if suffix == ".bin":
        export_raw(output, model, layout=layout, order=order, dtype=dtype)
        return {"format": "raw", "path": str(output), "sidecar": str(sidecar_of(output))}
    if suffix == ".onnx":
        return {"format": "onnx", "path": str(output), "max_abs_diff": export_onnx(output, model)}
    raise InputError(output, "unknown weights format; use .safetensors, .bin (raw) or .onnx")


def _codec_self_check(source: str) -> None:
    """Round-trip the probe through the safetensors codec (save_weights / load_weights)."""
    import tempfile

    from pixelwise.models import ThreeLayerCNN, ThreeLayerCNNConfig

    probe = ThreeLayerCNN(ThreeLayerCNNConfig(in_channels=2, out_channels=3, hidden_channels=2))
    with torch.no_grad():
        cast(nn.Conv2d, probe[4]).weight.copy_(torch.from_numpy(probe_kernels()))
    with tempfile.TemporaryDirectory() as folder:
        restored = load_weights(save_weights(Path(folder) / "probe.safetensors", probe))
    last = cast(nn.Conv2d, cast(nn.Sequential, restored)[4])
    check_probe(last.weight.detach(), source)


def reference_correlation(model: nn.Module) -> float:
    """Pearson r of the model's output with its input on a simulated reference micrograph."""
    from pixelwise.apps.cryoem.denoise import denoise_array
    from pixelwise.apps.cryoem.evaluate import pearson
    from pixelwise.apps.cryoem.simulate import SimulationConfig, simulate_micrograph

    config = SimulationConfig(shape=(128, 128), frames=4, residues=(300, 600), species=1)
    reference = simulate_micrograph(config, seed=2024).noisy
    return pearson(denoise_array(model, reference, device="cpu"), reference)


def import_weights(weights: str | Path, output: str | Path) -> dict[str, Any]:
    """Import ``.safetensors`` or raw ``.bin`` weights into a checkpoint ``denoise`` accepts.

    Runs the known-answer self-check (refusing a file that fails it) and the reference-image
    correlation check; returns ``{"checkpoint", "reference_r", "flag"}`` where ``flag`` is a
    warning sentence or None.
    """
    weights = Path(weights)
    suffix = weights.suffix.lower()
    if suffix == ".safetensors":
        _codec_self_check(str(weights))
        model = load_weights(weights)
    elif suffix == ".bin":
        model = import_raw(weights)
    else:
        raise InputError(weights, "unknown weights format; use .safetensors or .bin (raw)")
    if (
        getattr(model.config, "in_channels", 1) != 1
        or getattr(model.config, "out_channels", 1) != 1
    ):
        raise InputError(weights, "a micrograph denoiser needs one input and one output channel")
    r = reference_correlation(model)
    flag = (
        f"{weights}: output correlates negatively with its input on the reference image "
        f"(r = {r:.3f}); the weights are probably scrambled or inverted"
        if r < 0
        else None
    )
    checkpoint = Checkpoint(
        app=APP,
        model_config=cast(BaseModel, model.config).model_dump(mode="json"),
        state_dict=model.state_dict(),
        learned_state={
            STANDARDIZATION_KEY: PER_MICROGRAPH,
            "imported_from": str(weights),
            "reference_r": r,
            **({"flag": flag} if flag else {}),
        },
        source=str(output),
    )
    save_checkpoint(output, checkpoint)
    return {"checkpoint": str(output), "reference_r": r, "flag": flag}
