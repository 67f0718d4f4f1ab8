"""ZONE: zero-shot instruction-guided local image editing, as a plain library (never imports a ComfyUI module).

The folders are its parts, lower ones never importing higher ones:

- ``core``        images, types, colour drift, previews: what every part shares
- ``models``      loading SAM / SAM 2 weights from the user's folders
- ``stages``      the six ZONE stages, one module each, named like its node (stage 1 ``action_classifier`` ...
                  stage 6 ``layer_composite``)
- ``sampling``    running a diffusion model (sigma steppers, the diffusers backend, the latent lock's maths)
- ``any_editor``  localizing any editor's output: align it to the original, turn the difference into a mask
- ``params``      every tunable parameter once (type, default, range, tooltip): node widgets and CLI flags
- ``pipeline``    the stages chained (``run_zone``, ``run_localize``); ``cli`` the command line on top of it
"""

__version__ = "0.1.0"
