"""ZONE for ComfyUI: zero-shot instruction-guided local image editing (Li et al., CVPR 2024).

ComfyUI loads this folder as a package and reads the two mappings below.
"""

if __package__:  # imported as a package (ComfyUI, or pytest when the folder name is a Python identifier)
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
else:  # imported as a plain file: pytest does so for a clone named like the repository, e.g. ComfyUI-ZONE
    NODE_CLASS_MAPPINGS: dict = {}
    NODE_DISPLAY_NAME_MAPPINGS: dict = {}

WEB_DIRECTORY = None

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
