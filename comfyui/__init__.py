"""pixelwise node pack for ComfyUI: copy this folder into ComfyUI/custom_nodes/.

The nodes come from the installed pixelwise (``pip install pixelwise`` into ComfyUI's
Python); this file only re-exports the pack generated from pixelwise's node registry.
"""

from pixelwise.integrations.comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
