"""Self-contained HTML reports and in-memory figures."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import pixelwise.io.atomic
from pixelwise.report import HtmlReport, figure_to_png, format_value, save_panels

EVIL = "<script>alert('x')</script> & \"quotes\""


def decode_images(document: str) -> list[np.ndarray]:
    sources = re.findall(r'src="([^"]*)"', document)
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    return [
        cv2.imdecode(
            np.frombuffer(base64.b64decode(source.split(",", 1)[1]), np.uint8),
            cv2.IMREAD_UNCHANGED,
        )
        for source in sources
    ]


def full_report() -> tuple[HtmlReport, np.ndarray]:
    rgb = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    figure, axis = plt.subplots(figsize=(3, 2), dpi=50)
    axis.plot([0, 1], [1, 0])
    report = HtmlReport("OCT run")
    report.add_heading("Validation", level=2)
    report.add_paragraph("Scores over the whole validation set.")
    report.add_table(
        [{"layer": "RNFL", "dice": 0.91234, "pixels": 12345}, {"layer": "GCL", "dice": 0.5}],
        caption="Per-layer Dice",
    )
    report.add_table({"PSNR (dB)": torch.tensor(31.41592), "per class": [1.0, 2.5e-5]})
    report.add_figure(figure, caption="training curve")
    report.add_figure(rgb, caption="colour B-scan")
    report.add_figure(np.linspace(0, 1, 120).reshape(10, 12), caption="grey ramp")
    report.add_figure(figure_to_png(plt.figure(figsize=(1, 1), dpi=40)), caption="as bytes")
    return report, rgb


def test_report_contains_every_section() -> None:
    report, _ = full_report()
    document = report.to_html()
    assert document.startswith("<!DOCTYPE html>")
    for text in (
        "<title>OCT run</title>",
        "<h1>OCT run</h1>",
        "<h2>Validation</h2>",
        "<p>Scores over the whole validation set.</p>",
        "<caption>Per-layer Dice</caption>",
        '<th scope="col">pixels</th>',
        '<td class="num">0.9123</td>',
        '<td class="num">12345</td>',
        "<td></td>",  # GCL has no pixel count
        '<th scope="row">PSNR (dB)</th><td class="num">31.42</td>',
        '<td class="num">1.000, 2.500e-05</td>',
        "<figcaption>training curve</figcaption>",
    ):
        assert text in document, text
    assert "warning" not in document.split("</style>", 1)[1]
    assert not report.has_warnings


def test_report_images_decode_to_their_size() -> None:
    report, rgb = full_report()
    figure, colour, grey, image_bytes = decode_images(report.to_html())
    assert figure.shape[:2] == (100, 150)  # 2 x 3 inches at 50 dpi
    np.testing.assert_array_equal(cv2.cvtColor(colour, cv2.COLOR_BGR2RGB), rgb)
    assert grey.shape == (10, 12)
    assert grey[0, 0] == 0
    assert grey[-1, -1] == 255
    assert image_bytes.shape[:2] == (40, 40)


def test_report_is_self_contained() -> None:
    document = full_report()[0].to_html()
    assert "http" not in document
    assert "<script" not in document
    assert "<link" not in document
    assert "url(" not in document
    assert len(decode_images(document)) == 4


def test_all_text_is_escaped() -> None:
    report = HtmlReport(EVIL)
    report.add_heading(EVIL)
    report.add_paragraph(EVIL)
    report.add_table([{EVIL: EVIL}], caption=EVIL)
    report.add_figure(np.zeros((2, 2), np.uint8), caption=EVIL)
    report.add_warning(EVIL)
    document = report.to_html()
    assert "<script" not in document
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;"
    # title and h1, heading, paragraph, column, cell, caption, alt and figcaption, warning, banner
    assert document.count(escaped) == 11


def test_warnings_banner_lists_every_warning() -> None:
    report = HtmlReport("run")
    report.add_paragraph("before")
    report.add_warning("validation loss diverged")
    report.add_warning("2 files were skipped")
    assert report.has_warnings
    assert report.warnings == ("validation loss diverged", "2 files were skipped")
    document = report.to_html()
    banner = document.index('class="warnings-banner"')
    assert document.index("<h1>run</h1>") < banner < document.index("<p>before</p>")
    assert "2 warnings" in document
    assert '<a href="#warning-2">2 files were skipped</a>' in document
    assert 'id="warning-1"' in document


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.html"
    report = HtmlReport("run")
    assert report.write(target) == target
    assert target.read_text(encoding="utf-8") == report.to_html()
    original = target.read_bytes()

    def broken(*args: object) -> None:
        raise RuntimeError("rendering failed")

    report.add_paragraph("new content")
    monkeypatch.setattr(HtmlReport, "to_html", broken)
    with pytest.raises(RuntimeError, match="rendering"):
        report.write(target)
    monkeypatch.undo()
    monkeypatch.setattr(pixelwise.io.atomic.os, "replace", broken)
    with pytest.raises(RuntimeError):
        report.write(target)
    assert target.read_bytes() == original
    assert [path.name for path in tmp_path.iterdir()] == ["report.html"]


@pytest.mark.parametrize(
    ("image", "error"),
    [
        (np.full((4, 4), 1.5), ValueError),
        (np.full((4, 4), np.nan), ValueError),
        (np.zeros((4, 4, 2), np.uint8), ValueError),
        (np.zeros((4, 4), np.int16), ValueError),
        (b"GIF89a", ValueError),
        ("figure.png", TypeError),
    ],
)
def test_add_figure_rejects_what_it_cannot_embed(image: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        HtmlReport("run").add_figure(image)  # type: ignore[arg-type]


def test_bad_headings_and_tables_are_rejected() -> None:
    report = HtmlReport("run")
    with pytest.raises(ValueError, match="level"):
        report.add_heading("x", level=1)
    with pytest.raises(ValueError, match="rows"):
        report.add_table([])
    with pytest.raises(ValueError, match="1-D"):
        report.add_table({"image": np.zeros((2, 2))})


@pytest.mark.parametrize(
    ("value", "text", "numeric"),
    [
        (0.123456, "0.1235", True),
        (123456.7, "123457", True),
        (1.5e7, "1.500e+07", True),
        (-2.5e-4, "-2.500e-04", True),
        (0.0, "0", True),
        (float("nan"), "NaN", True),
        (float("inf"), "∞", True),
        (np.int64(7), "7", True),
        (np.float32(2.5), "2.500", True),
        (torch.tensor([1, 2]), "1, 2", True),
        (True, "True", False),
        (None, "—", False),
        ("U-Net", "U-Net", False),
    ],
)
def test_format_value(value: object, text: str, numeric: bool) -> None:
    assert format_value(value) == (text, numeric)


def test_figure_to_png_renders_without_a_window_and_save_panels_still_works(
    tmp_path: Path,
) -> None:
    figure = plt.figure(figsize=(2, 1), dpi=30)
    png = figure_to_png(figure)
    assert png.startswith(b"\x89PNG")
    assert not plt.fignum_exists(figure.number)  # closed
    path = save_panels(
        tmp_path / "panels.png", {"a": np.zeros((4, 5)), "b": np.ones((4, 5))}, clip=1
    )
    assert cv2.imread(str(path)).shape[:2] == (450, 800)
