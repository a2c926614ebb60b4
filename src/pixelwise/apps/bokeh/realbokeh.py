"""A loader for the RealBokeh dataset layout (sharp f/22 inputs, real bokeh at several f-numbers).

Layout, per split (``train``, ``validation``, ``test``)::

    {root}/{split}/in/{id}_f22.JPG              the sharp input
    {root}/{split}/gt/{id}/{id}_f{N}.JPG        the same view at f/N (N as in target_avs)
    {root}/{split}/metadata/{id}.json           {"focal_length": mm, "focus_plane_distance": m,
                                                 "target_avs": [N, ...], ...}

Every (id, N) pair is one item. The camera is (N, focal length, focus distance, 36 mm full
frame); the network conditions on the aperture as ``2/N`` (computed from it). Focus
distances beyond the depth clamp (RealBokeh has some over 100 m) are clamped by the lens.
Images can be resized (area averaging) to a fixed size; resizing a whole frame keeps its
field of view, so the sensor width stays 36 mm.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import Tensor
from torch.utils.data import Dataset

from pixelwise.apps.bokeh.lens import FULL_FRAME_WIDTH_MM
from pixelwise.apps.bokeh.photo import read_rgb
from pixelwise.config import describe_validation_error
from pixelwise.errors import InputError


class RealBokehMetadata(BaseModel):
    """The fields of a metadata file that pixelwise uses (others are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    focal_length: float = Field(gt=0, le=5000, description="mm")
    focus_plane_distance: float = Field(gt=0, description="m")
    target_avs: list[float] = Field(min_length=1, description="f-numbers of the targets")


def _format_av(value: float) -> str:
    return f"{value:g}"


class RealBokehDataset(Dataset[dict[str, Tensor]]):
    """Items ``{"image", "target"}`` (3, H, W) float32 in [0, 1] and ``"camera"`` (4,).

    Parameters
    ----------
    root : path
        The dataset folder holding ``{split}/in``, ``{split}/gt`` and ``{split}/metadata``.
    split : str
        Sub-folder name.
    size : (height, width), optional
        Resize every image to this size.
    """

    def __init__(
        self, root: str | Path, split: str = "train", size: tuple[int, int] | None = None
    ) -> None:
        self.folder = Path(root) / split
        self.size = size
        inputs = self.folder / "in"
        if not inputs.is_dir():
            raise InputError(inputs, "RealBokeh input folder not found (expected {split}/in)")
        self.items: list[tuple[Path, Path, np.ndarray]] = []
        for source in sorted(inputs.glob("*_f22.*")):
            identifier = source.name[: -len("_f22" + source.suffix)]
            metadata = self._metadata(identifier)
            for av in metadata.target_avs:
                target = (
                    self.folder
                    / "gt"
                    / identifier
                    / f"{identifier}_f{_format_av(av)}{source.suffix}"
                )
                if not target.is_file():
                    raise InputError(target, f"target for f/{av:g} listed in metadata not found")
                camera = np.array(
                    [av, metadata.focal_length, metadata.focus_plane_distance, FULL_FRAME_WIDTH_MM],
                    dtype=np.float32,
                )
                self.items.append((source, target, camera))
        if not self.items:
            raise InputError(inputs, "holds no {id}_f22 images")

    def _metadata(self, identifier: str) -> RealBokehMetadata:
        path = self.folder / "metadata" / f"{identifier}.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(path, "metadata file not found") from None
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(path, f"cannot read metadata: {error}") from None
        try:
            return RealBokehMetadata.model_validate(data)
        except ValidationError as error:
            raise InputError(path, describe_validation_error(error)) from None

    def __len__(self) -> int:
        return len(self.items)

    def _load(self, path: Path) -> Tensor:
        image = read_rgb(path)
        if self.size is not None and image.shape[:2] != self.size:
            image = cv2.resize(image, self.size[::-1], interpolation=cv2.INTER_AREA)
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        source, target, camera = self.items[index]
        image, goal = self._load(source), self._load(target)
        if image.shape != goal.shape:
            raise InputError(
                target,
                f"size {tuple(goal.shape[1:])} differs from the input's {tuple(image.shape[1:])}",
            )
        return {"image": image, "target": goal, "camera": torch.from_numpy(camera)}
