"""A self-contained HTML report: one file that opens anywhere, offline, and can be mailed.

CSS is inline, images are embedded as base64 ``data:image/png`` URIs, every piece of text is
HTML-escaped, and nothing refers to another file, a web address or a script. Content is
rendered when it is added (figures become PNG at once), so a bad input fails at its
``add_*`` call and :meth:`HtmlReport.write` only writes out finished text.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from matplotlib.figure import Figure

from pixelwise.io.atomic import write_text_atomic
from pixelwise.report.figures import figure_to_png

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #1f2328; line-height: 1.5; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .95rem; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .7rem; text-align: left; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { color: #57606a; font-size: .9rem; }
.warning { border: 2px solid #cf222e; background: #ffebe9; color: #82071e;
           border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0; }
.warnings-banner { border: 2px solid #cf222e; background: #ffebe9; color: #82071e;
                   border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0 2rem; }
.warnings-banner a { color: #82071e; }
"""


def _escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def _format_float(value: float) -> str:
    """Four significant digits; fixed-point from 0.001 to 999999, scientific outside."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    if -3 <= exponent < 6:
        return f"{value:.{max(0, 3 - exponent)}f}"
    return f"{value:.3e}"


def _format_scalar(value: object) -> tuple[str, bool]:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return str(value), False
    if isinstance(value, numbers.Integral):
        return str(int(value)), True
    return _format_float(float(value)), True


def format_value(value: object) -> tuple[str, bool]:
    """Table-cell text for ``value`` and whether it is numeric (numbers are right-aligned).

    Floats get four significant digits (scientific notation below 0.001 or from 10⁶), integers
    all their digits; NumPy and torch scalars count as numbers, and 1-D vectors (lists,
    tuples, arrays, tensors), such as per-class scores, are formatted element by element.
    ``None`` becomes an em dash; anything else is ``str(value)``.

    Examples
    --------
    >>> format_value(27.51234), format_value(3), format_value([0.5, 1e-5])
    (('27.51', True), ('3', True), ('0.5000, 1.000e-05', True))
    """
    if value is None:
        return "—", False
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.ndim > 1:
            raise ValueError(f"a table cell holds a number or a 1-D vector, got {value.shape}")
        value = value.item() if value.ndim == 0 else value.tolist()
    if isinstance(value, list | tuple) and all(
        isinstance(item, numbers.Real) and not isinstance(item, bool) for item in value
    ):
        return ", ".join(_format_scalar(item)[0] for item in value), True
    return _format_scalar(value)


def _array_to_png(array: np.ndarray) -> bytes:
    """PNG of an HxW or HxWxC (C = 1, 3 RGB, 4 RGBA) uint8 array or float array in [0, 1]."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError(
            f"expected an HxW or HxWxC image with 1, 3 or 4 channels, got shape {array.shape}"
        )
    if np.issubdtype(array.dtype, np.floating):
        if not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
            raise ValueError(
                "float images must hold finite values in [0, 1]; scale the array first, "
                "or pass a matplotlib Figure that shows it with a colour scale"
            )
        array = np.rint(array * 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ValueError(f"images must be uint8 or float in [0, 1], got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 3:
        code = cv2.COLOR_RGB2BGR if array.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        array = cv2.cvtColor(np.ascontiguousarray(array), code)
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise ValueError(f"OpenCV could not encode an image of shape {array.shape} as PNG")
    return encoded.tobytes()


def _cell(value: object) -> str:
    text, numeric = format_value(value)
    return f'<td class="num">{_escape(text)}</td>' if numeric else f"<td>{_escape(text)}</td>"


class HtmlReport:
    """Builder of a single-file HTML report: headings, text, tables, figures and warnings.

    Sections appear in the order they are added. Warnings are shown where they were added,
    as red boxes, and are also listed in a banner under the title, so that a reader who only
    looks at the top of the report still sees that something needs attention.

    Examples
    --------
    >>> report = HtmlReport("Denoising run")
    >>> report.add_table({"PSNR (dB)": 31.4159, "epochs": 20}, caption="Validation")
    >>> report.add_warning("validation loss rose in the last 5 epochs")
    >>> report.has_warnings, "warnings-banner" in report.to_html()
    (True, True)
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self._blocks: list[str] = []
        self._warnings: list[str] = []

    @property
    def has_warnings(self) -> bool:
        """Whether :meth:`add_warning` was called."""
        return bool(self._warnings)

    @property
    def warnings(self) -> tuple[str, ...]:
        """The warnings' texts, in the order they were added."""
        return tuple(self._warnings)

    def add_heading(self, text: str, level: int = 2) -> None:
        """Add a section heading; levels 2 to 6 (level 1 is the report's title)."""
        if not 2 <= level <= 6:
            raise ValueError(f"heading level must be 2 to 6 (1 is the title), got {level}")
        self._blocks.append(f"<h{level}>{_escape(text)}</h{level}>")

    def add_paragraph(self, text: str) -> None:
        """Add a paragraph of plain text."""
        self._blocks.append(f"<p>{_escape(text)}</p>")

    def add_table(
        self,
        rows: Sequence[Mapping[str, object]] | Mapping[str, object],
        caption: str | None = None,
    ) -> None:
        """Add a table of numbers and text, cells formatted by :func:`format_value`.

        ``rows`` is a sequence of mappings, one per row, whose keys are the columns (in order
        of first appearance; a missing key leaves its cell empty), or a single mapping shown
        as a two-column name/value table.
        """
        parts = ["<table>"]
        if caption is not None:
            parts.append(f"<caption>{_escape(caption)}</caption>")
        if isinstance(rows, Mapping):
            for key, value in rows.items():
                parts.append(f'<tr><th scope="row">{_escape(key)}</th>{_cell(value)}</tr>')
        else:
            if not rows or not all(isinstance(row, Mapping) for row in rows):
                raise ValueError("a table needs one or more rows, each a mapping of column: value")
            columns = list(dict.fromkeys(key for row in rows for key in row))
            header = "".join(f'<th scope="col">{_escape(column)}</th>' for column in columns)
            parts.append(f"<thead><tr>{header}</tr></thead><tbody>")
            for row in rows:
                cells = "".join(
                    _cell(row[column]) if column in row else "<td></td>" for column in columns
                )
                parts.append(f"<tr>{cells}</tr>")
            parts.append("</tbody>")
        parts.append("</table>")
        self._blocks.append("".join(parts))

    def add_figure(self, image: Figure | bytes | np.ndarray, caption: str | None = None) -> None:
        """Add an image, embedded as PNG.

        ``image`` is a matplotlib Figure (rendered and closed), PNG bytes, or an HxW / HxWxC
        (RGB or RGBA) array: uint8, or float in ``[0, 1]``.
        """
        if isinstance(image, Figure):
            png = figure_to_png(image)
        elif isinstance(image, bytes | bytearray):
            if not image.startswith(_PNG_SIGNATURE):
                raise ValueError("image bytes are not a PNG file (wrong signature)")
            png = bytes(image)
        elif isinstance(image, np.ndarray):
            png = _array_to_png(image)
        else:
            raise TypeError(
                f"add_figure takes a matplotlib Figure, PNG bytes or an array, got {type(image)}"
            )
        source = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        alt = _escape(caption or "figure")
        parts = [f'<figure><img src="{source}" alt="{alt}">']
        if caption:
            parts.append(f"<figcaption>{_escape(caption)}</figcaption>")
        parts.append("</figure>")
        self._blocks.append("".join(parts))

    def add_warning(self, text: str) -> None:
        """Add a red warning box here, and list the warning in the banner at the top."""
        self._warnings.append(text)
        anchor = f"warning-{len(self._warnings)}"
        self._blocks.append(
            f'<div class="warning" id="{anchor}" role="alert">'
            f"<strong>Warning:</strong> {_escape(text)}</div>"
        )

    def to_html(self) -> str:
        """The whole report as one HTML document."""
        title = _escape(self.title)
        banner = []
        if self._warnings:
            count = len(self._warnings)
            items = "".join(
                f'<li><a href="#warning-{index}">{_escape(text)}</a></li>'
                for index, text in enumerate(self._warnings, start=1)
            )
            banner.append(
                '<div class="warnings-banner" role="alert">'
                f"<strong>{count} warning{'s' if count > 1 else ''}</strong><ul>{items}</ul></div>"
            )
        return "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en">',
                "<head>",
                '<meta charset="utf-8">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                f"<title>{title}</title>",
                f"<style>{_CSS}</style>",
                "</head>",
                "<body>",
                f"<h1>{title}</h1>",
                *banner,
                *self._blocks,
                "</body>",
                "</html>",
                "",
            ]
        )

    def write(self, path: str | Path) -> Path:
        """Write the report to ``path`` atomically (a failure leaves any old file intact)."""
        text = self.to_html()
        write_text_atomic(path, text)
        return Path(path)
