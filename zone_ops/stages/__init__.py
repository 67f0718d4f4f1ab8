"""The six stages of ZONE (Li et al., CVPR 2024), one module each, named like its node:

- ``action_classifier``  stage 1  instruction -> change / add / remove (``ZoneAction``)
- ``fused_sampler``      stage 2  fused IP2P + MagicBrush loop; ``attention_hook`` records its cross-attention
- ``attention_to_mask``  stage 3  averaged attention -> coarse mask
- ``sam_region_iou``     stage 4  SAM segments -> refined mask
- ``fft_edge_smoother``  stage 5  refined mask + images -> final mask
- ``layer_composite``    stage 6  canvas over the ORIGINAL inside the final mask (exact outside)
"""
