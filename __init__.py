"""ZONE for ComfyUI: zero-shot instruction-guided local image editing (Li et al., CVPR 2024).

ComfyUI loads this folder as a package and reads the two mappings below.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = None

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
