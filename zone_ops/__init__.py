"""ZONE: zero-shot instruction-guided local image editing, as a plain library.

One module per stage (see ``ZONE_SPEC`` section 2):

- ``classify``   stage 1  ActionClassifier   instruction -> change / add / remove
- ``sampling``   stage 2  FusedIP2PSampler   fused IP2P + MagicBrush loop (``backends/`` for diffusers, ComfyUI)
- ``attention``           the cross-attention recorder used by stage 2
- ``localize``   stage 3  AttentionToMask    averaged attention -> coarse mask
- ``refine``     stage 4  SAMRegionIoU       SAM segments -> refined mask
- ``smooth``     stage 5  FFTEdgeSmoother    refined mask + images -> final mask
- ``composite``  stage 6  LayerComposite     canvas over the ORIGINAL inside the final mask

This package never imports a ComfyUI module.
"""

__version__ = "0.1.0"
