"""Figures and reports users read after a run: PNG figures and self-contained HTML reports."""

from pixelwise.report.figures import figure_to_png, save_panels, save_section_figure
from pixelwise.report.html import HtmlReport, format_value

__all__ = ["HtmlReport", "figure_to_png", "format_value", "save_panels", "save_section_figure"]
