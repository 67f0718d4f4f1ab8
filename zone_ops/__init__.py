"""ZONE: zero-shot instruction-guided local image editing, as a plain library.

One module per stage, named like its node (the stages of Li et al., CVPR 2024; README.md, stage table):

- ``action_classifier``  stage 1  instruction -> change / add / remove (ZoneAction)
- ``fused_sampler``      stage 2  fused IP2P + MagicBrush loop; ``attention_hook`` records cross-attention;
                                  ``backends/diffusers_backend`` runs it on diffusers models
                                  (the ComfyUI backend lives in ``nodes/``, since this package imports no ComfyUI)
- ``attention_to_mask``  stage 3  averaged attention -> coarse mask
- ``sam_region_iou``     stage 4  SAM segments -> refined mask (``sam_loader`` loads checkpoints)
- ``fft_edge_smoother``  stage 5  refined mask + images -> final mask
- ``layer_composite``    stage 6  canvas over the ORIGINAL inside the final mask
- ``types``, ``images``, ``preview``: what flows between stages, image plumbing, preview pictures

This package never imports a ComfyUI module.
"""

__version__ = "0.1.0"
