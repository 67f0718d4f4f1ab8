"""What runs a denoising model for stage 2, outside the stage's own maths.

- ``sigma_samplers``: the Euler-style steppers over a sigma schedule that the ComfyUI backend shares
- ``diffusers_backend``: the fused sampler's backend for diffusers-format folders (CLI, tests); imported on demand
  (diffusers is heavy). The ComfyUI backend lives in ``nodes/comfy_backend.py`` since this package imports no ComfyUI.
"""
