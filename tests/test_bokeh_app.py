"""The bokeh app: depth files, the motorcycle, RealBokeh layout, video, CLI errors, BokehNet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pixelwise.apps.bokeh.depth import disparity_to_depth, motorcycle, read_depth
from pixelwise.apps.bokeh.lens import Camera
from pixelwise.apps.bokeh.network import BokehNetConfig
from pixelwise.apps.bokeh.photo import render_array
from pixelwise.apps.bokeh.realbokeh import RealBokehDataset
from pixelwise.apps.bokeh.video import read_frames, write_frames
from pixelwise.cli.main import main
from pixelwise.errors import InputError
from pixelwise.io.images import read_image, write_image
from pixelwise.models import build_model


def _sharpness(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute horizontal difference, over pixel pairs inside ``mask``."""
    differences = np.abs(np.diff(image, axis=1)).mean(axis=-1)
    if mask is None:
        return float(differences.mean())
    return float(differences[mask[:, 1:] & mask[:, :-1]].mean())


def test_motorcycle_depth_is_metric_and_renders_with_the_near_part_sharp() -> None:
    image, depth = motorcycle()
    assert image.shape == (500, 741, 3) and depth.shape == (500, 741)
    assert 2.0 < depth.min() < 2.3 and 4.8 < depth.max() < 5.2  # holes filled, no inf
    focus = float(np.percentile(depth, 5))
    out = render_array(image, depth, Camera(f_number=1.4, focal_length_mm=50, focus_m=focus))
    assert np.isfinite(out).all()
    near, far = depth < focus + 0.1, depth > 4.0
    kept = _sharpness(out, near) / _sharpness(image, near)
    lost = _sharpness(out, far) / _sharpness(image, far)
    assert kept > 0.8 and lost < 0.5, (kept, lost)


def test_depth_files_npy_png_exr_and_disparity(tmp_path: Path) -> None:
    depth = np.linspace(0.5, 8.0, 12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "d.npy", depth)
    assert np.allclose(read_depth(tmp_path / "d.npy"), depth)
    millimetres = np.rint(depth * 1000).astype(np.uint16)
    import cv2

    cv2.imwrite(str(tmp_path / "d.png"), millimetres)
    assert np.allclose(read_depth(tmp_path / "d.png"), depth, atol=1e-3)
    import OpenEXR

    OpenEXR.File({"type": OpenEXR.scanlineimage}, {"Z": depth}).write(str(tmp_path / "d.exr"))
    assert np.allclose(read_depth(tmp_path / "d.exr"), depth)
    disparity = np.array([[10.0, np.inf], [np.nan, 20.0]])
    np.save(tmp_path / "disp.npy", disparity)
    metric = read_depth(tmp_path / "disp.npy", disparity=True, baseline_mm=100, focal_px=1000)
    assert np.allclose(metric, [[10.0, 10.0], [10.0, 5.0]])  # holes take the nearest value
    assert np.allclose(
        disparity_to_depth(np.array([[5.0]]), baseline_mm=100, focal_px=1000, doffs_px=5.0), 10.0
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [(np.array([[1.0, np.nan]]), "finite and > 0"), (np.array([[1.0, -2.0]]), "finite and > 0")],
)
def test_bad_depth_is_one_clear_error(tmp_path: Path, values: np.ndarray, message: str) -> None:
    np.save(tmp_path / "d.npy", values)
    with pytest.raises(InputError, match=message):
        read_depth(tmp_path / "d.npy")


