"""BokehFlow as ``pixelwise bokeh``: thin-lens depth of field for photos and video.

The classical part (no learning): :mod:`~pixelwise.apps.bokeh.lens` (circle of confusion),
:mod:`~pixelwise.apps.bokeh.render` (the differentiable layered renderer),
:mod:`~pixelwise.apps.bokeh.depth` (depth and disparity maps). The learned part:
BokehNet (:mod:`pixelwise.apps.bokeh.network`) trained on synthetic scenes
(:mod:`~pixelwise.apps.bokeh.scenes`) or RealBokeh (:mod:`~pixelwise.apps.bokeh.realbokeh`).
"""

from pixelwise.apps.bokeh.lens import Camera, coc_px, signed_coc_px
from pixelwise.apps.bokeh.render import RenderSettings, render_bokeh

__all__ = ["Camera", "RenderSettings", "coc_px", "render_bokeh", "signed_coc_px"]
