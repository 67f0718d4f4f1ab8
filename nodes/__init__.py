"""ComfyUI nodes: thin adapters that convert ComfyUI types and call ``zone_ops``. One module per stage."""

from __future__ import annotations

from . import (
    align_edit,
    attention_to_mask,
    action_classifier,
    edit_to_mask,
    fft_edge_smoother,
    fused_sampler,
    latent_lock,
    layer_composite,
    sam_region_iou,
)
from ..zone_ops.core.cancel import set_cancel_hook
from .comfy_runtime import check_interrupt
from .widgets import install_widget_checks

CATEGORY = "ZONE"

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
for _module in (action_classifier, fused_sampler, attention_to_mask, align_edit, edit_to_mask, sam_region_iou,
                fft_edge_smoother, layer_composite, latent_lock):
    NODE_CLASS_MAPPINGS.update(_module.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.NODE_DISPLAY_NAME_MAPPINGS)
# The library's long loops check for Cancel through this hook (zone_ops imports no ComfyUI).
set_cancel_hook(check_interrupt)
# Every widget value is checked against the node's INPUT_TYPES (finite, in range) before it runs: nodes/widgets.py.
for _key, _cls in NODE_CLASS_MAPPINGS.items():
    install_widget_checks(_cls, NODE_DISPLAY_NAME_MAPPINGS.get(_key, _key))