@pytest.fixture
def photo(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    write_image(tmp_path / "photo.png", rng.random((24, 32, 3)))
    np.save(tmp_path / "depth.npy", np.full((24, 32), 4.0, dtype=np.float32))
    return tmp_path / "photo.png", tmp_path / "depth.npy"


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def test_cli_render_writes_the_image(photo: tuple[Path, Path], tmp_path: Path) -> None:
    image, depth = photo
    argv = ["bokeh", "render", str(image), "--depth", str(depth), "-N", "1.4", "--focus", "1.0"]
    assert _run([*argv, "--sensor-width", "3.6", "-o", str(tmp_path / "out.png")]) == 0
    out = read_image(tmp_path / "out.png")
    assert out.shape == (24, 32, 3)
    assert _sharpness(out) < 0.5 * _sharpness(read_image(image))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"depth": "small"}, "must match"),
        ({"depth": "nan"}, "finite and > 0"),
        ({"--focus": "0.04"}, "greater than the focal length"),
        ({"-N": "0"}, "f_number"),
        ({"image": "grey"}, "expected an RGB image"),
    ],
)
def test_cli_render_bad_input_is_one_line(
    photo: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str],
    message: str,
) -> None:
    image, depth = photo
    if change.get("depth") == "small":
        np.save(depth, np.ones((10, 10), dtype=np.float32))
    if change.get("depth") == "nan":
        np.save(depth, np.full((24, 32), np.nan, dtype=np.float32))
    if change.get("image") == "grey":
        write_image(image, np.zeros((24, 32)))
    options = {"--focus": "2.0", "-N": "2.0"} | {
        k: v for k, v in change.items() if k.startswith("-")
    }
    argv = ["bokeh", "render", str(image), "--depth", str(depth), "-o", str(tmp_path / "o.png")]
    assert _run(argv + [item for pair in options.items() for item in pair]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o.png").exists()


def _fake_realbokeh(root: Path) -> None:
    rng = np.random.default_rng(0)
    for identifier in ("0001", "0002"):
        write_image(root / "train" / "in" / f"{identifier}_f22.JPG", rng.random((16, 24, 3)))
        for av in ("2", "5.6"):
            write_image(
                root / "train" / "gt" / identifier / f"{identifier}_f{av}.JPG",
                rng.random((16, 24, 3)),
            )
        meta = {
            "focal_length": 35.0,
            "focus_plane_distance": 150.0,
            "target_avs": [2.0, 5.6],
            "iso": 100,
        }
        (root / "train" / "metadata").mkdir(parents=True, exist_ok=True)
        (root / "train" / "metadata" / f"{identifier}.json").write_text(json.dumps(meta))


def test_realbokeh_layout_loads_every_target(tmp_path: Path) -> None:
    _fake_realbokeh(tmp_path)
    data = RealBokehDataset(tmp_path, "train", size=(8, 12))
    assert len(data) == 4
    item = data[1]
    assert item["image"].shape == (3, 8, 12) and item["target"].shape == (3, 8, 12)
    assert item["camera"].tolist() == pytest.approx([5.6, 35.0, 150.0, 36.0])
    (tmp_path / "train" / "gt" / "0002" / "0002_f5.6.JPG").unlink()
    with pytest.raises(InputError, match=r"0002_f5\.6\.JPG: target for f/5\.6"):
        RealBokehDataset(tmp_path, "train")
    (tmp_path / "train" / "metadata" / "0001.json").write_text('{"focal_length": -1}')
    with pytest.raises(InputError, match=r"0001\.json"):
        RealBokehDataset(tmp_path, "train")


def test_video_round_trip_and_unreadable_video(tmp_path: Path) -> None:
    frames = [np.full((16, 24, 3), value, dtype=np.float32) for value in (0.2, 0.5, 0.8)]
    assert write_frames(tmp_path / "clip.mp4", frames, fps=10) == 3
    back = list(read_frames(tmp_path / "clip.mp4"))
    assert len(back) == 3 and all(
        abs(float(b.mean()) - f.mean()) < 0.02 for b, f in zip(back, frames, strict=True)
    )
    assert write_frames(tmp_path / "frames", frames) == 3
    assert len(list(read_frames(tmp_path / "frames"))) == 3
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(InputError, match=r"bad\.mp4: cannot read as video"):
        list(read_frames(tmp_path / "bad.mp4"))


def test_bokehnet_trains_and_predicts_at_batch_one_with_a_learnable_focal_length() -> None:
    torch.manual_seed(0)
    model = build_model(BokehNetConfig(dim=16, blocks=1, heads=2, head_dim=8, max_depth_m=20.0))
    image = torch.rand(1, 3, 32, 32)
    camera = torch.tensor([[1.8, 50.0, 2.0, 3.6]], requires_grad=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(2):
        result = model(image, camera)
        loss = (result["output"] - image.flip(-1)).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert all(bool(torch.isfinite(g).all()) for g in grads) and camera.grad is not None
        assert bool(torch.isfinite(camera.grad).all()) and float(camera.grad[0, 1].abs()) > 0
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    model.eval()
    with torch.no_grad():
        first = model(image, camera.detach())
        second = model(image, camera.detach(), first["states"])
    assert first["states"].scans.shape == (1, 4, 1, 2, 8, 8) == second["states"].scans.shape
    state = second["states"]
    assert state.inverse_depth.shape == (1, 1, 32, 32) and state.image.shape == (1, 3, 32, 32)
    assert float(first["depth"].max()) <= 20.0 and float(first["depth"].min()) > 0
    assert bool(torch.isfinite(second["output"]).all())


def _tiny_model_and_batch(depth: torch.Tensor) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """A one-block BokehNet and a random two-item 16x16 training batch of ``depth``."""
    torch.manual_seed(0)
    model = build_model(BokehNetConfig(dim=16, blocks=1, heads=2, head_dim=8))
    batch = {
        "image": torch.rand(2, 3, 16, 16),
        "camera": torch.tensor([[2.0, 50.0, 2.0, 3.6]] * 2),
        "target": torch.rand(2, 3, 16, 16),
        "depth": depth.contiguous(),
    }
    return model, batch


def test_clip_training_reaches_the_learned_temporal_decay() -> None:
    from pixelwise.apps.bokeh.task import BokehTask, ClipTraining

    model, batch = _tiny_model_and_batch(torch.full((2, 1, 16, 16), 3.0))
    task = BokehTask(model, clips=ClipTraining(frames=3, noise=0.02, consistency=0.1))
    terms = task.training_step(batch)  # type: ignore[arg-type]
    assert set(terms) == {"l1", "render_l1", "coc_l1", "coc_flicker", "loss"}
    assert float(terms["coc_flicker"].detach()) > 0  # fresh noise per frame moves the depth
    terms["loss"].backward()
    assert (
        model.temporal_logit.grad is not None and float(model.temporal_logit.grad.abs().sum()) > 0
    )
    assert model.depth_gate[0].weight.grad is not None  # the depth memory learns too
    assert float(model.depth_gate[0].weight.grad.abs().sum()) > 0


def test_the_depth_memory_blends_the_previous_and_the_new_estimate() -> None:
    # With the scan states decayed to nothing, a frame's own estimate is what it would be
    # alone, so the carried depth must lie between the previous frame's and that estimate.
    torch.manual_seed(0)
    model = build_model(BokehNetConfig(dim=16, blocks=1, heads=2, head_dim=8, temporal_decay=0.0))
    model.eval()
    first, second = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        before, state = model.predict_depth(first)
        alone, _ = model.predict_depth(second)
        carried, _ = model.predict_depth(second, state)
    low, high = torch.minimum(1 / before, 1 / alone), torch.maximum(1 / before, 1 / alone)
    inverse = 1 / carried
    assert bool(((inverse >= low - 1e-6) & (inverse <= high + 1e-6)).all())
    assert float((inverse - 1 / alone).abs().max()) > 1e-4  # the memory does pull it
    with torch.no_grad():
        again, _ = model.predict_depth(first, state)  # an unchanged frame: the same depth
    assert torch.allclose(again, before, rtol=1e-5)


def test_panning_clips_end_on_the_item(monkeypatch: pytest.MonkeyPatch) -> None:
    from pixelwise.apps.bokeh.task import BokehTask, ClipTraining, pan

    clips = ClipTraining(frames=3, noise=0.02, panning=1.0, pan_px=2)
    pans = clips.draw_pans(1000, torch.device("cpu"))
    assert set(pans.abs().tolist()) == {2} and 400 < int((pans > 0).sum()) < 600
    assert int((ClipTraining(panning=0.25).draw_pans(1000, torch.device("cpu")) != 0).sum()) < 320

    model, batch = _tiny_model_and_batch(torch.linspace(1.0, 8.0, 16).expand(2, 1, 16, 16))
    frames: list[torch.Tensor] = []
    predict = model.predict_depth

    def recording(image: torch.Tensor, previous: object = None) -> object:
        frames.append(image)
        return predict(image, previous)  # type: ignore[arg-type]

    monkeypatch.setattr(model, "predict_depth", recording)
    BokehTask(model, clips=clips).training_step(batch)  # type: ignore[arg-type]
    # Frame t is each item panned (2 − t) · ±2 pixels, the last one the item itself (plus
    # sensor noise of std 0.02).
    assert len(frames) == 3

    def follows(item: int, sign: int) -> bool:
        """Whether every frame of ``item`` is the item panned ``sign`` · 2 px per step."""
        for t, frame in enumerate(frames):
            expected = pan(batch["image"], torch.tensor([sign * 2 * (2 - t)] * 2))[item]
            if float((frame[item] - expected).abs().mean()) >= 0.03:
                return False
        return True

    for item in range(2):  # one consistent direction per item
        assert [follows(item, sign) for sign in (1, -1)].count(True) == 1
    shifts = torch.tensor([3, -2])
    assert torch.equal(pan(pan(batch["depth"], shifts), -shifts), batch["depth"])
