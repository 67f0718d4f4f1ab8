"""ZONE's localization for ANY editor's output (Qwen-Image-Edit, FLUX Kontext, API editors ...).

- ``align_edit``: fit the editor's output back onto the original at the editor's scale (global model with a
  tolerance in editor px, smooth residual field, capped confidence-weighted flow) + valid mask
- ``edit_to_mask``: drift-aware CIELAB difference -> the coarse mask that stages 4-6 refine and paste
- ``paste``: the edit resampled into the full-resolution original inside the final alpha only
"""
