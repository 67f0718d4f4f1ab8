"""What runs a denoising model, outside the stages' own maths.

- ``sigma_samplers``: the Euler-style steppers over a sigma schedule that the ComfyUI backend shares
- ``diffusers_backend``: the fused sampler's backend for diffusers-format folders (CLI, tests); imported on demand
  (diffusers is heavy). The ComfyUI backend lives in ``nodes/comfy_backend.py`` since this package imports no ComfyUI.
- ``latent_lock``: ZONE Latent Lock's maths (soft latent mask, the lock blend at a noise level, finding the edited
  region from the model's x0 prediction); the MODEL patch lives in ``nodes/latent_lock.py``.
"""
