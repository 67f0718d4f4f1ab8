"""Model backends of the fused sampler (zone_ops.fused_sampler.Backend).

- ``diffusers_backend``: diffusers-format folders (CLI, tests). The ComfyUI backend lives in ``nodes/comfy_backend.py``
  because this package never imports ComfyUI. Backends are imported on demand (diffusers is heavy).
"""
