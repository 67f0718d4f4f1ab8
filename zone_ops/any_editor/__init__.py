"""ZONE's localization for ANY editor's output (Qwen-Image-Edit, FLUX Kontext, API editors ...).

- ``align_edit``: fit the editor's output back onto the original (global model, optional capped flow) + valid mask
- ``edit_to_mask``: drift-aware CIELAB difference -> the coarse mask that stages 4-6 refine and paste
"""
