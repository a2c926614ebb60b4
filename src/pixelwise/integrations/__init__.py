"""Integrations of pixelwise into other tools (ComfyUI: :mod:`pixelwise.integrations.comfyui`)."""
